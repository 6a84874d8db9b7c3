//! A tenant's own messaging, over real HTTP: its own SMS provider over the
//! host's outbox folder and its payment link in what is sent
//! (`/v1/messaging`), a reminder that names one of its templates
//! (`/v1/named-templates`), and its timeline pushed to a subscribed
//! endpoint as signed webhooks, in order, retried after a failure under the
//! same key (`/v1/subscriptions`). `dun serve` runs on a test clock with the
//! `scripted` test strategy, so each test plans exactly what it is about.

mod support;

use std::time::Duration;

use dun::builtin::PLUGIN_DIR;
use serde_json::{Value, json};
use support::receiver::{Receiver, Request};
use support::{Client, Server};

const START: &str = "2026-05-04T10:00:00Z";

/// A server on the test clock with the scripted strategy, the dispatcher
/// every second and no scheduler (evaluations are asked for).
fn start() -> Server {
    Server::start_with_env(&[
        ("DUN_STRATEGIES_DIR", PLUGIN_DIR),
        ("DUN_TEST_CLOCK", START),
        ("DUN_SCHEDULER_INTERVAL_SECS", "0"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
    ])
}

/// A debtor `id` with email and phone, in Berlin, owing one EUR invoice
/// `<id>-1` of 120.50 (10 days overdue at the start).
fn debtor_with_invoice(client: &Client, id: &str) {
    let debtor = json!({ "external_id": id, "name": format!("{id} GmbH"), "email": format!("ap@{id}.example"),
                         "phone": "+4915112345678", "time_zone": "Europe/Berlin", "language": "en" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let invoice = json!({ "external_id": format!("{id}-1"), "debtor_id": id, "currency": "EUR",
                          "amount": 120_50, "issued_on": "2026-03-01", "due_on": "2026-04-24" });
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
}

fn script(admin: &Client, actions: Value) {
    let reply = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "scripted", "config": { "actions": actions } }),
    );
    assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
}

fn evaluate(client: &Client, debtor: &str) {
    let reply = client.post(&format!("/v1/debtors/{debtor}/evaluate"), &json!({}));
    assert_eq!(reply.status, 201, "{reply:#?}");
    assert_eq!(reply.body["outcome"], "ok", "{:#}", reply.body);
}

/// The debtor's message on `channel` once it is sent, with its content.
fn sent(client: &Client, debtor: &str, channel: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let outbox = client.get(&format!("/v1/debtors/{debtor}/outbox")).body;
        let found = outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["channel"] == channel && m["status"] != "scheduled")
            .cloned();
        if let Some(message) = found {
            assert_eq!(message["status"], "sent", "{message:#}");
            let id = message["id"].as_str().unwrap();
            return client.get(&format!("/v1/messages/{id}")).body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no {channel} sent: {outbox:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_tenants_own_sender_and_payment_link_are_used_and_its_secrets_never_shown() {
    let server = start();
    let provider = Receiver::start();
    let (admin, client) = server.tenant("acme");
    let (other_admin, other) = server.tenant("other");

    // Bad settings are refused, each problem naming its field.
    let bad = admin.put(
        "/v1/messaging",
        &json!({ "payment_link": "https://pay.example.com/{customer}",
                 "senders": { "sms": { "url": "sms.example.com/send" },
                              "email": { "url": "smtp://relay:25", "from": "nobody" } } }),
    );
    assert_eq!(bad.status, 422, "{bad:#?}");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["senders/email/from", "senders/sms/url", "payment_link"],
        "{:#}",
        bad.body
    );
    let client_may_not = client.put("/v1/messaging", &json!({}));
    assert_eq!(client_may_not.status, 403, "{client_may_not:#?}");

    let settings = json!({
        "payment_link": "https://pay.example.com/{tenant}/{debtor}?amount={amount}&currency={currency}&invoices={invoices}",
        "senders": { "sms": { "url": format!("{}/sms", provider.url), "authorization": "Bearer acme-secret-token" } }
    });
    let saved = admin.put("/v1/messaging", &settings);
    assert_eq!(saved.status, 200, "{saved:#?}");
    let shown = admin.get("/v1/messaging").body;
    assert_eq!(shown["senders"]["sms"]["authorization"], "***", "{shown:#}");
    assert!(!shown.to_string().contains("acme-secret-token"));
    assert_eq!(shown["payment_link"], settings["payment_link"]);

    // Both tenants remind by SMS and email now; only acme's SMS goes to
    // acme's provider, the rest to the host's outbox folder.
    let now = json!([{ "kind": "remind", "channel": "sms", "tone": "firm" },
                     { "kind": "remind", "channel": "email", "tone": "firm" }]);
    script(&admin, now.clone());
    script(&other_admin, now);
    debtor_with_invoice(&client, "kunde");
    debtor_with_invoice(&other, "fremd");
    evaluate(&client, "kunde");
    evaluate(&other, "fremd");

    let link = "https://pay.example.com/acme/kunde?amount=120.50&currency=EUR&invoices=kunde-1";
    let sms = sent(&client, "kunde", "sms");
    let requests = provider.wait_for(1);
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.path, "/sms");
    assert_eq!(
        request.header("Authorization"),
        Some("Bearer acme-secret-token")
    );
    assert_eq!(
        request.header("Idempotency-Key"),
        sms["idempotency_key"].as_str()
    );
    let body = request.json();
    assert_eq!(body["to"], "+4915112345678");
    assert!(body["text"].as_str().unwrap().contains(link), "{body:#}");
    let email = sent(&client, "kunde", "email");
    assert!(
        email["content"]["text"].as_str().unwrap().contains(link),
        "{email:#}"
    );
    let eml = server
        .db
        .with_file_name("outbox")
        .join("acme")
        .join(format!(
            "{}.eml",
            email["idempotency_key"].as_str().unwrap()
        ));
    assert!(
        eml.exists(),
        "acme's email went to the host's outbox folder"
    );

    // The other tenant: no link, and its SMS never reached acme's provider.
    let other_sms = sent(&other, "fremd", "sms");
    assert!(
        !other_sms["content"]["text"]
            .as_str()
            .unwrap()
            .contains("https://"),
        "{other_sms:#}"
    );
    let file = server
        .db
        .with_file_name("outbox")
        .join("other")
        .join(format!(
            "{}.json",
            other_sms["idempotency_key"].as_str().unwrap()
        ));
    assert!(file.exists(), "{}", file.display());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(provider.requests().len(), 1);
}

#[test]
fn a_reminder_naming_a_template_is_rendered_with_it() {
    let server = start();
    let (admin, client) = server.tenant("acme");

    // Checked like any template: an unknown variable is refused with its line.
    let broken = admin.put(
        "/v1/named-templates/spring-sale/email/en",
        &json!({ "subject": "Hi", "text": "Hello {{ debtor_nam }}" }),
    );
    assert_eq!(broken.status, 422, "{broken:#?}");
    assert_eq!(
        broken.body["errors"][0]["field"], "text",
        "{:#}",
        broken.body
    );
    let bad_name = admin.put(
        "/v1/named-templates/spring%20sale/email/en",
        &json!({ "subject": "Hi", "text": "Hi" }),
    );
    assert_eq!(bad_name.status, 404, "{bad_name:#?}");
    assert_eq!(bad_name.body["errors"][0]["field"], "name");

    let template = json!({
        "subject": "Spring clean-up at {{ tenant_name }}",
        "text": "Dear {{ debtor_name }}, let's start spring with a clean slate: {{ invoices|map(attribute=\"number\")|join(\", \") }}."
    });
    let saved = admin.put("/v1/named-templates/spring-sale/email/en", &template);
    assert_eq!(saved.status, 200, "{saved:#?}");
    assert_eq!(
        client.get("/v1/named-templates/spring-sale/email/en").body["subject"],
        template["subject"]
    );
    assert_eq!(
        client.get("/v1/named-templates").body[0]["name"],
        "spring-sale"
    );

    // An email naming it is rendered with it; an SMS naming it has no such
    // template for its channel and gets its tone's.
    script(
        &admin,
        json!([{ "kind": "remind", "channel": "email", "tone": "gentle", "template": "spring-sale" },
               { "kind": "remind", "channel": "sms", "tone": "gentle", "template": "spring-sale" }]),
    );
    debtor_with_invoice(&client, "kunde");
    evaluate(&client, "kunde");
    let email = sent(&client, "kunde", "email");
    assert_eq!(email["template"], "spring-sale");
    assert_eq!(
        email["content"]["rendered_with"],
        "tenant:spring-sale/email/en"
    );
    assert_eq!(email["content"]["subject"], "Spring clean-up at acme");
    assert_eq!(
        email["content"]["text"],
        "Dear kunde GmbH, let's start spring with a clean slate: kunde-1."
    );
    let sms = sent(&client, "kunde", "sms");
    assert_eq!(sms["content"]["rendered_with"], "builtin:sms/gentle/en");

    let removed = admin.request(
        "DELETE",
        "/v1/named-templates/spring-sale/email/en",
        None,
        &[],
    );
    assert_eq!(removed.status, 204);
    assert_eq!(
        client
            .get("/v1/named-templates/spring-sale/email/en")
            .status,
        404
    );
}

/// The signature's timestamp (`t=`) of a `Dun-Signature` header.
fn signed_at(request: &Request) -> i64 {
    let header = request.header("Dun-Signature").expect("signed");
    header
        .split(',')
        .find_map(|part| part.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("a t= part")
}

#[test]
fn subscribers_get_the_timeline_signed_in_order_and_a_failure_is_retried() {
    let server = start();
    let endpoint = Receiver::start();
    let (admin, client) = server.tenant("acme");
    let operator = server.operator();

    // Bad subscriptions are refused with the field at fault.
    for (body, field) in [
        (json!({ "url": "ftp://hooks.example.com" }), "url"),
        (
            json!({ "url": "https://hooks.example.com", "events": ["invoice.*", "paymnt.*"] }),
            "events/1",
        ),
        (
            json!({ "url": "https://hooks.example.com", "events": [] }),
            "events",
        ),
    ] {
        let reply = admin.post("/v1/subscriptions", &body);
        assert_eq!(reply.status, 422, "{body}: {reply:#?}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{:#}", reply.body);
    }
    assert_eq!(
        client
            .post(
                "/v1/subscriptions",
                &json!({ "url": "https://hooks.example.com" })
            )
            .status,
        403
    );

    let created = admin.post(
        "/v1/subscriptions",
        &json!({ "url": format!("{}/dun-events", endpoint.url),
                 "events": ["invoice.created", "payment.*"] }),
    );
    assert_eq!(created.status, 201, "{created:#?}");
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let listed = admin.get("/v1/subscriptions").body;
    assert!(listed[0].get("secret").is_none(), "{listed:#}");

    // A debtor, an invoice, a payment: the endpoint gets the invoice and
    // the payment (not the debtor's creation), in that order, signed.
    debtor_with_invoice(&client, "kunde");
    let payment = json!({ "debtor_id": "kunde", "currency": "EUR", "amount": 20_50,
                          "received_on": "2026-05-04", "allocations": [{ "invoice_id": "kunde-1", "amount": 20_50 }] });
    assert_eq!(client.post("/v1/payments", &payment).status, 201);
    let got = endpoint.wait_for(2);
    assert_eq!(got.len(), 2, "{got:#?}");
    let kinds: Vec<String> = got
        .iter()
        .map(|r| r.json()["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["invoice.created", "payment.received"]);
    let mut last_id = 0;
    for request in &got {
        let event = request.json();
        assert_eq!(request.path, "/dun-events");
        assert_eq!(request.header("Dun-Event"), event["kind"].as_str());
        assert_eq!(request.header("Idempotency-Key"), event["id"].as_str());
        assert_eq!(event["tenant"], "acme");
        assert_eq!(event["debtor_id"], "kunde");
        let signature = request.header("Dun-Signature").unwrap();
        dun::senders::http::verify(
            secret.as_bytes(),
            signature,
            &request.body,
            signed_at(request),
            60,
        )
        .expect("signed with the subscription's secret over the exact bytes");
        let number: i64 = event["id"]
            .as_str()
            .unwrap()
            .strip_prefix("evt_")
            .unwrap()
            .parse()
            .unwrap();
        assert!(number > last_id);
        last_id = number;
    }
    assert_eq!(
        got[1].json()["data"]["amount"],
        20_50,
        "{:#}",
        got[1].json()
    );

    // The endpoint fails: the event is held and retried after the backoff,
    // under the same key; nothing after it overtakes it.
    endpoint.answer(&[500]);
    let refund = client.post(
        "/v1/payments",
        &json!({ "debtor_id": "kunde", "currency": "EUR", "amount": 10_00,
                 "received_on": "2026-05-04", "allocations": [{ "invoice_id": "kunde-1", "amount": 10_00 }] }),
    );
    assert_eq!(refund.status, 201);
    let attempts = endpoint.wait_for(3);
    let started = std::time::Instant::now();
    let failing = loop {
        let state = admin.get(&format!("/v1/subscriptions/{id}")).body;
        if state["failures"] == 1 {
            break state;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{state:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        failing["last_error"].as_str().unwrap().contains("500"),
        "{failing:#}"
    );
    assert_eq!(failing["delivered"], 2);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(endpoint.requests().len(), 3, "not retried before its time");
    operator.post("/v1/test-clock", &json!({ "advance_secs": 120 }));
    let retried = endpoint.wait_for(4);
    assert_eq!(
        retried[3].header("Idempotency-Key"),
        attempts[2].header("Idempotency-Key")
    );
    assert_eq!(retried[3].body, attempts[2].body);
    let started = std::time::Instant::now();
    loop {
        let state = admin.get(&format!("/v1/subscriptions/{id}")).body;
        if state["delivered"] == 3 {
            assert_eq!(state["failures"], 0, "{state:#}");
            assert_eq!(state["last_error"], Value::Null, "{state:#}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{state:#}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Ended: nothing more is sent.
    let ended = admin.request("DELETE", &format!("/v1/subscriptions/{id}"), None, &[]);
    assert_eq!(ended.status, 204);
    debtor_with_invoice(&client, "zweiter");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(endpoint.requests().len(), 4);
}
