//! The debtor portal in real headless Chromium (`tests/browser/portal.mjs`):
//! the link from a real sent email opens the page, the debtor promises to
//! pay through the form, and the API shows the scheduler deferring the
//! next reminder to the day after the promised date. A tampered and an
//! expired link are refused in the browser.

mod support;

use std::time::{Duration, Instant};

use dun::builtin::PLUGIN_DIR;
use serde_json::{Value, json};
use support::smtp::SmtpSink;
use support::{Client, Server, browser};

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn advance(operator: &Client, secs: i64) {
    let reply = operator.post("/v1/test-clock", &json!({ "advance_secs": secs }));
    assert_eq!(reply.status, 200, "{reply:#?}");
}

fn outbox(client: &Client) -> Vec<Value> {
    let reply = client.get("/v1/debtors/northwind/outbox");
    assert_eq!(reply.status, 200, "{reply:#?}");
    reply.body.as_array().unwrap().clone()
}

#[test]
fn a_promise_made_in_the_browser_defers_the_next_reminder() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dun.toml");
    std::fs::write(
        &config,
        format!(
            "[senders.email]\nurl = \"{}\"\nfrom = \"billing@harbour.example\"\n",
            sink.url()
        ),
    )
    .unwrap();
    // Monday 4 May 2026, 10:00 UTC.
    let server = Server::start_with_env(&[
        ("DUN_CONFIG", config.to_str().unwrap()),
        ("DUN_STRATEGIES_DIR", PLUGIN_DIR),
        ("DUN_TEST_CLOCK", "2026-05-04T10:00:00Z"),
        ("DUN_SCHEDULER_INTERVAL_SECS", "1"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
    ]);
    let operator = server.operator();
    let (admin, client) = server.tenant("harbour");
    // A reminder by email whenever the debtor is reviewed (the guardrails
    // allow one a day), a plan offer, and a payment link.
    let reply = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "scripted", "config": { "actions": [
            { "kind": "remind", "channel": "email", "tone": "gentle", "in_secs": 0 },
            { "kind": "offer-plan", "installments": 3, "every_days": 30, "first_in_days": 14 },
        ], "review_in_secs": 86_400 } }),
    );
    assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
    let reply = admin.put(
        "/v1/messaging",
        &json!({ "payment_link": "https://pay.example.com/{tenant}/{debtor}?amount={amount}" }),
    );
    assert_eq!(reply.status, 200, "{reply:#?}");
    let reply = client.post(
        "/v1/debtors",
        &json!({ "external_id": "northwind", "name": "Northwind Traders", "email": "ap@northwind.example",
                 "phone": "+4915112345678", "time_zone": "Europe/Berlin", "language": "en" }),
    );
    assert_eq!(reply.status, 201, "{reply:#?}");
    for (id, amount, due) in [
        ("INV-2026-0412", 1_200_00, "2026-04-20"),
        ("INV-2026-0431", 490_50, "2026-04-27"),
    ] {
        let reply = client.post(
            "/v1/invoices",
            &json!({ "external_id": id, "debtor_id": "northwind", "currency": "EUR", "amount": amount,
                     "issued_on": "2026-03-20", "due_on": due }),
        );
        assert_eq!(reply.status, 201, "{reply:#?}");
    }

    // The link, as the email that arrived carries it.
    let mut emails = Vec::new();
    wait_until("the reminder", || {
        emails = sink.received();
        !emails.is_empty()
    });
    let text = emails[0]["text"].as_str().unwrap();
    let start = text.find(&format!("{}/portal/", server.base)).expect(text);
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    // A minute later (the test clock stands still otherwise), the debtor
    // promises to pay by 20 May.
    advance(&operator, 60);
    let evaluated = |c: &Client| {
        c.get("/v1/debtors/northwind/evaluations")
            .body
            .as_array()
            .unwrap()
            .len()
    };
    let before = evaluated(&client);
    let seen = browser::run(
        "portal",
        &json!({ "mode": "promise", "link": link, "date": "2026-05-20" }),
    );
    assert_eq!(seen["status"], 200, "{seen:#}");
    assert_eq!(seen["heading"], "Your invoices from harbour", "{seen:#}");
    assert_eq!(seen["lang"], "en");
    assert!(
        seen["overflow"].as_i64().unwrap() <= 0,
        "wider than a phone: {seen:#}"
    );
    assert_eq!(
        seen["confirmation"],
        "Thank you. We have noted your promise to pay."
    );
    assert_eq!(
        seen["statuses"],
        json!([
            "Payment promised by 20 May 2026",
            "Payment promised by 20 May 2026"
        ]),
        "{seen:#}"
    );
    assert_eq!(seen["errors"], json!([]), "console errors: {seen:#}");

    // The promise is on the timeline, from the portal…
    let timeline = client.get("/v1/debtors/northwind/timeline").body;
    let promise = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "promise.made")
        .unwrap_or_else(|| panic!("{timeline:#}"));
    assert_eq!(promise["data"]["source"], "portal");
    assert_eq!(promise["data"]["amount"], 1_690_50);

    // …and the scheduler, woken by it, holds the next reminder back until
    // the day after the promised date.
    wait_until("the scheduler's next decision", || {
        evaluated(&client) > before
    });
    let latest = &client.get("/v1/debtors/northwind/evaluations").body[0];
    let verdict = &latest["verdicts"][0];
    assert_eq!(verdict["verdict"], "moved", "{latest:#}");
    assert_eq!(verdict["reasons"][0]["rule"], "promised", "{latest:#}");
    assert_eq!(verdict["reasons"][0]["until"], "2026-05-20", "{latest:#}");
    let scheduled: Vec<Value> = outbox(&client)
        .into_iter()
        .filter(|m| m["status"] == "scheduled")
        .collect();
    assert_eq!(scheduled.len(), 1, "{scheduled:#?}");
    let at = scheduled[0]["scheduled_at"].as_str().unwrap();
    assert!(
        at.starts_with("2026-05-21T"),
        "the next reminder is due {at}"
    );
    assert_eq!(sink.received().len(), 1, "nothing else was sent");

    // A tampered link, then (30 days after the email) the real one: both
    // refused, neither naming the debtor.
    let (head, mac) = link.rsplit_once('.').unwrap();
    let flipped: String = mac
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    let tampered = format!("{head}.{flipped}");
    advance(&operator, 30 * 86_400);
    let refused = browser::run(
        "portal",
        &json!({ "mode": "refused", "links": [tampered, link] }),
    );
    let seen = refused["seen"].as_array().unwrap();
    assert_eq!(seen[0]["status"], 403, "{refused:#}");
    assert_eq!(seen[0]["heading"], "This link is not valid");
    assert_eq!(seen[1]["status"], 410, "{refused:#}");
    assert_eq!(seen[1]["heading"], "This link has expired");
    for page in seen {
        let text = page["text"].as_str().unwrap();
        assert!(
            !text.contains("Northwind") && !text.contains("INV-2026"),
            "{text}"
        );
    }
}
