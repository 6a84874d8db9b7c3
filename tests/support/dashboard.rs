//! Data for the dashboard's tests, made over the API on a test clock: two
//! tenants, invoices over four months, payments, reminders really sent by
//! the dispatcher, one suppressed because the debtor opted out before its
//! time, an uploaded strategy version, a shadow strategy, and a strategy
//! that faults.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Client, Server};

/// Where the test clock starts.
pub const START: &str = "2026-05-04T10:00:00Z";
/// A debtor name that must come out escaped.
pub const HOSTILE_NAME: &str = "<script>alert(\"dun\")</script> & Co";
/// The name of the other tenant's debtor, which acme must never see.
pub const OTHER_NAME: &str = "Globex Hidden Debtor";

/// A server on a test clock whose dispatcher runs every second, with the
/// test strategies available.
pub fn server() -> Server {
    Server::start_with_env(&[
        ("DUN_STRATEGIES_DIR", dun::builtin::PLUGIN_DIR),
        ("DUN_TEST_CLOCK", START),
        ("DUN_SCHEDULER_INTERVAL_SECS", "0"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
    ])
}

pub struct Seeded {
    pub operator: Client,
    /// Tenant `acme`.
    pub admin: Client,
    pub client: Client,
    /// Tenant `globex`.
    pub other_admin: Client,
}

fn ok(reply: super::Reply, what: &str) -> Value {
    assert!(
        (200..300).contains(&reply.status),
        "{what}: {}: {:#}",
        reply.status,
        reply.body
    );
    reply.body
}

pub fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited 30 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The debtor's messages, once every one of them has `status`.
fn messages_all(client: &Client, debtor: &str, status: &str) -> Value {
    wait_for(&format!("{debtor}'s messages {status}"), || {
        let rows = client.get(&format!("/v1/debtors/{debtor}/outbox")).body;
        let list = rows.as_array()?;
        (!list.is_empty() && list.iter().all(|m| m["status"] == status)).then(|| rows.clone())
    })
}

pub fn seed(server: &Server) -> Seeded {
    let operator = server.operator();
    let (admin, client) = server.tenant("acme");
    let (other_admin, _) = server.tenant("globex");

    let wasm = std::fs::read(format!("{}/scripted.wasm", dun::builtin::PLUGIN_DIR))
        .expect("scripted.wasm (built with the host)");
    ok(
        admin.request(
            "POST",
            "/v1/plugins/scripted/versions?version=1.0.0",
            Some(&wasm),
            &[("Content-Type", "application/wasm")],
        ),
        "upload scripted@1.0.0",
    );
    let remind = |channel: &str, tone: &str, in_secs: i64| json!({ "actions": [{ "kind": "remind", "channel": channel, "tone": tone, "in_secs": in_secs }] });
    ok(
        admin.put(
            "/v1/segments/default",
            &json!({ "strategy": "scripted", "shadow": "scripted@1.0.0",
                     "config": remind("email", "gentle", 0) }),
        ),
        "default segment",
    );
    ok(
        admin.put(
            "/v1/segments/later",
            &json!({ "priority": 10, "rule": { "tags_any": ["later"] },
                     "strategy": "scripted@1.0.0", "config": remind("email", "firm", 3600) }),
        ),
        "later segment",
    );

    // A strategy that plans nonsense for debtors with several invoices.
    ok(
        admin.put(
            "/v1/segments/broken",
            &json!({ "priority": 5, "rule": { "tags_any": ["broken"] }, "strategy": "faulty" }),
        ),
        "broken segment",
    );
    for (id, name, tags) in [
        ("d5", "Epsilon AG", json!(["broken"])),
        ("d1", HOSTILE_NAME, json!([])),
        ("d2", "Beta GmbH", json!([])),
        ("d3", "Gamma Ltd", json!(["later"])),
        ("d4", "Delta SA", json!([])),
    ] {
        ok(
            client.post(
                "/v1/debtors",
                &json!({ "external_id": id, "name": name, "email": format!("ap@{id}.example"),
                         "time_zone": "UTC", "tags": tags }),
            ),
            "debtor",
        );
    }
    for (id, debtor, amount, issued, due) in [
        ("I-1", "d1", 1_200_00, "2026-01-10", "2026-02-09"),
        ("I-2", "d2", 800_00, "2026-02-01", "2026-03-03"),
        ("I-3", "d3", 450_00, "2026-02-15", "2026-03-17"),
        ("I-4", "d4", 2_000_00, "2026-03-05", "2026-04-04"),
        ("I-5", "d2", 300_00, "2026-04-20", "2026-05-20"),
        ("I-6", "d4", 650_00, "2026-01-05", "2026-02-04"),
        ("I-7", "d5", 120_00, "2026-03-10", "2026-04-09"),
        ("I-8", "d5", 80_00, "2026-03-20", "2026-04-19"),
    ] {
        ok(
            client.post(
                "/v1/invoices",
                &json!({ "external_id": id, "debtor_id": debtor, "currency": "EUR",
                         "amount": amount, "issued_on": issued, "due_on": due }),
            ),
            "invoice",
        );
    }
    // Paid before any reminder: I-6 on time, part of I-4 late.
    for (debtor, amount, at, invoice) in [
        ("d4", 650_00, "2026-02-01T09:00:00Z", "I-6"),
        ("d4", 500_00, "2026-04-20T09:00:00Z", "I-4"),
    ] {
        ok(
            client.post(
                "/v1/payments",
                &json!({ "debtor_id": debtor, "currency": "EUR", "amount": amount,
                         "received_at": at, "allocations": [{ "invoice_id": invoice, "amount": amount }] }),
            ),
            "payment",
        );
    }

    // Reminders to d1 and d2, sent by the dispatcher.
    for debtor in ["d1", "d2"] {
        let reply = client.post(&format!("/v1/debtors/{debtor}/evaluate"), &json!({}));
        assert_eq!(reply.body["outcome"], "ok", "{:#}", reply.body);
        messages_all(&client, debtor, "sent");
    }
    // d3's reminder is due in an hour; d3 opts out of email meanwhile.
    let reply = client.post("/v1/debtors/d3/evaluate", &json!({}));
    assert_eq!(reply.body["outcome"], "ok", "{:#}", reply.body);
    ok(
        client.request("PUT", "/v1/debtors/d3/opt-outs/email", None, &[]),
        "opt-out",
    );
    ok(
        operator.post("/v1/test-clock", &json!({ "advance_secs": 2 * 3600 })),
        "clock",
    );
    messages_all(&client, "d3", "suppressed");
    // d5's strategy faults.
    let reply = client.post("/v1/debtors/d5/evaluate", &json!({}));
    assert_eq!(reply.body["outcome"], "invalid-plan", "{:#}", reply.body);
    // d1 pays after its reminder.
    ok(
        client.post(
            "/v1/payments",
            &json!({ "debtor_id": "d1", "currency": "EUR", "amount": 1_200_00 }),
        ),
        "payment",
    );

    // The other tenant.
    let other_client = other_admin.clone();
    ok(
        other_client.post(
            "/v1/debtors",
            &json!({ "external_id": "g1", "name": OTHER_NAME, "email": "ap@g1.example" }),
        ),
        "globex debtor",
    );
    ok(
        other_client.post(
            "/v1/invoices",
            &json!({ "external_id": "G-1", "debtor_id": "g1", "currency": "USD",
                     "amount": 9_999_00, "issued_on": "2026-03-01", "due_on": "2026-03-31" }),
        ),
        "globex invoice",
    );
    Seeded {
        operator,
        admin,
        client,
        other_admin,
    }
}
