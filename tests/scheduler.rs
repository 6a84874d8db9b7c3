//! The scheduler in `dun serve`: debtors with something owed are evaluated
//! without being asked, again when something happens to them, and not
//! otherwise until their review is due.

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use support::{Client, Server};

fn evaluations(client: &Client, debtor: &str) -> Vec<Value> {
    let reply = client.get(&format!("/v1/debtors/{debtor}/evaluations"));
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body.as_array().cloned().unwrap_or_default()
}

/// Waits (polling, up to 20 s) until the debtor has `count` evaluations.
fn wait_for(client: &Client, debtor: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let found = evaluations(client, debtor);
        if found.len() >= count {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{debtor}: {} evaluation(s), waited for {count}",
            found.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn day(offset: i64) -> String {
    (Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
}

#[test]
fn owed_debtors_are_reviewed_on_change_and_left_alone_otherwise() {
    let server = Server::start_with_env(&[("DUN_SCHEDULER_INTERVAL_SECS", "1")]);
    let (_, client) = server.tenant("acme");
    for (id, email) in [("late", "a@late.example"), ("settled", "a@settled.example")] {
        let debtor = json!({ "external_id": id, "name": id, "email": email, "time_zone": "UTC" });
        assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    }
    let invoice = |id: &str, debtor: &str| {
        json!({ "external_id": id, "debtor_id": debtor, "currency": "EUR", "amount": 50_00,
                "issued_on": day(-40), "due_on": day(-10) })
    };
    assert_eq!(
        client
            .post("/v1/invoices", &invoice("INV-L", "late"))
            .status,
        201
    );
    assert_eq!(
        client
            .post("/v1/invoices", &invoice("INV-S", "settled"))
            .status,
        201
    );
    let pay = json!({ "debtor_id": "settled", "currency": "EUR", "amount": 50_00 });
    assert_eq!(client.post("/v1/payments", &pay).status, 201);

    // The late debtor is evaluated by the scheduler: the ladder reminds.
    let first = wait_for(&client, "late", 1);
    assert_eq!(first[0]["outcome"], "ok", "{first:#?}");
    assert!(
        first[0]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["planned"]["kind"] == "remind"),
        "{first:#?}"
    );
    // Nothing owed, nothing to decide.
    assert!(evaluations(&client, "settled").is_empty());

    // Nothing happened since: three more passes leave it alone.
    std::thread::sleep(Duration::from_millis(3_500));
    assert_eq!(evaluations(&client, "late").len(), 1);

    // A partial payment is news: it is evaluated again.
    let pay = json!({ "debtor_id": "late", "currency": "EUR", "amount": 10_00 });
    assert_eq!(client.post("/v1/payments", &pay).status, 201);
    let again = wait_for(&client, "late", 2);
    assert_eq!(again[0]["input"], Value::Null, "lists carry no inputs");
    let id = again[0]["id"].as_str().unwrap();
    let latest = client.get(&format!("/v1/evaluations/{id}")).body;
    assert_eq!(
        latest["input"]["invoices"][0]["open_amount"], 40_00,
        "{latest:#}"
    );
    let next =
        chrono::DateTime::parse_from_rfc3339(latest["next_review_at"].as_str().unwrap()).unwrap();
    assert!(next > Utc::now(), "the next review is ahead: {latest:#}");
}

fn outbox(client: &Client, debtor: &str) -> Vec<Value> {
    client
        .get(&format!("/v1/debtors/{debtor}/outbox"))
        .body
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_planned_reminder_is_sent_once_and_a_payment_cancels_what_is_scheduled() {
    let dir = tempfile::tempdir().unwrap();
    let outbox_dir = dir.path().join("out");
    let server = Server::start_with_env(&[
        ("DUN_SCHEDULER_INTERVAL_SECS", "1"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
        ("DUN_OUTBOX_DIR", outbox_dir.to_str().unwrap()),
    ]);
    let (_, client) = server.tenant("acme");
    // Email only, in UTC: no quiet hours, whatever the time of day.
    let debtor = json!({ "external_id": "late", "name": "Late Ltd", "email": "ap@late.example", "time_zone": "UTC" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let invoice = json!({ "external_id": "INV-9", "debtor_id": "late", "currency": "EUR", "amount": 123_45,
                          "issued_on": day(-40), "due_on": day(-10) });
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);

    // The scheduler plans, the dispatcher sends: one .eml, named by its key.
    let started = Instant::now();
    let sent = loop {
        let sent: Vec<Value> = outbox(&client, "late")
            .into_iter()
            .filter(|m| m["status"] == "sent")
            .collect();
        if !sent.is_empty() {
            break sent;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "nothing sent: {:#?}",
            outbox(&client, "late")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["channel"], "email");
    let key = sent[0]["idempotency_key"].as_str().unwrap();
    let eml = std::fs::read_to_string(outbox_dir.join("acme").join(format!("{key}.eml"))).unwrap();
    assert!(eml.contains("To: ap@late.example\r\n"), "{eml}");
    assert!(
        eml.contains(&format!("Message-ID: <{key}@acme.dun.invalid>")),
        "{eml}"
    );
    // Quoted-printable: soft line breaks joined, `=3D` is `=`.
    let decoded = eml.replace("=\r\n", "").replace("=3D", "=");
    assert!(
        decoded.contains("INV-9") && decoded.contains("EUR 123.45"),
        "{decoded}"
    );
    let timeline = client.get("/v1/debtors/late/timeline").body;
    assert!(
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "message.sent"),
        "{timeline:#}"
    );

    // Paid in full: nothing more goes out, and nothing stays scheduled.
    let pay = json!({ "debtor_id": "late", "currency": "EUR", "amount": 123_45 });
    assert_eq!(client.post("/v1/payments", &pay).status, 201);
    std::thread::sleep(Duration::from_millis(3_000));
    let messages = outbox(&client, "late");
    assert!(
        messages
            .iter()
            .all(|m| m["status"] != "scheduled" && m["status"] != "sending"),
        "{messages:#?}"
    );
    assert_eq!(
        messages.iter().filter(|m| m["status"] == "sent").count(),
        1,
        "{messages:#?}"
    );
    let files = std::fs::read_dir(outbox_dir.join("acme")).unwrap().count();
    assert_eq!(files, 1);
}
