//! Guardrails and strategy actions end to end. `dun serve` runs on a test
//! clock with the `scripted` test strategy (`tests/guests/scripted`), which
//! plans exactly what its segment config says, so each test shows the host
//! one plan and checks what the host made of it: the verdict and its
//! reasons in the evaluation, the same reasons on the debtor's timeline, the
//! outbox rows with their exact times, what reached the file sender, and what
//! fee, deferral, offer and escalation actions changed.
//!
//! The scheduler is off: each test evaluates on demand, so every decision
//! happens at a known instant and no background evaluation replaces what a
//! test is looking at. The dispatcher runs every second; the test clock,
//! not sleeping, decides what is due. Monday 4 May 2026, 10:00 UTC is the
//! start everywhere: 06:00 in New York, 12:00 in Berlin.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use dun::builtin::PLUGIN_DIR;
use serde_json::{Value, json};
use support::{Client, Server};

const START: &str = "2026-05-04T10:00:00Z";
const DAY: i64 = 86_400;
const TENANT: &str = "acme";

/// A server with the scripted strategy available, one tenant, its clients.
struct Dun {
    server: Server,
    operator: Client,
    admin: Client,
    client: Client,
}

impl Dun {
    fn start() -> Dun {
        let server = Server::start_with_env(&[
            ("DUN_STRATEGIES_DIR", PLUGIN_DIR),
            ("DUN_TEST_CLOCK", START),
            ("DUN_SCHEDULER_INTERVAL_SECS", "0"),
            ("DUN_DISPATCH_INTERVAL_SECS", "1"),
        ]);
        let operator = server.operator();
        let (admin, client) = server.tenant(TENANT);
        Dun {
            server,
            operator,
            admin,
            client,
        }
    }

    /// Every debtor runs the scripted strategy with this config from now on.
    fn script(&self, config: Value) {
        let reply = self.admin.put(
            "/v1/segments/default",
            &json!({ "strategy": "scripted", "config": config }),
        );
        assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
    }

    /// A debtor named after its id, in `zone`, with these contact details
    /// (`email`, `phone`).
    fn debtor(&self, id: &str, zone: &str, contact: Value) {
        let mut debtor = contact;
        debtor["external_id"] = id.into();
        debtor["name"] = format!("{id} Ltd").into();
        debtor["time_zone"] = zone.into();
        let reply = self.client.post("/v1/debtors", &debtor);
        assert_eq!(reply.status, 201, "{reply:#?}");
    }

    /// An EUR invoice issued 1 March, due 24 April (10 days overdue at the start).
    fn invoice(&self, id: &str, debtor: &str, amount: i64) {
        let reply = self.client.post(
            "/v1/invoices",
            &json!({ "external_id": id, "debtor_id": debtor, "currency": "EUR", "amount": amount,
                     "issued_on": "2026-03-01", "due_on": "2026-04-24" }),
        );
        assert_eq!(reply.status, 201, "{reply:#?}");
    }

    fn get(&self, path: &str) -> Value {
        let reply = self.client.get(path);
        assert_eq!(reply.status, 200, "{path}: {reply:#?}");
        reply.body
    }

    /// Runs the debtor's strategy now; the evaluation, which must be `ok`.
    fn evaluate(&self, debtor: &str) -> Value {
        let reply = self
            .client
            .post(&format!("/v1/debtors/{debtor}/evaluate"), &json!({}));
        assert_eq!(reply.status, 201, "{reply:#?}");
        assert_eq!(reply.body["outcome"], "ok", "{:#}", reply.body);
        reply.body
    }

    fn advance(&self, secs: i64) {
        let reply = self
            .operator
            .post("/v1/test-clock", &json!({ "advance_secs": secs }));
        assert_eq!(reply.status, 200, "{reply:#?}");
    }

    /// The debtor's timeline, oldest first.
    fn timeline(&self, debtor: &str) -> Vec<Value> {
        let body = self.get(&format!("/v1/debtors/{debtor}/timeline?limit=200"));
        let mut items = body["items"].as_array().cloned().unwrap_or_default();
        items.reverse();
        items
    }

    /// The timeline's events of one kind, oldest first.
    fn events(&self, debtor: &str, kind: &str) -> Vec<Value> {
        self.timeline(debtor)
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    /// The debtor's outbox, oldest first.
    fn outbox(&self, debtor: &str) -> Vec<Value> {
        let mut rows = self
            .get(&format!("/v1/debtors/{debtor}/outbox"))
            .as_array()
            .cloned()
            .unwrap();
        rows.reverse();
        rows
    }

    /// Waits (at most 20 s) until the debtor's outbox row `id` has `status`.
    fn wait_for_status(&self, debtor: &str, id: &Value, status: &str) -> Value {
        wait_for(&format!("message {id} {status}"), || {
            self.outbox(debtor)
                .into_iter()
                .find(|m| &m["id"] == id && m["status"] == status)
        })
    }

    /// Where the file sender writes this tenant's messages.
    fn files(&self) -> PathBuf {
        self.server.db.with_file_name("outbox").join(TENANT)
    }

    /// The file the file sender wrote for an outbox row (`.eml` or `.json`).
    fn file_of(&self, message: &Value) -> PathBuf {
        let extension = if message["channel"] == "email" {
            "eml"
        } else {
            "json"
        };
        let key = message["idempotency_key"].as_str().unwrap();
        self.files().join(format!("{key}.{extension}"))
    }
}

/// Polls `found` every 100 ms until it gives something; fails after 20 s.
fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited 20 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The text part of an `.eml` the file sender wrote, decoded.
fn eml_text(path: &Path) -> String {
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let raw = raw.replace("\r\n", "\n");
    // The text/plain part: its headers up to a blank line, then the body up
    // to the next MIME boundary (or the end).
    let start = raw
        .find("Content-Type: text/plain")
        .unwrap_or_else(|| panic!("no text part in {raw}"));
    let part = &raw[start..];
    let (headers, body) = part.split_once("\n\n").unwrap();
    let body = body.split("\n--").next().unwrap();
    let encoding = headers
        .lines()
        .find_map(|l| l.strip_prefix("Content-Transfer-Encoding: "))
        .unwrap_or("7bit")
        .trim();
    match encoding {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap(),
            )
            .unwrap()
        }
        "quoted-printable" => {
            let soft = body.replace("=\n", "");
            let bytes = soft.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        _ => body.to_owned(),
    }
}

/// A reason as the timeline and the evaluation show it.
fn reason(mut facts: Value, text: &str) -> Value {
    facts["text"] = text.into();
    facts
}

/// The reasons of each `action.moved`/`action.suppressed` event, oldest first.
fn guarded(dun: &Dun, debtor: &str) -> Vec<(String, Value)> {
    dun.timeline(debtor)
        .into_iter()
        .filter(|e| e["kind"] == "action.moved" || e["kind"] == "action.suppressed")
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["data"].clone()))
        .collect()
}

/// A firm reminder on `channel`, `in_secs` after the decision.
fn remind(channel: &str, in_secs: i64) -> Value {
    json!({ "kind": "remind", "channel": channel, "tone": "firm", "in_secs": in_secs })
}

#[test]
fn quiet_hours_move_an_sms_at_six_in_the_morning_to_eight_and_leave_email_alone() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [remind("sms", 0), remind("email", 0)] }));
    dun.debtor(
        "owl",
        "America/New_York",
        json!({ "email": "ap@owl.example", "phone": "+12125550100" }),
    );
    dun.invoice("O-1", "owl", 50_00);

    // 10:00 UTC is 06:00 in New York: the SMS waits for 08:00 (12:00 UTC).
    let evaluation = dun.evaluate("owl");
    let quiet = json!([reason(
        json!({ "rule": "quiet-hours", "channel": "sms", "local_time": "06:00" }),
        "06:00 local is outside sms hours"
    )]);
    let sms = &evaluation["verdicts"][0];
    assert_eq!(sms["verdict"], "moved", "{evaluation:#}");
    assert_eq!(sms["planned"]["send_at"], START);
    assert_eq!(sms["action"]["send_at"], "2026-05-04T12:00:00Z");
    assert_eq!(sms["reasons"], quiet);
    let email = &evaluation["verdicts"][1];
    assert_eq!(email["verdict"], "kept", "{evaluation:#}");
    assert_eq!(email["action"]["send_at"], START);
    assert_eq!(email["reasons"], json!([]));

    // The timeline says so, once, about the SMS only.
    let moved = guarded(&dun, "owl");
    assert_eq!(moved.len(), 1, "{moved:#?}");
    assert_eq!(moved[0].0, "action.moved");
    assert_eq!(moved[0].1["reasons"], quiet);
    assert_eq!(moved[0].1["action"]["channel"], "sms");

    // The email goes at once; the SMS is scheduled for 08:00 exactly.
    let outbox = dun.outbox("owl");
    assert_eq!(outbox.len(), 2, "{outbox:#?}");
    let (text, mail) = (&outbox[0], &outbox[1]);
    assert_eq!(
        (&text["channel"], &text["scheduled_at"]),
        (&json!("sms"), &json!("2026-05-04T12:00:00Z"))
    );
    assert_eq!(
        (&mail["channel"], &mail["scheduled_at"]),
        (&json!("email"), &json!(START))
    );
    let sent = dun.wait_for_status("owl", &mail["id"], "sent");
    assert_eq!(sent["sent_at"], START);
    assert_eq!(dun.outbox("owl")[0]["status"], "scheduled");
    assert!(!dun.file_of(text).exists());

    // At 08:00 in New York it goes.
    dun.advance(2 * 3_600);
    let sent = dun.wait_for_status("owl", &text["id"], "sent");
    assert_eq!(sent["sent_at"], "2026-05-04T12:00:00Z");
    let file: Value = serde_json::from_slice(&std::fs::read(dun.file_of(text)).unwrap()).unwrap();
    assert_eq!(file["to"], "+12125550100");
    assert_eq!(file["at"], "2026-05-04T12:00:00Z");
}

#[test]
fn a_second_sms_the_same_local_day_moves_to_the_next_morning() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [remind("sms", 0)] }));
    dun.debtor(
        "berlin",
        "Europe/Berlin",
        json!({ "phone": "+4915112345678" }),
    );
    dun.invoice("B-1", "berlin", 80_00);

    // 12:00 in Berlin: the first SMS goes now.
    let first = dun.evaluate("berlin");
    assert_eq!(first["verdicts"][0]["verdict"], "kept", "{first:#}");
    let row = dun.outbox("berlin")[0].clone();
    dun.wait_for_status("berlin", &row["id"], "sent");

    // Two hours later (14:00 Berlin) another is planned: the day had its
    // one SMS, so it waits for 08:00 Berlin the next day (06:00 UTC, CEST).
    dun.advance(2 * 3_600);
    let second = dun.evaluate("berlin");
    let daily = json!([reason(
        json!({ "rule": "daily-cap", "channel": "sms", "limit": 1 }),
        "sms already used 1 time(s) that day"
    )]);
    let verdict = &second["verdicts"][0];
    assert_eq!(verdict["verdict"], "moved", "{second:#}");
    assert_eq!(verdict["planned"]["send_at"], "2026-05-04T12:00:00Z");
    assert_eq!(verdict["action"]["send_at"], "2026-05-05T06:00:00Z");
    assert_eq!(verdict["reasons"], daily);
    let moved = guarded(&dun, "berlin");
    assert_eq!(moved.len(), 1, "{moved:#?}");
    assert_eq!(moved[0].0, "action.moved");
    assert_eq!(moved[0].1["reasons"], daily);
    let outbox = dun.outbox("berlin");
    assert_eq!(outbox.len(), 2, "{outbox:#?}");
    assert_eq!(outbox[1]["status"], "scheduled");
    assert_eq!(outbox[1]["scheduled_at"], "2026-05-05T06:00:00Z");
}

#[test]
fn the_daily_and_weekly_caps_count_the_reminders_of_the_same_plan() {
    let dun = Dun::start();
    dun.debtor(
        "twice",
        "Europe/Berlin",
        json!({ "phone": "+4915112345678" }),
    );
    dun.invoice("T-1", "twice", 80_00);
    dun.debtor("weekly", "UTC", json!({ "phone": "+4915112345679" }));
    dun.invoice("W-1", "weekly", 80_00);

    // Two SMS in one plan, an hour apart on the same local day: the second
    // must wait for the next morning, as it would had the first been sent.
    dun.script(json!({ "actions": [remind("sms", 0), remind("sms", 3_600)] }));
    let evaluation = dun.evaluate("twice");
    assert_eq!(
        evaluation["verdicts"][0]["verdict"], "kept",
        "{evaluation:#}"
    );
    let second = &evaluation["verdicts"][1];
    assert_eq!(
        (&second["verdict"], &second["action"]["send_at"]),
        (&json!("moved"), &json!("2026-05-05T06:00:00Z")),
        "two SMS planned for the same local day were both kept: {evaluation:#}"
    );
    assert_eq!(
        second["reasons"],
        json!([reason(
            json!({ "rule": "daily-cap", "channel": "sms", "limit": 1 }),
            "sms already used 1 time(s) that day"
        )])
    );

    // Four SMS in one plan on four days: the fourth must wait until the
    // first leaves the rolling 7 days.
    dun.script(json!({ "actions": [remind("sms", 0), remind("sms", DAY),
                                   remind("sms", 2 * DAY), remind("sms", 3 * DAY)] }));
    let evaluation = dun.evaluate("weekly");
    let fourth = &evaluation["verdicts"][3];
    assert_eq!(
        (&fourth["verdict"], &fourth["action"]["send_at"]),
        (&json!("moved"), &json!("2026-05-11T10:00:01Z")),
        "four SMS in four days were all kept: {evaluation:#}"
    );

    // A deferral holds back the reminders of the plan that makes it.
    dun.debtor("paused", "UTC", json!({ "email": "ap@paused.example" }));
    dun.invoice("P-1", "paused", 80_00);
    dun.script(json!({ "actions": [{ "kind": "defer", "days": 5 }, remind("email", 0)] }));
    let evaluation = dun.evaluate("paused");
    let reminder = &evaluation["verdicts"][1];
    assert_eq!(
        (&reminder["verdict"], &reminder["action"]["send_at"]),
        (&json!("moved"), &json!("2026-05-10T09:00:00Z")),
        "a reminder in the plan that defers contact was kept: {evaluation:#}"
    );
}

#[test]
fn rolling_seven_day_caps_three_sms_and_seven_calls() {
    let dun = Dun::start();
    dun.debtor("texted", "UTC", json!({ "phone": "+4915112345678" }));
    dun.invoice("S-1", "texted", 80_00);
    dun.debtor("called", "UTC", json!({ "phone": "+4915112345679" }));
    dun.invoice("C-1", "called", 80_00);

    // Plans one reminder now, which is kept and then sent.
    let send_today = |debtor: &str| {
        let evaluation = dun.evaluate(debtor);
        assert_eq!(
            evaluation["verdicts"][0]["verdict"], "kept",
            "{evaluation:#}"
        );
        let row = dun.outbox(debtor).last().cloned().unwrap();
        dun.wait_for_status(debtor, &row["id"], "sent");
    };
    // One SMS a day on days 0, 1 and 2 (4-6 May), one call a day on days
    // 0 to 6 (4-10 May), each sent at 10:00 UTC.
    let weekly = json!([reason(
        json!({ "rule": "weekly-cap", "channel": "sms", "limit": 3 }),
        "sms already used 3 time(s) in 7 days"
    )]);
    for day in 0..7 {
        if day > 0 {
            dun.advance(DAY);
        }
        dun.script(json!({ "actions": [remind("sms", 0)] }));
        if day < 3 {
            send_today("texted");
        } else if day == 3 {
            // A fourth SMS in 7 days waits until the first leaves the
            // window: 11 May, 10:00:01.
            let evaluation = dun.evaluate("texted");
            let fourth = &evaluation["verdicts"][0];
            assert_eq!(fourth["verdict"], "moved", "{evaluation:#}");
            assert_eq!(fourth["planned"]["send_at"], "2026-05-07T10:00:00Z");
            assert_eq!(fourth["action"]["send_at"], "2026-05-11T10:00:01Z");
            assert_eq!(fourth["reasons"], weekly);
        }
        dun.script(json!({ "actions": [remind("call", 0)] }));
        send_today("called");
    }
    let moved = guarded(&dun, "texted");
    assert_eq!(moved.len(), 1, "{moved:#?}");
    assert_eq!(moved[0].1["reasons"], weekly);
    let outbox = dun.outbox("texted");
    assert_eq!(outbox.len(), 4, "{outbox:#?}");
    assert_eq!(outbox[3]["status"], "scheduled");
    assert_eq!(outbox[3]["scheduled_at"], "2026-05-11T10:00:01Z");

    // Seven calls in 7 days are fine; an eighth on day 6 (10 May) waits a
    // day for the daily cap, and then until the first call leaves the 7 days.
    let evaluation = dun.evaluate("called");
    let reasons = json!([
        reason(
            json!({ "rule": "daily-cap", "channel": "call", "limit": 1 }),
            "call already used 1 time(s) that day"
        ),
        reason(
            json!({ "rule": "weekly-cap", "channel": "call", "limit": 7 }),
            "call already used 7 time(s) in 7 days"
        ),
    ]);
    let eighth = &evaluation["verdicts"][0];
    assert_eq!(eighth["verdict"], "moved", "{evaluation:#}");
    assert_eq!(eighth["planned"]["send_at"], "2026-05-10T10:00:00Z");
    assert_eq!(eighth["action"]["send_at"], "2026-05-11T10:00:01Z");
    assert_eq!(eighth["reasons"], reasons);
    let moved = guarded(&dun, "called");
    assert_eq!(moved.len(), 1, "{moved:#?}");
    assert_eq!(moved[0].1["reasons"], reasons);
    let sent = dun
        .outbox("called")
        .iter()
        .filter(|m| m["status"] == "sent")
        .count();
    assert_eq!(sent, 7);
}

#[test]
fn an_sms_to_a_debtor_without_a_phone_is_suppressed() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [remind("sms", 0)] }));
    dun.debtor("mailonly", "UTC", json!({ "email": "ap@mailonly.example" }));
    dun.invoice("M-1", "mailonly", 80_00);

    let evaluation = dun.evaluate("mailonly");
    let no_contact = json!([reason(
        json!({ "rule": "no-contact", "channel": "sms" }),
        "no sms contact for this debtor"
    )]);
    let verdict = &evaluation["verdicts"][0];
    assert_eq!(verdict["verdict"], "suppressed", "{evaluation:#}");
    assert_eq!(verdict["action"], Value::Null);
    assert_eq!(verdict["reasons"], no_contact);
    let suppressed = guarded(&dun, "mailonly");
    assert_eq!(suppressed.len(), 1, "{suppressed:#?}");
    assert_eq!(suppressed[0].0, "action.suppressed");
    assert_eq!(suppressed[0].1["reasons"], no_contact);
    assert_eq!(suppressed[0].1["action"], Value::Null);
    assert_eq!(dun.outbox("mailonly"), Vec::<Value>::new());
}

#[test]
fn a_channel_the_debtor_opted_out_of_is_suppressed_at_send_time_and_when_planning() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [remind("sms", 0)] }));
    dun.debtor(
        "owl",
        "America/New_York",
        json!({ "email": "ap@owl.example", "phone": "+12125550100" }),
    );
    dun.invoice("O-1", "owl", 50_00);

    // Planned at 06:00 New York for 08:00; the debtor opts out of SMS in
    // between: the dispatcher's re-check suppresses it when it falls due.
    dun.evaluate("owl");
    let scheduled = dun.outbox("owl")[0].clone();
    assert_eq!(scheduled["scheduled_at"], "2026-05-04T12:00:00Z");
    let reply = dun.client.put("/v1/debtors/owl/opt-outs/sms", &json!({}));
    assert_eq!(reply.status, 200, "{reply:#?}");
    dun.advance(2 * 3_600);
    let suppressed = dun.wait_for_status("owl", &scheduled["id"], "suppressed");
    assert_eq!(suppressed["reason"], "the debtor opted out of sms");
    let events = dun.events("owl", "message.suppressed");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["subject"], scheduled["id"]);
    assert_eq!(events[0]["data"]["reason"], "the debtor opted out of sms");
    assert!(!dun.file_of(&scheduled).exists());

    // Opted out of email too: an email planned now is suppressed, and the
    // timeline says the debtor opted out (they do have an address).
    let reply = dun.client.put("/v1/debtors/owl/opt-outs/email", &json!({}));
    assert_eq!(reply.status, 200, "{reply:#?}");
    dun.script(json!({ "actions": [remind("email", 0)] }));
    let evaluation = dun.evaluate("owl");
    let verdict = &evaluation["verdicts"][0];
    assert_eq!(verdict["verdict"], "suppressed", "{evaluation:#}");
    assert_eq!(
        verdict["reasons"],
        json!([reason(
            json!({ "rule": "opted-out", "channel": "email" }),
            "the debtor opted out of email"
        )]),
        "an opted-out channel is reported as a missing contact"
    );
}

#[test]
fn disputed_invoices_are_dropped_and_a_promise_holds_contact_until_the_day_after() {
    let dun = Dun::start();
    dun.debtor(
        "quarrel",
        "Europe/Berlin",
        json!({ "email": "ap@quarrel.example", "phone": "+4915112345678" }),
    );
    dun.invoice("Q-1", "quarrel", 100_00);
    dun.invoice("Q-2", "quarrel", 60_00);
    let reply = dun.client.post(
        "/v1/disputes",
        &json!({ "invoice_id": "Q-1", "reason": "never delivered" }),
    );
    assert_eq!(reply.status, 201, "{reply:#?}");

    // An email about both: Q-1 drops out. An SMS about Q-1 alone: nothing left.
    dun.script(json!({ "actions": [
        remind("email", 0),
        { "kind": "remind", "channel": "sms", "tone": "firm", "invoices": ["Q-1"] },
    ] }));
    let evaluation = dun.evaluate("quarrel");
    let disputed = json!([reason(
        json!({ "rule": "disputed", "invoice_ids": ["Q-1"] }),
        "Q-1 disputed: paused"
    )]);
    let email = &evaluation["verdicts"][0];
    assert_eq!(email["verdict"], "moved", "{evaluation:#}");
    assert_eq!(email["planned"]["invoice_ids"], json!(["Q-1", "Q-2"]));
    assert_eq!(email["action"]["invoice_ids"], json!(["Q-2"]));
    assert_eq!(email["action"]["send_at"], START);
    assert_eq!(email["reasons"], disputed);
    let sms = &evaluation["verdicts"][1];
    assert_eq!(sms["verdict"], "suppressed", "{evaluation:#}");
    assert_eq!(sms["reasons"], disputed);
    let events = guarded(&dun, "quarrel");
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["action.moved", "action.suppressed"]);
    assert!(events.iter().all(|(_, data)| data["reasons"] == disputed));
    let outbox = dun.outbox("quarrel");
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    assert_eq!(outbox[0]["invoice_ids"], json!(["Q-2"]));

    // A promise to pay by Friday 8 May: reminders wait until Saturday
    // 09:00 in Berlin (07:00 UTC), on every channel.
    dun.debtor(
        "promiser",
        "Europe/Berlin",
        json!({ "email": "ap@promiser.example", "phone": "+4915112345679" }),
    );
    dun.invoice("P-1", "promiser", 100_00);
    let reply = dun.client.post(
        "/v1/promises",
        &json!({ "debtor_id": "promiser", "currency": "EUR", "amount": 100_00,
                 "promised_on": "2026-05-08" }),
    );
    assert_eq!(reply.status, 201, "{reply:#?}");
    dun.script(json!({ "actions": [remind("sms", 0), remind("email", 0)] }));
    let evaluation = dun.evaluate("promiser");
    let promised = json!([reason(
        json!({ "rule": "promised", "invoice_ids": ["P-1"], "until": "2026-05-08" }),
        "P-1 promised to be paid by 2026-05-08"
    )]);
    for verdict in evaluation["verdicts"].as_array().unwrap() {
        assert_eq!(verdict["verdict"], "moved", "{evaluation:#}");
        assert_eq!(verdict["action"]["send_at"], "2026-05-09T07:00:00Z");
        assert_eq!(verdict["reasons"], promised);
    }
    let moved = guarded(&dun, "promiser");
    assert_eq!(moved.len(), 2, "{moved:#?}");
    assert!(
        moved
            .iter()
            .all(|(kind, data)| kind == "action.moved" && data["reasons"] == promised)
    );
    let outbox = dun.outbox("promiser");
    assert_eq!(outbox.len(), 2, "{outbox:#?}");
    assert!(
        outbox
            .iter()
            .all(|m| m["status"] == "scheduled" && m["scheduled_at"] == "2026-05-09T07:00:00Z")
    );
}

#[test]
fn a_payment_before_the_send_time_cancels_the_message_and_nothing_is_sent() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [remind("sms", 0)] }));
    // Two debtors in New York, both with an SMS moved to 08:00 local.
    for (debtor, invoice, phone) in [
        ("owl", "O-1", "+12125550100"),
        ("lark", "L-1", "+12125550101"),
    ] {
        dun.debtor(debtor, "America/New_York", json!({ "phone": phone }));
        dun.invoice(invoice, debtor, 50_00);
        let evaluation = dun.evaluate(debtor);
        assert_eq!(
            evaluation["verdicts"][0]["action"]["send_at"], "2026-05-04T12:00:00Z",
            "{evaluation:#}"
        );
    }
    let owl = dun.outbox("owl")[0].clone();
    assert_eq!(owl["status"], "scheduled");

    // The owl pays in full before 08:00: the SMS is cancelled at once.
    let reply = dun.client.post(
        "/v1/payments",
        &json!({ "debtor_id": "owl", "currency": "EUR", "amount": 50_00 }),
    );
    assert_eq!(reply.status, 201, "{reply:#?}");
    let reason = "every invoice it names was settled or disputed before it was sent";
    let cancelled = dun.outbox("owl")[0].clone();
    assert_eq!(cancelled["status"], "cancelled", "{cancelled:#}");
    assert_eq!(cancelled["reason"], reason);
    let events = dun.events("owl", "message.cancelled");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["subject"], owl["id"]);
    assert_eq!(events[0]["data"]["reason"], reason);
    assert_eq!(events[0]["data"]["scheduled_at"], "2026-05-04T12:00:00Z");
    assert_eq!(events[0]["data"]["invoice_ids"], json!(["O-1"]));

    // 08:00 comes: the lark's SMS (due at the same instant, so claimed in
    // the same pass) goes; the owl's does not.
    dun.advance(3 * 3_600);
    let lark = dun.outbox("lark")[0].clone();
    dun.wait_for_status("lark", &lark["id"], "sent");
    assert!(dun.file_of(&lark).exists());
    assert!(!dun.file_of(&owl).exists());
    assert_eq!(dun.outbox("owl")[0]["status"], "cancelled");
    assert_eq!(dun.events("owl", "message.sent"), Vec::<Value>::new());
    let files = std::fs::read_dir(dun.files()).unwrap().count();
    assert_eq!(files, 1);
}

#[test]
fn fees_are_capped_charged_once_and_shown_in_the_reminder() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [
        { "kind": "charge-fee", "fee": "late-fee", "amount": 20_00 },
        { "kind": "remind", "channel": "email", "tone": "firm" },
    ] }));
    dun.debtor("feeco", "UTC", json!({ "email": "ap@feeco.example" }));
    dun.invoice("F-1", "feeco", 100_00);
    dun.invoice("F-2", "feeco", 1_000_00);

    // 15% of 100.00 is 15.00: the 20.00 fee on F-1 is cut to that; F-2
    // (15% of 1,000.00 is 150.00) takes it whole.
    let evaluation = dun.evaluate("feeco");
    let capped = json!([reason(
        json!({ "rule": "fee-cap", "invoice_id": "F-1", "requested": 20_00, "allowed": 15_00 }),
        "fee on F-1 capped: 2000 requested, 1500 allowed"
    )]);
    let verdicts = evaluation["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 3, "{evaluation:#}");
    assert_eq!(verdicts[0]["verdict"], "moved");
    assert_eq!(verdicts[0]["action"]["amount"], 15_00);
    assert_eq!(verdicts[0]["reasons"], capped);
    assert_eq!(verdicts[1]["verdict"], "kept");
    assert_eq!(verdicts[1]["action"]["amount"], 20_00);
    assert_eq!(verdicts[2]["verdict"], "kept");
    let moved = guarded(&dun, "feeco");
    assert_eq!(moved.len(), 1, "{moved:#?}");
    assert_eq!(moved[0].1["reasons"], capped);

    // The fees raise the invoices' amounts.
    let amounts = |id: &str| {
        let invoice = dun.get(&format!("/v1/invoices/{id}"));
        (
            invoice["amount"].as_i64().unwrap(),
            invoice["open_amount"].as_i64().unwrap(),
            invoice["fees"].as_i64().unwrap(),
        )
    };
    assert_eq!(amounts("F-1"), (115_00, 115_00, 15_00));
    // The billing system re-sending the invoice as it issued it still
    // matches: the fee is dun's, not a change of the invoice.
    let resent = dun.client.post(
        "/v1/invoices",
        &json!({ "external_id": "F-1", "debtor_id": "feeco", "currency": "EUR", "amount": 100_00,
                 "issued_on": "2026-03-01", "due_on": "2026-04-24" }),
    );
    assert_eq!(resent.status, 200, "{resent:#?}");
    assert_eq!(amounts("F-1"), (115_00, 115_00, 15_00));
    assert_eq!(amounts("F-2"), (1_020_00, 1_020_00, 20_00));
    let charged: Vec<(Value, Value)> = dun
        .events("feeco", "fee.charged")
        .iter()
        .map(|e| (e["subject"].clone(), e["data"].clone()))
        .collect();
    assert_eq!(
        charged,
        [
            (
                json!("F-1"),
                json!({ "kind": "late-fee", "amount": 15_00, "reason": "scripted fee" })
            ),
            (
                json!("F-2"),
                json!({ "kind": "late-fee", "amount": 20_00, "reason": "scripted fee" })
            ),
        ]
    );

    // The reminder shows the fees.
    let message = dun
        .outbox("feeco")
        .into_iter()
        .find(|m| m["channel"] == "email")
        .unwrap();
    dun.wait_for_status("feeco", &message["id"], "sent");
    let text = eml_text(&dun.file_of(&message));
    for line in [
        "- Invoice F-1 (due 24 April 2026, 10 days overdue): EUR 115.00, including EUR 15.00 late fees",
        "- Invoice F-2 (due 24 April 2026, 10 days overdue): EUR 1,020.00, including EUR 20.00 late fees",
        "Total outstanding: EUR 1,135.00",
        "late fees have been added",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    let kept = dun.get(&format!("/v1/messages/{}", message["id"].as_str().unwrap()));
    assert_eq!(
        kept["content"]["text"].as_str().unwrap().trim(),
        text.trim()
    );

    // The same fees asked for again: F-1 is at its cap; F-2's late fee was
    // charged already. Nothing changes.
    let evaluation = dun.evaluate("feeco");
    let verdicts = evaluation["verdicts"].as_array().unwrap();
    assert_eq!(verdicts[0]["verdict"], "suppressed", "{evaluation:#}");
    assert_eq!(
        verdicts[0]["reasons"],
        json!([reason(
            json!({ "rule": "fee-cap", "invoice_id": "F-1", "requested": 20_00, "allowed": 0 }),
            "fee on F-1 capped: 2000 requested, 0 allowed"
        )])
    );
    assert_eq!(verdicts[1]["verdict"], "kept");
    assert_eq!(amounts("F-1"), (115_00, 115_00, 15_00));
    assert_eq!(amounts("F-2"), (1_020_00, 1_020_00, 20_00));
    assert_eq!(dun.events("feeco", "fee.charged").len(), 2);
}

#[test]
fn a_discount_is_capped_offered_and_shown_in_the_reminder() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [
        { "kind": "offer-discount", "percent_bp": 2_500, "days": 10 },
        { "kind": "remind", "channel": "email", "tone": "gentle" },
    ] }));
    dun.debtor("disco", "UTC", json!({ "email": "ap@disco.example" }));
    dun.invoice("D-1", "disco", 100_00);

    // 25% asked, 10% allowed.
    let evaluation = dun.evaluate("disco");
    let capped = json!([reason(
        json!({ "rule": "discount-cap", "requested_bp": 2_500, "allowed_bp": 1_000 }),
        "discount capped at 1000 bp (2500 requested)"
    )]);
    let offer = &evaluation["verdicts"][0];
    assert_eq!(offer["verdict"], "moved", "{evaluation:#}");
    assert_eq!(
        offer["action"],
        json!({ "kind": "offer-discount", "invoice_ids": ["D-1"], "percent_bp": 1_000,
                "until": "2026-05-14" })
    );
    assert_eq!(offer["reasons"], capped);
    let moved = guarded(&dun, "disco");
    assert_eq!(moved.len(), 1, "{moved:#?}");
    assert_eq!(moved[0].1["reasons"], capped);

    // The offer is recorded as allowed.
    let offers = dun.get("/v1/debtors/disco/offers");
    let offers = offers.as_array().unwrap();
    assert_eq!(offers.len(), 1, "{offers:#?}");
    assert_eq!(offers[0]["kind"], "discount");
    assert_eq!(offers[0]["invoice_ids"], json!(["D-1"]));
    assert_eq!(offers[0]["terms"], json!({ "percent_bp": 1_000 }));
    assert_eq!(offers[0]["valid_until"], "2026-05-14");
    assert_eq!(offers[0]["status"], "open");
    let made = dun.events("disco", "offer.made");
    assert_eq!(made.len(), 1, "{made:#?}");
    assert_eq!(made[0]["subject"], offers[0]["id"]);

    // The reminder offers it.
    let message = dun.outbox("disco")[0].clone();
    dun.wait_for_status("disco", &message["id"], "sent");
    let text = eml_text(&dun.file_of(&message));
    assert!(
        text.contains("If you pay the full amount by 14 May 2026, we will reduce it by 10%."),
        "{text}"
    );
}

#[test]
fn a_deferral_holds_reminders_until_the_day_after_and_then_they_go() {
    let dun = Dun::start();
    dun.debtor("later", "UTC", json!({ "email": "ap@later.example" }));
    dun.invoice("L-1", "later", 100_00);

    // The strategy defers contact for 5 days, until Saturday 9 May.
    dun.script(json!({ "actions": [{ "kind": "defer", "days": 5 }] }));
    let evaluation = dun.evaluate("later");
    assert_eq!(
        evaluation["verdicts"][0]["verdict"], "kept",
        "{evaluation:#}"
    );
    let deferred = dun.events("later", "invoice.deferred");
    assert_eq!(deferred.len(), 1, "{deferred:#?}");
    assert_eq!(
        deferred[0]["data"],
        json!({ "invoice_ids": ["L-1"], "until": "2026-05-09", "reason": "scripted deferral" })
    );
    assert_eq!(dun.get("/v1/invoices/L-1")["deferred_until"], "2026-05-09");

    // Reminders planned during the deferral wait until 09:00 the day after.
    dun.script(json!({ "actions": [remind("email", 0)] }));
    let held = json!([reason(
        json!({ "rule": "deferred", "invoice_ids": ["L-1"], "until": "2026-05-09" }),
        "L-1 deferred until 2026-05-09"
    )]);
    for day in [0, 2, 3] {
        if day > 0 {
            dun.advance(if day == 2 { 2 * DAY } else { DAY });
        }
        let evaluation = dun.evaluate("later");
        let verdict = &evaluation["verdicts"][0];
        assert_eq!(verdict["verdict"], "moved", "day {day}: {evaluation:#}");
        assert_eq!(verdict["action"]["send_at"], "2026-05-10T09:00:00Z");
        assert_eq!(verdict["reasons"], held);
    }
    let moved = guarded(&dun, "later");
    assert_eq!(moved.len(), 3, "{moved:#?}");
    assert!(moved.iter().all(|(_, data)| data["reasons"] == held));
    // Each newer plan replaced the scheduled message; none went out.
    let outbox = dun.outbox("later");
    let statuses: Vec<&str> = outbox
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["cancelled", "cancelled", "scheduled"]);
    assert_eq!(dun.events("later", "message.sent"), Vec::<Value>::new());

    // Sunday 10 May, 10:00: the held reminder has gone.
    dun.advance(3 * DAY);
    let sent = dun.wait_for_status("later", &outbox[2]["id"], "sent");
    assert_eq!(sent["scheduled_at"], "2026-05-10T09:00:00Z");
    assert_eq!(sent["sent_at"], "2026-05-10T10:00:00Z");
    assert!(dun.file_of(&sent).exists());
    assert_eq!(dun.events("later", "message.sent").len(), 1);
}

#[test]
fn a_plan_offer_is_accepted_once_with_the_offered_installments() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [
        { "kind": "offer-plan", "installments": 3, "every_days": 30, "first_in_days": 7 },
    ] }));
    dun.debtor("planner", "UTC", json!({ "email": "ap@planner.example" }));
    dun.invoice("PL-1", "planner", 100_00);

    let evaluation = dun.evaluate("planner");
    assert_eq!(
        evaluation["verdicts"][0]["verdict"], "kept",
        "{evaluation:#}"
    );
    let installments = json!([
        { "due_on": "2026-05-11", "amount": 33_34 },
        { "due_on": "2026-06-10", "amount": 33_33 },
        { "due_on": "2026-07-10", "amount": 33_33 },
    ]);
    let offers = dun.get("/v1/debtors/planner/offers");
    let offer = &offers[0];
    assert_eq!(offers.as_array().unwrap().len(), 1, "{offers:#}");
    assert_eq!(offer["kind"], "payment-plan");
    assert_eq!(offer["invoice_ids"], json!(["PL-1"]));
    assert_eq!(
        offer["terms"],
        json!({ "installments": installments, "every_days": 30 })
    );
    assert_eq!(offer["status"], "open");
    let id = offer["id"].as_str().unwrap();

    let accepted = dun
        .client
        .post(&format!("/v1/offers/{id}/accept"), &json!({}));
    assert_eq!(accepted.status, 201, "{accepted:#?}");
    let plan = &accepted.body;
    assert_eq!(plan["debtor_id"], "planner");
    assert_eq!(plan["invoice_ids"], json!(["PL-1"]));
    assert_eq!(plan["total"], 100_00);
    assert_eq!(plan["status"], "active");
    let agreed: Vec<Value> = plan["installments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!({ "due_on": i["due_on"], "amount": i["amount"] }))
        .collect();
    assert_eq!(Value::from(agreed), installments);
    assert_eq!(dun.get("/v1/invoices/PL-1")["status"], "in-plan");
    assert_eq!(
        dun.get("/v1/debtors/planner/offers")[0]["status"],
        "accepted"
    );
    let events = dun.events("planner", "offer.accepted");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["subject"], id);
    assert_eq!(events[0]["data"]["plan_id"], plan["id"]);

    let again = dun
        .client
        .post(&format!("/v1/offers/{id}/accept"), &json!({}));
    again.assert_problem(409, Some("status"));
}

#[test]
fn an_escalation_puts_invoices_in_collection_and_hands_them_over_as_a_file() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [{ "kind": "escalate" }] }));
    dun.debtor("gone", "UTC", json!({ "email": "ap@gone.example" }));
    dun.invoice("E-1", "gone", 100_00);
    dun.invoice("E-2", "gone", 40_00);

    let evaluation = dun.evaluate("gone");
    assert_eq!(
        evaluation["verdicts"][0]["verdict"], "kept",
        "{evaluation:#}"
    );
    for id in ["E-1", "E-2"] {
        assert_eq!(
            dun.get(&format!("/v1/invoices/{id}"))["status"],
            "in-collection"
        );
    }
    let escalations = dun.get("/v1/escalations?debtor_id=gone");
    let escalations = escalations.as_array().unwrap();
    assert_eq!(escalations.len(), 1, "{escalations:#?}");
    let escalation = &escalations[0];
    assert_eq!(escalation["target"], "collection-agency");
    assert_eq!(escalation["invoice_ids"], json!(["E-1", "E-2"]));
    assert_eq!(escalation["note"], "scripted escalation");
    let id = escalation["id"].as_str().unwrap().to_owned();

    // No webhook configured: the hand-over is a JSON file in the outbox folder.
    let path = dun.files().join(format!("{id}.json"));
    let handed: Value = wait_for("the escalation file", || {
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    });
    assert_eq!(handed["event"], "escalation.created");
    assert_eq!(handed["id"], id.as_str());
    assert_eq!(handed["tenant"], TENANT);
    assert_eq!(handed["target"], "collection-agency");
    assert_eq!(handed["note"], "scripted escalation");
    assert_eq!(handed["debtor"]["id"], "gone");
    let invoices: Vec<(&str, &str)> = handed["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        invoices,
        [("E-1", "in-collection"), ("E-2", "in-collection")]
    );
    let sent = wait_for("the escalation marked sent", || {
        let list = dun.get("/v1/escalations?debtor_id=gone");
        (list[0]["status"] == "sent").then(|| list[0].clone())
    });
    assert_eq!(sent["sent_at"], START);
    let created = dun.events("gone", "escalation.created");
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(created[0]["subject"], id.as_str());
    assert_eq!(created[0]["data"]["invoice_ids"], json!(["E-1", "E-2"]));
    let handed_over = dun.events("gone", "escalation.sent");
    assert_eq!(handed_over.len(), 1, "{handed_over:#?}");
    assert_eq!(handed_over[0]["subject"], id.as_str());
}

#[test]
fn no_reminder_goes_out_about_an_invoice_in_collection() {
    let dun = Dun::start();
    dun.script(json!({ "actions": [{ "kind": "escalate" }] }));
    dun.debtor("gone", "UTC", json!({ "email": "ap@gone.example" }));
    dun.invoice("E-1", "gone", 100_00);
    dun.evaluate("gone");
    assert_eq!(dun.get("/v1/invoices/E-1")["status"], "in-collection");

    // The strategy still asks for a reminder about it (`store::actions`:
    // an escalated invoice gets "no more reminders").
    dun.script(json!({ "actions": [remind("email", 0)] }));
    let evaluation = dun.evaluate("gone");
    let escalation = wait_for("the hand-over", || {
        let list = dun.get("/v1/escalations?debtor_id=gone");
        (list[0]["status"] == "sent").then(|| list[0].clone())
    });
    let file = dun
        .files()
        .join(format!("{}.json", escalation["id"].as_str().unwrap()));
    assert!(file.exists());
    assert_eq!(
        evaluation["verdicts"][0]["verdict"], "suppressed",
        "a reminder about an invoice in collection was kept: {evaluation:#}"
    );
    assert_eq!(dun.outbox("gone"), Vec::<Value>::new());
}

#[test]
fn a_tenant_policy_changes_the_hours_and_caps_from_the_next_evaluation() {
    let dun = Dun::start();
    // Bad policies are refused with the field at fault.
    let reply = dun.admin.put(
        "/v1/policy",
        &json!({ "sms_hours": { "start": 20, "end": 9 } }),
    );
    reply.assert_problem(422, Some("sms_hours"));
    let reply = dun.admin.put("/v1/policy", &json!({ "sms_hourz": 1 }));
    assert_eq!(reply.status, 422, "{reply:?}");
    let reply = dun.client.put("/v1/policy", &json!({}));
    reply.assert_problem(403, None);

    // SMS only from 13:00 local, emails only from 14:00 local.
    let policy = json!({ "sms_hours": { "start": 13, "end": 18 }, "email_hours": { "start": 14, "end": 20 } });
    let reply = dun.admin.put("/v1/policy", &policy);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        dun.get("/v1/policy")["sms_hours"],
        json!({ "start": 13, "end": 18 })
    );
    assert_eq!(
        dun.get("/v1/policy")["max_sms_per_week"],
        3,
        "the rest stays default"
    );

    dun.script(json!({ "actions": [remind("sms", 0), remind("email", 0)] }));
    dun.debtor(
        "berlin",
        "Europe/Berlin",
        json!({ "email": "ap@berlin.example", "phone": "+4915112345678" }),
    );
    dun.invoice("B-1", "berlin", 50_00);
    // 10:00 UTC is 12:00 in Berlin: the SMS waits for 13:00, the email for 14:00.
    let evaluation = dun.evaluate("berlin");
    let verdicts = &evaluation["verdicts"];
    assert_eq!(
        verdicts[0]["action"]["send_at"], "2026-05-04T11:00:00Z",
        "{evaluation:#}"
    );
    assert_eq!(
        verdicts[1]["action"]["send_at"], "2026-05-04T12:00:00Z",
        "{evaluation:#}"
    );
    assert_eq!(verdicts[1]["reasons"][0]["rule"], "quiet-hours");
}
