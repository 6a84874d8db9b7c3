//! Killing `dun serve` (SIGKILL) in the middle of dispatching, again and
//! again, loses no message and never sends one under a second identity.
//!
//! Forty debtors each have a reminder due; the dispatcher sends them to a
//! real SMTP server (aiosmtpd). The server is killed while messages are
//! going out, restarted on the same database (its test clock a little
//! later, so the leases of messages caught mid-send run out), killed again,
//! and finally left to finish. Then every debtor has exactly one sent
//! reminder, the SMTP server holds exactly those messages' Message-IDs, and
//! any message delivered twice (killed after the SMTP server took it but
//! before the database recorded it) carries the same Message-ID both times,
//! so the provider (or the recipient's client) can drop the copy. That is
//! the at-least-once, same-key contract of the outbox.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::smtp::SmtpSink;
use support::{Client, Server};

const DEBTORS: usize = 40;

fn start(db: &Path, config: &Path, clock: &str) -> Server {
    Server::start_on_with(
        db,
        &[
            ("DUN_CONFIG", config.to_str().unwrap()),
            ("DUN_TEST_CLOCK", clock),
            ("DUN_SCHEDULER_INTERVAL_SECS", "1"),
            ("DUN_DISPATCH_INTERVAL_SECS", "1"),
        ],
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killing_the_server_mid_dispatch_loses_nothing_and_resends_only_under_the_same_key() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dun.db");
    let config = dir.path().join("dun.toml");
    std::fs::write(
        &config,
        format!(
            "[senders.email]\nurl = \"{}\"\nfrom = \"billing@acme.example\"\n",
            sink.url()
        ),
    )
    .unwrap();

    let mut server = start(&db, &config, "2026-05-04T10:00:00Z");
    let (_, client) = server.tenant("acme");
    let key = client.key().unwrap().to_owned();
    let mut invoices = Vec::new();
    for d in 0..DEBTORS {
        let debtor = json!({ "external_id": format!("d{d:02}"), "name": format!("Debtor {d}"),
                             "email": format!("ap{d:02}@example.com"), "time_zone": "UTC" });
        assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
        invoices.push(
            json!({ "external_id": format!("inv-{d:02}"), "debtor_id": format!("d{d:02}"),
                              "currency": "EUR", "amount": 100_00 + d as i64,
                              "issued_on": "2026-04-01", "due_on": "2026-04-30" }),
        );
    }
    let reply = client.post("/v1/invoices/bulk", &Value::Array(invoices));
    assert!(reply.status < 300, "{reply:?}");

    // Kill while messages are going out: the first time once a few went,
    // the second time once a few more went after the restart.
    let mut kills = 0;
    for (restart_clock, after) in [("2026-05-04T10:10:00Z", 3), ("2026-05-04T10:20:00Z", 12)] {
        wait_until("messages going out", || sink.received().len() >= after);
        server.kill();
        kills += 1;
        eprintln!("kill {kills}: {} received", sink.received().len());
        server = start(&db, &config, restart_clock);
    }
    let client = Client::new(&server.base, Some(&key));

    // Left alone, every debtor gets its reminder.
    let sent_rows = |client: &Client| -> Vec<Value> {
        (0..DEBTORS)
            .flat_map(|d| {
                client
                    .get(&format!("/v1/debtors/d{d:02}/outbox"))
                    .body
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    wait_until("every reminder sent", || {
        let rows = sent_rows(&client);
        rows.iter().filter(|m| m["status"] == "sent").count() >= DEBTORS
            && rows
                .iter()
                .all(|m| m["status"] != "sending" && m["status"] != "scheduled")
    });
    std::thread::sleep(Duration::from_millis(2_500));
    let rows = sent_rows(&client);

    // One sent reminder per debtor; anything else was replaced, never lost.
    let mut per_debtor: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for row in rows.iter().filter(|m| m["status"] == "sent") {
        per_debtor
            .entry(row["debtor_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(row);
    }
    assert_eq!(per_debtor.len(), DEBTORS, "{rows:#?}");
    for (debtor, sent) in &per_debtor {
        assert_eq!(sent.len(), 1, "{debtor} was reminded twice: {sent:#?}");
    }
    for row in &rows {
        let status = row["status"].as_str().unwrap();
        assert!(
            status == "sent" || status == "cancelled",
            "{status}: {row:#}"
        );
    }

    // The SMTP server got exactly the sent rows' Message-IDs; a copy, if
    // any, came with the same Message-ID and the same recipient.
    let expected: BTreeMap<String, String> = per_debtor
        .values()
        .map(|sent| {
            let row = sent[0];
            (
                format!(
                    "<{}@acme.example>",
                    row["idempotency_key"].as_str().unwrap()
                ),
                format!("ap{}@example.com", &row["debtor_id"].as_str().unwrap()[1..]),
            )
        })
        .collect();
    let received = sink.received();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for message in &received {
        let id = message["message_id"].as_str().unwrap().to_owned();
        let to = message["rcpt_tos"][0].as_str().unwrap();
        assert_eq!(
            expected.get(&id).map(String::as_str),
            Some(to),
            "unexpected {message:#}"
        );
        *seen.entry(id).or_default() += 1;
    }
    let ids: BTreeSet<&String> = seen.keys().collect();
    assert_eq!(ids, expected.keys().collect::<BTreeSet<_>>());
    let copies: usize = seen.values().map(|n| n - 1).sum();
    eprintln!("{} received, {copies} copies", received.len());
    assert!(
        copies <= kills,
        "at most one message can be caught between the SMTP server and the database per kill; {copies} copies"
    );
}
