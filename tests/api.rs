//! End-to-end tests of the HTTP API: the real `dun serve` on a temporary
//! SQLite file, driven over HTTP the way a billing system would drive it.
//! Each test starts its own server, so they are independent and run in
//! parallel.
//!
//! Dates are fixed (2025) wherever the server lets them be; "today" is used
//! only where the server requires it (promises and plans start today or
//! later; payments are not received in the future).

mod support;

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use support::{Client, Reply, Server};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Every route the server answers (besides `/openapi.json` itself).
const ROUTES: [(&str, &str); 83] = [
    ("POST", "/v1/debtors"),
    ("GET", "/v1/debtors"),
    ("GET", "/v1/debtors/{id}"),
    ("PUT", "/v1/debtors/{id}"),
    ("PUT", "/v1/debtors/{id}/opt-outs/{channel}"),
    ("DELETE", "/v1/debtors/{id}/opt-outs/{channel}"),
    ("GET", "/v1/debtors/{id}/payments"),
    ("GET", "/v1/debtors/{id}/timeline"),
    ("GET", "/v1/debtors/{id}/case"),
    ("POST", "/v1/debtors/{id}/evaluate"),
    ("GET", "/v1/debtors/{id}/evaluations"),
    ("GET", "/v1/evaluations/{id}"),
    ("GET", "/v1/debtors/{id}/outbox"),
    ("POST", "/v1/invoices"),
    ("GET", "/v1/invoices"),
    ("POST", "/v1/invoices/bulk"),
    ("GET", "/v1/invoices/{id}"),
    ("POST", "/v1/invoices/{id}/void"),
    ("POST", "/v1/payments"),
    ("GET", "/v1/payments/{id}"),
    ("POST", "/v1/payments/{id}/refunds"),
    ("POST", "/v1/disputes"),
    ("GET", "/v1/disputes/{id}"),
    ("POST", "/v1/disputes/{id}/resolve"),
    ("POST", "/v1/promises"),
    ("GET", "/v1/promises/{id}"),
    ("POST", "/v1/promises/{id}/cancel"),
    ("POST", "/v1/payment-plans"),
    ("GET", "/v1/payment-plans/{id}"),
    ("POST", "/v1/payment-plans/{id}/cancel"),
    ("GET", "/v1/aging"),
    ("GET", "/v1/kpis"),
    ("GET", "/v1/debtors/{id}/offers"),
    ("POST", "/v1/offers/{id}/accept"),
    ("GET", "/v1/escalations"),
    ("GET", "/v1/policy"),
    ("PUT", "/v1/policy"),
    ("GET", "/v1/segments"),
    ("GET", "/v1/segments/{id}"),
    ("PUT", "/v1/segments/{id}"),
    ("DELETE", "/v1/segments/{id}"),
    ("GET", "/v1/templates"),
    ("GET", "/v1/templates/{channel}/{tone}/{language}"),
    ("PUT", "/v1/templates/{channel}/{tone}/{language}"),
    ("DELETE", "/v1/templates/{channel}/{tone}/{language}"),
    ("POST", "/v1/templates/{channel}/{tone}/{language}/preview"),
    ("GET", "/v1/messages/{id}"),
    ("GET", "/v1/messages/{id}/pdf"),
    ("GET", "/v1/named-templates"),
    ("GET", "/v1/named-templates/{name}/{channel}/{language}"),
    ("PUT", "/v1/named-templates/{name}/{channel}/{language}"),
    ("DELETE", "/v1/named-templates/{name}/{channel}/{language}"),
    ("POST", "/v1/plugins/{name}/versions"),
    ("GET", "/v1/plugins"),
    ("GET", "/v1/plugins/{name}/versions"),
    ("GET", "/v1/plugins/{name}/versions/{version}"),
    ("POST", "/v1/plugins/{name}/versions/{version}/retire"),
    ("POST", "/v1/plugins/{name}/versions/{version}/release"),
    ("POST", "/v1/segments/{id}/rollback"),
    ("GET", "/v1/segments/{id}/shadow-report"),
    ("POST", "/v1/evaluations/{id}/replay"),
    ("GET", "/v1/plugins/{name}/limits"),
    ("PUT", "/v1/plugins/{name}/limits"),
    ("GET", "/v1/limits"),
    ("PUT", "/v1/limits"),
    ("GET", "/v1/operator/plugins"),
    ("GET", "/v1/segments/{id}/arms"),
    ("GET", "/v1/messaging"),
    ("PUT", "/v1/messaging"),
    ("POST", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions/{id}"),
    ("DELETE", "/v1/subscriptions/{id}"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys"),
    ("DELETE", "/v1/keys/{id}"),
    // Operator only.
    ("POST", "/v1/tenants"),
    ("GET", "/v1/tenants"),
    ("POST", "/v1/tenants/{id}/keys"),
    ("POST", "/v1/test-clock"),
    // No key needed.
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Today plus `days` (negative: in the past), as `YYYY-MM-DD`.
fn day_from_today(days: i64) -> String {
    (today() + Duration::days(days)).to_string()
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("a YYYY-MM-DD date")
}

/// Asserts the status (and a JSON body for 2xx); returns the body.
#[track_caller]
fn expect(reply: Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{reply:#?}");
    if (200..300).contains(&status) && status != 204 {
        assert_eq!(reply.content_type, "application/json", "{reply:#?}");
    }
    reply.body
}

#[track_caller]
fn ok(reply: Reply) -> Value {
    expect(reply, 200)
}

#[track_caller]
fn created(reply: Reply) -> Value {
    expect(reply, 201)
}

/// A POST without a body (cancel routes).
fn post_empty(client: &Client, path: &str) -> Reply {
    client.request("POST", path, None, &[])
}

/// A raw body, sent as given (with `content-type: application/json`).
fn send_raw(client: &Client, method: &str, path: &str, body: &str) -> Reply {
    client.request(method, path, Some(body.as_bytes()), &[])
}

fn new_debtor(client: &Client, id: &str) -> Value {
    created(client.post(
        "/v1/debtors",
        &json!({ "external_id": id, "name": format!("Debtor {id}") }),
    ))
}

fn invoice_body(
    id: &str,
    debtor: &str,
    currency: &str,
    amount: i64,
    issued_on: &str,
    due_on: &str,
) -> Value {
    json!({
        "external_id": id,
        "debtor_id": debtor,
        "currency": currency,
        "amount": amount,
        "issued_on": issued_on,
        "due_on": due_on,
    })
}

/// A EUR invoice issued on 2025-01-01.
fn new_invoice(client: &Client, id: &str, debtor: &str, amount: i64, due_on: &str) -> Value {
    created(client.post(
        "/v1/invoices",
        &invoice_body(id, debtor, "EUR", amount, "2025-01-01", due_on),
    ))
}

fn invoice(client: &Client, id: &str) -> Value {
    ok(client.get(&format!("/v1/invoices/{id}")))
}

/// Records a EUR payment allocated to one invoice; returns it.
fn pay(client: &Client, debtor: &str, invoice: &str, amount: i64, received_on: &str) -> Value {
    created(client.post(
        "/v1/payments",
        &json!({
            "debtor_id": debtor, "currency": "EUR", "amount": amount, "received_on": received_on,
            "allocations": [{ "invoice_id": invoice, "amount": amount }],
        }),
    ))
}

fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value:#}"))
        .to_owned()
}

/// The `id`s of a JSON array, or of a page's `items`.
fn ids(body: &Value) -> Vec<String> {
    let items = body
        .get("items")
        .unwrap_or(body)
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {body:#}"));
    items.iter().map(id_of).collect()
}

fn list_ids(client: &Client, path: &str) -> Vec<String> {
    ids(&ok(client.get(path)))
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Walks a paginated list `limit` at a time; every item and the number of
/// pages read.
fn walk(client: &Client, path: &str, limit: usize) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
        };
        let page = ok(client.get(&url));
        pages += 1;
        let items = page["items"].as_array().expect("items").clone();
        assert!(
            items.len() <= limit,
            "page larger than limit {limit}: {page:#}"
        );
        let next = page
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if next.is_some() {
            assert_eq!(
                items.len(),
                limit,
                "a page before the last is full: {page:#}"
            );
        }
        all.extend(items);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 1000, "the cursor never ends");
    }
    (all, pages)
}

/// `(amount, invoices)` of one aging bucket of one currency.
#[track_caller]
fn bucket(report: &Value, currency: &str, name: &str) -> (i64, u64) {
    let entry = report["currencies"]
        .as_array()
        .expect("currencies")
        .iter()
        .find(|c| c["currency"] == currency)
        .unwrap_or_else(|| panic!("no {currency} in {report:#}"));
    let b = &entry[name];
    (
        b["amount"]
            .as_i64()
            .unwrap_or_else(|| panic!("no {name} bucket in {entry:#}")),
        b["invoices"].as_u64().expect("invoices"),
    )
}

fn currencies(report: &Value) -> Vec<String> {
    report["currencies"]
        .as_array()
        .expect("currencies")
        .iter()
        .map(|c| c["currency"].as_str().expect("currency").to_owned())
        .collect()
}

/// A debtor's whole timeline, newest first.
fn timeline(client: &Client, debtor: &str) -> Vec<Value> {
    walk(client, &format!("/v1/debtors/{debtor}/timeline"), 500).0
}

/// Asserts that `expected` (kind, subject) pairs occur in this order (not
/// necessarily adjacent) among events listed oldest first.
#[track_caller]
fn assert_in_order(events: &[Value], expected: &[(&str, Option<&str>)]) {
    let mut rest = events.iter();
    for (kind, subject) in expected {
        let found = rest
            .by_ref()
            .any(|e| e["kind"] == *kind && subject.is_none_or(|s| e["subject"] == s));
        assert!(
            found,
            "event {kind} {subject:?} is missing or out of order in {:#?}",
            events
                .iter()
                .map(|e| (&e["kind"], &e["subject"]))
                .collect::<Vec<_>>()
        );
    }
}

fn instant(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("an instant")).expect("RFC 3339")
}

fn problem_fields(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// 1. Happy paths
// ---------------------------------------------------------------------------

#[test]
fn debtors_are_upserted_read_filtered_and_opt_out_of_channels() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    let full = json!({
        "external_id": "cust-1",
        "name": "Acme GmbH",
        "email": "ap@acme.example",
        "phone": "+4915112345678",
        "postal_address": { "lines": ["Hauptstr. 1"], "postal_code": "10115", "city": "Berlin", "country": "DE" },
        "time_zone": "Europe/Berlin",
        "language": "de",
        "tags": ["vip", "b2b", "vip"],
    });
    let first = created(client.post("/v1/debtors", &full));
    assert_eq!(first["id"], "cust-1");
    assert_eq!(first["name"], "Acme GmbH");
    assert_eq!(first["email"], "ap@acme.example");
    assert_eq!(first["phone"], "+4915112345678");
    assert_eq!(first["postal_address"], full["postal_address"]);
    assert_eq!(first["time_zone"], "Europe/Berlin");
    assert_eq!(first["language"], "de");
    assert_eq!(
        first["tags"],
        json!(["b2b", "vip"]),
        "tags are sorted and deduplicated"
    );
    assert_eq!(first["opt_outs"], json!([]));
    assert_eq!(first["created_at"], first["updated_at"]);

    // The identical debtor again: 200, nothing changed.
    assert_eq!(ok(client.post("/v1/debtors", &full)), first);

    // Changed: 200, replaced.
    let mut renamed = full.clone();
    renamed["name"] = json!("Acme SE");
    let updated = ok(client.post("/v1/debtors", &renamed));
    assert_eq!(updated["name"], "Acme SE");
    assert_eq!(updated["created_at"], first["created_at"]);
    assert_ne!(updated["updated_at"], first["updated_at"]);
    assert_eq!(ok(client.get("/v1/debtors/cust-1")), updated);

    // PUT creates (with the defaults) and replaces.
    let put = created(client.put(
        "/v1/debtors/cust-2",
        &json!({ "external_id": "cust-2", "name": "Beta" }),
    ));
    assert_eq!(put["time_zone"], "UTC");
    assert_eq!(put["language"], "en");
    assert_eq!(put["email"], Value::Null);
    let replaced = ok(client.put(
        "/v1/debtors/cust-2",
        &json!({ "external_id": "cust-2", "name": "Beta Ltd", "tags": ["b2b"] }),
    ));
    assert_eq!(replaced["name"], "Beta Ltd");
    assert_eq!(replaced["tags"], json!(["b2b"]));
    client
        .put(
            "/v1/debtors/cust-2",
            &json!({ "external_id": "cust-3", "name": "X" }),
        )
        .assert_problem(422, Some("external_id"));
    client.get("/v1/debtors/cust-3").assert_problem(404, None);
    client.get("/v1/debtors/nobody").assert_problem(404, None);

    // Opt-outs: added, listed in a fixed order, idempotent, removed.
    let opt_out = |channel: &str| {
        client.request(
            "PUT",
            &format!("/v1/debtors/cust-1/opt-outs/{channel}"),
            None,
            &[],
        )
    };
    assert_eq!(ok(opt_out("sms"))["opt_outs"], json!(["sms"]));
    assert_eq!(ok(opt_out("email"))["opt_outs"], json!(["email", "sms"]));
    assert_eq!(ok(opt_out("sms"))["opt_outs"], json!(["email", "sms"]));
    let opted_in = ok(client.delete("/v1/debtors/cust-1/opt-outs/sms"));
    assert_eq!(opted_in["opt_outs"], json!(["email"]));
    assert_eq!(
        ok(client.delete("/v1/debtors/cust-1/opt-outs/sms"))["opt_outs"],
        json!(["email"])
    );
    assert_eq!(
        ok(client.get("/v1/debtors/cust-1"))["opt_outs"],
        json!(["email"])
    );
    opt_out("fax").assert_problem(404, Some("channel"));
    client
        .delete("/v1/debtors/cust-1/opt-outs/fax")
        .assert_problem(404, Some("channel"));

    // Filters: tag, overdue.
    new_debtor(&client, "cust-3");
    assert_eq!(
        list_ids(&client, "/v1/debtors"),
        strings(&["cust-1", "cust-2", "cust-3"])
    );
    assert_eq!(
        list_ids(&client, "/v1/debtors?tag=b2b"),
        strings(&["cust-1", "cust-2"])
    );
    assert_eq!(
        list_ids(&client, "/v1/debtors?tag=vip"),
        strings(&["cust-1"])
    );
    assert!(list_ids(&client, "/v1/debtors?tag=none").is_empty());
    new_invoice(&client, "late-1", "cust-2", 10_00, "2025-01-31");
    new_invoice(&client, "future-1", "cust-3", 10_00, &day_from_today(30));
    assert_eq!(
        list_ids(&client, "/v1/debtors?overdue=true"),
        strings(&["cust-2"])
    );
    assert_eq!(
        list_ids(&client, "/v1/debtors?overdue=true&tag=vip"),
        Vec::<String>::new()
    );
    let not_overdue = list_ids(&client, "/v1/debtors?overdue=false");
    assert!(
        !not_overdue.contains(&"cust-2".to_owned()),
        "{not_overdue:?}"
    );
    assert!(
        not_overdue.contains(&"cust-3".to_owned()),
        "{not_overdue:?}"
    );
}

#[test]
fn lists_page_with_cursors_without_duplicates_or_gaps() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    let (_, other) = server.tenant("other");
    // Interleave another tenant's rows, so cursors cross rows of theirs.
    let mut expected = Vec::new();
    for i in 0..23 {
        let id = format!("d-{i:02}");
        new_debtor(&client, &id);
        expected.push(id);
        if i % 3 == 0 {
            new_debtor(&other, &format!("o-{i:02}"));
        }
    }
    for (limit, pages) in [(1, 23), (5, 5), (10, 3), (23, 1), (50, 1)] {
        let (items, read) = walk(&client, "/v1/debtors", limit);
        assert_eq!(ids(&json!(items)), expected, "limit {limit}");
        assert_eq!(read, pages, "pages at limit {limit}");
    }
    // A filter pages too.
    for i in 0..23 {
        if i % 2 == 0 {
            let id = format!("d-{i:02}");
            ok(client.post(
                "/v1/debtors",
                &json!({ "external_id": id, "name": "Even", "tags": ["even"] }),
            ));
        }
    }
    let evens: Vec<String> = expected.iter().step_by(2).cloned().collect();
    let (items, pages) = walk(&client, "/v1/debtors?tag=even", 4);
    assert_eq!(ids(&json!(items)), evens);
    assert_eq!(pages, 3);

    // Invoices page the same way, with and without filters.
    let mut invoices = Vec::new();
    for i in 0..12 {
        let id = format!("inv-{i:02}");
        let debtor = if i % 2 == 0 { "d-00" } else { "d-01" };
        new_invoice(&client, &id, debtor, 1_00 + i, "2025-01-31");
        invoices.push(id);
    }
    let (items, pages) = walk(&client, "/v1/invoices", 5);
    assert_eq!(ids(&json!(items)), invoices);
    assert_eq!(pages, 3);
    let (items, _) = walk(&client, "/v1/invoices?debtor_id=d-01", 2);
    let odd: Vec<String> = invoices.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(ids(&json!(items)), odd);
    assert!(list_ids(&other, "/v1/invoices").is_empty());
}

#[test]
fn invoices_are_created_resent_read_listed_and_filtered() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_debtor(&client, "acme-2");

    let mut body = invoice_body("inv-1", "acme-1", "EUR", 120_00, "2025-01-01", "2025-01-31");
    body["number"] = json!("2025-0001");
    body["terms"] = json!({ "late_fee": 5_00, "interest_bp_per_year": 800, "grace_days": 7 });
    body["metadata"] = json!({ "po": "PO-9", "cost_center": 12 });
    let first = created(client.post("/v1/invoices", &body));
    assert_eq!(first["id"], "inv-1");
    assert_eq!(first["debtor_id"], "acme-1");
    assert_eq!(first["number"], "2025-0001");
    assert_eq!(first["currency"], "EUR");
    assert_eq!(first["amount"], 120_00);
    assert_eq!(first["open_amount"], 120_00);
    assert_eq!(first["status"], "open");
    assert_eq!(first["issued_on"], "2025-01-01");
    assert_eq!(first["due_on"], "2025-01-31");
    assert_eq!(first["terms"], body["terms"]);
    assert_eq!(first["metadata"], body["metadata"]);
    assert_eq!(first["paid_on"], Value::Null);
    assert_eq!(first["voided_on"], Value::Null);
    assert_eq!(
        first["days_overdue"],
        (today() - date("2025-01-31")).num_days()
    );

    // The same invoice again: 200 and the stored invoice. Different: 409.
    assert_eq!(ok(client.post("/v1/invoices", &body)), first);
    let mut more = body.clone();
    more["amount"] = json!(130_00);
    client
        .post("/v1/invoices", &more)
        .assert_problem(409, Some("amount"));
    let mut moved = body.clone();
    moved["debtor_id"] = json!("acme-2");
    client
        .post("/v1/invoices", &moved)
        .assert_problem(409, Some("debtor_id"));
    assert_eq!(invoice(&client, "inv-1"), first);

    // Defaults; unknown debtor.
    let second = created(client.post(
        "/v1/invoices",
        &invoice_body("inv-2", "acme-1", "EUR", 50_00, "2025-03-01", "2025-03-31"),
    ));
    assert_eq!(second["number"], "inv-2");
    assert_eq!(
        second["terms"],
        json!({ "late_fee": 0, "interest_bp_per_year": 0, "grace_days": 0 })
    );
    assert_eq!(second["metadata"], Value::Null);
    client
        .post(
            "/v1/invoices",
            &invoice_body("inv-x", "ghost", "EUR", 1, "2025-01-01", "2025-01-02"),
        )
        .assert_problem(422, Some("debtor_id"));
    client.get("/v1/invoices/inv-x").assert_problem(404, None);

    created(client.post(
        "/v1/invoices",
        &invoice_body("inv-3", "acme-2", "USD", 70_00, "2025-02-01", "2025-02-28"),
    ));
    let future = day_from_today(30);
    created(client.post(
        "/v1/invoices",
        &invoice_body("inv-4", "acme-2", "EUR", 10_00, "2025-01-01", &future),
    ));
    created(client.post(
        "/v1/invoices",
        &invoice_body("inv-5", "acme-2", "EUR", 5_00, "2025-05-01", "2025-05-31"),
    ));
    ok(client.post("/v1/invoices/inv-5/void", &json!({ "reason": "duplicate" })));
    assert_eq!(invoice(&client, "inv-4")["days_overdue"], -30);

    let all = strings(&["inv-1", "inv-2", "inv-3", "inv-4", "inv-5"]);
    assert_eq!(list_ids(&client, "/v1/invoices"), all);
    for (query, expected) in [
        ("debtor_id=acme-1", vec!["inv-1", "inv-2"]),
        ("currency=USD", vec!["inv-3"]),
        ("status=void", vec!["inv-5"]),
        ("status=open", vec!["inv-1", "inv-2", "inv-3", "inv-4"]),
        (
            "status=open,void",
            vec!["inv-1", "inv-2", "inv-3", "inv-4", "inv-5"],
        ),
        ("status=paid,partially-paid", vec![]),
        ("overdue=true", vec!["inv-1", "inv-2", "inv-3"]),
        ("overdue=false", vec!["inv-4", "inv-5"]),
        ("due_before=2025-03-01", vec!["inv-1", "inv-3"]),
        ("due_after=2025-02-28", vec!["inv-2", "inv-4", "inv-5"]),
        ("due_after=2025-01-31&due_before=2025-03-31", vec!["inv-3"]),
        ("debtor_id=acme-2&currency=EUR", vec!["inv-4", "inv-5"]),
        ("debtor_id=acme-2&currency=EUR&overdue=true", vec![]),
        ("debtor_id=nobody", vec![]),
    ] {
        assert_eq!(
            list_ids(&client, &format!("/v1/invoices?{query}")),
            strings(&expected),
            "{query}"
        );
    }
}

#[test]
fn payments_settle_invoices_partly_fully_and_oldest_due_first() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_invoice(&client, "inv-a", "acme-1", 100_00, "2025-01-31");

    // Part of it: partially paid, the open amount follows.
    let p1 = created(client.post(
        "/v1/payments",
        &json!({
            "debtor_id": "acme-1", "currency": "EUR", "amount": 30_00, "received_on": "2025-02-10",
            "method": "transfer", "reference": "RF-1",
            "allocations": [{ "invoice_id": "inv-a", "amount": 30_00 }],
        }),
    ));
    assert!(id_of(&p1).starts_with("pay_"), "{p1:#}");
    assert_eq!(p1["debtor_id"], "acme-1");
    assert_eq!(p1["amount"], 30_00);
    assert_eq!(p1["unapplied"], 0);
    assert_eq!(p1["refunded"], 0);
    assert_eq!(p1["received_on"], "2025-02-10");
    assert_eq!(p1["method"], "transfer");
    assert_eq!(p1["reference"], "RF-1");
    assert_eq!(
        p1["allocations"],
        json!([{ "invoice_id": "inv-a", "amount": 30_00 }])
    );
    let inv = invoice(&client, "inv-a");
    assert_eq!(inv["status"], "partially-paid");
    assert_eq!(inv["open_amount"], 70_00);
    assert_eq!(inv["paid_on"], Value::Null);

    // The rest: paid, on the day the money arrived.
    let p2 = pay(&client, "acme-1", "inv-a", 70_00, "2025-02-20");
    let inv = invoice(&client, "inv-a");
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["open_amount"], 0);
    assert_eq!(inv["paid_on"], "2025-02-20");
    // A paid invoice takes no more money.
    client
        .post(
            "/v1/payments",
            &json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 1,
                     "allocations": [{ "invoice_id": "inv-a", "amount": 1 }] }),
        )
        .assert_problem(422, Some("allocations[0].invoice_id"));

    // Without allocations: oldest due first, whatever the creation order.
    new_invoice(&client, "inv-late", "acme-1", 40_00, "2025-05-31");
    new_invoice(&client, "inv-early", "acme-1", 40_00, "2025-04-30");
    let p3 = created(client.post(
        "/v1/payments",
        &json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 60_00, "received_on": "2025-06-05" }),
    ));
    assert_eq!(
        p3["allocations"],
        json!([{ "invoice_id": "inv-early", "amount": 40_00 }, { "invoice_id": "inv-late", "amount": 20_00 }])
    );
    assert_eq!(p3["unapplied"], 0);
    let early = invoice(&client, "inv-early");
    assert_eq!(
        (early["status"].clone(), early["open_amount"].clone()),
        (json!("paid"), json!(0))
    );
    assert_eq!(early["paid_on"], "2025-06-05");
    let late = invoice(&client, "inv-late");
    assert_eq!(
        (late["status"].clone(), late["open_amount"].clone()),
        (json!("partially-paid"), json!(20_00))
    );
    assert_eq!(ok(client.get(&format!("/v1/payments/{}", id_of(&p3)))), p3);

    // A payment with the client's own id: a re-send changes nothing.
    let bank = json!({ "external_id": "bank-77", "debtor_id": "acme-1", "currency": "EUR", "amount": 20_00,
                       "received_on": "2025-06-06" });
    let p4 = created(client.post("/v1/payments", &bank));
    assert_eq!(p4["external_id"], "bank-77");
    assert_eq!(invoice(&client, "inv-late")["status"], "paid");
    assert_eq!(ok(client.post("/v1/payments", &bank)), p4);
    let mut other = bank.clone();
    other["amount"] = json!(25_00);
    client
        .post("/v1/payments", &other)
        .assert_problem(409, Some("external_id"));

    // The debtor's payments, newest first.
    let listed = ok(client.get("/v1/debtors/acme-1/payments"));
    assert_eq!(
        ids(&listed),
        vec![id_of(&p4), id_of(&p3), id_of(&p2), id_of(&p1)]
    );
    assert_eq!(listed[3], p1);
    client
        .get("/v1/payments/pay_doesnotexist00")
        .assert_problem(404, None);
    client
        .get("/v1/debtors/nobody/payments")
        .assert_problem(404, None);
}

#[test]
fn overpayment_is_refused_unless_kept_as_credit() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_invoice(&client, "inv-1", "acme-1", 50_00, "2025-01-31");

    let too_much = json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 80_00, "received_on": "2025-02-01" });
    client
        .post("/v1/payments", &too_much)
        .assert_problem(422, Some("amount"));
    let mut allocated_less = too_much.clone();
    allocated_less["allocations"] = json!([{ "invoice_id": "inv-1", "amount": 50_00 }]);
    client
        .post("/v1/payments", &allocated_less)
        .assert_problem(422, Some("amount"));
    let mut allocated_more = too_much.clone();
    allocated_more["amount"] = json!(30_00);
    allocated_more["allocations"] = json!([{ "invoice_id": "inv-1", "amount": 50_00 }]);
    client
        .post("/v1/payments", &allocated_more)
        .assert_problem(422, Some("allocations"));
    // Nothing was recorded.
    assert_eq!(ok(client.get("/v1/debtors/acme-1/payments")), json!([]));
    assert_eq!(invoice(&client, "inv-1")["open_amount"], 50_00);

    let mut credit = too_much.clone();
    credit["overpayment"] = json!("credit");
    let payment = created(client.post("/v1/payments", &credit));
    assert_eq!(payment["amount"], 80_00);
    assert_eq!(payment["unapplied"], 30_00);
    assert_eq!(
        payment["allocations"],
        json!([{ "invoice_id": "inv-1", "amount": 50_00 }])
    );
    assert_eq!(invoice(&client, "inv-1")["status"], "paid");

    // A debtor who owes nothing: all of it is credit.
    new_debtor(&client, "acme-2");
    let all_credit = created(client.post(
        "/v1/payments",
        &json!({ "debtor_id": "acme-2", "currency": "EUR", "amount": 10_00, "overpayment": "credit" }),
    ));
    assert_eq!(all_credit["unapplied"], 10_00);
    assert_eq!(all_credit["allocations"], json!([]));
    assert_eq!(all_credit["received_on"], today().to_string());

    // A refund takes the credit back first, then invoice money.
    let refunds = format!("/v1/payments/{}/refunds", id_of(&payment));
    let first = created(client.post(&refunds, &json!({ "amount": 20_00 })));
    assert_eq!(first["payment"]["unapplied"], 10_00);
    assert_eq!(first["payment"]["refunded"], 20_00);
    assert_eq!(
        first["payment"]["allocations"],
        json!([{ "invoice_id": "inv-1", "amount": 50_00 }])
    );
    assert_eq!(invoice(&client, "inv-1")["status"], "paid");
    let second = created(client.post(&refunds, &json!({ "amount": 30_00 })));
    assert_eq!(second["payment"]["unapplied"], 0);
    assert_eq!(second["payment"]["refunded"], 50_00);
    assert_eq!(
        second["payment"]["allocations"],
        json!([{ "invoice_id": "inv-1", "amount": 30_00 }])
    );
    let inv = invoice(&client, "inv-1");
    assert_eq!(inv["status"], "partially-paid");
    assert_eq!(inv["open_amount"], 20_00);
    client
        .post(&refunds, &json!({ "amount": 30_01 }))
        .assert_problem(422, Some("amount"));
}

#[test]
fn refunds_reopen_the_invoices_they_uncover() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_invoice(&client, "inv-1", "acme-1", 60_00, "2025-01-31");
    new_invoice(&client, "inv-2", "acme-1", 40_00, "2025-02-28");
    let payment = created(client.post(
        "/v1/payments",
        &json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 100_00, "received_on": "2025-03-01" }),
    ));
    assert_eq!(invoice(&client, "inv-1")["status"], "paid");
    assert_eq!(invoice(&client, "inv-2")["status"], "paid");
    let pay_id = id_of(&payment);
    let refunds = format!("/v1/payments/{pay_id}/refunds");

    client
        .post(
            &refunds,
            &json!({ "amount": 1, "refunded_on": "2025-02-01" }),
        )
        .assert_problem(422, Some("refunded_on"));

    // Part: the most recently allocated invoice is re-opened first.
    let refund = created(client.post(
        &refunds,
        &json!({ "amount": 30_00, "reason": "chargeback" }),
    ));
    assert!(id_of(&refund).starts_with("ref_"), "{refund:#}");
    assert_eq!(refund["payment_id"], pay_id.as_str());
    assert_eq!(refund["amount"], 30_00);
    assert_eq!(refund["reason"], "chargeback");
    assert_eq!(refund["refunded_on"], today().to_string());
    assert_eq!(refund["payment"]["refunded"], 30_00);
    assert_eq!(
        refund["payment"]["allocations"],
        json!([{ "invoice_id": "inv-1", "amount": 60_00 }, { "invoice_id": "inv-2", "amount": 10_00 }])
    );
    let inv2 = invoice(&client, "inv-2");
    assert_eq!(inv2["status"], "partially-paid");
    assert_eq!(inv2["open_amount"], 30_00);
    assert_eq!(inv2["paid_on"], Value::Null);
    assert_eq!(invoice(&client, "inv-1")["status"], "paid");
    assert_eq!(
        ok(client.get(&format!("/v1/payments/{pay_id}"))),
        refund["payment"]
    );

    // The rest: everything is owed again.
    let rest = created(client.post(&refunds, &json!({ "amount": 70_00 })));
    assert_eq!(rest["payment"]["refunded"], 100_00);
    assert_eq!(rest["payment"]["allocations"], json!([]));
    for (id, amount) in [("inv-1", 60_00), ("inv-2", 40_00)] {
        let inv = invoice(&client, id);
        assert_eq!(inv["status"], "open", "{inv:#}");
        assert_eq!(inv["open_amount"], amount);
        assert_eq!(inv["paid_on"], Value::Null);
    }
    client
        .post(&refunds, &json!({ "amount": 1 }))
        .assert_problem(422, Some("amount"));
    client
        .post(&refunds, &json!({ "amount": -5 }))
        .assert_problem(422, Some("amount"));
    client
        .post(
            "/v1/payments/pay_doesnotexist00/refunds",
            &json!({ "amount": 1 }),
        )
        .assert_problem(404, None);

    let events = timeline(&client, "acme-1");
    let refunded: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "payment.refunded")
        .collect();
    assert_eq!(refunded.len(), 2);
    assert!(refunded.iter().all(|e| e["subject"] == pay_id.as_str()));
    assert_eq!(refunded[1]["data"]["reason"], "chargeback");
}

#[test]
fn void_takes_an_invoice_out_unless_money_was_paid_on_it() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_invoice(&client, "inv-v", "acme-1", 25_00, "2025-01-31");

    let voided = ok(client.post(
        "/v1/invoices/inv-v/void",
        &json!({ "reason": "issued in error" }),
    ));
    assert_eq!(voided["status"], "void");
    assert_eq!(voided["voided_on"], today().to_string());
    assert_eq!(voided["void_reason"], "issued in error");
    assert_eq!(voided["open_amount"], 25_00);
    // Twice: nothing changes.
    assert_eq!(
        ok(client.post("/v1/invoices/inv-v/void", &json!({ "reason": "again" }))),
        voided
    );
    // A void invoice takes no payment and no dispute.
    client
        .post(
            "/v1/payments",
            &json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 1,
                     "allocations": [{ "invoice_id": "inv-v", "amount": 1 }] }),
        )
        .assert_problem(422, Some("allocations[0].invoice_id"));
    client
        .post(
            "/v1/disputes",
            &json!({ "invoice_id": "inv-v", "reason": "never ordered" }),
        )
        .assert_problem(422, Some("invoice_id"));

    // Refused once money was paid; allowed after the refund.
    new_invoice(&client, "inv-p", "acme-1", 25_00, "2025-01-31");
    let payment = pay(&client, "acme-1", "inv-p", 10_00, "2025-02-01");
    client
        .post(
            "/v1/invoices/inv-p/void",
            &json!({ "reason": "cancelled order" }),
        )
        .assert_problem(422, Some("id"));
    let inv = invoice(&client, "inv-p");
    assert_eq!(inv["status"], "partially-paid");
    assert_eq!(inv["voided_on"], Value::Null);
    created(client.post(
        &format!("/v1/payments/{}/refunds", id_of(&payment)),
        &json!({ "amount": 10_00 }),
    ));
    assert_eq!(
        ok(client.post(
            "/v1/invoices/inv-p/void",
            &json!({ "reason": "cancelled order" })
        ))["status"],
        "void"
    );

    new_invoice(&client, "inv-r", "acme-1", 5_00, "2025-01-31");
    client
        .post("/v1/invoices/inv-r/void", &json!({ "reason": "" }))
        .assert_problem(422, Some("reason"));
    client
        .post("/v1/invoices/nope/void", &json!({ "reason": "x" }))
        .assert_problem(404, None);
    assert_eq!(
        list_ids(&client, "/v1/invoices?status=void"),
        strings(&["inv-v", "inv-p"])
    );
    // A void invoice is owed by no one.
    assert!(list_ids(&client, "/v1/debtors?overdue=true").contains(&"acme-1".to_owned()));
    ok(client.post(
        "/v1/invoices/inv-r/void",
        &json!({ "reason": "credit note" }),
    ));
    assert!(list_ids(&client, "/v1/debtors?overdue=true").is_empty());
}

#[test]
fn a_dispute_pauses_an_invoice_until_resolved() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_invoice(&client, "inv-1", "acme-1", 80_00, "2025-01-31");

    let dispute = created(client.post(
        "/v1/disputes",
        &json!({ "invoice_id": "inv-1", "reason": "goods damaged" }),
    ));
    let dsp = id_of(&dispute);
    assert!(dsp.starts_with("dsp_"), "{dispute:#}");
    assert_eq!(dispute["invoice_id"], "inv-1");
    assert_eq!(dispute["debtor_id"], "acme-1");
    assert_eq!(dispute["reason"], "goods damaged");
    assert_eq!(dispute["resolved_at"], Value::Null);
    assert_eq!(dispute["resolution"], Value::Null);
    assert_eq!(invoice(&client, "inv-1")["status"], "disputed");
    assert_eq!(
        list_ids(&client, "/v1/invoices?status=disputed"),
        strings(&["inv-1"])
    );
    client
        .post(
            "/v1/disputes",
            &json!({ "invoice_id": "inv-1", "reason": "again" }),
        )
        .assert_problem(409, Some("invoice_id"));
    assert_eq!(ok(client.get(&format!("/v1/disputes/{dsp}"))), dispute);

    let resolved = ok(client.post(
        &format!("/v1/disputes/{dsp}/resolve"),
        &json!({ "resolution": "rejected", "note": "photos show no damage" }),
    ));
    assert_eq!(resolved["resolution"], "rejected");
    assert_eq!(resolved["note"], "photos show no damage");
    assert!(resolved["resolved_at"].is_string(), "{resolved:#}");
    assert_eq!(invoice(&client, "inv-1")["status"], "open");
    assert_eq!(ok(client.get(&format!("/v1/disputes/{dsp}"))), resolved);
    client
        .post(
            &format!("/v1/disputes/{dsp}/resolve"),
            &json!({ "resolution": "withdrawn" }),
        )
        .assert_problem(409, Some("id"));

    // A resolved invoice can be disputed again; upheld also ends the pause.
    let again = created(client.post(
        "/v1/disputes",
        &json!({ "invoice_id": "inv-1", "reason": "wrong price" }),
    ));
    assert_eq!(invoice(&client, "inv-1")["status"], "disputed");
    let upheld = ok(client.post(
        &format!("/v1/disputes/{}/resolve", id_of(&again)),
        &json!({ "resolution": "upheld" }),
    ));
    assert_eq!(upheld["resolution"], "upheld");
    assert_eq!(upheld["note"], Value::Null);
    assert_eq!(invoice(&client, "inv-1")["status"], "open");

    // A partly paid invoice returns to partially-paid.
    new_invoice(&client, "inv-2", "acme-1", 30_00, "2025-01-31");
    pay(&client, "acme-1", "inv-2", 10_00, "2025-02-01");
    let third = created(client.post(
        "/v1/disputes",
        &json!({ "invoice_id": "inv-2", "reason": "partial delivery" }),
    ));
    assert_eq!(invoice(&client, "inv-2")["status"], "disputed");
    ok(client.post(
        &format!("/v1/disputes/{}/resolve", id_of(&third)),
        &json!({ "resolution": "withdrawn" }),
    ));
    assert_eq!(invoice(&client, "inv-2")["status"], "partially-paid");

    // A paid invoice cannot be disputed; unknown disputes are 404.
    new_invoice(&client, "inv-3", "acme-1", 5_00, "2025-01-31");
    pay(&client, "acme-1", "inv-3", 5_00, "2025-02-01");
    client
        .post(
            "/v1/disputes",
            &json!({ "invoice_id": "inv-3", "reason": "late" }),
        )
        .assert_problem(422, Some("invoice_id"));
    client
        .get("/v1/disputes/dsp_doesnotexist00")
        .assert_problem(404, None);
    client
        .post(
            "/v1/disputes/dsp_doesnotexist00/resolve",
            &json!({ "resolution": "withdrawn" }),
        )
        .assert_problem(404, None);
}

#[test]
fn a_promise_defers_an_invoice_and_is_kept_by_a_covering_payment() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_invoice(&client, "inv-1", "acme-1", 90_00, "2025-01-31");
    new_invoice(&client, "inv-2", "acme-1", 10_00, "2025-01-31");
    let promised_on = day_from_today(7);

    let promise = created(client.post(
        "/v1/promises",
        &json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 90_00, "promised_on": promised_on,
                 "invoice_ids": ["inv-1"], "note": "salary on the 1st" }),
    ));
    let prm = id_of(&promise);
    assert!(prm.starts_with("prm_"), "{promise:#}");
    assert_eq!(promise["status"], "pending");
    assert_eq!(promise["paid"], 0);
    assert_eq!(promise["amount"], 90_00);
    assert_eq!(promise["promised_on"], promised_on.as_str());
    assert_eq!(promise["invoice_ids"], json!(["inv-1"]));
    assert_eq!(promise["note"], "salary on the 1st");
    assert_eq!(promise["closed_at"], Value::Null);
    assert_eq!(invoice(&client, "inv-1")["status"], "promised");
    assert_eq!(invoice(&client, "inv-2")["status"], "open");
    assert_eq!(ok(client.get(&format!("/v1/promises/{prm}"))), promise);

    // Part of it: still pending, the invoice still promised.
    let today_s = today().to_string();
    pay(&client, "acme-1", "inv-1", 40_00, &today_s);
    let partly = ok(client.get(&format!("/v1/promises/{prm}")));
    assert_eq!(partly["status"], "pending");
    assert_eq!(partly["paid"], 40_00);
    let inv = invoice(&client, "inv-1");
    assert_eq!(inv["status"], "promised");
    assert_eq!(inv["open_amount"], 50_00);

    // The rest: kept, and the invoice paid.
    pay(&client, "acme-1", "inv-1", 50_00, &today_s);
    let kept = ok(client.get(&format!("/v1/promises/{prm}")));
    assert_eq!(kept["status"], "kept");
    assert_eq!(kept["paid"], 90_00);
    assert!(kept["closed_at"].is_string(), "{kept:#}");
    assert_eq!(invoice(&client, "inv-1")["status"], "paid");
    post_empty(&client, &format!("/v1/promises/{prm}/cancel")).assert_problem(409, Some("id"));

    // Without invoice_ids it covers every owed invoice; cancelling lifts it.
    let second = created(client.post(
        "/v1/promises",
        &json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 10_00, "promised_on": today_s }),
    ));
    assert_eq!(second["invoice_ids"], json!(["inv-2"]));
    assert_eq!(invoice(&client, "inv-2")["status"], "promised");
    let cancelled = ok(post_empty(
        &client,
        &format!("/v1/promises/{}/cancel", id_of(&second)),
    ));
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["closed_at"].is_string());
    assert_eq!(invoice(&client, "inv-2")["status"], "open");

    let base = json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 10_00, "promised_on": today_s });
    for (field, value, at_fault) in [
        ("amount", json!(10_01), "amount"),
        ("promised_on", json!(day_from_today(-1)), "promised_on"),
        ("promised_on", json!(day_from_today(400)), "promised_on"),
        ("currency", json!("USD"), "currency"),
    ] {
        let mut body = base.clone();
        body[field] = value;
        client
            .post("/v1/promises", &body)
            .assert_problem(422, Some(at_fault));
    }
    client
        .get("/v1/promises/prm_doesnotexist00")
        .assert_problem(404, None);
    post_empty(&client, "/v1/promises/prm_doesnotexist00/cancel").assert_problem(404, None);
}

#[test]
fn a_payment_plan_splits_the_owed_total_into_installments() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_invoice(&client, "inv-1", "acme-1", 100_01, "2025-01-31");
    new_invoice(&client, "inv-2", "acme-1", 50_00, "2025-02-28");
    pay(&client, "acme-1", "inv-1", 1_00, "2025-02-01");
    let first_due = day_from_today(3);

    let plan = created(client.post(
        "/v1/payment-plans",
        &json!({ "debtor_id": "acme-1", "currency": "EUR", "installments": 4, "every_days": 14,
                 "first_due_on": first_due }),
    ));
    let pln = id_of(&plan);
    assert!(pln.starts_with("pln_"), "{plan:#}");
    assert_eq!(plan["status"], "active");
    assert_eq!(plan["invoice_ids"], json!(["inv-1", "inv-2"]));
    assert_eq!(plan["total"], 149_01, "what is still owed: 99.01 + 50.00");
    let installments = plan["installments"].as_array().expect("installments");
    assert_eq!(installments.len(), 4);
    let sum: i64 = installments
        .iter()
        .map(|i| i["amount"].as_i64().expect("amount"))
        .sum();
    assert_eq!(sum, 149_01, "installments add up to the total");
    assert_eq!(
        installments
            .iter()
            .map(|i| i["amount"].clone())
            .collect::<Vec<_>>(),
        vec![json!(37_26), json!(37_25), json!(37_25), json!(37_25)],
        "even split, the remainder on the first"
    );
    for (n, installment) in installments.iter().enumerate() {
        assert_eq!(installment["due_on"], day_from_today(3 + 14 * n as i64));
        assert_eq!(installment["paid"], 0);
    }
    assert_eq!(invoice(&client, "inv-1")["status"], "in-plan");
    assert_eq!(invoice(&client, "inv-2")["status"], "in-plan");
    assert_eq!(ok(client.get(&format!("/v1/payment-plans/{pln}"))), plan);
    client
        .post(
            "/v1/payment-plans",
            &json!({ "debtor_id": "acme-1", "currency": "EUR", "installments": 2, "every_days": 7,
                     "first_due_on": first_due, "invoice_ids": ["inv-2"] }),
        )
        .assert_problem(409, Some("invoice_ids[0]"));

    // Money on the plan's invoices pays the installments in order.
    pay(&client, "acme-1", "inv-1", 37_26, &today().to_string());
    let paying = ok(client.get(&format!("/v1/payment-plans/{pln}")));
    assert_eq!(paying["installments"][0]["paid"], 37_26);
    assert_eq!(paying["installments"][1]["paid"], 0);
    assert_eq!(paying["status"], "active");

    let cancelled = ok(post_empty(
        &client,
        &format!("/v1/payment-plans/{pln}/cancel"),
    ));
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["closed_at"].is_string());
    assert_eq!(invoice(&client, "inv-1")["status"], "partially-paid");
    assert_eq!(invoice(&client, "inv-1")["open_amount"], 61_75);
    assert_eq!(invoice(&client, "inv-2")["status"], "open");
    post_empty(&client, &format!("/v1/payment-plans/{pln}/cancel")).assert_problem(409, Some("id"));

    let base = json!({ "debtor_id": "acme-1", "currency": "EUR", "installments": 3, "every_days": 14,
                       "first_due_on": first_due });
    for (field, value) in [
        ("installments", json!(1)),
        ("installments", json!(61)),
        ("every_days", json!(3)),
        ("every_days", json!(93)),
        ("first_due_on", json!(day_from_today(-1))),
        ("first_due_on", json!(day_from_today(93))),
    ] {
        let mut body = base.clone();
        body[field] = value;
        client
            .post("/v1/payment-plans", &body)
            .assert_problem(422, Some(field));
    }
    client
        .get("/v1/payment-plans/pln_doesnotexist00")
        .assert_problem(404, None);
    post_empty(&client, "/v1/payment-plans/pln_doesnotexist00/cancel").assert_problem(404, None);
}

#[test]
fn the_timeline_lists_what_happened_newest_first() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "t-1");
    ok(client.post(
        "/v1/debtors",
        &json!({ "external_id": "t-1", "name": "Renamed" }),
    ));
    ok(client.request("PUT", "/v1/debtors/t-1/opt-outs/sms", None, &[]));
    new_invoice(&client, "inv-1", "t-1", 100_00, "2025-01-31");
    new_invoice(&client, "inv-2", "t-1", 50_00, "2025-01-31");
    new_invoice(&client, "inv-3", "t-1", 20_00, "2025-01-31");
    let payment = pay(&client, "t-1", "inv-1", 30_00, "2025-02-01");
    let pay_id = id_of(&payment);
    let dispute = created(client.post(
        "/v1/disputes",
        &json!({ "invoice_id": "inv-2", "reason": "wrong" }),
    ));
    ok(client.post(
        &format!("/v1/disputes/{}/resolve", id_of(&dispute)),
        &json!({ "resolution": "rejected" }),
    ));
    let promise = created(client.post(
        "/v1/promises",
        &json!({ "debtor_id": "t-1", "currency": "EUR", "amount": 10_00, "promised_on": day_from_today(5),
                 "invoice_ids": ["inv-2"] }),
    ));
    let prm = id_of(&promise);
    ok(post_empty(&client, &format!("/v1/promises/{prm}/cancel")));
    let plan = created(client.post(
        "/v1/payment-plans",
        &json!({ "debtor_id": "t-1", "currency": "EUR", "installments": 2, "every_days": 30,
                 "first_due_on": day_from_today(1), "invoice_ids": ["inv-1", "inv-2"] }),
    ));
    let pln = id_of(&plan);
    ok(post_empty(
        &client,
        &format!("/v1/payment-plans/{pln}/cancel"),
    ));
    created(client.post(
        &format!("/v1/payments/{pay_id}/refunds"),
        &json!({ "amount": 30_00 }),
    ));
    ok(client.post(
        "/v1/invoices/inv-3/void",
        &json!({ "reason": "issued twice" }),
    ));
    ok(client.delete("/v1/debtors/t-1/opt-outs/sms"));

    let events = timeline(&client, "t-1");
    for pair in events.windows(2) {
        assert!(
            pair[0]["id"].as_i64() > pair[1]["id"].as_i64()
                && instant(&pair[0]["at"]) >= instant(&pair[1]["at"]),
            "not newest first: {pair:#?}"
        );
    }
    assert_eq!(events[0]["kind"], "opt-out.removed");
    assert_eq!(events[0]["data"]["channel"], "sms");
    assert_eq!(events[1]["kind"], "invoice.status-changed");
    assert_eq!(events[1]["subject"], "inv-3");
    assert_eq!(events[1]["data"], json!({ "from": "open", "to": "void" }));
    assert_eq!(events[2]["kind"], "invoice.voided");
    assert_eq!(events[2]["data"]["reason"], "issued twice");
    assert_eq!(events.last().expect("events")["kind"], "debtor.created");

    let oldest_first: Vec<Value> = events.iter().rev().cloned().collect();
    assert_in_order(
        &oldest_first,
        &[
            ("debtor.created", None),
            ("debtor.updated", None),
            ("opt-out.added", None),
            ("invoice.created", Some("inv-1")),
            ("invoice.created", Some("inv-2")),
            ("invoice.created", Some("inv-3")),
            ("payment.received", Some(&pay_id)),
            ("invoice.status-changed", Some("inv-1")),
            ("dispute.opened", Some("inv-2")),
            ("invoice.status-changed", Some("inv-2")),
            ("dispute.resolved", Some("inv-2")),
            ("promise.made", Some(&prm)),
            ("promise.cancelled", Some(&prm)),
            ("plan.created", Some(&pln)),
            ("plan.cancelled", Some(&pln)),
            ("payment.refunded", Some(&pay_id)),
            ("invoice.voided", Some("inv-3")),
            ("opt-out.removed", None),
        ],
    );
    let received = events
        .iter()
        .find(|e| e["kind"] == "payment.received")
        .expect("payment.received");
    assert_eq!(received["data"]["amount"], 30_00);
    assert_eq!(
        received["data"]["allocations"],
        json!([{ "invoice_id": "inv-1", "amount": 30_00 }])
    );

    // Paged, it is the same list.
    let (paged, pages) = walk(&client, "/v1/debtors/t-1/timeline", 4);
    assert_eq!(paged, events);
    assert_eq!(pages, events.len().div_ceil(4));
    client
        .get("/v1/debtors/nobody/timeline")
        .assert_problem(404, None);
}

#[test]
fn aging_buckets_what_was_owed_on_any_date() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "ag-1");
    // Amounts are powers of two so every sum names its invoices.
    for (id, amount, due_on) in [
        ("cur-a", 1_00, "2025-07-15"),   // -15 days on 2025-06-30: current
        ("cur-b", 2_00, "2025-06-30"),   //   0: current
        ("b1-a", 4_00, "2025-06-29"),    //   1: 1-30
        ("b1-b", 8_00, "2025-05-31"),    //  30: 1-30
        ("b31-a", 16_00, "2025-05-30"),  // 31: 31-60
        ("b31-b", 32_00, "2025-05-01"),  // 60: 31-60
        ("b61-a", 64_00, "2025-04-30"),  // 61: 61-90
        ("b61-b", 128_00, "2025-04-01"), // 90: 61-90
        ("b90", 256_00, "2025-03-31"),   //  91: 90+
    ] {
        new_invoice(&client, id, "ag-1", amount, due_on);
    }
    // Issued after the report dates: not counted.
    created(client.post(
        "/v1/invoices",
        &invoice_body("later", "ag-1", "EUR", 512_00, "2025-08-01", "2025-08-31"),
    ));
    created(client.post(
        "/v1/invoices",
        &invoice_body("usd-1", "ag-1", "USD", 10_00, "2025-01-01", "2025-06-01"),
    ));
    // Voided today: owed on past dates, not today.
    created(client.post(
        "/v1/invoices",
        &invoice_body("gbp-1", "ag-1", "GBP", 7_00, "2025-01-01", "2025-06-01"),
    ));
    ok(client.post("/v1/invoices/gbp-1/void", &json!({ "reason": "cancelled" })));
    // Part of b61-b paid on 2025-06-15; all of b90 on 2025-07-10.
    pay(&client, "ag-1", "b61-b", 28_00, "2025-06-15");
    pay(&client, "ag-1", "b90", 256_00, "2025-07-10");
    assert_eq!(invoice(&client, "b90")["status"], "paid");

    let report = ok(client.get("/v1/aging?as_of=2025-06-30"));
    assert_eq!(report["as_of"], "2025-06-30");
    assert_eq!(currencies(&report), strings(&["EUR", "GBP", "USD"]));
    assert_eq!(bucket(&report, "EUR", "current"), (3_00, 2));
    assert_eq!(bucket(&report, "EUR", "1-30"), (12_00, 2));
    assert_eq!(bucket(&report, "EUR", "31-60"), (48_00, 2));
    assert_eq!(
        bucket(&report, "EUR", "61-90"),
        (164_00, 2),
        "64.00 + 128.00 - 28.00 paid on 06-15"
    );
    assert_eq!(
        bucket(&report, "EUR", "90+"),
        (256_00, 1),
        "paid on 07-10, still open on 06-30"
    );
    assert_eq!(bucket(&report, "EUR", "total"), (483_00, 9));
    assert_eq!(bucket(&report, "USD", "1-30"), (10_00, 1));
    assert_eq!(bucket(&report, "USD", "total"), (10_00, 1));
    assert_eq!(bucket(&report, "GBP", "1-30"), (7_00, 1));

    // Before any payment: every invoice issued by then, in full.
    let before = ok(client.get("/v1/aging?as_of=2025-06-14&currency=EUR"));
    assert_eq!(currencies(&before), strings(&["EUR"]));
    assert_eq!(bucket(&before, "EUR", "total"), (511_00, 9));
    // After both payments.
    let after = ok(client.get("/v1/aging?as_of=2025-07-10&currency=EUR"));
    assert_eq!(bucket(&after, "EUR", "total"), (227_00, 8));
    assert_eq!(
        bucket(&after, "EUR", "90+"),
        (100_00, 1),
        "b61-b is 100 days past due by then"
    );
    // Before anything was issued.
    assert_eq!(
        ok(client.get("/v1/aging?as_of=2024-12-31"))["currencies"],
        json!([])
    );
    // Only one currency.
    let usd = ok(client.get("/v1/aging?as_of=2025-06-30&currency=USD"));
    assert_eq!(currencies(&usd), strings(&["USD"]));
    // Today by default: the later invoice now counts, the void one does not.
    let now = ok(client.get("/v1/aging"));
    assert_eq!(now["as_of"], today().to_string());
    assert_eq!(currencies(&now), strings(&["EUR", "USD"]));
    assert_eq!(bucket(&now, "EUR", "total"), (739_00, 9));
    assert_eq!(bucket(&now, "EUR", "90+"), (739_00, 9));
}

#[test]
fn bulk_ingest_takes_json_arrays_and_ndjson_and_reports_each_rejected_item() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "b-1");
    let good = |id: &str| invoice_body(id, "b-1", "EUR", 100_00, "2025-01-01", "2025-01-31");
    let mut bad_currency = good("blk-1");
    bad_currency["currency"] = json!("eur");
    let mut bad_dates = good("blk-3");
    bad_dates["issued_on"] = json!("2025-02-01");
    let mut no_debtor = good("blk-4");
    no_debtor["debtor_id"] = json!("ghost");
    let mut not_a_number = good("blk-5");
    not_a_number["amount"] = json!("12.00");
    let batch = json!([
        good("blk-0"),
        bad_currency,
        good("blk-2"),
        bad_dates,
        no_debtor,
        not_a_number,
        good("blk-6")
    ]);

    let report = ok(client.post("/v1/invoices/bulk", &batch));
    assert_eq!(report["received"], 7);
    assert_eq!(report["created"], 3);
    assert_eq!(report["unchanged"], 0);
    assert_eq!(report["rejected"], 4);
    let errors = report["errors"].as_array().expect("errors");
    let indexes: Vec<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(indexes, [1, 3, 4, 5]);
    for (error, field) in errors
        .iter()
        .zip(["currency", "due_on", "debtor_id", "amount"])
    {
        assert_eq!(error["outcome"], "rejected");
        let fields: Vec<&str> = error["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .map(|p| p["field"].as_str().expect("field"))
            .collect();
        assert!(
            fields
                .iter()
                .any(|f| *f == field || f.ends_with(&format!(".{field}"))),
            "item {} should name {field}: {error:#}",
            error["index"]
        );
    }
    assert_eq!(errors[0]["external_id"], "blk-1");
    assert_eq!(errors[2]["external_id"], "blk-4");
    for id in ["blk-0", "blk-2", "blk-6"] {
        assert_eq!(invoice(&client, id)["status"], "open");
    }
    for id in ["blk-1", "blk-3", "blk-4", "blk-5"] {
        client
            .get(&format!("/v1/invoices/{id}"))
            .assert_problem(404, None);
    }

    // The same batch again: nothing new.
    let again = ok(client.post("/v1/invoices/bulk", &batch));
    assert_eq!(
        (again["received"].clone(), again["created"].clone()),
        (json!(7), json!(0))
    );
    assert_eq!(
        (again["unchanged"].clone(), again["rejected"].clone()),
        (json!(3), json!(4))
    );

    // NDJSON: one per line; an identical re-send is unchanged, a changed one rejected.
    let mut zero = good("nd-1");
    zero["amount"] = json!(0);
    let mut changed = good("blk-2");
    changed["amount"] = json!(999_00);
    let lines = [good("nd-0"), zero, good("blk-0"), changed, good("nd-4")];
    let ndjson: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let send_ndjson = || {
        client.request(
            "POST",
            "/v1/invoices/bulk",
            Some(ndjson.as_bytes()),
            &[("content-type", "application/x-ndjson")],
        )
    };
    let report = ok(send_ndjson());
    assert_eq!(report["received"], 5);
    assert_eq!(report["created"], 2);
    assert_eq!(report["unchanged"], 1);
    assert_eq!(report["rejected"], 2);
    assert_eq!(report["errors"][0]["index"], 1);
    assert_eq!(report["errors"][0]["external_id"], "nd-1");
    assert_eq!(report["errors"][0]["problems"][0]["field"], "amount");
    assert_eq!(report["errors"][1]["index"], 3);
    assert_eq!(report["errors"][1]["external_id"], "blk-2");
    assert_eq!(report["errors"][1]["problems"][0]["field"], "amount");
    assert_eq!(
        invoice(&client, "blk-2")["amount"],
        100_00,
        "a re-sent invoice is never rewritten"
    );
    let report = ok(send_ndjson());
    assert_eq!(
        (report["created"].clone(), report["unchanged"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(report["rejected"], 2);

    // A charset parameter is fine.
    let one = json!([good("cs-0")]).to_string();
    let report = ok(client.request(
        "POST",
        "/v1/invoices/bulk",
        Some(one.as_bytes()),
        &[("content-type", "application/json; charset=utf-8")],
    ));
    assert_eq!(report["created"], 1);

    // Refused as a whole.
    client
        .request(
            "POST",
            "/v1/invoices/bulk",
            Some(b"external_id,amount\nx,1\n"),
            &[("content-type", "text/csv")],
        )
        .assert_problem(415, Some("Content-Type"));
    client
        .post("/v1/invoices/bulk", &good("obj"))
        .assert_problem(422, Some("body"));
    client
        .request(
            "POST",
            "/v1/invoices/bulk",
            Some(b"\n \n"),
            &[("content-type", "application/x-ndjson")],
        )
        .assert_problem(422, Some("body"));

    // One invoice.created event per request and debtor, listing its invoices.
    let created_events: Vec<Value> = timeline(&client, "b-1")
        .into_iter()
        .filter(|e| e["kind"] == "invoice.created")
        .collect();
    assert_eq!(created_events.len(), 3);
    let listed = |e: &Value| -> Vec<String> {
        e["data"]["invoices"]
            .as_array()
            .expect("invoices")
            .iter()
            .map(id_of)
            .collect()
    };
    assert_eq!(
        listed(&created_events[2]),
        strings(&["blk-0", "blk-2", "blk-6"])
    );
    assert_eq!(listed(&created_events[1]), strings(&["nd-0", "nd-4"]));
    assert_eq!(created_events[0]["subject"], "cs-0");
}

#[test]
fn bulk_ingest_refuses_more_than_fifty_thousand_items() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    let body = format!("[{}]", vec!["{}"; 50_001].join(","));
    send_raw(&client, "POST", "/v1/invoices/bulk", &body).assert_problem(413, Some("body"));
    assert!(list_ids(&client, "/v1/invoices").is_empty());
}

// ---------------------------------------------------------------------------
// 2. Bad input
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Who {
    Billing,
    Admin,
    Operator,
}

#[test]
fn bad_input_is_refused_with_the_field_at_fault() {
    let server = Server::start();
    let (admin, client) = server.tenant("acme");
    let operator = server.operator();
    new_debtor(&client, "c-1");
    new_invoice(&client, "i-1", "c-1", 100_00, "2025-01-31");
    new_invoice(&client, "i-2", "c-1", 10_00, "2025-01-31");
    let payment = pay(&client, "c-1", "i-2", 10_00, "2025-02-01");
    let refunds = format!("/v1/payments/{}/refunds", id_of(&payment));
    let dispute = created(client.post(
        "/v1/disputes",
        &json!({ "invoice_id": "i-1", "reason": "x" }),
    ));
    let resolve = format!("/v1/disputes/{}/resolve", id_of(&dispute));
    let yesterday = day_from_today(-1);
    let in_a_month = day_from_today(30);

    // A valid body with `extra` merged in.
    let with = |base: Value, extra: Value| {
        let mut body = base;
        let fields = body.as_object_mut().expect("object");
        fields.extend(extra.as_object().expect("object").clone());
        body.to_string()
    };
    let debtor = |extra| with(json!({ "external_id": "new", "name": "New" }), extra);
    let inv = |extra| {
        with(
            invoice_body("i-new", "c-1", "EUR", 10_00, "2025-01-01", "2025-01-31"),
            extra,
        )
    };
    let pay_body = |extra| {
        with(
            json!({ "debtor_id": "c-1", "currency": "EUR", "amount": 10_00 }),
            extra,
        )
    };
    let promise = |extra| {
        let base = json!({ "debtor_id": "c-1", "currency": "EUR", "amount": 10_00, "promised_on": in_a_month });
        with(base, extra)
    };
    let plan = |extra| {
        let base = json!({ "debtor_id": "c-1", "currency": "EUR", "installments": 3, "every_days": 14,
                           "first_due_on": in_a_month });
        with(base, extra)
    };
    let refund = format!("POST {refunds}");
    let resolve = format!("POST {resolve}");
    let (refund, resolve) = (refund.as_str(), resolve.as_str());

    use Who::*;
    #[rustfmt::skip]
    let cases: Vec<(Who, &str, String, u16, &str)> = vec![
        // Debtors
        (Billing, "POST /v1/debtors", debtor(json!({ "time_zone": "Mars/Olympus" })), 422, "time_zone"),
        (Billing, "POST /v1/debtors", debtor(json!({ "phone": "12345" })), 422, "phone"),
        (Billing, "POST /v1/debtors", debtor(json!({ "email": "not-an-email" })), 422, "email"),
        (Billing, "POST /v1/debtors", debtor(json!({ "language": "English" })), 422, "language"),
        (Billing, "POST /v1/debtors", debtor(json!({ "name": "" })), 422, "name"),
        (Billing, "POST /v1/debtors", debtor(json!({ "name": 5 })), 422, "name"),
        (Billing, "POST /v1/debtors", debtor(json!({ "external_id": "" })), 422, "external_id"),
        (Billing, "POST /v1/debtors", debtor(json!({ "tags": ["ok", ""] })), 422, "tags[1]"),
        (Billing, "POST /v1/debtors",
            debtor(json!({ "postal_address": { "lines": ["x"], "postal_code": "1", "city": "Berlin", "country": "de" } })),
            422, "postal_address.country"),
        (Billing, "POST /v1/debtors", debtor(json!({ "nickname": "Ace" })), 422, "nickname"),
        (Billing, "PUT /v1/debtors/other", debtor(json!({})), 422, "external_id"),
        (Billing, "PUT /v1/debtors/new", debtor(json!({ "phone": "+0123" })), 422, "phone"),
        (Billing, "PUT /v1/debtors/new", debtor(json!({ "vip": true })), 422, "vip"),
        // Invoices
        (Billing, "POST /v1/invoices", inv(json!({ "currency": "eur" })), 422, "currency"),
        (Billing, "POST /v1/invoices", inv(json!({ "currency": "EURO" })), 422, "currency"),
        (Billing, "POST /v1/invoices", inv(json!({ "currency": "XAU" })), 422, "currency"),
        (Billing, "POST /v1/invoices", inv(json!({ "amount": -5 })), 422, "amount"),
        (Billing, "POST /v1/invoices", inv(json!({ "amount": 0 })), 422, "amount"),
        (Billing, "POST /v1/invoices", inv(json!({ "amount": "10.00" })), 422, "amount"),
        (Billing, "POST /v1/invoices", inv(json!({ "amount": 10.5 })), 422, "amount"),
        (Billing, "POST /v1/invoices", inv(json!({ "due_on": "2025-02-30" })), 422, "due_on"),
        (Billing, "POST /v1/invoices", inv(json!({ "due_on": "2024-12-31" })), 422, "due_on"),
        (Billing, "POST /v1/invoices", inv(json!({ "issued_on": "31/01/2025" })), 422, "issued_on"),
        (Billing, "POST /v1/invoices", inv(json!({ "metadata": [1, 2] })), 422, "metadata"),
        (Billing, "POST /v1/invoices", inv(json!({ "terms": { "late_fee": -1 } })), 422, "terms.late_fee"),
        (Billing, "POST /v1/invoices", inv(json!({ "terms": { "fee": 1 } })), 422, "terms.fee"),
        (Billing, "POST /v1/invoices", inv(json!({ "status": "paid" })), 422, "status"),
        (Billing, "POST /v1/invoices", inv(json!({ "debtor_id": "ghost" })), 422, "debtor_id"),
        (Billing, "POST /v1/invoices/i-1/void", json!({ "reason": "" }).to_string(), 422, "reason"),
        (Billing, "POST /v1/invoices/i-1/void", json!({ "reason": "x", "by": "me" }).to_string(), 422, "by"),
        // Payments and refunds
        (Billing, "POST /v1/payments", pay_body(json!({ "currency": "usd" })), 422, "currency"),
        (Billing, "POST /v1/payments", pay_body(json!({ "amount": -1 })), 422, "amount"),
        (Billing, "POST /v1/payments", pay_body(json!({ "amount": 0 })), 422, "amount"),
        (Billing, "POST /v1/payments", pay_body(json!({ "received_on": "2025-13-01" })), 422, "received_on"),
        (Billing, "POST /v1/payments", pay_body(json!({ "received_on": in_a_month })), 422, "received_on"),
        (Billing, "POST /v1/payments",
            pay_body(json!({ "amount": 200_00, "allocations": [{ "invoice_id": "i-1", "amount": 200_00 }] })),
            422, "allocations[0].amount"),
        (Billing, "POST /v1/payments",
            pay_body(json!({ "allocations": [{ "invoice_id": "i-1", "amount": -1 }] })), 422, "allocations[0].amount"),
        (Billing, "POST /v1/payments",
            pay_body(json!({ "allocations": [{ "invoice_id": "nope", "amount": 10_00 }] })), 422, "allocations[0].invoice_id"),
        (Billing, "POST /v1/payments",
            pay_body(json!({ "allocations": [{ "invoice_id": "i-1", "amount": 10_00, "note": "x" }] })),
            422, "allocations[0].note"),
        (Billing, "POST /v1/payments", pay_body(json!({ "allocations": [] })), 422, "allocations"),
        (Billing, "POST /v1/payments", pay_body(json!({ "overpayment": "keep" })), 422, "overpayment"),
        (Billing, "POST /v1/payments", pay_body(json!({ "fee": 1 })), 422, "fee"),
        (Billing, "POST /v1/payments", pay_body(json!({ "debtor_id": "ghost" })), 422, "debtor_id"),
        (Billing, refund, json!({ "amount": 0 }).to_string(), 422, "amount"),
        (Billing, refund, json!({ "amount": -3 }).to_string(), 422, "amount"),
        (Billing, refund, json!({ "amount": 10_01 }).to_string(), 422, "amount"),
        (Billing, refund, json!({ "amount": 1, "refunded_on": "2025-02-30" }).to_string(), 422, "refunded_on"),
        (Billing, refund, json!({ "amount": 1, "to": "card" }).to_string(), 422, "to"),
        // Disputes
        (Billing, "POST /v1/disputes", json!({ "invoice_id": "i-2", "reason": " " }).to_string(), 422, "reason"),
        (Billing, "POST /v1/disputes", json!({ "invoice_id": "nope", "reason": "x" }).to_string(), 422, "invoice_id"),
        (Billing, "POST /v1/disputes", json!({ "invoice_id": "i-1", "reason": "x", "severity": 1 }).to_string(), 422, "severity"),
        (Billing, resolve, json!({ "resolution": "maybe" }).to_string(), 422, "resolution"),
        (Billing, resolve, json!({ "resolution": "upheld", "by": "me" }).to_string(), 422, "by"),
        // Promises
        (Billing, "POST /v1/promises", promise(json!({ "promised_on": yesterday })), 422, "promised_on"),
        (Billing, "POST /v1/promises", promise(json!({ "promised_on": "soon" })), 422, "promised_on"),
        (Billing, "POST /v1/promises", promise(json!({ "amount": -1 })), 422, "amount"),
        (Billing, "POST /v1/promises", promise(json!({ "debtor_id": "ghost" })), 422, "debtor_id"),
        (Billing, "POST /v1/promises", promise(json!({ "invoice_ids": ["nope"] })), 422, "invoice_ids[0]"),
        (Billing, "POST /v1/promises", promise(json!({ "invoice_ids": [] })), 422, "invoice_ids"),
        (Billing, "POST /v1/promises", promise(json!({ "channel": "sms" })), 422, "channel"),
        // Payment plans
        (Billing, "POST /v1/payment-plans", plan(json!({ "installments": 1 })), 422, "installments"),
        (Billing, "POST /v1/payment-plans", plan(json!({ "installments": "three" })), 422, "installments"),
        (Billing, "POST /v1/payment-plans", plan(json!({ "every_days": 1 })), 422, "every_days"),
        (Billing, "POST /v1/payment-plans", plan(json!({ "first_due_on": yesterday })), 422, "first_due_on"),
        (Billing, "POST /v1/payment-plans", plan(json!({ "debtor_id": "ghost" })), 422, "debtor_id"),
        (Billing, "POST /v1/payment-plans", plan(json!({ "invoice_ids": ["nope"] })), 422, "invoice_ids[0]"),
        (Billing, "POST /v1/payment-plans", plan(json!({ "interest": 0 })), 422, "interest"),
        // Keys and tenants
        (Admin, "POST /v1/keys", json!({ "role": "root" }).to_string(), 422, "role"),
        (Admin, "POST /v1/keys", json!({ "role": "operator" }).to_string(), 422, "role"),
        (Admin, "POST /v1/keys", json!({ "role": "client", "scopes": [] }).to_string(), 422, "scopes"),
        (Operator, "POST /v1/tenants", json!({ "id": "Bad Slug", "name": "X" }).to_string(), 422, "id"),
        (Operator, "POST /v1/tenants", json!({ "id": "ok", "name": "" }).to_string(), 422, "name"),
        (Operator, "POST /v1/tenants", json!({ "id": "acme", "name": "Again" }).to_string(), 409, "id"),
        (Operator, "POST /v1/tenants/acme/keys", json!({ "role": "boss" }).to_string(), 422, "role"),
        // Not JSON, or not an object
        (Billing, "POST /v1/debtors", "not json".to_owned(), 422, "body"),
        (Billing, "POST /v1/debtors", String::new(), 422, "body"),
        (Billing, "POST /v1/invoices", "true".to_owned(), 422, "body"),
        (Billing, "POST /v1/payments", "\"a string\"".to_owned(), 422, "body"),
    ];
    for (who, request, body, status, field) in &cases {
        let (method, path) = request.split_once(' ').expect("METHOD /path");
        let caller = match who {
            Billing => &client,
            Admin => &admin,
            Operator => &operator,
        };
        let reply = send_raw(caller, method, path, body);
        assert!(
            reply.status == *status && problem_fields(&reply).iter().any(|f| f == field),
            "{who:?} {request} {body} should be {status} on {field:?}: {reply:#?}"
        );
        reply.assert_problem(*status, Some(field));
    }

    // Bodies over 1 MiB: 413 on every JSON write route. (Exactly one byte
    // over, so the server has read all of it when it answers and closes.)
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat((1 << 20) + 1 - 10));
    assert_eq!(big.len(), (1 << 20) + 1);
    for request in [
        "POST /v1/debtors",
        "PUT /v1/debtors/c-1",
        "POST /v1/invoices",
        "POST /v1/invoices/i-1/void",
        "POST /v1/payments",
        refund,
        "POST /v1/disputes",
        resolve,
        "POST /v1/promises",
        "POST /v1/payment-plans",
    ] {
        let (method, path) = request.split_once(' ').expect("METHOD /path");
        let reply = send_raw(&client, method, path, &big);
        assert_eq!(reply.status, 413, "{request}: {reply:#?}");
        reply.assert_problem(413, None);
    }

    // Bad query parameters: 400 naming the parameter.
    for (path, field) in [
        ("/v1/debtors?bogus=1", "bogus"),
        ("/v1/debtors?limit=0", "limit"),
        ("/v1/debtors?limit=501", "limit"),
        ("/v1/debtors?limit=ten", "limit"),
        ("/v1/debtors?overdue=maybe", "overdue"),
        ("/v1/debtors?cursor=abc", "cursor"),
        ("/v1/invoices?status=lost", "status"),
        ("/v1/invoices?status=open,lost", "status"),
        ("/v1/invoices?due_before=2025-02-30", "due_before"),
        ("/v1/invoices?due_after=tomorrow", "due_after"),
        ("/v1/invoices?overdue=1", "overdue"),
        ("/v1/invoices?sort=due_on", "sort"),
        ("/v1/invoices?cursor=-1", "cursor"),
        ("/v1/aging?as_of=2025-13-01", "as_of"),
        ("/v1/aging?currency=eur", "currency"),
        ("/v1/aging?bucket=30", "bucket"),
        ("/v1/debtors/c-1/timeline?limit=0", "limit"),
        ("/v1/debtors/c-1/timeline?cursor=x", "cursor"),
        ("/v1/debtors/c-1/timeline?page=2", "page"),
    ] {
        client.get(path).assert_problem(400, Some(field));
    }

    // Unknown routes and methods are problem+json too.
    client.get("/v1/refunds").assert_problem(404, None);
    client.delete("/v1/invoices").assert_problem(405, None);
    client
        .request("PATCH", "/v1/debtors/c-1", None, &[])
        .assert_problem(405, None);

    // None of it changed anything.
    assert_eq!(list_ids(&client, "/v1/debtors"), strings(&["c-1"]));
    assert_eq!(list_ids(&client, "/v1/invoices"), strings(&["i-1", "i-2"]));
    assert_eq!(
        ids(&ok(client.get("/v1/debtors/c-1/payments"))),
        vec![id_of(&payment)]
    );
    assert_eq!(
        ok(client.get(&format!("/v1/payments/{}", id_of(&payment))))["refunded"],
        0
    );
    assert_eq!(invoice(&client, "i-1")["open_amount"], 100_00);
    assert_eq!(invoice(&client, "i-1")["status"], "disputed");
    assert_eq!(
        ok(client.get(&format!("/v1/disputes/{}", id_of(&dispute))))["resolved_at"],
        Value::Null
    );
    let tenants: Vec<String> = ok(operator.get("/v1/tenants"))
        .as_array()
        .expect("tenants")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(tenants, strings(&["acme", "demo"]));
    assert_eq!(ok(admin.get("/v1/keys")).as_array().expect("keys").len(), 2);
}

// ---------------------------------------------------------------------------
// 3. Tenant isolation
// ---------------------------------------------------------------------------

/// What tenant B must see when it reaches for tenant A's data.
#[derive(Debug)]
enum Refused {
    /// 404, as if it did not exist.
    NotFound,
    /// 422 naming this field: no such thing in B's tenant.
    Invalid(&'static str),
    /// A bulk report with the one item rejected on this field.
    BulkRejected(&'static str),
    /// 200, with nothing of A's in it.
    NothingOfA,
}

struct Attempt {
    what: &'static str,
    /// Made with the admin key (else the client key).
    admin: bool,
    method: String,
    path: String,
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
    expect: Refused,
}

/// `request` is "METHOD /path".
fn attempt(what: &'static str, request: &str, body: Option<Value>, expect: Refused) -> Attempt {
    let (method, path) = request.split_once(' ').expect("METHOD /path");
    Attempt {
        what,
        admin: false,
        method: method.to_owned(),
        path: path.to_owned(),
        body: body.map(|b| b.to_string()),
        headers: Vec::new(),
        expect,
    }
}

impl Attempt {
    fn by_admin(self) -> Attempt {
        Attempt {
            admin: true,
            ..self
        }
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Attempt {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// The route a path of the isolation test takes (`/v1/payments/pay_…/refunds`
/// is `/v1/payments/{id}/refunds`): A's ids start with `a-` or a dun prefix.
fn route_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    if let Some(rest) = path.strip_prefix("/v1/templates/") {
        // /v1/templates/{channel}/{tone}/{language}[/preview]
        let parts: Vec<&str> = rest.split('/').collect();
        let mut route = "/v1/templates/{channel}/{tone}/{language}".to_owned();
        for part in parts.iter().skip(3) {
            route.push('/');
            route.push_str(part);
        }
        return route;
    }
    if let Some(rest) = path.strip_prefix("/v1/plugins/") {
        // /v1/plugins/{name}/versions[/{version}[/retire]]
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.get(1) == Some(&"limits") {
            return "/v1/plugins/{name}/limits".to_owned();
        }
        let mut named = vec!["{name}", "versions", "{version}"];
        named.extend(parts.get(3).copied());
        return format!("/v1/plugins/{}", named[..parts.len()].join("/"));
    }
    if let Some(rest) = path.strip_prefix("/v1/named-templates/")
        && rest.split('/').count() == 3
    {
        return "/v1/named-templates/{name}/{channel}/{language}".to_owned();
    }
    path.split('/')
        .map(|segment| {
            let dun_id = [
                "pay_", "dsp_", "prm_", "pln_", "key_", "evl_", "msg_", "ofr_", "sub_",
            ]
            .iter()
            .any(|p| segment.starts_with(p));
            if segment == "email" {
                "{channel}"
            } else if segment.starts_with("a-") || dun_id {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Everything of tenant A's, read with A's own keys.
fn snapshot_of_a(client: &Client, admin: &Client, paths: &[String]) -> Vec<(String, Value)> {
    let mut all: Vec<(String, Value)> = paths
        .iter()
        .map(|p| (p.clone(), ok(client.get(p))))
        .collect();
    for admin_only in ["/v1/keys", "/v1/messaging", "/v1/subscriptions"] {
        all.push((admin_only.to_owned(), ok(admin.get(admin_only))));
    }
    all
}

#[test]
fn tenants_never_see_or_change_each_others_data() {
    // No background scheduler or dispatcher: A's data stays put while B
    // tries things, so before and after can be compared exactly.
    let server = Server::start_with_env(&[
        ("DUN_SCHEDULER_INTERVAL_SECS", "0"),
        ("DUN_DISPATCH_INTERVAL_SECS", "0"),
    ]);
    let (admin_a, client_a) = server.tenant("alpha");
    let (admin_b, client_b) = server.tenant("beta");
    let operator = server.operator();

    // Tenant A: a debtor with one of everything.
    created(client_a.post(
        "/v1/debtors",
        &json!({ "external_id": "a-debtor", "name": "Alpha's customer", "tags": ["a-secret-tag"],
                 "email": "ap@alpha.example" }),
    ));
    // A's own segment (offering plans from the first cent) and wording.
    created(admin_a.put(
        "/v1/segments/a-seg",
        &json!({ "rule": { "tags_any": ["a-secret-tag"] }, "strategy": "segmented",
                 "config": { "plan_above": 1 } }),
    ));
    ok(admin_a.put("/v1/policy", &json!({ "max_sms_per_week": 1 })));
    ok(admin_a.put(
        "/v1/templates/email/final/en",
        &json!({ "subject": "a-secret-subject", "text": "a-secret-wording {{ debtor_name }}" }),
    ));
    // A's messaging: a payment link, a named template, a subscription (no
    // dispatcher runs here, so nothing is delivered).
    ok(admin_a.put(
        "/v1/messaging",
        &json!({ "payment_link": "https://pay.example.com/a-secret-link/{debtor}" }),
    ));
    ok(admin_a.put(
        "/v1/named-templates/a-named/email/en",
        &json!({ "subject": "a-secret-subject", "text": "a-secret-wording" }),
    ));
    let a_plugin = std::fs::read(format!("{}/ladder.wasm", dun::builtin::PLUGIN_DIR)).unwrap();
    let uploaded = admin_a.request(
        "POST",
        "/v1/plugins/a-plug/versions?version=1.0.0",
        Some(&a_plugin),
        &[("Content-Type", "application/wasm")],
    );
    assert_eq!(uploaded.status, 201, "{uploaded:#?}");
    let a_sub = id_of(&created(admin_a.post(
        "/v1/subscriptions",
        &json!({ "url": "http://127.0.0.1:9/a-secret-hook", "events": ["*"] }),
    )));
    for (id, amount) in [
        ("a-inv-pay", 100_00),
        ("a-inv-dsp", 200_00),
        ("a-inv-prm", 300_00),
        ("a-inv-pln", 400_00),
        ("a-inv-void", 50_00),
    ] {
        new_invoice(&client_a, id, "a-debtor", amount, "2025-01-31");
    }
    let a_payment_body = json!({ "debtor_id": "a-debtor", "currency": "EUR", "amount": 30_00, "received_on": "2025-02-10",
                                 "allocations": [{ "invoice_id": "a-inv-pay", "amount": 30_00 }] });
    let a_pay = id_of(&created(client_a.post_with(
        "/v1/payments",
        &a_payment_body,
        &[("Idempotency-Key", "shared-key")],
    )));
    let a_dsp = id_of(&created(client_a.post(
        "/v1/disputes",
        &json!({ "invoice_id": "a-inv-dsp", "reason": "why" }),
    )));
    let promised_on = day_from_today(10);
    let first_due_on = day_from_today(5);
    let a_prm = id_of(&created(client_a.post(
        "/v1/promises",
        &json!({ "debtor_id": "a-debtor", "currency": "EUR", "amount": 300_00, "promised_on": promised_on,
                 "invoice_ids": ["a-inv-prm"] }),
    )));
    let a_pln = id_of(&created(client_a.post(
        "/v1/payment-plans",
        &json!({ "debtor_id": "a-debtor", "currency": "EUR", "installments": 2, "every_days": 14,
                 "first_due_on": first_due_on, "invoice_ids": ["a-inv-pln"] }),
    )));
    // Not in the plan: the segment offers a plan for it.
    created(client_a.post(
        "/v1/invoices",
        &invoice_body(
            "a-inv-usd",
            "a-debtor",
            "USD",
            70_00,
            "2025-01-01",
            "2025-01-31",
        ),
    ));
    let a_evl = id_of(&created(client_a.request(
        "POST",
        "/v1/debtors/a-debtor/evaluate",
        None,
        &[],
    )));
    let a_keys: Vec<String> = ids(&ok(admin_a.get("/v1/keys")));
    assert_eq!(a_keys.len(), 2);
    let a_msg = ok(client_a.get("/v1/debtors/a-debtor/outbox"))[0]["id"]
        .as_str()
        .expect("A's evaluation scheduled a message")
        .to_owned();
    let a_ofr = ok(client_a.get("/v1/debtors/a-debtor/offers"))[0]["id"]
        .as_str()
        .expect("A's segment offered a plan")
        .to_owned();

    // Tenant B: its own debtor and invoice.
    new_debtor(&client_b, "b-debtor");
    new_invoice(&client_b, "b-inv", "b-debtor", 10_00, "2025-01-31");

    let a_paths: Vec<String> = vec![
        "/v1/debtors/a-debtor".to_owned(),
        "/v1/debtors/a-debtor/payments".to_owned(),
        "/v1/debtors/a-debtor/timeline?limit=500".to_owned(),
        "/v1/invoices/a-inv-pay".to_owned(),
        "/v1/invoices/a-inv-dsp".to_owned(),
        "/v1/invoices/a-inv-prm".to_owned(),
        "/v1/invoices/a-inv-pln".to_owned(),
        "/v1/invoices/a-inv-void".to_owned(),
        format!("/v1/payments/{a_pay}"),
        format!("/v1/disputes/{a_dsp}"),
        format!("/v1/promises/{a_prm}"),
        format!("/v1/payment-plans/{a_pln}"),
        format!("/v1/evaluations/{a_evl}"),
        "/v1/debtors/a-debtor/evaluations".to_owned(),
        "/v1/debtors".to_owned(),
        "/v1/invoices?limit=500".to_owned(),
        "/v1/aging?as_of=2025-06-30".to_owned(),
        "/v1/aging".to_owned(),
        "/v1/kpis?from=2025-01-01&to=2025-12-31".to_owned(),
        "/v1/segments".to_owned(),
        "/v1/policy".to_owned(),
        "/v1/templates".to_owned(),
        "/v1/named-templates".to_owned(),
        "/v1/named-templates/a-named/email/en".to_owned(),
        "/v1/plugins".to_owned(),
        "/v1/plugins/a-plug/versions/1.0.0".to_owned(),
        "/v1/debtors/a-debtor/offers".to_owned(),
        "/v1/debtors/a-debtor/outbox".to_owned(),
        format!("/v1/messages/{a_msg}"),
        "/v1/escalations".to_owned(),
    ];
    let before = snapshot_of_a(&client_a, &admin_a, &a_paths);
    let markers: Vec<String> = [
        "a-debtor",
        "a-inv-",
        "a-secret-tag",
        "Alpha",
        a_pay.as_str(),
        a_dsp.as_str(),
        a_prm.as_str(),
        a_pln.as_str(),
        a_evl.as_str(),
        a_msg.as_str(),
        a_ofr.as_str(),
        "a-seg",
        "a-secret-subject",
        "a-secret-wording",
        "a-secret-link",
        "a-secret-hook",
        "a-named",
        "a-plug",
        a_sub.as_str(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain(a_keys.iter().cloned())
    .collect();

    use Refused::*;
    let pay_path = format!("/v1/payments/{a_pay}");
    let dsp_path = format!("/v1/disputes/{a_dsp}");
    let prm_path = format!("/v1/promises/{a_prm}");
    let pln_path = format!("/v1/payment-plans/{a_pln}");
    let b_invoice_of_a = invoice_body("b-new", "a-debtor", "EUR", 1_00, "2025-01-01", "2025-01-31");
    #[rustfmt::skip]
    let attempts = vec![
        // Debtors
        attempt("read A's debtor", "GET /v1/debtors/a-debtor", None, NotFound),
        attempt("opt A's debtor out", "PUT /v1/debtors/a-debtor/opt-outs/email", None, NotFound),
        attempt("opt A's debtor in", "DELETE /v1/debtors/a-debtor/opt-outs/email", None, NotFound),
        attempt("read A's debtor's payments", "GET /v1/debtors/a-debtor/payments", None, NotFound),
        attempt("read A's debtor's case", "GET /v1/debtors/a-debtor/case", None, NotFound),
        attempt("evaluate A's debtor", "POST /v1/debtors/a-debtor/evaluate", None, NotFound),
        attempt("list A's debtor's evaluations", "GET /v1/debtors/a-debtor/evaluations", None, NotFound),
        attempt("list A's debtor's messages", "GET /v1/debtors/a-debtor/outbox", None, NotFound),
        attempt("read an evaluation of A's", &format!("GET /v1/evaluations/{a_evl}"), None, NotFound),
        attempt("read A's debtor's timeline", "GET /v1/debtors/a-debtor/timeline", None, NotFound),
        attempt("list debtors", "GET /v1/debtors", None, NothingOfA),
        attempt("list debtors by A's tag", "GET /v1/debtors?tag=a-secret-tag", None, NothingOfA),
        attempt("list overdue debtors", "GET /v1/debtors?overdue=true", None, NothingOfA),
        // Invoices
        attempt("read A's invoice", "GET /v1/invoices/a-inv-pay", None, NotFound),
        attempt("void A's invoice", "POST /v1/invoices/a-inv-void/void", Some(json!({ "reason": "mine" })), NotFound),
        attempt("invoice A's debtor", "POST /v1/invoices", Some(b_invoice_of_a.clone()), Invalid("debtor_id")),
        attempt("bulk-invoice A's debtor", "POST /v1/invoices/bulk", Some(json!([b_invoice_of_a])), BulkRejected("debtor_id")),
        attempt("list invoices", "GET /v1/invoices", None, NothingOfA),
        attempt("list A's debtor's invoices", "GET /v1/invoices?debtor_id=a-debtor", None, NothingOfA),
        attempt("list invoices by status", "GET /v1/invoices?status=partially-paid,disputed,promised,in-plan", None, NothingOfA),
        // Payments
        attempt("pay for A's debtor", "POST /v1/payments",
            Some(json!({ "debtor_id": "a-debtor", "currency": "EUR", "amount": 1_00 })), Invalid("debtor_id")),
        attempt("pay A's invoice", "POST /v1/payments",
            Some(json!({ "debtor_id": "b-debtor", "currency": "EUR", "amount": 1_00,
                         "allocations": [{ "invoice_id": "a-inv-pay", "amount": 1_00 }] })),
            Invalid("allocations[0].invoice_id")),
        attempt("read A's payment", &format!("GET {pay_path}"), None, NotFound),
        attempt("refund A's payment", &format!("POST {pay_path}/refunds"), Some(json!({ "amount": 1 })), NotFound),
        // Disputes
        attempt("dispute A's invoice", "POST /v1/disputes",
            Some(json!({ "invoice_id": "a-inv-pay", "reason": "not mine" })), Invalid("invoice_id")),
        attempt("read A's dispute", &format!("GET {dsp_path}"), None, NotFound),
        attempt("resolve A's dispute", &format!("POST {dsp_path}/resolve"), Some(json!({ "resolution": "withdrawn" })), NotFound),
        // Promises
        attempt("promise for A's debtor", "POST /v1/promises",
            Some(json!({ "debtor_id": "a-debtor", "currency": "EUR", "amount": 1_00, "promised_on": promised_on })),
            Invalid("debtor_id")),
        attempt("promise on A's invoice", "POST /v1/promises",
            Some(json!({ "debtor_id": "b-debtor", "currency": "EUR", "amount": 1_00, "promised_on": promised_on,
                         "invoice_ids": ["a-inv-prm"] })),
            Invalid("invoice_ids[0]")),
        attempt("read A's promise", &format!("GET {prm_path}"), None, NotFound),
        attempt("cancel A's promise", &format!("POST {prm_path}/cancel"), None, NotFound),
        // Payment plans
        attempt("plan for A's debtor", "POST /v1/payment-plans",
            Some(json!({ "debtor_id": "a-debtor", "currency": "EUR", "installments": 2, "every_days": 14,
                         "first_due_on": first_due_on })),
            Invalid("debtor_id")),
        attempt("plan on A's invoice", "POST /v1/payment-plans",
            Some(json!({ "debtor_id": "b-debtor", "currency": "EUR", "installments": 2, "every_days": 14,
                         "first_due_on": first_due_on, "invoice_ids": ["a-inv-pln"] })),
            Invalid("invoice_ids[0]")),
        attempt("read A's plan", &format!("GET {pln_path}"), None, NotFound),
        attempt("cancel A's plan", &format!("POST {pln_path}/cancel"), None, NotFound),
        // Reports
        attempt("aging on a past date", "GET /v1/aging?as_of=2025-06-30", None, NothingOfA),
        attempt("aging today", "GET /v1/aging", None, NothingOfA),
        attempt("KPIs of 2025", "GET /v1/kpis?from=2025-01-01&to=2025-12-31", None, NothingOfA),
        attempt("KPIs of A's segment", "GET /v1/kpis?from=2025-01-01&to=2025-12-31&segment=a-seg",
            None, NothingOfA),
        // Segments, templates, messages, offers, escalations
        attempt("read the policy A changed", "GET /v1/policy", None, NothingOfA),
        attempt("list segments", "GET /v1/segments", None, NothingOfA),
        attempt("read A's segment", "GET /v1/segments/a-seg", None, NotFound),
        attempt("delete A's segment", "DELETE /v1/segments/a-seg", None, NotFound).by_admin(),
        attempt("list templates", "GET /v1/templates", None, NothingOfA),
        attempt("read the template A changed", "GET /v1/templates/email/final/en", None, NothingOfA),
        attempt("delete A's template", "DELETE /v1/templates/email/final/en", None, NotFound).by_admin(),
        attempt("preview with the template A changed", "POST /v1/templates/email/final/en/preview", None, NothingOfA),
        attempt("preview A's debtor", "POST /v1/templates/email/final/en/preview",
            Some(json!({ "debtor_id": "a-debtor" })), Invalid("debtor_id")),
        attempt("read A's message", &format!("GET /v1/messages/{a_msg}"), None, NotFound),
        attempt("read A's letter", &format!("GET /v1/messages/{a_msg}/pdf"), None, NotFound),
        attempt("list A's debtor's offers", "GET /v1/debtors/a-debtor/offers", None, NotFound),
        attempt("accept A's offer", &format!("POST /v1/offers/{a_ofr}/accept"), None, NotFound),
        attempt("list escalations", "GET /v1/escalations", None, NothingOfA),
        attempt("list A's debtor's escalations", "GET /v1/escalations?debtor_id=a-debtor", None, NothingOfA),
        // Keys (admin routes)
        // Messaging (admin routes but the named templates' reads)
        attempt("list named templates", "GET /v1/named-templates", None, NothingOfA),
        attempt("read A's named template", "GET /v1/named-templates/a-named/email/en", None, NotFound),
        attempt("delete A's named template", "DELETE /v1/named-templates/a-named/email/en", None, NotFound).by_admin(),
        attempt("read messaging settings", "GET /v1/messaging", None, NothingOfA).by_admin(),
        attempt("list subscriptions", "GET /v1/subscriptions", None, NothingOfA).by_admin(),
        attempt("read A's subscription", &format!("GET /v1/subscriptions/{a_sub}"), None, NotFound).by_admin(),
        attempt("end A's subscription", &format!("DELETE /v1/subscriptions/{a_sub}"), None, NotFound).by_admin(),
        // Plugins
        attempt("list plugins", "GET /v1/plugins", None, NothingOfA),
        attempt("list A's plugin's versions", "GET /v1/plugins/a-plug/versions", None, NotFound),
        attempt("read A's plugin version", "GET /v1/plugins/a-plug/versions/1.0.0", None, NotFound),
        attempt("retire A's plugin version", "POST /v1/plugins/a-plug/versions/1.0.0/retire", None, NotFound).by_admin(),
        attempt("roll back A's segment", "POST /v1/segments/a-seg/rollback", None, NotFound).by_admin(),
        attempt("read A's segment's shadow report", "GET /v1/segments/a-seg/shadow-report", None, NotFound),
        attempt("release A's plugin version", "POST /v1/plugins/a-plug/versions/1.0.0/release", None, NotFound).by_admin(),
        attempt("replay A's evaluation", &format!("POST /v1/evaluations/{a_evl}/replay?strategy=ladder"), None, NotFound),
        attempt("read A's plugin's limits", "GET /v1/plugins/a-plug/limits", None, NotFound),
        attempt("set A's plugin's limits", "PUT /v1/plugins/a-plug/limits", Some(json!({ "fuel": 1000 })), NotFound).by_admin(),
        attempt("compare A's segment's arms", "GET /v1/segments/a-seg/arms", None, NotFound),
        attempt("list keys", "GET /v1/keys", None, NothingOfA).by_admin(),
        attempt("revoke A's admin key", &format!("DELETE /v1/keys/{}", a_keys[0]), None, NotFound).by_admin(),
        attempt("revoke A's client key", &format!("DELETE /v1/keys/{}", a_keys[1]), None, NotFound).by_admin(),
        // Idempotency keys are per tenant: A's key does not replay A's answer to B.
        attempt("replay A's idempotency key", "POST /v1/payments", Some(a_payment_body.clone()), Invalid("debtor_id"))
            .with_header("Idempotency-Key", "shared-key"),
    ];
    // Each attempt three times: with B's keys; with B's keys naming A in
    // Dun-Tenant (ignored for tenant keys); with an operator key acting in B.
    type Run<'a> = (&'a str, &'a Client, &'a Client, Vec<(&'a str, String)>);
    let runs: [Run; 3] = [
        ("B's keys", &client_b, &admin_b, vec![]),
        (
            "B's keys naming A in Dun-Tenant",
            &client_b,
            &admin_b,
            vec![("Dun-Tenant", "alpha".to_owned())],
        ),
        (
            "operator acting in B",
            &operator,
            &operator,
            vec![("Dun-Tenant", "beta".to_owned())],
        ),
    ];
    for (run, client, admin, extra) in &runs {
        for a in &attempts {
            run_attempt(run, a, client, admin, extra, &markers);
        }
    }

    // A's data is exactly as it was, and A's keys still work.
    assert_eq!(snapshot_of_a(&client_a, &admin_a, &a_paths), before);
    // B's own data was not touched either.
    assert_eq!(list_ids(&client_b, "/v1/debtors"), strings(&["b-debtor"]));
    assert_eq!(list_ids(&client_b, "/v1/invoices"), strings(&["b-inv"]));
    assert_eq!(ok(client_b.get("/v1/debtors/b-debtor/payments")), json!([]));

    // Creating in B with A's ids makes B's own things: upserting A's debtor
    // id creates B's debtor (201), then updates it (200), never A's; a key
    // made by B's admin is B's.
    let own = created(client_b.post(
        "/v1/debtors",
        &json!({ "external_id": "a-debtor", "name": "Beta's namesake" }),
    ));
    assert_eq!(own["tags"], json!([]));
    let renamed = ok(client_b.put(
        "/v1/debtors/a-debtor",
        &json!({ "external_id": "a-debtor", "name": "Beta's renamed namesake" }),
    ));
    assert_eq!(renamed["name"], "Beta's renamed namesake");
    created(client_b.post(
        "/v1/invoices",
        &invoice_body(
            "a-inv-pay",
            "a-debtor",
            "EUR",
            1_00,
            "2025-01-01",
            "2025-01-31",
        ),
    ));
    let b_key = created(admin_b.post("/v1/keys", &json!({ "role": "client" })));
    assert_eq!(b_key["tenant"], "beta");
    // B's policy is B's own: the defaults until B changes it.
    assert_eq!(ok(client_b.get("/v1/policy"))["max_sms_per_week"], 3);
    ok(admin_b.put("/v1/policy", &json!({ "max_sms_per_week": 2 })));
    assert_eq!(ok(client_a.get("/v1/policy"))["max_sms_per_week"], 1);
    // A segment or template under A's names is B's own.
    let segment = created(admin_b.put("/v1/segments/a-seg", &json!({ "strategy": "ladder" })));
    assert_eq!(segment["strategy"], "ladder");
    ok(admin_b.put(
        "/v1/templates/email/final/en",
        &json!({ "subject": "Beta", "text": "Beta's wording" }),
    ));
    ok(admin_b.put(
        "/v1/named-templates/a-named/email/en",
        &json!({ "subject": "Beta", "text": "Beta's named wording" }),
    ));
    // B's upload under A's plugin name is B's own.
    let b_upload = admin_b.request(
        "POST",
        "/v1/plugins/a-plug/versions?version=1.0.0",
        Some(&a_plugin),
        &[("Content-Type", "application/wasm")],
    );
    assert_eq!(b_upload.status, 201, "{b_upload:#?}");
    // B's messaging settings and subscriptions are B's own.
    assert_eq!(
        ok(admin_b.get("/v1/messaging"))["payment_link"],
        Value::Null
    );
    ok(admin_b.put(
        "/v1/messaging",
        &json!({ "payment_link": "https://pay.example.com/beta/{debtor}" }),
    ));
    let b_sub = created(admin_b.post(
        "/v1/subscriptions",
        &json!({ "url": "http://127.0.0.1:9/beta" }),
    ));
    assert_eq!(b_sub["events"], json!(["*"]));
    assert_eq!(
        ok(admin_b.get("/v1/subscriptions"))
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Every tenant route was tried: the table, plus the three creates above.
    let mut tried: BTreeSet<(String, String)> = attempts
        .iter()
        .map(|a| (a.method.clone(), route_of(&a.path)))
        .collect();
    for (method, route) in [
        ("POST", "/v1/debtors"),
        ("PUT", "/v1/debtors/{id}"),
        ("POST", "/v1/keys"),
        ("PUT", "/v1/segments/{id}"),
        ("PUT", "/v1/templates/{channel}/{tone}/{language}"),
        ("PUT", "/v1/policy"),
        ("PUT", "/v1/named-templates/{name}/{channel}/{language}"),
        ("PUT", "/v1/messaging"),
        ("POST", "/v1/subscriptions"),
        ("POST", "/v1/plugins/{name}/versions"),
    ] {
        tried.insert((method.to_owned(), route.to_owned()));
    }
    let tenant_routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|(_, path)| {
            path.starts_with("/v1/")
                && !path.starts_with("/v1/tenants")
                && !path.starts_with("/v1/test-clock")
                // Operator-only, across tenants (tested in tests/registry.rs).
                && !path.starts_with("/v1/limits")
                && !path.starts_with("/v1/operator/")
        })
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let untried: Vec<_> = tenant_routes.difference(&tried).collect();
    assert!(
        untried.is_empty(),
        "tenant routes not tried across tenants: {untried:?}"
    );

    assert_eq!(snapshot_of_a(&client_a, &admin_a, &a_paths), before);
}

fn run_attempt(
    run: &str,
    a: &Attempt,
    client: &Client,
    admin: &Client,
    extra: &[(&str, String)],
    markers: &[String],
) {
    let caller = if a.admin { admin } else { client };
    let headers: Vec<(&str, &str)> = a
        .headers
        .iter()
        .chain(extra.iter())
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    let reply = caller.request(
        &a.method,
        &a.path,
        a.body.as_deref().map(str::as_bytes),
        &headers,
    );
    let context = format!("{run}: {} ({} {})", a.what, a.method, a.path);
    match a.expect {
        Refused::NotFound => {
            assert_eq!(reply.status, 404, "{context}: {reply:#?}");
            reply.assert_problem(404, None);
        }
        Refused::Invalid(field) => {
            assert_eq!(reply.status, 422, "{context}: {reply:#?}");
            reply.assert_problem(422, Some(field));
        }
        Refused::BulkRejected(field) => {
            assert_eq!(reply.status, 200, "{context}: {reply:#?}");
            assert_eq!(reply.body["created"], 0, "{context}: {reply:#?}");
            assert_eq!(reply.body["rejected"], 1, "{context}: {reply:#?}");
            assert_eq!(
                reply.body["errors"][0]["problems"][0]["field"], field,
                "{context}: {reply:#?}"
            );
        }
        Refused::NothingOfA => {
            assert_eq!(reply.status, 200, "{context}: {reply:#?}");
            let mut shown = reply.body.clone();
            if a.path.starts_with("/v1/kpis")
                && let Some(report) = shown.as_object_mut()
            {
                // The filters asked for come back as asked: B's own words.
                report.remove("segment");
            }
            let text = shown.to_string();
            for marker in markers {
                assert!(
                    !text.contains(marker.as_str()),
                    "{context} shows {marker:?}: {reply:#?}"
                );
            }
            if a.path.starts_with("/v1/aging") {
                // Only B's one invoice of 10.00 EUR.
                assert_eq!(currencies(&reply.body), strings(&["EUR"]), "{context}");
                assert_eq!(bucket(&reply.body, "EUR", "total"), (10_00, 1), "{context}");
            }
            if a.path.starts_with("/v1/kpis") {
                // B's one invoice of 10.00 EUR; none of B's debtors was
                // ever evaluated in A's segment.
                if a.path.contains("segment=") {
                    assert_eq!(reply.body["currencies"], json!([]), "{context}");
                } else {
                    assert_eq!(currencies(&reply.body), strings(&["EUR"]), "{context}");
                    let eur = &reply.body["currencies"][0];
                    assert_eq!(eur["credit_sales"], 10_00, "{context}");
                    assert_eq!(eur["receivables"]["ending"], 10_00, "{context}");
                    assert_eq!(eur["collected"], 0, "{context}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 4. Authentication and roles
// ---------------------------------------------------------------------------

#[test]
fn keys_authenticate_roles_authorize_and_revocation_is_immediate() {
    let server = Server::start();
    let (admin, client) = server.tenant("acme");
    let anonymous = server.anonymous();

    // (No bodies on refused requests: the server answers before reading
    // them and closes the connection, which can reset it under the reply.)
    for (method, path) in [
        ("GET", "/v1/debtors"),
        ("POST", "/v1/debtors"),
        ("GET", "/v1/keys"),
        ("GET", "/v1/tenants"),
    ] {
        let reply = anonymous.request(method, path, None, &[]);
        reply.assert_problem(401, None);
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer"),
            "{reply:#?}"
        );
    }
    anonymous
        .request(
            "GET",
            "/v1/debtors",
            None,
            &[("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")],
        )
        .assert_problem(401, None);
    anonymous
        .request("GET", "/v1/debtors", None, &[("authorization", "Bearer ")])
        .assert_problem(401, None);
    server
        .client("dun_thisisnotakeyatall00000000")
        .get("/v1/debtors")
        .assert_problem(401, None);

    // A client key is refused on admin and operator routes.
    client.get("/v1/keys").assert_problem(403, None);
    client
        .post("/v1/keys", &json!({ "role": "client" }))
        .assert_problem(403, None);
    client
        .delete("/v1/keys/key_whatever")
        .assert_problem(403, None);
    client.get("/v1/tenants").assert_problem(403, None);
    post_empty(&client, "/v1/tenants").assert_problem(403, None);
    admin.get("/v1/tenants").assert_problem(403, None);
    post_empty(&admin, "/v1/tenants/acme/keys").assert_problem(403, None);

    // An admin makes a key; it works; the list never shows a secret.
    let made = created(admin.post(
        "/v1/keys",
        &json!({ "role": "client", "label": "billing sync" }),
    ));
    let secret = made["key"].as_str().expect("key").to_owned();
    assert!(secret.starts_with("dun_"), "{made:#}");
    assert!(id_of(&made).starts_with("key_"));
    assert_eq!(made["role"], "client");
    assert_eq!(made["tenant"], "acme");
    assert_eq!(made["label"], "billing sync");
    assert!(secret.starts_with(made["prefix"].as_str().expect("prefix")));
    let new_client = server.client(&secret);
    created(new_client.post("/v1/debtors", &json!({ "external_id": "k-1", "name": "K" })));
    let keys = ok(admin.get("/v1/keys"));
    assert_eq!(ids(&keys).len(), 3);
    assert!(ids(&keys).contains(&id_of(&made)));
    assert!(
        !keys.to_string().contains(&secret),
        "the list shows a secret: {keys:#}"
    );
    assert!(
        keys.as_array()
            .expect("keys")
            .iter()
            .all(|k| k.get("key").is_none())
    );

    // Revoked: refused at once, shown as revoked; revoking again is fine.
    assert_eq!(
        admin.delete(&format!("/v1/keys/{}", id_of(&made))).status,
        204
    );
    new_client.get("/v1/debtors").assert_problem(401, None);
    let listed = ok(admin.get("/v1/keys"));
    let entry = listed
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["id"] == made["id"])
        .expect("the revoked key is listed");
    assert!(entry["revoked_at"].is_string(), "{entry:#}");
    assert_eq!(
        admin.delete(&format!("/v1/keys/{}", id_of(&made))).status,
        204
    );
    admin
        .delete("/v1/keys/key_doesnotexist00")
        .assert_problem(404, None);
    // The other keys still work; an admin can revoke the client key.
    ok(client.get("/v1/debtors"));
    let client_key = ids(&listed)[1].clone();
    assert_eq!(admin.delete(&format!("/v1/keys/{client_key}")).status, 204);
    client.get("/v1/debtors/k-1").assert_problem(401, None);
    assert_eq!(ok(admin.get("/v1/debtors/k-1"))["name"], "K");
}

#[test]
fn operator_keys_manage_tenants_and_act_in_the_one_named_by_dun_tenant() {
    let server = Server::start();
    let operator = server.operator();

    let tenant = created(operator.post(
        "/v1/tenants",
        &json!({ "id": "globex", "name": "Globex Corp" }),
    ));
    assert_eq!(tenant["id"], "globex");
    assert_eq!(tenant["name"], "Globex Corp");
    assert!(tenant["created_at"].is_string());
    operator
        .post("/v1/tenants", &json!({ "id": "globex", "name": "Again" }))
        .assert_problem(409, Some("id"));
    assert_eq!(
        ids(&ok(operator.get("/v1/tenants"))),
        strings(&["demo", "globex"])
    );

    let key = created(operator.post(
        "/v1/tenants/globex/keys",
        &json!({ "role": "admin", "label": "first admin" }),
    ));
    assert_eq!(key["tenant"], "globex");
    assert_eq!(key["role"], "admin");
    let admin = server.client(key["key"].as_str().expect("key"));
    created(admin.post("/v1/debtors", &json!({ "external_id": "g-1", "name": "G" })));
    operator
        .post("/v1/tenants/nope/keys", &json!({ "role": "client" }))
        .assert_problem(404, None);

    // Tenant routes need Dun-Tenant from an operator.
    operator.get("/v1/debtors").assert_problem(403, None);
    operator
        .request("GET", "/v1/debtors", None, &[("Dun-Tenant", "nope")])
        .assert_problem(404, Some("Dun-Tenant"));
    let as_globex = [("Dun-Tenant", "globex")];
    assert_eq!(
        ids(&ok(operator.request(
            "GET",
            "/v1/debtors",
            None,
            &as_globex
        ))),
        strings(&["g-1"])
    );
    created(operator.post_with(
        "/v1/debtors",
        &json!({ "external_id": "g-2", "name": "G2" }),
        &as_globex,
    ));
    assert_eq!(list_ids(&admin, "/v1/debtors"), strings(&["g-1", "g-2"]));
    // In demo, none of globex's.
    assert!(
        ids(&ok(operator.request(
            "GET",
            "/v1/debtors",
            None,
            &[("Dun-Tenant", "demo")]
        )))
        .is_empty()
    );
    // Admin routes too.
    let keys = ok(operator.request("GET", "/v1/keys", None, &as_globex));
    assert_eq!(ids(&keys), vec![id_of(&key)]);
    let made = created(operator.post_with("/v1/keys", &json!({ "role": "client" }), &as_globex));
    assert_eq!(made["tenant"], "globex");
    ok(server
        .client(made["key"].as_str().expect("key"))
        .get("/v1/debtors/g-2"));
    operator.get("/v1/keys").assert_problem(403, None);
}

// ---------------------------------------------------------------------------
// 5. Idempotency
// ---------------------------------------------------------------------------

#[test]
fn an_idempotency_key_replays_the_first_response_and_changes_nothing() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "acme-1");
    new_invoice(&client, "inv-1", "acme-1", 100_00, "2025-01-31");
    let body = json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 40_00, "received_on": "2025-03-01" });
    let key = [("Idempotency-Key", "pay-0001")];

    let first = client.post_with("/v1/payments", &body, &key);
    assert_eq!(first.status, 201, "{first:#?}");
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = client.post_with("/v1/payments", &body, &key);
    assert_eq!(second.status, 201, "{second:#?}");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(
        ids(&ok(client.get("/v1/debtors/acme-1/payments"))),
        vec![id_of(&first.body)]
    );
    assert_eq!(invoice(&client, "inv-1")["open_amount"], 60_00);

    // The same key for something else: 409, and still nothing changes.
    let mut other = body.clone();
    other["amount"] = json!(50_00);
    client
        .post_with("/v1/payments", &other, &key)
        .assert_problem(409, Some("Idempotency-Key"));
    client
        .post_with(
            "/v1/debtors",
            &json!({ "external_id": "x", "name": "X" }),
            &key,
        )
        .assert_problem(409, Some("Idempotency-Key"));
    assert_eq!(
        ok(client.get("/v1/debtors/acme-1/payments"))
            .as_array()
            .expect("list")
            .len(),
        1
    );
    assert_eq!(invoice(&client, "inv-1")["open_amount"], 60_00);
    client.get("/v1/debtors/x").assert_problem(404, None);

    // Concurrent retries of one request: one payment, one answer.
    let retry = json!({ "debtor_id": "acme-1", "currency": "EUR", "amount": 5_00 });
    let replies: Vec<Reply> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    client.post_with("/v1/payments", &retry, &[("Idempotency-Key", "pay-0002")])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(
        replies
            .iter()
            .all(|r| r.status == 201 && r.body == replies[0].body),
        "{replies:#?}"
    );
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.header("idempotent-replayed").is_none())
            .count(),
        1
    );
    assert_eq!(
        ok(client.get("/v1/debtors/acme-1/payments"))
            .as_array()
            .expect("list")
            .len(),
        2
    );
    assert_eq!(invoice(&client, "inv-1")["open_amount"], 55_00);

    // Without a key the same body is a second payment: the key is what dedupes.
    created(client.post("/v1/payments", &retry));
    assert_eq!(invoice(&client, "inv-1")["open_amount"], 50_00);

    // Other writes replay too: the first status, even where a plain re-send differs.
    let debtor = json!({ "external_id": "acme-2", "name": "Two" });
    let d1 = client.post_with("/v1/debtors", &debtor, &[("Idempotency-Key", "debtor-1")]);
    let d2 = client.post_with("/v1/debtors", &debtor, &[("Idempotency-Key", "debtor-1")]);
    assert_eq!((d1.status, d2.status), (201, 201));
    assert_eq!(d2.header("idempotent-replayed"), Some("true"));
    assert_eq!(d2.body, d1.body);
    let refund_path = format!("/v1/payments/{}/refunds", id_of(&first.body));
    let r1 = client.post_with(
        &refund_path,
        &json!({ "amount": 10_00 }),
        &[("Idempotency-Key", "refund-1")],
    );
    let r2 = client.post_with(
        &refund_path,
        &json!({ "amount": 10_00 }),
        &[("Idempotency-Key", "refund-1")],
    );
    assert_eq!((r1.status, r2.status), (201, 201));
    assert_eq!(r2.body, r1.body);
    assert_eq!(
        ok(client.get(&format!("/v1/payments/{}", id_of(&first.body))))["refunded"],
        10_00
    );
    let batch = json!([invoice_body(
        "blk-1",
        "acme-2",
        "EUR",
        1_00,
        "2025-01-01",
        "2025-01-31"
    )]);
    let b1 = client.post_with(
        "/v1/invoices/bulk",
        &batch,
        &[("Idempotency-Key", "bulk-1")],
    );
    let b2 = client.post_with(
        "/v1/invoices/bulk",
        &batch,
        &[("Idempotency-Key", "bulk-1")],
    );
    assert_eq!(b1.body["created"], 1);
    assert_eq!(
        b2.body, b1.body,
        "the replay says created, as the first answer did"
    );
    assert_eq!(b2.header("idempotent-replayed"), Some("true"));

    // A key must be 1-255 visible ASCII characters.
    let long = "k".repeat(256);
    client
        .post_with(
            "/v1/payments",
            &retry,
            &[("Idempotency-Key", long.as_str())],
        )
        .assert_problem(422, Some("Idempotency-Key"));
}

// ---------------------------------------------------------------------------
// 6. OpenAPI, metrics, health
// ---------------------------------------------------------------------------

#[test]
fn openapi_documents_every_route_and_operations_endpoints_answer() {
    let server = Server::start();
    let (admin, _) = server.tenant("acme");
    let operator = server.operator();
    let anonymous = server.anonymous();

    let health = anonymous.get("/healthz");
    assert_eq!(health.status, 200, "{health:#?}");
    let ready = anonymous.get("/readyz");
    assert_eq!(ready.status, 200, "{ready:#?}");

    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_lowercase(), (*p).to_owned()))
        .collect();

    let reply = anonymous.get("/openapi.json");
    assert_eq!(reply.status, 200, "{reply:#?}");
    assert!(
        reply.content_type.starts_with("application/json"),
        "{}",
        reply.content_type
    );
    let doc = reply.body;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let missing: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "undocumented: {missing:?}; documented but not expected: {extra:?}"
    );
    let problem = &doc["components"]["schemas"]["Problem"];
    assert!(problem.is_object(), "no Problem schema");
    for field in ["type", "title", "status", "detail", "errors"] {
        assert!(
            problem["properties"].get(field).is_some(),
            "Problem lacks {field}: {problem:#}"
        );
    }

    // Every documented operation is answered by the server (not 405, not "no such route").
    // (A body is sent only where the document declares one.)
    for (method, path) in &documented {
        let concrete = path.replace("{channel}", "email").replace("{id}", "x");
        let caller = if concrete.starts_with("/v1/tenants") {
            &operator
        } else {
            &admin
        };
        let takes_body = doc["paths"][path][method].get("requestBody").is_some();
        let body = takes_body.then_some(b"{}".as_slice());
        let reply = caller.request(&method.to_uppercase(), &concrete, body, &[]);
        let no_route = reply.status == 404 && reply.body["detail"] == "no such route";
        assert!(
            reply.status != 405 && !no_route,
            "{method} {concrete} is not served: {reply:#?}"
        );
    }
    let unrouted = admin.get("/v1/nothing-here");
    assert_eq!(
        (unrouted.status, unrouted.body["detail"].clone()),
        (404, json!("no such route"))
    );

    let metrics = anonymous.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type.starts_with("text/plain"),
        "{}",
        metrics.content_type
    );
    let text = metrics.body.as_str().expect("text");
    assert!(
        text.contains("# TYPE dun_http_requests_total counter"),
        "{text}"
    );
    let healthz = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                r#"dun_http_requests_total{method="GET",route="/healthz",status="200"} "#,
            )
        })
        .unwrap_or_else(|| panic!("no count for GET /healthz: {text}"));
    assert!(healthz.parse::<u64>().is_ok_and(|n| n >= 1), "{text}");
    assert!(text.contains(r#"route="/v1/debtors/{id}""#), "{text}");
}

// ---------------------------------------------------------------------------
// Server bugs: each of these fails today.
// ---------------------------------------------------------------------------

#[test]
fn bug_trailing_data_after_a_json_body_is_refused() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    let body = r#"{"external_id":"t-1","name":"One"}{"external_id":"t-2","name":"Two"}"#;
    send_raw(&client, "POST", "/v1/debtors", body).assert_problem(422, Some("body"));
    client.get("/v1/debtors/t-1").assert_problem(404, None);
}

#[test]
fn bug_a_json_syntax_error_names_the_body() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    for body in [
        r#"{"external_id":"x","name":"X""#,
        r#"{"external_id":"x","name":"X",}"#,
        r#"{"external_id":"x" "name":"X"}"#,
    ] {
        let reply = send_raw(&client, "POST", "/v1/debtors", body);
        assert_eq!(reply.status, 422, "{body}: {reply:#?}");
        assert!(
            problem_fields(&reply).iter().all(|f| f != "?"),
            "{body}: the field is \"?\": {reply:#?}"
        );
        reply.assert_problem(422, Some("body"));
    }
}

#[test]
fn bug_a_missing_required_field_is_named() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "c-1");
    client
        .post("/v1/disputes", &json!({ "invoice_id": "i-1" }))
        .assert_problem(422, Some("reason"));
    client
        .post("/v1/debtors", &json!({ "external_id": "c-2" }))
        .assert_problem(422, Some("name"));
    client
        .post(
            "/v1/invoices",
            &json!({ "external_id": "i-1", "debtor_id": "c-1", "amount": 1, "issued_on": "2025-01-01", "due_on": "2025-01-31" }),
        )
        .assert_problem(422, Some("currency"));
}

#[test]
fn bug_ndjson_index_is_the_line_number_minus_one() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "b-1");
    let good = invoice_body("nd-0", "b-1", "EUR", 1_00, "2025-01-01", "2025-01-31");
    let bad = invoice_body("nd-bad", "b-1", "eur", 1_00, "2025-01-01", "2025-01-31");
    // Line 1 good, line 2 blank, line 3 bad.
    let body = format!("{good}\n\n{bad}\n");
    let report = ok(client.request(
        "POST",
        "/v1/invoices/bulk",
        Some(body.as_bytes()),
        &[("content-type", "application/x-ndjson")],
    ));
    assert_eq!(report["rejected"], 1, "{report:#}");
    assert_eq!(report["errors"][0]["external_id"], "nd-bad");
    assert_eq!(
        report["errors"][0]["index"], 2,
        "line 3 is index 2: {report:#}"
    );
}

#[test]
fn bug_bulk_reports_name_the_fields_of_rejected_items_one_way() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "b-1");
    let mut unparsable = invoice_body("x-0", "b-1", "EUR", 1_00, "2025-01-01", "2025-01-31");
    unparsable["amount"] = json!("1.00");
    let mut negative = invoice_body("x-1", "b-1", "EUR", 1_00, "2025-01-01", "2025-01-31");
    negative["amount"] = json!(-100);
    let field = |report: &Value, n: usize| report["errors"][n]["problems"][0]["field"].clone();

    let array = ok(client.post("/v1/invoices/bulk", &json!([unparsable, negative])));
    assert_eq!(array["rejected"], 2, "{array:#}");
    let (a, b) = (field(&array, 0), field(&array, 1));
    assert!(
        (a == "amount" && b == "amount") || (a == "[0].amount" && b == "[1].amount"),
        "the same field is named {a} in item 0 and {b} in item 1"
    );

    let ndjson = format!("{unparsable}\n{negative}\n");
    let lines = ok(client.request(
        "POST",
        "/v1/invoices/bulk",
        Some(ndjson.as_bytes()),
        &[("content-type", "application/x-ndjson")],
    ));
    assert_eq!(lines["rejected"], 2, "{lines:#}");
    let (a, b) = (field(&lines, 0), field(&lines, 1));
    assert!(
        (a == "amount" && b == "amount") || (a == "line 1: amount" && b == "line 2: amount"),
        "the same field is named {a} on line 1 and {b} on line 2"
    );
}

#[test]
fn bug_a_refund_dated_in_the_future_is_refused() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "c-1");
    new_invoice(&client, "i-1", "c-1", 10_00, "2025-01-31");
    let payment = pay(&client, "c-1", "i-1", 10_00, "2025-02-01");
    let reply = client.post(
        &format!("/v1/payments/{}/refunds", id_of(&payment)),
        &json!({ "amount": 10_00, "refunded_on": "2099-01-01" }),
    );
    let inv = invoice(&client, "i-1");
    let aging = ok(client.get("/v1/aging"));
    let aged = if currencies(&aging).is_empty() {
        0
    } else {
        bucket(&aging, "EUR", "total").0
    };
    assert_eq!(
        inv["open_amount"].as_i64(),
        Some(aged),
        "open amount and aging as of today disagree after the refund: {reply:#?}"
    );
    reply.assert_problem(422, Some("refunded_on"));
}

#[test]
fn bug_invoice_list_refuses_an_unknown_currency() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "c-1");
    new_invoice(&client, "i-1", "c-1", 10_00, "2025-01-31");
    client
        .get("/v1/aging?currency=eur")
        .assert_problem(400, Some("currency"));
    client
        .get("/v1/invoices?currency=eur")
        .assert_problem(400, Some("currency"));
}

#[test]
fn bug_unknown_query_parameters_are_refused_everywhere() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    new_debtor(&client, "c-1");
    new_invoice(&client, "i-1", "c-1", 10_00, "2025-01-31");
    client
        .get("/v1/debtors?expand=invoices")
        .assert_problem(400, Some("expand"));
    client
        .get("/v1/debtors/c-1?expand=invoices")
        .assert_problem(400, Some("expand"));
    client
        .get("/v1/invoices/i-1?expand=payments")
        .assert_problem(400, Some("expand"));
    client
        .get("/v1/debtors/c-1/payments?sort=amount")
        .assert_problem(400, Some("sort"));
}

#[test]
fn a_debtors_case_from_the_api_runs_in_a_strategy() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    let debtor = json!({
        "external_id": "c-1", "name": "Acme GmbH", "email": "ap@acme.example",
        "phone": "+4930123456", "time_zone": "Europe/Berlin", "language": "de"
    });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    assert_eq!(
        client
            .put("/v1/debtors/c-1/opt-outs/sms", &json!({}))
            .status,
        200
    );
    let invoice = invoice_body("INV-7", "c-1", "EUR", 120_00, "2025-03-01", "2025-03-31");
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);

    // Seven days after the due date, 09:00 UTC.
    let case = ok(client.get("/v1/debtors/c-1/case?at=2025-04-07T09:00:00Z"));
    assert_eq!(case["now"], "2025-04-07T09:00:00Z");
    assert_eq!(case["debtor"]["channels"], json!(["email", "call"]));
    assert_eq!(case["invoices"][0]["id"], "INV-7");
    assert_eq!(case["invoices"][0]["open_amount"], 120_00);
    client
        .get("/v1/debtors/c-1/case?at=yesterday")
        .assert_problem(400, Some("at"));
    client
        .get("/v1/debtors/nobody/case")
        .assert_problem(404, None);

    // The case file is what `dun plugin run` reads: the ladder's firm stage.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.json");
    std::fs::write(&path, case.to_string()).unwrap();
    let out = support::dun()
        .args(["plugin", "run", "ladder", "--case"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = run["plan"]["actions"].as_array().unwrap();
    assert!(
        actions.iter().any(|a| a["kind"] == "remind"
            && a["tone"] == "firm"
            && a["invoice_ids"] == json!(["INV-7"])),
        "{run:#}"
    );
    // No SMS: the debtor opted out, so the case does not offer it.
    assert!(actions.iter().all(|a| a["channel"] != "sms"), "{run:#}");
}

#[test]
fn evaluating_a_debtor_runs_the_ladder_and_the_guardrails() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    let (_, other) = server.tenant("other");
    // Email only, in UTC: no quiet hours apply, whatever the time of day.
    let debtor = json!({ "external_id": "c-1", "name": "Acme", "email": "ap@acme.example", "time_zone": "UTC" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let invoice = invoice_body(
        "INV-1",
        "c-1",
        "EUR",
        120_00,
        &day_from_today(-37),
        &day_from_today(-7),
    );
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);

    let evaluation = created(client.request("POST", "/v1/debtors/c-1/evaluate", None, &[]));
    assert_eq!(evaluation["outcome"], "ok", "{evaluation:#}");
    assert_eq!(evaluation["strategy"], "ladder");
    assert_eq!(evaluation["contract"], "0.1.0");
    assert!(evaluation["fuel_used"].as_u64().unwrap() > 0);
    let verdicts = evaluation["verdicts"].as_array().unwrap();
    let firm = verdicts
        .iter()
        .find(|v| v["planned"]["kind"] == "remind" && v["planned"]["tone"] == "firm")
        .unwrap_or_else(|| panic!("no firm reminder at day 7: {evaluation:#}"));
    assert_eq!(firm["verdict"], "kept", "{firm:#}");
    assert_eq!(firm["action"]["channel"], "email");
    assert_eq!(firm["action"]["invoice_ids"], json!(["INV-1"]));
    // The ladder's firm stage also asks for an SMS; this debtor has no phone.
    assert!(
        verdicts.iter().all(|v| v["action"]["channel"] != "sms"),
        "{evaluation:#}"
    );

    // Listed, and readable with the case it decided on.
    let id = evaluation["id"].as_str().unwrap();
    let listed = ok(client.get("/v1/debtors/c-1/evaluations"));
    assert_eq!(listed[0]["id"], id);
    assert!(listed[0].get("input").is_none());
    let full = ok(client.get(&format!("/v1/evaluations/{id}")));
    assert_eq!(full["input"]["invoices"][0]["id"], "INV-1");
    assert_eq!(full["plan"], evaluation["plan"]);
    other
        .get(&format!("/v1/evaluations/{id}"))
        .assert_problem(404, None);

    // Disputed: the ladder pauses, and anything it would plan is suppressed.
    let dispute = json!({ "invoice_id": "INV-1", "reason": "never delivered" });
    assert_eq!(client.post("/v1/disputes", &dispute).status, 201);
    let paused = created(client.request("POST", "/v1/debtors/c-1/evaluate", None, &[]));
    assert_eq!(paused["outcome"], "ok", "{paused:#}");
    assert!(
        paused["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["planned"]["kind"] != "remind" || v["verdict"] == "suppressed"),
        "{paused:#}"
    );
    client
        .request("POST", "/v1/debtors/nobody/evaluate", None, &[])
        .assert_problem(404, None);

    let metrics = server.anonymous().get("/metrics").body;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("dun_evaluations_total{outcome=\"ok\"} 2"),
        "{text}"
    );
    assert!(text.contains("dun_evaluation_fuel_total "), "{text}");
}
