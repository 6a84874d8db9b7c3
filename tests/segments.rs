//! Segments and templates over HTTP: the real `dun serve` on a temporary
//! SQLite file, with no scheduler or dispatcher running in the background,
//! so every evaluation here is one the test asked for.
//!
//! Segments decide which strategy (with which config) decides about a
//! debtor; templates decide the wording of what is sent. Both are read by
//! every key of the tenant and changed by its admins.
//!
//! Dates are fixed (2026) where the server lets them be; segment rules on
//! days overdue use due dates relative to today.

mod support;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use support::{Client, Reply, Server};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A server with nothing running in the background.
fn quiet_server() -> Server {
    Server::start_with_env(&[
        ("DUN_SCHEDULER_INTERVAL_SECS", "0"),
        ("DUN_DISPATCH_INTERVAL_SECS", "0"),
    ])
}

/// Today plus `days` (negative: in the past), as `YYYY-MM-DD`.
fn day_from_today(days: i64) -> String {
    (Utc::now().date_naive() + Duration::days(days)).to_string()
}

/// Asserts the status (and a JSON body for 2xx but 204); returns the body.
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

/// A raw body, sent as given (with `content-type: application/json`).
fn send_raw(client: &Client, method: &str, path: &str, body: &str) -> Reply {
    client.request(method, path, Some(body.as_bytes()), &[])
}

/// The fields a problem names.
fn problem_fields(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The ids of the tenant's segments, in the order they are listed.
fn segment_ids(client: &Client) -> Vec<String> {
    ok(client.get("/v1/segments"))
        .as_array()
        .expect("a list of segments")
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// A debtor reachable by email, in UTC (no quiet hours to think about).
fn new_debtor(client: &Client, id: &str, tags: &[&str]) {
    let body = json!({
        "external_id": id, "name": format!("Debtor {id}"), "email": format!("ap@{id}.example"),
        "time_zone": "UTC", "tags": tags,
    });
    created(client.post("/v1/debtors", &body));
}

fn new_invoice(
    client: &Client,
    id: &str,
    debtor: &str,
    currency: &str,
    amount: i64,
    issued_on: &str,
    due_on: &str,
) {
    let body = json!({
        "external_id": id, "debtor_id": debtor, "currency": currency, "amount": amount,
        "issued_on": issued_on, "due_on": due_on,
    });
    created(client.post("/v1/invoices", &body));
}

/// An invoice in `currency`, issued 30 days before it fell due
/// `days_overdue` days ago.
fn overdue_invoice(
    client: &Client,
    id: &str,
    debtor: &str,
    currency: &str,
    amount: i64,
    days_overdue: i64,
) {
    new_invoice(
        client,
        id,
        debtor,
        currency,
        amount,
        &day_from_today(-days_overdue - 30),
        &day_from_today(-days_overdue),
    );
}

/// Records a EUR payment on one invoice.
fn pay(client: &Client, debtor: &str, invoice: &str, amount: i64, received_on: &str) {
    created(client.post(
        "/v1/payments",
        &json!({
            "debtor_id": debtor, "currency": "EUR", "amount": amount, "received_on": received_on,
            "allocations": [{ "invoice_id": invoice, "amount": amount }],
        }),
    ));
}

/// Evaluates the debtor now; the evaluation, which must have gone well.
#[track_caller]
fn evaluate(client: &Client, debtor: &str) -> Value {
    let evaluation =
        created(client.request("POST", &format!("/v1/debtors/{debtor}/evaluate"), None, &[]));
    assert_eq!(evaluation["outcome"], "ok", "{debtor}: {evaluation:#}");
    assert_eq!(evaluation["debtor_id"], debtor, "{evaluation:#}");
    evaluation
}

/// Evaluates the debtor and checks the segment and strategy it ran under,
/// both in the evaluation and in the case the strategy saw (whose
/// `debtor.segment` and `config` are the segment's).
#[track_caller]
fn assert_decided_by(client: &Client, debtor: &str, segment: &str, strategy: &str, config: Value) {
    let evaluation = evaluate(client, debtor);
    assert_eq!(evaluation["segment"], segment, "{debtor}: {evaluation:#}");
    assert_eq!(evaluation["strategy"], strategy, "{debtor}: {evaluation:#}");
    let id = evaluation["id"].as_str().expect("an evaluation id");
    let full = ok(client.get(&format!("/v1/evaluations/{id}")));
    assert_eq!(full["segment"], segment, "{debtor}: {full:#}");
    assert_eq!(full["input"]["debtor"]["id"], debtor, "{full:#}");
    assert_eq!(
        full["input"]["debtor"]["segment"], segment,
        "{debtor}: {full:#}"
    );
    assert_eq!(full["input"]["config"], config, "{debtor}: {full:#}");
}

const TEMPLATE: &str = "/v1/templates";

/// A POST without a body.
fn post_empty(client: &Client, path: &str) -> Reply {
    client.request("POST", path, None, &[])
}

/// The rendered parts of a preview.
#[track_caller]
fn rendered(reply: Reply) -> (Option<String>, String, Option<String>) {
    let body = ok(reply);
    let part = |name: &str| body[name].as_str().map(str::to_owned);
    (
        part("subject"),
        part("text").unwrap_or_else(|| panic!("no text: {body:#}")),
        part("html"),
    )
}

// ---------------------------------------------------------------------------
// Segments
// ---------------------------------------------------------------------------

#[test]
fn segments_are_created_replaced_listed_by_priority_and_deleted() {
    let server = quiet_server();
    let (admin, client) = server.tenant("acme");
    let (_, other) = server.tenant("other");

    // A fresh tenant has the implicit default: the ladder with `{}`,
    // readable by a client key too.
    let listed = ok(client.get("/v1/segments"));
    let all = listed.as_array().expect("a list");
    assert_eq!(all.len(), 1, "{listed:#}");
    let default = &all[0];
    assert_eq!(default["id"], "default");
    assert_eq!(default["strategy"], "ladder");
    assert_eq!(default["config"], json!({}));
    assert_eq!(default["rule"], json!({}));
    assert_eq!(default["priority"], i64::MAX);
    assert_eq!(default["created_at"], Value::Null);
    assert_eq!(&ok(client.get("/v1/segments/default")), default);

    // PUT creates (201), then replaces (200).
    let vip = json!({
        "name": "Key accounts", "priority": 20, "rule": { "tags_any": ["vip"] },
        "strategy": "segmented", "config": { "plan_installments": 6 },
    });
    let first = created(admin.put("/v1/segments/vip", &vip));
    assert_eq!(first["id"], "vip");
    assert_eq!(first["name"], "Key accounts");
    assert_eq!(first["priority"], 20);
    assert_eq!(first["rule"], json!({ "tags_any": ["vip"] }));
    assert_eq!(first["strategy"], "segmented");
    assert_eq!(first["config"], json!({ "plan_installments": 6 }));
    assert!(first["created_at"].is_string(), "{first:#}");
    assert_eq!(first["created_at"], first["updated_at"]);
    assert_eq!(ok(client.get("/v1/segments/vip")), first);

    let replaced = ok(admin.put(
        "/v1/segments/vip",
        &json!({ "priority": 30, "rule": { "tags_all": ["vip", "eu"] }, "strategy": "ladder" }),
    ));
    assert_eq!(replaced["id"], "vip");
    // Without a name the id is the name; without a config it is `{}`.
    assert_eq!(replaced["name"], "vip");
    assert_eq!(replaced["priority"], 30);
    assert_eq!(replaced["rule"], json!({ "tags_all": ["vip", "eu"] }));
    assert_eq!(replaced["strategy"], "ladder");
    assert_eq!(replaced["config"], json!({}));
    assert_eq!(replaced["created_at"], first["created_at"]);
    assert_eq!(ok(client.get("/v1/segments/vip")), replaced);

    // Listed by priority (lower first), whatever the order they were made in.
    created(admin.put(
        "/v1/segments/bulk",
        &json!({ "priority": 10, "rule": { "min_total_open": 100_000_00 }, "strategy": "send-time" }),
    ));
    created(admin.put(
        "/v1/segments/late",
        &json!({ "priority": 40, "rule": { "min_days_overdue": 60 }, "strategy": "ladder" }),
    ));
    assert_eq!(segment_ids(&client), ["bulk", "vip", "late", "default"]);
    ok(admin.put(
        "/v1/segments/late",
        &json!({ "priority": -5, "rule": { "min_days_overdue": 60 }, "strategy": "ladder" }),
    ));
    assert_eq!(segment_ids(&client), ["late", "bulk", "vip", "default"]);

    // `default` stays last whatever priority it is given, and can be
    // changed: its first PUT stores it.
    let changed = created(admin.put(
        "/v1/segments/default",
        &json!({ "name": "Everyone", "priority": -100, "strategy": "segmented",
                 "config": { "reliable_min_paid": 5 } }),
    ));
    assert_eq!(changed["priority"], i64::MAX, "{changed:#}");
    assert_eq!(changed["strategy"], "segmented");
    assert_eq!(segment_ids(&client), ["late", "bulk", "vip", "default"]);
    let listed = ok(client.get("/v1/segments"));
    assert_eq!(listed[3]["name"], "Everyone");
    assert_eq!(listed[3]["priority"], i64::MAX);
    assert_eq!(listed[3]["config"], json!({ "reliable_min_paid": 5 }));
    // A second PUT of `default` replaces it.
    ok(admin.put(
        "/v1/segments/default",
        &json!({ "name": "Everyone", "strategy": "segmented", "config": { "reliable_min_paid": 4 } }),
    ));
    assert_eq!(
        ok(client.get("/v1/segments/default"))["config"],
        json!({ "reliable_min_paid": 4 })
    );

    // Another tenant sees none of it.
    assert_eq!(segment_ids(&other), ["default"]);
    assert_eq!(ok(other.get("/v1/segments/default"))["strategy"], "ladder");
    other.get("/v1/segments/vip").assert_problem(404, None);

    // A client key reads but does not change or delete.
    client
        .put("/v1/segments/vip", &json!({ "strategy": "ladder" }))
        .assert_problem(403, None);
    client.delete("/v1/segments/vip").assert_problem(403, None);
    client
        .delete("/v1/segments/default")
        .assert_problem(403, None);
    assert_eq!(ok(client.get("/v1/segments/vip")), replaced);

    // DELETE removes (204); a second DELETE, and a GET, are 404.
    let reply = admin.delete("/v1/segments/vip");
    assert_eq!(reply.status, 204, "{reply:#?}");
    client.get("/v1/segments/vip").assert_problem(404, None);
    admin.delete("/v1/segments/vip").assert_problem(404, None);
    admin.delete("/v1/segments/never").assert_problem(404, None);
    assert_eq!(segment_ids(&client), ["late", "bulk", "default"]);

    // Deleting `default` resets it to the ladder with `{}`; it never goes.
    assert_eq!(admin.delete("/v1/segments/default").status, 204);
    let reset = ok(client.get("/v1/segments/default"));
    assert_eq!(reset["strategy"], "ladder");
    assert_eq!(reset["config"], json!({}));
    assert_eq!(reset["created_at"], Value::Null);
    assert_eq!(segment_ids(&client), ["late", "bulk", "default"]);
    assert_eq!(admin.delete("/v1/segments/default").status, 204);
    assert_eq!(segment_ids(&client), ["late", "bulk", "default"]);

    // An unknown segment is 404.
    client.get("/v1/segments/nope").assert_problem(404, None);
}

#[test]
fn bad_segments_are_refused_with_the_field_at_fault() {
    let server = quiet_server();
    let (admin, client) = server.tenant("acme");

    let seg = |extra: Value| {
        let mut body = json!({ "strategy": "ladder" });
        let fields = body.as_object_mut().expect("object");
        fields.extend(extra.as_object().expect("object").clone());
        body.to_string()
    };
    let segmented = |config: Value| seg(json!({ "strategy": "segmented", "config": config }));
    let long_id = format!("/v1/segments/{}", "a".repeat(65));

    #[rustfmt::skip]
    let cases: Vec<(&str, String, u16, &str)> = vec![
        // The strategy must exist.
        ("/v1/segments/x", seg(json!({ "strategy": "nope" })), 422, "strategy"),
        ("/v1/segments/x", seg(json!({ "strategy": "" })), 422, "strategy"),
        ("/v1/segments/x", seg(json!({ "strategy": "../ladder" })), 422, "strategy"),
        ("/v1/segments/x", json!({ "config": {} }).to_string(), 422, "strategy"),
        // The config is an object satisfying the strategy's schema.
        ("/v1/segments/x", segmented(json!({ "plan_installments": 100 })), 422, "config/plan_installments"),
        ("/v1/segments/x", segmented(json!({ "plan_installments": "three" })), 422, "config/plan_installments"),
        ("/v1/segments/x", segmented(json!({ "reliable_min_on_time": 1.5 })), 422, "config/reliable_min_on_time"),
        ("/v1/segments/x", segmented(json!([1, 2])), 422, "config"),
        ("/v1/segments/x", seg(json!({ "config": "fast" })), 422, "config"),
        ("/v1/segments/x", seg(json!({ "config": null })), 422, "config"),
        ("/v1/segments/x", seg(json!({ "config": 7 })), 422, "config"),
        // The rule.
        ("/v1/segments/x", seg(json!({ "rule": { "currency": "EURO" } })), 422, "rule.currency"),
        ("/v1/segments/x", seg(json!({ "rule": { "currency": "eur" } })), 422, "rule.currency"),
        ("/v1/segments/x", seg(json!({ "rule": { "min_total_open": 5, "max_total_open": 1 } })), 422, "rule.max_total_open"),
        ("/v1/segments/x", seg(json!({ "rule": { "min_total_open": -1 } })), 422, "rule.min_total_open"),
        ("/v1/segments/x", seg(json!({ "rule": { "min_days_overdue": 30, "max_days_overdue": 10 } })), 422, "rule.max_days_overdue"),
        ("/v1/segments/x", seg(json!({ "rule": { "min_on_time_rate": 1.5 } })), 422, "rule.min_on_time_rate"),
        ("/v1/segments/x", seg(json!({ "rule": { "max_on_time_rate": -0.1 } })), 422, "rule.max_on_time_rate"),
        ("/v1/segments/x", seg(json!({ "rule": { "tags_any": [""] } })), 422, "rule.tags_any"),
        ("/v1/segments/x", seg(json!({ "rule": { "tags_none": ["x".repeat(65)] } })), 422, "rule.tags_none"),
        ("/v1/segments/x", seg(json!({ "rule": { "max_average_days_late": -2 } })), 422, "rule.max_average_days_late"),
        ("/v1/segments/x", seg(json!({ "rule": { "min_invoices_paid": -1 } })), 422, "rule.min_invoices_paid"),
        ("/v1/segments/x", seg(json!({ "rule": { "colour": "red" } })), 422, "rule.colour"),
        // `default` matches everyone: no rule.
        ("/v1/segments/default", seg(json!({ "rule": { "tags_any": ["vip"] } })), 422, "rule"),
        ("/v1/segments/default", seg(json!({ "rule": { "min_total_open": 0 } })), 422, "rule"),
        // The rest of the body.
        ("/v1/segments/x", seg(json!({ "name": "" })), 422, "name"),
        ("/v1/segments/x", seg(json!({ "name": "n".repeat(201) })), 422, "name"),
        ("/v1/segments/x", seg(json!({ "priority": "first" })), 422, "priority"),
        ("/v1/segments/x", seg(json!({ "colour": "red" })), 422, "colour"),
        ("/v1/segments/x", "not json".to_owned(), 422, "body"),
        ("/v1/segments/x", String::new(), 422, "body"),
        // Ids are 1-64 lower-case letters, digits and dashes.
        ("/v1/segments/Bad_ID", seg(json!({})), 404, "id"),
        ("/v1/segments/UPPER", seg(json!({})), 404, "id"),
        ("/v1/segments/-dash", seg(json!({})), 404, "id"),
        ("/v1/segments/a.b", seg(json!({})), 404, "id"),
        (long_id.as_str(), seg(json!({})), 404, "id"),
    ];
    for (path, body, status, field) in &cases {
        let reply = send_raw(&admin, "PUT", path, body);
        assert!(
            reply.status == *status && problem_fields(&reply).iter().any(|f| f == field),
            "PUT {path} {body} should be {status} on {field:?}: {reply:#?}"
        );
        reply.assert_problem(*status, Some(field));
    }

    // additionalProperties: the schema refuses an unknown key; the problem
    // is on the config.
    let reply = send_raw(
        &admin,
        "PUT",
        "/v1/segments/x",
        &segmented(json!({ "colour": 1 })),
    );
    reply.assert_problem(422, None);
    let fields = problem_fields(&reply);
    assert!(
        !fields.is_empty() && fields.iter().all(|f| f.starts_with("config")),
        "{reply:#?}"
    );
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("colour")),
        "{reply:#?}"
    );

    // Every problem at once, each named.
    let reply = send_raw(
        &admin,
        "PUT",
        "/v1/segments/x",
        &json!({
            "name": " ", "strategy": "segmented", "config": { "plan_installments": 1 },
            "rule": { "currency": "EURO", "min_on_time_rate": 2 },
        })
        .to_string(),
    );
    reply.assert_problem(422, Some("name"));
    let mut fields = problem_fields(&reply);
    fields.sort();
    assert_eq!(
        fields,
        [
            "config/plan_installments",
            "name",
            "rule.currency",
            "rule.min_on_time_rate"
        ],
        "{reply:#?}"
    );

    // A client key may not change segments, valid or not, and a query
    // string is refused.
    client
        .put("/v1/segments/x", &json!({ "strategy": "ladder" }))
        .assert_problem(403, None);
    client
        .put("/v1/segments/default", &json!({ "strategy": "segmented" }))
        .assert_problem(403, None);
    admin
        .put("/v1/segments/x?force=1", &json!({ "strategy": "ladder" }))
        .assert_problem(400, Some("force"));

    // None of it changed anything.
    assert_eq!(segment_ids(&client), ["default"]);
    assert_eq!(ok(client.get("/v1/segments/default"))["strategy"], "ladder");
    client.get("/v1/segments/x").assert_problem(404, None);
}

#[test]
fn evaluation_runs_the_strategy_of_the_first_matching_segment() {
    let server = quiet_server();
    let (admin, client) = server.tenant("acme");

    // Debtors, each made to fit one segment.
    new_debtor(&client, "big-corp", &["enterprise", "eu"]);
    overdue_invoice(&client, "BC-1", "big-corp", "EUR", 8_000_00, 10);
    new_debtor(&client, "whale", &["eu"]);
    overdue_invoice(&client, "W-1", "whale", "EUR", 3_000_00, 10);
    overdue_invoice(&client, "W-2", "whale", "EUR", 3_000_00, 5);
    // Much more, but in dollars: a rule on EUR amounts does not see it.
    new_debtor(&client, "usd-whale", &[]);
    overdue_invoice(&client, "U-1", "usd-whale", "USD", 9_000_00, 10);
    overdue_invoice(&client, "U-2", "usd-whale", "EUR", 10_00, 10);
    new_debtor(&client, "old", &[]);
    overdue_invoice(&client, "O-1", "old", "EUR", 100_00, 75);
    new_debtor(&client, "small", &["eu"]);
    overdue_invoice(&client, "S-1", "small", "EUR", 100_00, 5);

    // Before there are segments, everyone runs the ladder in `default`.
    for debtor in ["big-corp", "whale", "usd-whale", "old", "small"] {
        assert_decided_by(&client, debtor, "default", "ladder", json!({}));
    }

    let enterprise_config = json!({ "plan_installments": 6, "plan_every_days": 14 });
    created(admin.put(
        "/v1/segments/enterprise",
        &json!({ "priority": 10, "rule": { "tags_any": ["enterprise", "key-account"] },
                 "strategy": "segmented", "config": enterprise_config }),
    ));
    created(admin.put(
        "/v1/segments/large",
        &json!({ "priority": 20, "rule": { "currency": "EUR", "min_total_open": 5_000_00 },
                 "strategy": "send-time" }),
    ));
    let late_config = json!({ "escalate_after_days": 90 });
    created(admin.put(
        "/v1/segments/late",
        &json!({ "priority": 30, "rule": { "min_days_overdue": 60, "max_days_overdue": 365 },
                 "strategy": "segmented", "config": late_config }),
    ));
    assert_eq!(
        segment_ids(&client),
        ["enterprise", "large", "late", "default"]
    );

    // Each debtor lands in its segment at the next evaluation, no restart.
    // big-corp also matches `large`; `enterprise` comes first.
    assert_decided_by(
        &client,
        "big-corp",
        "enterprise",
        "segmented",
        enterprise_config.clone(),
    );
    // 3,000 + 3,000 EUR open: large.
    assert_decided_by(&client, "whale", "large", "send-time", json!({}));
    // 9,000 USD but only 10 EUR: not large; 10 days overdue: not late.
    assert_decided_by(&client, "usd-whale", "default", "ladder", json!({}));
    assert_decided_by(&client, "old", "late", "segmented", late_config.clone());
    assert_decided_by(&client, "small", "default", "ladder", json!({}));

    // Reordering takes effect at the next evaluation: `large` first now.
    ok(admin.put(
        "/v1/segments/large",
        &json!({ "priority": 5, "rule": { "currency": "EUR", "min_total_open": 5_000_00 },
                 "strategy": "send-time" }),
    ));
    assert_eq!(
        segment_ids(&client),
        ["large", "enterprise", "late", "default"]
    );
    assert_decided_by(&client, "big-corp", "large", "send-time", json!({}));

    // So does a new config, and a new strategy for the default segment.
    let new_config = json!({ "plan_installments": 12 });
    ok(admin.put(
        "/v1/segments/enterprise",
        &json!({ "priority": 1, "rule": { "tags_any": ["enterprise"] },
                 "strategy": "segmented", "config": new_config }),
    ));
    assert_decided_by(
        &client,
        "big-corp",
        "enterprise",
        "segmented",
        new_config.clone(),
    );
    let default_config = json!({ "reliable_min_paid": 1 });
    created(admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "segmented", "config": default_config }),
    ));
    assert_decided_by(
        &client,
        "small",
        "default",
        "segmented",
        default_config.clone(),
    );

    // A payment brings whale's EUR total below 5,000: its rule stops
    // matching and it falls to `default`.
    pay(&client, "whale", "W-1", 2_000_00, &day_from_today(-1));
    assert_decided_by(
        &client,
        "whale",
        "default",
        "segmented",
        default_config.clone(),
    );

    // Deleting a segment sends its debtors to the next match: big-corp to
    // `large`, old to `default`.
    assert_eq!(admin.delete("/v1/segments/enterprise").status, 204);
    assert_decided_by(&client, "big-corp", "large", "send-time", json!({}));
    assert_eq!(admin.delete("/v1/segments/late").status, 204);
    assert_decided_by(&client, "old", "default", "segmented", default_config);
    // And resetting `default` brings back the ladder.
    assert_eq!(admin.delete("/v1/segments/default").status, 204);
    assert_decided_by(&client, "old", "default", "ladder", json!({}));

    // Every evaluation is kept with the segment it ran under.
    let history = ok(client.get("/v1/debtors/big-corp/evaluations"));
    let segments: Vec<&str> = history
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["segment"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        segments,
        ["large", "enterprise", "large", "enterprise", "default"]
    );
}

// ---------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------

#[test]
fn tenant_templates_override_the_builtins_by_language_until_deleted() {
    let server = quiet_server();
    let (admin, client) = server.tenant("acme");

    // Untouched: the built-ins, German for de-AT, English for French.
    assert_eq!(ok(client.get(TEMPLATE)), json!([]));
    let en = ok(client.get("/v1/templates/email/gentle/en"));
    assert_eq!(en["name"], "builtin:email/gentle/en");
    for part in ["subject", "text", "html"] {
        assert!(en["template"][part].is_string(), "{part}: {en:#}");
    }
    assert!(
        en["template"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("{{ debtor_name }}")),
        "{en:#}"
    );
    let de = ok(client.get("/v1/templates/email/gentle/de"));
    assert_eq!(de["name"], "builtin:email/gentle/de");
    assert_ne!(de["template"], en["template"]);
    let de_at = ok(client.get("/v1/templates/email/gentle/de-AT"));
    assert_eq!(de_at["name"], "builtin:email/gentle/de");
    assert_eq!(de_at["template"], de["template"]);
    let fr = ok(client.get("/v1/templates/sms/firm/fr"));
    assert_eq!(fr["name"], "builtin:sms/firm/en");
    assert_eq!(fr["template"]["subject"], Value::Null);
    assert_eq!(fr["template"]["html"], Value::Null);
    let letter = ok(client.get("/v1/templates/letter/final/de"));
    assert_eq!(letter["name"], "builtin:letter/final/de");
    assert!(letter["template"]["subject"].is_string());
    assert_eq!(letter["template"]["html"], Value::Null);

    // A tenant template for `de`…
    let german = json!({
        "subject": "Zahlungserinnerung für {{ debtor_name }}",
        "text": "Hallo {{ debtor_name }},\n{% for line in invoices %}{{ line.number }}: {{ line.open_amount|money(line.currency) }}\n{% endfor %}",
        "html": "<p>Hallo {{ debtor_name }}</p>",
    });
    let saved = ok(admin.put("/v1/templates/email/gentle/de", &german));
    assert_eq!(saved["channel"], "email");
    assert_eq!(saved["tone"], "gentle");
    assert_eq!(saved["language"], "de");
    assert_eq!(saved["subject"], german["subject"]);
    assert_eq!(saved["text"], german["text"]);
    assert_eq!(saved["html"], german["html"]);
    assert!(saved["updated_at"].is_string(), "{saved:#}");
    let got = ok(client.get("/v1/templates/email/gentle/de"));
    assert_eq!(got["name"], "tenant:email/gentle/de");
    assert_eq!(got["template"], german);
    // …serves de-AT too, and nothing else.
    let got = ok(client.get("/v1/templates/email/gentle/de-AT"));
    assert_eq!(got["name"], "tenant:email/gentle/de");
    assert_eq!(got["template"], german);
    assert_eq!(
        ok(client.get("/v1/templates/email/gentle/en"))["name"],
        "builtin:email/gentle/en"
    );
    assert_eq!(
        ok(client.get("/v1/templates/email/firm/de"))["name"],
        "builtin:email/firm/de"
    );
    assert_eq!(
        ok(client.get("/v1/templates/sms/gentle/de"))["name"],
        "builtin:sms/gentle/de"
    );
    // A de-AT debtor's preview renders it.
    let body = json!({ "external_id": "wien", "name": "Wiener Bau", "language": "de-AT" });
    created(client.post("/v1/debtors", &body));
    new_invoice(
        &client,
        "RE-9",
        "wien",
        "EUR",
        250_00,
        "2026-01-05",
        "2026-02-04",
    );
    let (subject, text, html) = rendered(client.post(
        "/v1/templates/email/gentle/de-AT/preview",
        &json!({ "debtor_id": "wien" }),
    ));
    assert_eq!(
        subject.as_deref(),
        Some("Zahlungserinnerung für Wiener Bau")
    );
    assert_eq!(text, "Hallo Wiener Bau,\nRE-9: 250,00 EUR");
    assert_eq!(html.as_deref(), Some("<p>Hallo Wiener Bau</p>"));

    // A de-AT template of its own wins over `de` for de-AT only.
    let austrian = json!({ "subject": "Erinnerung", "text": "Servus {{ debtor_name }}" });
    ok(admin.put("/v1/templates/email/gentle/de-AT", &austrian));
    let got = ok(client.get("/v1/templates/email/gentle/de-AT"));
    assert_eq!(got["name"], "tenant:email/gentle/de-AT");
    assert_eq!(got["template"]["text"], "Servus {{ debtor_name }}");
    assert_eq!(got["template"]["html"], Value::Null);
    assert_eq!(
        ok(client.get("/v1/templates/email/gentle/de"))["name"],
        "tenant:email/gentle/de"
    );
    // Replacing is a PUT too.
    let austrian = json!({ "subject": "Erinnerung", "text": "Grüß Gott, {{ debtor_name }}" });
    ok(admin.put("/v1/templates/email/gentle/de-AT", &austrian));
    let (_, text, _) = rendered(client.post(
        "/v1/templates/email/gentle/de-AT/preview",
        &json!({ "debtor_id": "wien" }),
    ));
    assert_eq!(text, "Grüß Gott, Wiener Bau");

    // The tenant's own templates are listed.
    let listed = ok(client.get(TEMPLATE));
    let keys: Vec<String> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or("?").to_owned();
            format!("{}/{}/{}", s("channel"), s("tone"), s("language"))
        })
        .collect();
    assert_eq!(keys, ["email/gentle/de", "email/gentle/de-AT"]);
    assert_eq!(listed[0]["text"], german["text"]);

    // A client key reads and previews but does not change.
    client
        .put("/v1/templates/email/gentle/en", &german)
        .assert_problem(403, None);
    client
        .delete("/v1/templates/email/gentle/de")
        .assert_problem(403, None);
    assert_eq!(
        ok(client.get("/v1/templates/email/gentle/en"))["name"],
        "builtin:email/gentle/en"
    );

    // Another tenant is untouched.
    let (_, other) = server.tenant("other");
    assert_eq!(ok(other.get(TEMPLATE)), json!([]));
    assert_eq!(
        ok(other.get("/v1/templates/email/gentle/de-AT"))["name"],
        "builtin:email/gentle/de"
    );

    // DELETE reverts: de-AT to `de`, then `de` to the built-in.
    assert_eq!(admin.delete("/v1/templates/email/gentle/de-AT").status, 204);
    assert_eq!(
        ok(client.get("/v1/templates/email/gentle/de-AT"))["name"],
        "tenant:email/gentle/de"
    );
    assert_eq!(admin.delete("/v1/templates/email/gentle/de").status, 204);
    let reverted = ok(client.get("/v1/templates/email/gentle/de-AT"));
    assert_eq!(reverted["name"], "builtin:email/gentle/de");
    assert_eq!(reverted["template"], de["template"]);
    assert_eq!(ok(client.get(TEMPLATE)), json!([]));
    admin
        .delete("/v1/templates/email/gentle/de")
        .assert_problem(404, None);
}

#[test]
fn bad_templates_are_refused_with_the_field_at_fault() {
    let server = quiet_server();
    let (admin, client) = server.tenant("acme");
    let email = "/v1/templates/email/gentle/en";
    let sms = "/v1/templates/sms/gentle/en";

    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        // The parts a channel needs, and no others.
        (email, json!({ "text": "Hello {{ debtor_name }}" }), "subject"),
        (email, json!({ "subject": " ", "text": "Hello" }), "subject"),
        (email, json!({ "subject": "Reminder", "text": "" }), "text"),
        ("/v1/templates/letter/firm/de", json!({ "text": "Hallo" }), "subject"),
        ("/v1/templates/letter/firm/de", json!({ "subject": "S", "text": "T", "html": "<p>x</p>" }), "html"),
        (sms, json!({ "text": "Pay", "html": "<p>Pay</p>" }), "html"),
        (sms, json!({ "subject": "Reminder", "text": "Pay" }), "subject"),
        ("/v1/templates/call/final/en", json!({ "subject": "Call", "text": "Pay" }), "subject"),
        // Undefined names and syntax errors, in whichever part they are.
        (email, json!({ "subject": "Reminder", "text": "Hello {{ debtor_nme }}" }), "text"),
        (email, json!({ "subject": "Reminder {{ tone.name }}", "text": "Hello" }), "subject"),
        (email, json!({ "subject": "Reminder", "text": "Hello", "html": "<p>{% if x %}</p>" }), "html"),
        (email, json!({ "subject": "Reminder", "text": "Hello", "html": "<p>{{ invoices[0].numbr }}</p>" }), "html"),
        (sms, json!({ "text": "Hello {{ debtor_name }" }), "text"),
        (sms, json!({ "text": "{{ 100|money('XXX') }}" }), "text"),
        (sms, json!({ "text": "{{ today|add_days('soon') }}" }), "text"),
        // Only some samples take the branch: one with an offer.
        (sms, json!({ "text": "Hi{% if offer %} {{ offer.percentage }}{% endif %}" }), "text"),
        // An SMS fits in 640 characters, rendered.
        (sms, json!({ "text": "x".repeat(641) }), "text"),
        (sms, json!({ "text": "{% for i in range(40) %}{{ debtor_name }} {% endfor %}" }), "text"),
        // The body.
        (email, json!({ "subject": "S" }), "text"),
        (email, json!({ "subject": "S", "text": 5 }), "text"),
    ];
    for (path, body, field) in &cases {
        let reply = admin.put(path, body);
        assert!(
            reply.status == 422 && problem_fields(&reply).iter().any(|f| f == field),
            "PUT {path} {body} should be 422 on {field:?}: {reply:#?}"
        );
        reply.assert_problem(422, Some(field));
    }

    // An undefined name is reported with its line.
    let reply = admin.put(
        email,
        &json!({ "subject": "Reminder", "text": "Hello {{ debtor_name }},\n\nplease pay.\n{{ debtor_nme }}" }),
    );
    reply.assert_problem(422, Some("text"));
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("line 4"), "{reply:#?}");
    assert!(detail.contains("undefined"), "{reply:#?}");
    assert!(detail.contains("debtor_nme"), "{reply:#?}");
    // A syntax error in the HTML too.
    let reply = admin.put(
        email,
        &json!({ "subject": "Reminder", "text": "Hello", "html": "<p>\n{% if x %}\n</p>" }),
    );
    reply.assert_problem(422, Some("html"));
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("syntax error") && d.contains("line ")),
        "{reply:#?}"
    );
    // An SMS that is too long says how long.
    let reply = admin.put(sms, &json!({ "text": "x".repeat(700) }));
    reply.assert_problem(422, Some("text"));
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("700") && d.contains("640")),
        "{reply:#?}"
    );
    // Exactly 640 characters (not bytes) is fine.
    ok(admin.put(sms, &json!({ "text": "ü".repeat(640) })));
    assert_eq!(admin.delete(sms).status, 204);

    // Bad paths: 404 naming the part, on every route.
    for (path, field) in [
        ("/v1/templates/fax/gentle/en", "channel"),
        ("/v1/templates/EMAIL/gentle/en", "channel"),
        ("/v1/templates/email/angry/en", "tone"),
        ("/v1/templates/email/Gentle/en", "tone"),
        ("/v1/templates/email/gentle/english", "language"),
        ("/v1/templates/email/gentle/EN", "language"),
        ("/v1/templates/email/gentle/de-", "language"),
        ("/v1/templates/email/gentle/de_AT", "language"),
        ("/v1/templates/email/gentle/x", "language"),
    ] {
        client.get(path).assert_problem(404, Some(field));
        admin
            .put(path, &json!({ "subject": "S", "text": "T" }))
            .assert_problem(404, Some(field));
        admin.delete(path).assert_problem(404, Some(field));
        post_empty(&client, &format!("{path}/preview")).assert_problem(404, Some(field));
    }

    // A client key is refused before anything is checked.
    client
        .put(email, &json!({ "text": "no subject" }))
        .assert_problem(403, None);

    // None of it was saved.
    assert_eq!(ok(client.get(TEMPLATE)), json!([]));
    assert_eq!(ok(client.get(email))["name"], "builtin:email/gentle/en");
}

#[test]
fn preview_renders_sample_data_a_draft_or_a_debtors_open_invoices() {
    let server = quiet_server();
    let (admin, client) = server.tenant("acme");

    // No body: the effective template on sample data, in the language.
    let (subject, text, html) =
        rendered(post_empty(&client, "/v1/templates/email/gentle/en/preview"));
    let subject = subject.expect("an email has a subject");
    assert!(!subject.is_empty() && !subject.contains('\n'), "{subject}");
    assert!(text.starts_with("Dear Northwind Traders,"), "{text}");
    for expected in [
        "INV-2026-0412",
        "INV-2026-0431",
        "6 May 2026",
        "EUR 1,205.00",
        "Total outstanding: EUR 1,695.50",
        "Harbour & Finch Ltd",
    ] {
        assert!(text.contains(expected), "no {expected:?} in {text}");
    }
    assert!(!text.contains("{{"), "{text}");
    let html = html.expect("the built-in email has HTML");
    assert!(html.contains("Harbour &amp; Finch Ltd"), "{html}");
    assert!(html.contains("lang=\"en\""), "{html}");

    let (_, text, _) = rendered(post_empty(&client, "/v1/templates/email/gentle/de/preview"));
    for expected in [
        "Schneider Bau GmbH",
        "RE-2026-0412",
        "6. Mai 2026",
        "1.205,00 EUR",
        "1.695,50 EUR",
    ] {
        assert!(text.contains(expected), "no {expected:?} in {text}");
    }
    // An SMS has text only; `{}` is the same as no body.
    let (subject, sms_text, html) =
        rendered(client.post("/v1/templates/sms/firm/en/preview", &json!({})));
    assert_eq!((subject, html), (None, None));
    assert!(
        sms_text.contains("Northwind Traders") || sms_text.contains("INV-2026-0412"),
        "{sms_text}"
    );
    assert!(sms_text.chars().count() <= 640);

    // A saved template is the effective one.
    ok(admin.put(
        "/v1/templates/sms/gentle/en",
        &json!({ "text": "Saved: {{ debtor_name }}" }),
    ));
    let (_, text, _) = rendered(post_empty(&client, "/v1/templates/sms/gentle/en/preview"));
    assert_eq!(text, "Saved: Northwind Traders");

    // A draft is rendered (and checked) instead, with the filters reading
    // the language.
    let draft = json!({ "template": { "text":
        "{{ debtor_name }}: {{ totals[0].amount|money(totals[0].currency) }}, due {{ invoices[0].due_on|date }}, by {{ today|add_days(14)|date }}" } });
    let (_, text, _) = rendered(client.post("/v1/templates/sms/gentle/en/preview", &draft));
    assert_eq!(
        text,
        "Northwind Traders: EUR 1,695.50, due 6 May 2026, by 29 May 2026"
    );
    let (_, text, _) = rendered(client.post("/v1/templates/sms/gentle/de/preview", &draft));
    assert_eq!(
        text,
        "Schneider Bau GmbH: 1.695,50 EUR, due 6. Mai 2026, by 29. Mai 2026"
    );
    // The draft was not saved.
    let (_, text, _) = rendered(post_empty(&client, "/v1/templates/sms/gentle/en/preview"));
    assert_eq!(text, "Saved: Northwind Traders");

    // A bad draft is refused like a bad save, under `template.`.
    for (path, template, field) in [
        (
            "/v1/templates/sms/gentle/en/preview",
            json!({ "text": "{{ debtor_nme }}" }),
            "template.text",
        ),
        (
            "/v1/templates/sms/gentle/en/preview",
            json!({ "text": "x", "html": "<p>x</p>" }),
            "template.html",
        ),
        (
            "/v1/templates/sms/gentle/en/preview",
            json!({ "text": "y".repeat(700) }),
            "template.text",
        ),
        (
            "/v1/templates/email/gentle/en/preview",
            json!({ "text": "Hi" }),
            "template.subject",
        ),
        (
            "/v1/templates/email/gentle/en/preview",
            json!({ "subject": "S", "text": "T", "html": "{% for %}" }),
            "template.html",
        ),
        (
            "/v1/templates/email/gentle/en/preview",
            json!({ "subject": "S" }),
            "template.text",
        ),
    ] {
        let reply = client.post(path, &json!({ "template": template }));
        assert!(
            problem_fields(&reply).iter().any(|f| f == field),
            "{path} {template} should be refused on {field:?}: {reply:#?}"
        );
        reply.assert_problem(422, Some(field));
    }
    client
        .post(
            "/v1/templates/sms/gentle/en/preview",
            &json!({ "debtor": "x" }),
        )
        .assert_problem(422, Some("debtor"));
    send_raw(
        &client,
        "POST",
        "/v1/templates/sms/gentle/en/preview",
        "not json",
    )
    .assert_problem(422, Some("body"));

    // A debtor's real open invoices: paid ones are left out, partly paid
    // ones show what is still owed, amounts and dates in the language of
    // the path.
    let debtor = json!({ "external_id": "d-1", "name": "Globex", "email": "ap@globex.example" });
    created(client.post("/v1/debtors", &debtor));
    created(client.post(
        "/v1/invoices",
        &json!({ "external_id": "a-1", "number": "INV-77", "debtor_id": "d-1", "currency": "EUR",
                 "amount": 1_234_50, "issued_on": "2026-04-01", "due_on": "2026-05-01" }),
    ));
    new_invoice(
        &client,
        "a-2",
        "d-1",
        "EUR",
        500_00,
        "2026-05-16",
        "2026-06-15",
    );
    new_invoice(
        &client,
        "a-3",
        "d-1",
        "EUR",
        99_00,
        "2026-05-16",
        "2026-06-15",
    );
    pay(&client, "d-1", "a-2", 100_00, "2026-06-20");
    pay(&client, "d-1", "a-3", 99_00, "2026-06-20");

    let (subject, text, html) = rendered(client.post(
        "/v1/templates/email/gentle/en/preview",
        &json!({ "debtor_id": "d-1" }),
    ));
    assert!(subject.is_some_and(|s| !s.is_empty()));
    assert!(text.starts_with("Dear Globex,"), "{text}");
    for expected in [
        "Invoice INV-77 (due 1 May 2026,",
        "EUR 1,234.50",
        "Invoice a-2 (due 15 June 2026,",
        "EUR 400.00 outstanding of EUR 500.00",
        "Total outstanding: EUR 1,634.50",
    ] {
        assert!(text.contains(expected), "no {expected:?} in {text}");
    }
    assert!(!text.contains("a-3"), "a paid invoice is not owed: {text}");
    assert!(!text.contains("Northwind"), "not the sample: {text}");
    let html = html.expect("html");
    assert!(
        html.contains("INV-77") && html.contains("EUR 1,234.50"),
        "{html}"
    );

    let (_, text, _) = rendered(client.post(
        "/v1/templates/email/gentle/de/preview",
        &json!({ "debtor_id": "d-1" }),
    ));
    for expected in [
        "INV-77",
        "1. Mai 2026",
        "1.234,50 EUR",
        "15. Juni 2026",
        "400,00 EUR",
        "1.634,50 EUR",
    ] {
        assert!(text.contains(expected), "no {expected:?} in {text}");
    }
    assert!(!text.contains("EUR 1,234.50"), "{text}");

    // A draft with a debtor: both at once.
    let (_, text, _) = rendered(client.post(
        "/v1/templates/sms/gentle/de/preview",
        &json!({ "debtor_id": "d-1", "template": { "text":
            "{% for line in invoices %}{{ line.number }} {{ line.due_on|date }} {{ line.open_amount|money(line.currency) }}\n{% endfor %}" } }),
    ));
    assert_eq!(
        text,
        "INV-77 1. Mai 2026 1.234,50 EUR\na-2 15. Juni 2026 400,00 EUR"
    );

    // Unknown debtor (or another tenant's): 422 on debtor_id.
    client
        .post(
            "/v1/templates/email/gentle/en/preview",
            &json!({ "debtor_id": "ghost" }),
        )
        .assert_problem(422, Some("debtor_id"));
    let (_, other) = server.tenant("other");
    other
        .post(
            "/v1/templates/email/gentle/en/preview",
            &json!({ "debtor_id": "d-1" }),
        )
        .assert_problem(422, Some("debtor_id"));

    // HTML escapes the debtor's name; text and subject do not.
    let debtor = json!({ "external_id": "d-html", "name": "Fish <b>& Chips</b>" });
    created(client.post("/v1/debtors", &debtor));
    new_invoice(
        &client,
        "h-1",
        "d-html",
        "EUR",
        10_00,
        "2026-04-01",
        "2026-05-01",
    );
    let (_, text, html) = rendered(client.post(
        "/v1/templates/email/gentle/en/preview",
        &json!({ "debtor_id": "d-html" }),
    ));
    assert!(text.starts_with("Dear Fish <b>& Chips</b>,"), "{text}");
    let html = html.expect("html");
    assert!(
        html.contains("Dear Fish &lt;b&gt;&amp; Chips&lt;"),
        "{html}"
    );
    assert!(!html.contains("<b>&"), "{html}");
    assert!(!html.contains("Fish <b>"), "{html}");
    let (subject, text, html) = rendered(client.post(
        "/v1/templates/email/gentle/en/preview",
        &json!({ "debtor_id": "d-html", "template": {
            "subject": "{{ debtor_name }}", "text": "{{ debtor_name }}", "html": "<p>{{ debtor_name }}</p>" } }),
    ));
    assert_eq!(subject.as_deref(), Some("Fish <b>& Chips</b>"));
    assert_eq!(text, "Fish <b>& Chips</b>");
    assert_eq!(
        html.as_deref(),
        Some("<p>Fish &lt;b&gt;&amp; Chips&lt;&#x2f;b&gt;</p>")
    );
}

// ---------------------------------------------------------------------------
// Host bugs found while writing these tests (each fails until fixed)
// ---------------------------------------------------------------------------

/// `Template` (host/src/templates.rs) lacks `#[serde(deny_unknown_fields)]`,
/// unlike every other request body: a misspelt part (`htlm`) is dropped
/// without a word and the template saved without it.
#[test]
fn an_unknown_template_field_is_refused() {
    let server = quiet_server();
    let (admin, client) = server.tenant("acme");
    let misspelt = json!({ "subject": "Reminder", "text": "Hello {{ debtor_name }}",
                           "htlm": "<p>Hello {{ debtor_name }}</p>" });
    let reply = admin.put("/v1/templates/email/gentle/en", &misspelt);
    let saved = ok(client.get("/v1/templates/email/gentle/en"));
    reply.assert_problem(422, Some("htlm"));
    assert_eq!(saved["name"], "builtin:email/gentle/en", "{saved:#}");
    client
        .post(
            "/v1/templates/email/gentle/en/preview",
            &json!({ "template": misspelt }),
        )
        .assert_problem(422, Some("template.htlm"));
}

/// A segment's `rule` given as a JSON array is taken positionally (serde's
/// sequence form of a struct, with the container-level `default` filling
/// the rest): `[["vip"]]` is saved as `{"tags_any": ["vip"]}` and `[]` as
/// `{}`, where an object is the only shape a rule has.
#[test]
fn a_segment_rule_given_as_an_array_is_refused() {
    let server = quiet_server();
    let (admin, client) = server.tenant("acme");
    for rule in [json!([["vip"]]), json!([])] {
        let reply = admin.put(
            "/v1/segments/x",
            &json!({ "strategy": "ladder", "rule": rule }),
        );
        let listed = segment_ids(&client);
        reply.assert_problem(422, Some("rule"));
        assert_eq!(listed, ["default"]);
    }
}
