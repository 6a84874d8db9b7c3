//! SMS, letters and escalations leave through HTTP providers, over real
//! HTTP to local receivers that record what they get: Twilio-style SMS
//! with idempotency headers (and a retry after a provider error), a letter
//! rendered to PDF, kept, and posted to a print-and-mail endpoint, and an
//! escalation webhook whose HMAC signature verifies. `dun serve` runs on a
//! test clock with the built-in ladder.

mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::{Client, Server};

const SECRET: &str = "whsec_test_secret";

fn outbox(client: &Client, debtor: &str) -> Vec<Value> {
    client
        .get(&format!("/v1/debtors/{debtor}/outbox"))
        .body
        .as_array()
        .cloned()
        .unwrap()
}

fn wait_for_status(client: &Client, debtor: &str, channel: &str, status: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let messages = outbox(client, debtor);
        if let Some(found) = messages
            .iter()
            .find(|m| m["channel"] == channel && m["status"] == status)
        {
            return found.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no {status} {channel}: {messages:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sms_letters_and_escalations_over_http() {
    let (sms, print, agency) = (Receiver::start(), Receiver::start(), Receiver::start());
    // The SMS provider fails once: the message is retried, with the same key.
    sms.answer(&[503]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dun.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[senders.sms]
url = "{}/2010-04-01/Messages.json"
authorization = "Basic c21zOnNlY3JldA=="
format = "twilio"
from = "+15550001111"

[senders.letter]
url = "{}/letters"
authorization = "Bearer print-token"

[senders.escalation]
url = "{}/hand-over"
secret = "{SECRET}"
"#,
            sms.url, print.url, agency.url
        ),
    )
    .unwrap();
    let server = Server::start_with_env(&[
        ("DUN_CONFIG", config.to_str().unwrap()),
        ("DUN_TEST_CLOCK", "2026-05-04T10:00:00Z"),
        ("DUN_SCHEDULER_INTERVAL_SECS", "1"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
    ]);
    let operator = server.operator();
    let (_, client) = server.tenant("acme");
    let debtor = json!({
        "external_id": "firmco", "name": "Firm & Co", "email": "ap@firmco.example",
        "phone": "+4915112345678", "time_zone": "Europe/Berlin", "language": "de",
        "postal_address": { "lines": ["Hauptstraße 5"], "postal_code": "10115", "city": "Berlin", "country": "DE" },
    });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    for (id, due) in [
        ("F-1", "2026-04-24"),
        ("F-2", "2026-04-10"),
        ("F-3", "2026-03-15"),
    ] {
        let invoice = json!({ "external_id": id, "debtor_id": "firmco", "currency": "EUR",
                              "amount": 250_00, "issued_on": "2026-03-01", "due_on": due });
        assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
    }

    // Firm for F-1: email (to the outbox folder) and SMS, 12:00 in Berlin.
    let first = sms.wait_for(1);
    assert_eq!(first[0].method, "POST");
    let failed_once = wait_for_status(&client, "firmco", "sms", "scheduled");
    assert_eq!(failed_once["attempts"], 1, "{failed_once:#}");
    assert!(
        failed_once["reason"].as_str().unwrap().contains("503"),
        "{failed_once:#}"
    );
    // Past the backoff: sent on the second attempt, with the same key.
    operator.post("/v1/test-clock", &json!({ "advance_secs": 120 }));
    let sent = wait_for_status(&client, "firmco", "sms", "sent");
    assert_eq!(sent["attempts"], 2);
    let requests = sms.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let key = sent["idempotency_key"].as_str().unwrap();
    for request in &requests {
        assert_eq!(request.path, "/2010-04-01/Messages.json");
        assert_eq!(request.header("Idempotency-Key"), Some(key));
        assert_eq!(request.header("I-Twilio-Idempotency-Token"), Some(key));
        assert_eq!(
            request.header("Authorization"),
            Some("Basic c21zOnNlY3JldA==")
        );
        let form = request.form();
        let field = |name: &str| {
            form.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(field("To"), Some("+4915112345678"));
        assert_eq!(field("From"), Some("+15550001111"));
        assert!(
            field("Body").unwrap().contains("F-1") || field("Body").unwrap().contains("250"),
            "{form:?}"
        );
    }

    // Final for F-2 and the late final for F-3: one letter, as a PDF, kept
    // and posted to the print-and-mail endpoint.
    let letters = print.wait_for(1);
    assert_eq!(letters.len(), 1, "{letters:#?}");
    let letter = &letters[0];
    assert_eq!(letter.header("Authorization"), Some("Bearer print-token"));
    let body = letter.json();
    let to: Vec<&str> = body["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(to, ["Firm & Co", "Hauptstraße 5", "10115 Berlin", "DE"]);
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(body["pdf_base64"].as_str().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let message = wait_for_status(&client, "firmco", "letter", "sent");
    assert_eq!(
        letter.header("Idempotency-Key"),
        message["idempotency_key"].as_str()
    );
    let id = message["id"].as_str().unwrap();
    let kept = client.request("GET", &format!("/v1/messages/{id}/pdf"), None, &[]);
    assert_eq!(kept.status, 200);
    assert_eq!(kept.content_type, "application/pdf");
    let document = lopdf::Document::load_mem(&pdf).expect("a PDF");
    let text = document
        .extract_text(&document.get_pages().keys().copied().collect::<Vec<_>>())
        .unwrap();
    for expected in ["Firm & Co", "Hauptstraße 5", "F-2", "F-3"] {
        assert!(
            text.contains(expected),
            "{expected:?} not in the letter:\n{text}"
        );
    }

    // Fourteen days after the late final notice, F-3 is escalated: the
    // invoice goes in-collection and the agency gets a signed webhook.
    operator.post("/v1/test-clock", &json!({ "advance_secs": 15 * 86_400 }));
    let handed = agency.wait_for(1);
    let hook = &handed[0];
    assert_eq!(hook.header("Dun-Event"), Some("escalation.created"));
    let signature = hook.header("Dun-Signature").expect("signed");
    let now = chrono::DateTime::parse_from_rfc3339("2026-05-19T10:02:00Z")
        .unwrap()
        .timestamp();
    dun::senders::http::verify(SECRET.as_bytes(), signature, &hook.body, now, 600)
        .expect("the signature verifies over the exact bytes");
    assert!(
        dun::senders::http::verify(b"another secret", signature, &hook.body, now, 600).is_err()
    );
    let payload = hook.json();
    assert_eq!(payload["target"], "collection-agency");
    assert_eq!(payload["debtor"]["id"], "firmco");
    let escalated: Vec<&str> = payload["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(escalated.contains(&"F-3"), "{payload:#}");
    assert_eq!(hook.header("Idempotency-Key"), payload["id"].as_str());
    let invoice = client.get("/v1/invoices/F-3").body;
    assert_eq!(invoice["status"], "in-collection", "{invoice:#}");
    let escalations = client.get("/v1/escalations?debtor_id=firmco").body;
    assert_eq!(escalations[0]["status"], "sent", "{escalations:#}");
    let timeline = client.get("/v1/debtors/firmco/timeline?limit=200").body;
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["escalation.created", "escalation.sent", "message.sent"] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }

    // The outbox by channel and status, for Prometheus.
    let metrics = server.anonymous().get("/metrics");
    let text = metrics.body.as_str().unwrap_or_default();
    assert!(
        text.contains("dun_outbox_messages{channel=\"sms\",status=\"sent\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("dun_evaluation_record_seconds_total"),
        "{text}"
    );
}
