//! End to end, with real parts: `dun serve` on a test clock, the built-in
//! `ladder`, email through a real SMTP server (aiosmtpd). Invoices are dated
//! so each rung of the ladder is due; the clock moves instead of the test
//! sleeping through weeks; what the SMTP server received is checked message
//! by message. Then payments stop the chase and cancel what was scheduled.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::smtp::SmtpSink;
use support::{Client, Server};

/// A server on a test clock at `start`, sending email to `sink`.
fn server(sink: &SmtpSink, start: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dun.toml");
    std::fs::write(
        &config,
        format!(
            "[senders.email]\nurl = \"{}\"\nfrom = \"billing@acme.example\"\n",
            sink.url()
        ),
    )
    .unwrap();
    let server = Server::start_with_env(&[
        ("DUN_CONFIG", config.to_str().unwrap()),
        ("DUN_TEST_CLOCK", start),
        ("DUN_SCHEDULER_INTERVAL_SECS", "1"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
    ]);
    (server, dir)
}

fn advance(operator: &Client, days: i64) {
    let reply = operator.post("/v1/test-clock", &json!({ "advance_secs": days * 86_400 }));
    assert_eq!(reply.status, 200, "{reply:?}");
}

fn invoice(id: &str, debtor: &str, due_on: &str, amount: i64) -> Value {
    json!({ "external_id": id, "debtor_id": debtor, "currency": "EUR", "amount": amount,
            "issued_on": "2026-03-01", "due_on": due_on })
}

/// The invoice numbers a message lists, in the order given.
fn numbers<'a>(message: &Value, candidates: &[&'a str]) -> Vec<&'a str> {
    let text = message["text"].as_str().unwrap_or_default();
    candidates
        .iter()
        .copied()
        .filter(|n| text.contains(n))
        .collect()
}

/// (recipient, subject) of each message, sorted.
fn summary(messages: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            (
                m["rcpt_tos"][0].as_str().unwrap().to_owned(),
                m["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn outbox(client: &Client, debtor: &str) -> Vec<Value> {
    let reply = client.get(&format!("/v1/debtors/{debtor}/outbox"));
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body.as_array().cloned().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The messages received since `from`, as (recipient, subject), sorted.
fn since(sink: &SmtpSink, from: usize) -> Vec<(String, String)> {
    summary(&sink.received()[from..])
}

fn pair(to: &str, subject: &str) -> (String, String) {
    (to.to_owned(), subject.to_owned())
}

#[test]
fn the_ladder_over_smtp_step_by_step_until_paid() {
    let sink = SmtpSink::start();
    // Monday 4 May 2026, 10:00 UTC (12:00 in Berlin).
    let (server, _dir) = server(&sink, "2026-05-04T10:00:00Z");
    let operator = server.operator();
    let (admin, client) = server.tenant("acme");

    // The tenant's own English email templates name the tone and the
    // invoices in the subject; German debtors get the built-in wording.
    for tone in ["courtesy", "gentle", "firm", "final"] {
        let template = json!({
            "subject": "[{{ tone }}] {% for line in invoices %}{{ line.number }}{% if not loop.last %}, {% endif %}{% endfor %}",
            "text": "Dear {{ debtor_name }},\n{% for line in invoices %}{{ line.number }}: {{ line.open_amount | money(line.currency) }} due {{ line.due_on | date }}\n{% endfor %}",
            "html": "<p>Dear {{ debtor_name }}</p>",
        });
        let reply = admin.put(&format!("/v1/templates/email/{tone}/en"), &template);
        assert_eq!(reply.status, 200, "{reply:?}");
    }

    // One invoice per debtor, each on its own rung: one coming due, one
    // just late, one well overdue, and a German debtor just late.
    let english = |id: &str, name: &str| {
        json!({ "external_id": id, "name": name, "email": format!("ap@{id}.example"),
                "time_zone": "Europe/Berlin", "language": "en" })
    };
    let debtors = [
        english("early", "Early <Ltd>"),
        english("late", "Late Ltd"),
        english("later", "Later Ltd"),
        json!({ "external_id": "muster", "name": "Muster GmbH", "email": "buchhaltung@muster.example",
                "time_zone": "Europe/Berlin", "language": "de-DE" }),
    ];
    for debtor in &debtors {
        assert_eq!(client.post("/v1/debtors", debtor).status, 201);
    }
    for (id, debtor, due, amount) in [
        ("G-1", "early", "2026-05-06", 100_00),
        ("G-2", "late", "2026-05-01", 100_00),
        ("G-3", "later", "2026-04-24", 100_00),
        ("M-1", "muster", "2026-05-02", 1_234_50),
    ] {
        let reply = client.post("/v1/invoices", &invoice(id, debtor, due, amount));
        assert_eq!(reply.status, 201, "{reply:?}");
    }

    // Day 0: each debtor gets the rung their invoice is on.
    sink.wait_for(4);
    std::thread::sleep(Duration::from_millis(1_500));
    let day0 = sink.received();
    assert_eq!(day0.len(), 4, "nothing more on day 0: {day0:#?}");
    let english_day0: Vec<Value> = day0
        .iter()
        .filter(|m| m["rcpt_tos"][0] != "buchhaltung@muster.example")
        .cloned()
        .collect();
    assert_eq!(
        summary(&english_day0),
        vec![
            pair("ap@early.example", "[courtesy] G-1"),
            pair("ap@late.example", "[gentle] G-2"),
            pair("ap@later.example", "[firm] G-3"),
        ]
    );
    for message in &english_day0 {
        assert_eq!(message["mail_from"], "billing@acme.example");
        assert!(
            message["from"]
                .as_str()
                .unwrap()
                .contains("billing@acme.example")
        );
        let subject = message["subject"].as_str().unwrap();
        let number = subject.split("] ").nth(1).unwrap();
        assert_eq!(numbers(message, &["G-1", "G-2", "G-3"]), vec![number]);
    }
    // The HTML part is escaped; the text part is not.
    let early = &english_day0
        .iter()
        .find(|m| m["rcpt_tos"][0] == "ap@early.example")
        .unwrap();
    assert!(
        early["text"].as_str().unwrap().contains("Dear Early <Ltd>"),
        "{early:#}"
    );
    assert!(
        early["html"]
            .as_str()
            .unwrap()
            .contains("Early &lt;Ltd&gt;"),
        "{early:#}"
    );
    let late = english_day0
        .iter()
        .find(|m| m["rcpt_tos"][0] == "ap@late.example")
        .unwrap();
    assert!(
        late["text"]
            .as_str()
            .unwrap()
            .contains("G-2: EUR 100.00 due 1 May 2026"),
        "{late:#}"
    );
    // The Message-ID is the outbox row's idempotency key.
    let sent = outbox(&client, "late");
    let id = late["message_id"].as_str().unwrap();
    let row = sent
        .iter()
        .find(|m| m["status"] == "sent")
        .unwrap_or_else(|| panic!("{sent:#?}"));
    assert_eq!(
        id,
        format!(
            "<{}@acme.example>",
            row["idempotency_key"].as_str().unwrap()
        )
    );
    // What was sent is kept: the message API shows it.
    let kept = client.get(&format!("/v1/messages/{}", row["id"].as_str().unwrap()));
    assert_eq!(kept.status, 200, "{kept:?}");
    assert_eq!(kept.body["content"]["recipient"], "ap@late.example");
    assert_eq!(kept.body["content"]["subject"], "[gentle] G-2");
    // The German debtor gets the built-in German wording with German money.
    let muster = day0
        .iter()
        .find(|m| m["rcpt_tos"][0] == "buchhaltung@muster.example")
        .expect("a message to Muster");
    let text = muster["text"].as_str().unwrap();
    assert!(text.contains("M-1") && text.contains("1.234,50"), "{text}");
    assert!(text.contains("Muster GmbH"), "{text}");

    // Four days on: G-1 is late (gentle), G-2 a week late (firm); G-3 had
    // its firm reminder and waits for the final rung; M-1 is between rungs.
    advance(&operator, 4);
    sink.wait_for(day0.len() + 2);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        since(&sink, day0.len()),
        vec![
            pair("ap@early.example", "[gentle] G-1"),
            pair("ap@late.example", "[firm] G-2"),
        ]
    );

    // G-1 and G-2 are paid. Thirteen days on, G-3 is 27 days late: its
    // final notice goes (by email, as there is no postal address), and M-1
    // reaches the firm rung; nothing about the paid invoices.
    for (debtor, amount) in [("early", 100_00), ("late", 100_00)] {
        let pay = json!({ "debtor_id": debtor, "currency": "EUR", "amount": amount });
        assert_eq!(client.post("/v1/payments", &pay).status, 201);
    }
    let before = sink.received().len();
    advance(&operator, 13);
    sink.wait_for(before + 2);
    std::thread::sleep(Duration::from_millis(1_500));
    let later = since(&sink, before);
    assert_eq!(later.len(), 2, "{later:#?}");
    assert_eq!(later[0], pair("ap@later.example", "[final] G-3"));
    assert_eq!(later[1].0, "buchhaltung@muster.example");

    // Paid in full: nothing more, however long we wait.
    for (debtor, amount) in [("later", 100_00), ("muster", 1_234_50)] {
        let pay = json!({ "debtor_id": debtor, "currency": "EUR", "amount": amount });
        assert_eq!(client.post("/v1/payments", &pay).status, 201);
    }
    let settled = sink.received().len();
    for _ in 0..3 {
        advance(&operator, 10);
        std::thread::sleep(Duration::from_millis(1_200));
    }
    assert_eq!(sink.received().len(), settled, "{:#?}", sink.received());
}

#[test]
fn one_email_a_day_a_debtor_with_invoices_on_three_rungs_hears_on_three_days() {
    let sink = SmtpSink::start();
    let (server, _dir) = server(&sink, "2026-05-04T10:00:00Z");
    let operator = server.operator();
    let (_, client) = server.tenant("acme");
    let debtor = json!({ "external_id": "globex", "name": "Globex", "email": "ap@globex.example",
                         "time_zone": "Europe/Berlin" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    for (id, due) in [
        ("G-1", "2026-05-06"),
        ("G-2", "2026-05-01"),
        ("G-3", "2026-04-24"),
    ] {
        let reply = client.post("/v1/invoices", &invoice(id, "globex", due, 100_00));
        assert_eq!(reply.status, 201, "{reply:?}");
    }
    // The ladder plans three emails at once (one per rung); the guardrail
    // allows one email a day, so the other two are moved, with the reason.
    sink.wait_for(1);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(sink.received().len(), 1, "{:#?}", sink.received());
    let timeline = client.get("/v1/debtors/globex/timeline?limit=100").body;
    let moved: Vec<&Value> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "action.moved")
        .collect();
    assert!(
        moved
            .iter()
            .any(|e| e["data"]["reasons"][0]["rule"] == "daily-cap"),
        "{timeline:#}"
    );
    // Over the next two days the other two go, one a day.
    for day in 1..=2 {
        advance(&operator, 1);
        sink.wait_for(day + 1);
        std::thread::sleep(Duration::from_millis(1_500));
        assert_eq!(sink.received().len(), day + 1, "{:#?}", sink.received());
    }
    let mut named: Vec<&str> = sink
        .received()
        .iter()
        .flat_map(|m| numbers(m, &["G-1", "G-2", "G-3"]))
        .collect();
    named.sort();
    // Every invoice was named. Which email names which depends on the day
    // each is re-planned: by then an invoice may have reached the next
    // invoice's rung, and the ladder names both in one reminder.
    named.dedup();
    assert_eq!(named, ["G-1", "G-2", "G-3"]);
}

#[test]
fn a_payment_cancels_a_scheduled_message_and_smtp_refusals_are_retried_or_failed() {
    let sink = SmtpSink::start();
    // 10:00 UTC is 06:00 in New York: too early for an SMS.
    let (server, _dir) = server(&sink, "2026-05-04T10:00:00Z");
    let operator = server.operator();
    let (_, client) = server.tenant("acme");
    let debtors = [
        json!({ "external_id": "owl", "name": "Night Owl Inc", "email": "ap@owl.example",
                "phone": "+12125550100", "time_zone": "America/New_York" }),
        json!({ "external_id": "busy", "name": "Busy Co", "email": "ap@busy.example", "time_zone": "UTC" }),
        json!({ "external_id": "gone", "name": "Gone Co", "email": "ap@bounce.example", "time_zone": "UTC" }),
    ];
    for debtor in &debtors {
        assert_eq!(client.post("/v1/debtors", debtor).status, 201);
    }
    for (id, debtor) in [("O-1", "owl"), ("B-1", "busy"), ("X-1", "gone")] {
        let reply = client.post("/v1/invoices", &invoice(id, debtor, "2026-04-24", 50_00));
        assert_eq!(reply.status, 201, "{reply:?}");
    }

    // Firm: the email goes now, the SMS waits for 08:00 in New York.
    wait_until("the owl's email", || {
        sink.received()
            .iter()
            .any(|m| m["rcpt_tos"][0] == "ap@owl.example")
    });
    let messages = outbox(&client, "owl");
    let sms = messages
        .iter()
        .find(|m| m["channel"] == "sms")
        .unwrap_or_else(|| panic!("{messages:#?}"));
    assert_eq!(sms["status"], "scheduled", "{messages:#?}");
    assert_eq!(sms["scheduled_at"], "2026-05-04T12:00:00Z");

    // The owl pays before 08:00: the SMS is cancelled with its reason.
    let pay = json!({ "debtor_id": "owl", "currency": "EUR", "amount": 50_00 });
    assert_eq!(client.post("/v1/payments", &pay).status, 201);
    let messages = outbox(&client, "owl");
    let sms = messages.iter().find(|m| m["channel"] == "sms").unwrap();
    assert_eq!(sms["status"], "cancelled", "{messages:#?}");
    assert!(
        sms["reason"].as_str().unwrap().contains("settled"),
        "{sms:#}"
    );
    let timeline = client.get("/v1/debtors/owl/timeline").body;
    assert!(
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "message.cancelled"),
        "{timeline:#}"
    );

    // The busy server refused twice (451): retried with backoff, then sent.
    // The bouncing address (550) failed for good after one attempt.
    for _ in 0..6 {
        advance(&operator, 0);
        let busy = outbox(&client, "busy");
        if busy.iter().any(|m| m["status"] == "sent") {
            break;
        }
        // Past the backoff (1, then 2 minutes, plus jitter).
        let reply = operator.post("/v1/test-clock", &json!({ "advance_secs": 180 }));
        assert_eq!(reply.status, 200);
        std::thread::sleep(Duration::from_millis(1_300));
    }
    let busy = outbox(&client, "busy");
    let email = busy.iter().find(|m| m["channel"] == "email").unwrap();
    assert_eq!(email["status"], "sent", "{busy:#?}");
    assert_eq!(email["attempts"], 3, "{busy:#?}");
    let received: Vec<Value> = sink
        .received()
        .into_iter()
        .filter(|m| m["rcpt_tos"][0] == "ap@busy.example")
        .collect();
    assert_eq!(received.len(), 1, "{received:#?}");

    let gone = outbox(&client, "gone");
    let email = gone.iter().find(|m| m["channel"] == "email").unwrap();
    assert_eq!(email["status"], "failed", "{gone:#?}");
    assert_eq!(email["attempts"], 1, "{gone:#?}");
    assert!(
        email["reason"].as_str().unwrap().contains("550"),
        "{email:#}"
    );
}
