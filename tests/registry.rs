//! The plugin registry over HTTP with real components: uploads checked
//! (each kind of bad upload refused with problem+json naming the failed
//! check and the plugin's log tail), versions listed, activated in a
//! segment with no restart, rolled back, retired, an evaluation replayed
//! against another version, and nothing of one tenant's plugins visible to
//! another.

mod support;

use dun::builtin::PLUGIN_DIR;
use serde_json::{Value, json};
use support::{Client, Reply, Server};

fn component(name: &str) -> Vec<u8> {
    std::fs::read(format!("{PLUGIN_DIR}/{name}.wasm")).unwrap()
}

fn upload(admin: &Client, name: &str, version: &str, bytes: &[u8]) -> Reply {
    admin.request(
        "POST",
        &format!("/v1/plugins/{name}/versions?version={version}"),
        Some(bytes),
        &[("Content-Type", "application/wasm")],
    )
}

/// A refused upload: 422 (or `status`), the failed check as the field, and
/// the fault's kind.
fn refused(reply: &Reply, status: u16, check: &str, kind: &str) -> Value {
    assert_eq!(reply.status, status, "{reply:#?}");
    assert_eq!(reply.body["errors"][0]["field"], check, "{:#}", reply.body);
    assert_eq!(reply.body["plugin"]["kind"], kind, "{:#}", reply.body);
    assert!(
        reply.body["type"]
            .as_str()
            .unwrap()
            .ends_with("/plugin-refused"),
        "{:#}",
        reply.body
    );
    reply.body.clone()
}

/// A server on a test clock that moves only when a test moves it, with
/// no scheduler or dispatcher running on their own: each test decides and
/// sends when it asks to.
const STILL: [(&str, &str); 3] = [
    ("DUN_TEST_CLOCK", "2026-05-04T10:00:00Z"),
    ("DUN_SCHEDULER_INTERVAL_SECS", "0"),
    ("DUN_DISPATCH_INTERVAL_SECS", "0"),
];

#[test]
fn each_kind_of_bad_upload_is_refused_with_what_failed() {
    let server = Server::start();
    let (admin, client) = server.tenant("acme");

    // Not a component at all.
    refused(
        &upload(&admin, "junk", "1.0.0", b"MZ\x90\0 not wasm"),
        422,
        "component",
        "not-a-component",
    );
    // A component that imports what dun does not provide.
    let evil =
        wat::parse_str(r#"(component (import "evil:net/socket@1.0.0" (instance)))"#).unwrap();
    let body = refused(
        &upload(&admin, "evil", "1.0.0", &evil),
        422,
        "component",
        "forbidden-import",
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("evil:net/socket@1.0.0"),
        "{body:#}"
    );
    // A component that does not implement the contract.
    let empty = wat::parse_str("(component)").unwrap();
    refused(
        &upload(&admin, "empty", "1.0.0", &empty),
        422,
        "component",
        "wrong-contract",
    );
    // describe() panics: refused with what it printed.
    let body = refused(
        &upload(&admin, "broken", "1.0.0", &component("faulty-describe")),
        422,
        "describe",
        "trap",
    );
    let log = body["plugin"]["log"].to_string();
    assert!(log.contains("faulty-describe: about to fail"), "{body:#}");
    assert!(log.contains("describe is broken"), "{body:#}");
    // An invalid plan on a conformance case: refused naming the case, with
    // the checks it passed and its log.
    let body = refused(
        &upload(&admin, "faulty", "1.0.0", &component("faulty")),
        422,
        "conformance/09-several-invoices",
        "invalid-plan",
    );
    assert!(
        body["detail"].as_str().unwrap().contains("no-such-invoice"),
        "{body:#}"
    );
    assert!(
        body["plugin"]["log"]
            .to_string()
            .contains("faulty: 4 invoice(s)"),
        "{body:#}"
    );
    let passed: Vec<&str> = body["plugin"]["passed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(
        passed.contains(&"describe") && passed.contains(&"conformance/08-promised"),
        "{passed:?}"
    );
    // Too big: past the runtime's limit, before anything else.
    let huge = vec![0u8; (64 << 20) + 1];
    let reply = upload(&admin, "huge", "1.0.0", &huge);
    assert_eq!(reply.status, 413, "{reply:#?}");
    // Not semver, not wasm, not an admin.
    let ladder = component("ladder");
    let reply = upload(&admin, "mine", "one", &ladder);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["errors"][0]["field"], "version");
    let reply = admin.request(
        "POST",
        "/v1/plugins/mine/versions?version=1.0.0",
        Some(&ladder),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(reply.status, 415, "{reply:#?}");
    assert_eq!(upload(&client, "mine", "1.0.0", &ladder).status, 403);
    assert_eq!(upload(&admin, "Mine", "1.0.0", &ladder).status, 404);
    // Nothing refused was kept.
    assert_eq!(admin.get("/v1/plugins").body, json!([]));
}

#[test]
fn versions_are_uploaded_activated_rolled_back_retired_and_replayed() {
    let server = Server::start_with_env(&STILL);
    let (admin, client) = server.tenant("acme");
    let (other_admin, other_client) = server.tenant("other");

    // Two versions of one plugin: the ladder, then segmented.
    let first = upload(&admin, "house", "1.0.0", &component("ladder"));
    assert_eq!(first.status, 201, "{first:#?}");
    let v1 = &first.body;
    assert_eq!(v1["status"], "validated");
    assert_eq!(v1["contract"], "0.1.0");
    assert_eq!(v1["info"]["name"], "ladder");
    assert_eq!(v1["size"], component("ladder").len());
    let checks = v1["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2 + 10, "{v1:#}");
    assert!(checks.iter().all(|c| c["ok"] == true));
    // The same bytes again: accepted as it was. Other bytes: refused.
    let again = upload(&admin, "house", "1.0.0", &component("ladder"));
    assert_eq!(again.status, 200, "{again:#?}");
    assert_eq!(again.body["sha256"], v1["sha256"]);
    let changed = upload(&admin, "house", "1.0.0", &component("segmented"));
    assert_eq!(changed.status, 409, "{changed:#?}");
    assert_eq!(changed.body["errors"][0]["field"], "version");
    assert_eq!(
        upload(&admin, "house", "1.1.0", &component("segmented")).status,
        201
    );
    let listed = client.get("/v1/plugins/house/versions").body;
    let versions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.1.0", "1.0.0"]);

    // A debtor who owes three invoices (a plan offer is what segmented adds).
    let debtor = json!({ "external_id": "kunde", "name": "Kunde GmbH", "email": "ap@kunde.example",
                         "time_zone": "Europe/Berlin", "language": "de" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    for (id, due) in [
        ("K-1", "2026-04-24"),
        ("K-2", "2026-04-10"),
        ("K-3", "2026-03-15"),
    ] {
        let invoice = json!({ "external_id": id, "debtor_id": "kunde", "currency": "EUR",
                              "amount": 900_00, "issued_on": "2026-03-01", "due_on": due });
        assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
    }
    let evaluate = || {
        let reply = client.post("/v1/debtors/kunde/evaluate", &json!({}));
        assert_eq!(reply.status, 201, "{reply:#?}");
        reply.body
    };

    // Activate 1.0.0 for the default segment: the next evaluation uses it,
    // no restart.
    let unknown = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "house@9.9.9" }),
    );
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.body["errors"][0]["field"], "strategy");
    let active = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "house@1.0.0" }),
    );
    assert!(matches!(active.status, 200 | 201), "{active:#?}");
    let on_v1 = evaluate();
    assert_eq!(on_v1["strategy"], "house@1.0.0", "{on_v1:#}");
    assert_eq!(on_v1["outcome"], "ok");
    assert_eq!(on_v1["plugin_digest"], v1["sha256"]);
    let shown = client.get("/v1/plugins/house/versions/1.0.0").body;
    assert_eq!(shown["active_in"], json!(["default"]));

    // Then 1.1.0; then roll back to 1.0.0, then to the built-in ladder.
    assert_eq!(
        admin
            .put(
                "/v1/segments/default",
                &json!({ "strategy": "house@1.1.0" })
            )
            .status,
        200
    );
    let on_v2 = evaluate();
    assert_eq!(on_v2["strategy"], "house@1.1.0");
    let rolled = admin.post("/v1/segments/default/rollback", &json!({}));
    assert_eq!(rolled.status, 200, "{rolled:#?}");
    assert_eq!(rolled.body["strategy"], "house@1.0.0");
    assert_eq!(evaluate()["strategy"], "house@1.0.0");
    let rolled = admin.post("/v1/segments/default/rollback", &json!({}));
    assert_eq!(rolled.body["strategy"], "ladder", "{rolled:#?}");
    let nothing = admin.post("/v1/segments/default/rollback", &json!({}));
    assert_eq!(nothing.status, 409, "{nothing:#?}");

    // Retire: refused while active, then done; a retired version cannot be
    // activated.
    admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "house@1.1.0" }),
    );
    let busy = admin.post("/v1/plugins/house/versions/1.1.0/retire", &json!({}));
    assert_eq!(busy.status, 409, "{busy:#?}");
    let retired = admin.post("/v1/plugins/house/versions/1.0.0/retire", &json!({}));
    assert_eq!(retired.status, 200, "{retired:#?}");
    assert_eq!(retired.body["status"], "retired");
    let reply = admin.put("/v1/segments/vip", &json!({ "strategy": "house@1.0.0" }));
    assert_eq!(reply.status, 422, "{reply:#?}");
    assert!(
        reply.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("retired")
    );

    // Replay the 1.0.0 evaluation against 1.1.0: the same input, another
    // plan (segmented offers a payment plan on this much), and a diff.
    let id = on_v1["id"].as_str().unwrap();
    let replay = client.post(
        &format!("/v1/evaluations/{id}/replay?version=1.1.0"),
        &json!({}),
    );
    assert_eq!(replay.status, 200, "{replay:#?}");
    let replay = replay.body;
    assert_eq!(replay["original_strategy"], "house@1.0.0");
    assert_eq!(replay["strategy"], "house@1.1.0");
    assert_eq!(replay["outcome"], "ok");
    assert_eq!(replay["same"], false, "{replay:#}");
    assert_eq!(replay["original_plan"], on_v1["plan"]);
    assert!(replay["plan"]["actions"].is_array(), "{replay:#}");
    assert!(
        replay["diff"].as_str().unwrap().contains("+ "),
        "{replay:#}"
    );
    let same = client
        .post(
            &format!("/v1/evaluations/{id}/replay?strategy=ladder"),
            &json!({}),
        )
        .body;
    assert_eq!(same["same"], true, "{same:#}");

    // Another tenant sees none of it and cannot run it.
    assert_eq!(other_client.get("/v1/plugins").body, json!([]));
    assert_eq!(other_client.get("/v1/plugins/house/versions").status, 404);
    assert_eq!(
        other_client.get("/v1/plugins/house/versions/1.1.0").status,
        404
    );
    let reply = other_admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "house@1.1.0" }),
    );
    assert_eq!(reply.status, 422, "{reply:#?}");
    assert_eq!(
        other_admin
            .post("/v1/plugins/house/versions/1.1.0/retire", &json!({}))
            .status,
        404
    );
    assert_eq!(
        other_client
            .post(
                &format!("/v1/evaluations/{id}/replay?version=1.1.0"),
                &json!({})
            )
            .status,
        404
    );
}

#[test]
fn a_version_that_keeps_faulting_is_quarantined_and_its_segment_falls_back() {
    let server = Server::start_with_env(&STILL);
    let (admin, client) = server.tenant("acme");
    let operator = server.operator();
    assert_eq!(
        upload(&admin, "house", "1.0.0", &component("ladder")).status,
        201
    );
    // The hostile guest passes the checks (its default mode plans sensibly);
    // its segment's config makes it trap on every real decision.
    assert_eq!(
        upload(&admin, "wild", "1.0.0", &component("hostile")).status,
        201
    );
    let debtor =
        json!({ "external_id": "kunde", "name": "Kunde GmbH", "email": "ap@kunde.example" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let invoice = json!({ "external_id": "K-1", "debtor_id": "kunde", "currency": "EUR",
                          "amount": 100_00, "issued_on": "2026-03-01", "due_on": "2026-04-24" });
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
    for strategy in [
        json!({ "strategy": "house@1.0.0" }),
        json!({ "strategy": "wild@1.0.0", "config": { "mode": "trap" } }),
    ] {
        let reply = admin.put("/v1/segments/default", &strategy);
        assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
    }
    let evaluate = || {
        let reply = client.post("/v1/debtors/kunde/evaluate", &json!({}));
        assert_eq!(reply.status, 201, "{reply:#?}");
        reply.body
    };

    // Four traps are recorded as faults; the fifth quarantines the version
    // and the decision is made again with what the segment ran before.
    for _ in 0..4 {
        let evaluation = evaluate();
        assert_eq!(evaluation["strategy"], "wild@1.0.0");
        assert_eq!(evaluation["outcome"], "trap", "{evaluation:#}");
    }
    let fallback = evaluate();
    assert_eq!(fallback["strategy"], "house@1.0.0", "{fallback:#}");
    assert_eq!(fallback["outcome"], "ok");
    assert_eq!(fallback["segment"], "default");
    let wild = client.get("/v1/plugins/wild/versions/1.0.0").body;
    assert_eq!(wild["status"], "quarantined", "{wild:#}");
    assert!(
        wild["quarantine_reason"]
            .as_str()
            .unwrap()
            .starts_with("5 faults in its last 5 evaluations"),
        "{wild:#}"
    );
    assert_eq!(wild["active_in"], json!(["default"]), "still named by it");
    let timeline = client.get("/v1/debtors/kunde/timeline?limit=100").body;
    let told: Vec<&Value> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "plugin.quarantined")
        .collect();
    assert_eq!(told.len(), 1, "{timeline:#}");
    assert_eq!(told[0]["subject"], "wild@1.0.0");
    let metrics = server.anonymous().get("/metrics");
    let text = metrics.body.as_str().unwrap_or_default();
    for line in [
        "dun_plugin_quarantines_total 1",
        // Per version: the traps, then the fallback's decision and its actions.
        r#"dun_strategy_evaluations_total{tenant="acme",strategy="wild@1.0.0",outcome="trap"} 5"#,
        r#"dun_strategy_evaluations_total{tenant="acme",strategy="house@1.0.0",outcome="ok"} 1"#,
        r#"dun_strategy_actions_total{tenant="acme",strategy="house@1.0.0",kind="remind"} 1"#,
        r#"dun_strategy_fuel_count{tenant="acme",strategy="house@1.0.0"} 1"#,
        r#"dun_strategy_duration_seconds_count{tenant="acme",strategy="wild@1.0.0"} 5"#,
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
    assert_eq!(evaluate()["strategy"], "house@1.0.0");

    // Only an operator releases it; then the segment runs it again.
    let refused = admin.post("/v1/plugins/wild/versions/1.0.0/release", &json!({}));
    assert_eq!(refused.status, 403, "{refused:#?}");
    let released = operator.request(
        "POST",
        "/v1/plugins/wild/versions/1.0.0/release",
        None,
        &[("Dun-Tenant", "acme")],
    );
    assert_eq!(released.status, 200, "{released:#?}");
    assert_eq!(released.body["status"], "validated");
    let again = evaluate();
    assert_eq!(again["strategy"], "wild@1.0.0");
    assert_eq!(again["outcome"], "trap");
    let not_quarantined = operator.request(
        "POST",
        "/v1/plugins/wild/versions/1.0.0/release",
        None,
        &[("Dun-Tenant", "acme")],
    );
    assert_eq!(not_quarantined.status, 409);
}

#[test]
fn a_shadow_strategy_is_recorded_not_carried_out_and_a_split_is_stable() {
    let server = Server::start_with_env(&STILL);
    let (admin, client) = server.tenant("acme");

    // Bad shadows and splits are refused naming the field.
    for (body, field) in [
        (json!({ "strategy": "ladder", "shadow": "nope" }), "shadow"),
        (
            json!({ "strategy": "ladder", "split": { "strategy": "segmented", "percent": 0 } }),
            "split/percent",
        ),
        (
            json!({ "strategy": "ladder", "split": { "strategy": "nope", "percent": 10 } }),
            "split/strategy",
        ),
    ] {
        let reply = admin.put("/v1/segments/default", &body);
        assert_eq!(reply.status, 422, "{body}: {reply:#?}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{:#}", reply.body);
    }

    // The ladder decides; the segmented strategy runs in shadow.
    let reply = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "ladder", "shadow": "segmented" }),
    );
    assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
    assert_eq!(reply.body["shadow"], "segmented");
    for (n, amount) in [(1, 50_00), (2, 900_00), (3, 2_500_00), (4, 9_000_00)] {
        let id = format!("d-{n}");
        let debtor = json!({ "external_id": id, "name": format!("Debtor {n}"), "email": format!("ap@{n}.example"),
                             "phone": "+4915112345678", "time_zone": "Europe/Berlin" });
        assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
        for (i, due) in ["2026-04-24", "2026-04-10", "2026-03-15"]
            .iter()
            .enumerate()
        {
            let invoice = json!({ "external_id": format!("{id}-{i}"), "debtor_id": id, "currency": "EUR",
                                  "amount": amount, "issued_on": "2026-03-01", "due_on": due });
            assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
        }
        let evaluation = client.post(&format!("/v1/debtors/{id}/evaluate"), &json!({}));
        assert_eq!(evaluation.status, 201, "{evaluation:#?}");
        assert_eq!(evaluation.body["strategy"], "ladder");
    }
    let report = client.get("/v1/segments/default/shadow-report");
    assert_eq!(report.status, 200, "{report:#?}");
    let report = report.body;
    assert_eq!(report["shadow"], "segmented");
    assert_eq!(report["active"], json!(["ladder"]));
    assert_eq!(report["compared"], 4, "{report:#}");
    assert_eq!(report["shadow_faults"], 0);
    let disagreed = 4 - report["agreed"].as_u64().unwrap();
    assert!(
        disagreed > 0,
        "the two reference strategies disagree: {report:#}"
    );
    let example = &report["examples"][0];
    assert!(
        example["differences"][0]["aspect"].is_string(),
        "{report:#}"
    );
    assert_ne!(example["active_plan"], example["shadow_plan"]);
    // Only the active plan was carried out: whatever the shadow offered,
    // no debtor has an offer, and every message is the ladder's.
    for n in 1..=4 {
        assert_eq!(
            client.get(&format!("/v1/debtors/d-{n}/offers")).body,
            json!([])
        );
    }
    let shadow_only: Vec<&String> = report["actions"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, counts)| counts[0] == 0)
        .map(|(kind, _)| kind)
        .collect();
    assert!(!shadow_only.is_empty() || disagreed > 0, "{report:#}");

    // Half the debtors by a stable hash of their id: both arms used, and a
    // debtor stays in its arm.
    let reply = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "ladder", "split": { "strategy": "segmented", "percent": 50 } }),
    );
    assert_eq!(reply.status, 200, "{reply:#?}");
    let mut arms = std::collections::BTreeMap::new();
    for n in 1..=4 {
        let first = client
            .post(&format!("/v1/debtors/d-{n}/evaluate"), &json!({}))
            .body;
        let again = client
            .post(&format!("/v1/debtors/d-{n}/evaluate"), &json!({}))
            .body;
        assert_eq!(first["strategy"], again["strategy"], "d-{n} changed arms");
        *arms
            .entry(first["strategy"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    for n in 5..=24 {
        let id = format!("d-{n}");
        let debtor = json!({ "external_id": id, "name": format!("Debtor {n}") });
        assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
        let invoice = json!({ "external_id": format!("{id}-0"), "debtor_id": id, "currency": "EUR",
                              "amount": 100_00, "issued_on": "2026-03-01", "due_on": "2026-04-24" });
        assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
        let evaluation = client
            .post(&format!("/v1/debtors/{id}/evaluate"), &json!({}))
            .body;
        *arms
            .entry(evaluation["strategy"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(arms.len(), 2, "{arms:?}");
    assert!(arms.values().all(|n| *n >= 4), "{arms:?}");
}

/// Sets a plugin's limits as `who`; the reply.
fn set_limits(who: &Client, name: &str, limits: Value, headers: &[(&str, &str)]) -> Reply {
    let body = serde_json::to_vec(&limits).unwrap();
    who.request(
        "PUT",
        &format!("/v1/plugins/{name}/limits"),
        Some(&body),
        &[&[("Content-Type", "application/json")], headers].concat(),
    )
}

#[test]
fn each_plugin_runs_under_its_own_limits_which_admins_tighten_and_operators_loosen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dun.db");
    let env = STILL;
    let mut server = Server::start_on_with(&db, &env);
    let (admin, client) = server.tenant("acme");
    let (other_admin, _) = server.tenant("other");
    let operator = server.operator();
    let as_acme = [("Dun-Tenant", "acme")];
    for (name, guest) in [
        ("house", "ladder"),
        ("wild", "hostile"),
        ("script", "scripted"),
    ] {
        assert_eq!(upload(&admin, name, "1.0.0", &component(guest)).status, 201);
    }
    assert_eq!(
        upload(&other_admin, "theirs", "2.0.0", &component("ladder")).status,
        201
    );
    let debtor =
        json!({ "external_id": "kunde", "name": "Kunde GmbH", "email": "ap@kunde.example" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let invoice = json!({ "external_id": "K-1", "debtor_id": "kunde", "currency": "EUR",
                          "amount": 100_00, "issued_on": "2026-03-01", "due_on": "2026-04-24" });
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
    let run = |segment: Value| {
        let reply = admin.put("/v1/segments/default", &segment);
        assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
        let reply = client.post("/v1/debtors/kunde/evaluate", &json!({}));
        assert_eq!(reply.status, 201, "{reply:#?}");
        reply.body
    };

    // The host-wide limits: an operator's to read and change.
    assert_eq!(admin.get("/v1/limits").status, 403);
    let host = operator.get("/v1/limits");
    assert_eq!(host.status, 200, "{host:#?}");
    let host = host.body;
    assert_eq!(
        host["limits"],
        json!({ "fuel": 50_000_000, "memory_bytes": 64 << 20, "deadline_ms": 250, "max_actions": 200 })
    );
    assert_eq!(host["ceilings"]["memory_bytes"], 1u64 << 30);
    // Untouched, a plugin has the host's.
    let house = client.get("/v1/plugins/house/limits").body;
    assert_eq!(house["effective"], host["limits"], "{house:#}");
    assert_eq!(house["own"], Value::Null);

    // An admin only tightens: above the host-wide value is 403 naming the
    // field, nonsense is 422, another tenant's plugin is not found.
    let reply = set_limits(&admin, "house", json!({ "fuel": 50_000_001 }), &[]);
    reply.assert_problem(403, Some("fuel"));
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("only tighten"),
        "{:#}",
        reply.body
    );
    set_limits(&admin, "house", json!({ "deadline_ms": 0 }), &[])
        .assert_problem(422, Some("deadline_ms"));
    set_limits(&admin, "house", json!({ "fuel": "lots" }), &[]).assert_problem(422, Some("fuel"));
    assert_eq!(
        set_limits(&client, "house", json!({ "fuel": 1000 }), &[]).status,
        403
    );
    assert_eq!(
        set_limits(&other_admin, "house", json!({ "fuel": 1000 }), &[]).status,
        404
    );
    let tight = set_limits(&admin, "house", json!({ "fuel": 1000 }), &[]);
    assert_eq!(tight.status, 200, "{tight:#?}");
    assert_eq!(tight.body["effective"]["fuel"], 1000);
    assert_eq!(tight.body["own"]["set_by_role"], "admin");
    let listed = client.get("/v1/plugins").body;
    for version in listed.as_array().unwrap() {
        let fuel = if version["name"] == "house" {
            1000
        } else {
            50_000_000
        };
        assert_eq!(version["limits"]["fuel"], fuel, "{version:#}");
    }

    // Each limit is enforced per call and faults with its kind.
    let evaluation = run(json!({ "strategy": "house@1.0.0" }));
    assert_eq!(evaluation["outcome"], "out-of-fuel", "{evaluation:#}");
    assert!(
        evaluation["error"]
            .as_str()
            .unwrap()
            .contains("(limit 1000)"),
        "{evaluation:#}"
    );
    // The built-in ladder, the same code, runs under the host's limits.
    assert_eq!(run(json!({ "strategy": "ladder" }))["outcome"], "ok");

    set_limits(&admin, "wild", json!({ "memory_bytes": 4 << 20 }), &[]);
    let evaluation = run(json!({ "strategy": "wild@1.0.0", "config": { "mode": "grow" } }));
    assert_eq!(evaluation["outcome"], "memory-limit", "{evaluation:#}");
    assert!(
        evaluation["error"]
            .as_str()
            .unwrap()
            .contains(&(4 << 20).to_string()),
        "{evaluation:#}"
    );
    set_limits(&admin, "wild", json!({ "deadline_ms": 1 }), &[]);
    let evaluation = run(json!({ "strategy": "wild@1.0.0", "config": { "mode": "loop" } }));
    assert_eq!(evaluation["outcome"], "deadline", "{evaluation:#}");
    assert!(
        evaluation["error"]
            .as_str()
            .unwrap()
            .contains("deadline of 1 ms"),
        "{evaluation:#}"
    );
    // Faults under a plugin's own limits count towards quarantine like any:
    // after the memory fault and three past the deadline, the fifth
    // quarantines it and the segment falls back to what it ran before.
    for _ in 0..2 {
        let evaluation = run(json!({ "strategy": "wild@1.0.0", "config": { "mode": "loop" } }));
        assert_eq!(evaluation["outcome"], "deadline", "{evaluation:#}");
    }
    let fallback = run(json!({ "strategy": "wild@1.0.0", "config": { "mode": "loop" } }));
    assert_eq!(fallback["strategy"], "ladder", "{fallback:#}");
    let wild = client.get("/v1/plugins/wild/versions/1.0.0").body;
    assert_eq!(wild["status"], "quarantined", "{wild:#}");

    let three = json!({ "strategy": "script@1.0.0", "config": { "actions": [
        { "kind": "remind", "channel": "email", "tone": "gentle" },
        { "kind": "remind", "channel": "email", "tone": "firm", "in_secs": 86400 },
        { "kind": "remind", "channel": "email", "tone": "final", "in_secs": 172800 } ] } });
    assert_eq!(run(three.clone())["outcome"], "ok");
    set_limits(&admin, "script", json!({ "max_actions": 2 }), &[]);
    let evaluation = run(three.clone());
    assert_eq!(evaluation["outcome"], "plan-too-large", "{evaluation:#}");
    assert!(
        evaluation["error"]
            .as_str()
            .unwrap()
            .contains("the limit is 2"),
        "{evaluation:#}"
    );

    // An operator may loosen past the host-wide value, up to what the
    // runtime can honour.
    let reply = set_limits(
        &operator,
        "wild",
        json!({ "memory_bytes": (1u64 << 30) + 1 }),
        &as_acme,
    );
    reply.assert_problem(422, Some("memory_bytes"));
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("pooling allocator"),
        "{:#}",
        reply.body
    );
    let loose = set_limits(
        &operator,
        "house",
        json!({ "deadline_ms": 1000, "fuel": 60_000_000 }),
        &as_acme,
    );
    assert_eq!(loose.status, 200, "{loose:#?}");
    assert_eq!(loose.body["effective"]["deadline_ms"], 1000);
    assert_eq!(loose.body["effective"]["fuel"], 60_000_000);
    assert_eq!(loose.body["own"]["set_by_role"], "operator");
    // What an operator tightened, an admin cannot undo: `{}` would put
    // max_actions back to the host's 200.
    let tight = json!({ "deadline_ms": 1000, "fuel": 60_000_000, "max_actions": 50 });
    assert_eq!(set_limits(&operator, "house", tight, &as_acme).status, 200);
    set_limits(&admin, "house", json!({}), &[]).assert_problem(403, Some("max_actions"));
    let restored = set_limits(
        &operator,
        "house",
        json!({ "deadline_ms": 1000, "fuel": 60_000_000 }),
        &as_acme,
    );
    assert_eq!(restored.status, 200, "{restored:#?}");
    assert_eq!(run(json!({ "strategy": "house@1.0.0" }))["outcome"], "ok");

    // Host-wide limits: the ladder needs about 8,500 units of fuel here.
    let body = serde_json::to_vec(&json!({ "fuel": 5_000, "deadline_ms": 99_999 })).unwrap();
    let put = |body: &[u8]| {
        operator.request(
            "PUT",
            "/v1/limits",
            Some(body),
            &[("Content-Type", "application/json")],
        )
    };
    put(&body).assert_problem(422, Some("deadline_ms"));
    let body = serde_json::to_vec(&json!({ "fuel": 5_000 })).unwrap();
    assert_eq!(
        admin
            .request(
                "PUT",
                "/v1/limits",
                Some(&body),
                &[("Content-Type", "application/json")]
            )
            .status,
        403
    );
    let changed = put(&body);
    assert_eq!(changed.status, 200, "{changed:#?}");
    assert_eq!(changed.body["limits"]["fuel"], 5_000);
    assert_eq!(changed.body["configured"]["fuel"], 50_000_000);
    let evaluation = run(json!({ "strategy": "ladder" }));
    assert_eq!(evaluation["outcome"], "out-of-fuel", "{evaluation:#}");
    // The operator-loosened plugin keeps its own.
    assert_eq!(run(json!({ "strategy": "house@1.0.0" }))["outcome"], "ok");

    // Every tenant's plugins: the operator's view only.
    assert_eq!(admin.get("/v1/operator/plugins").status, 403);
    let all = operator.get("/v1/operator/plugins");
    assert_eq!(all.status, 200, "{all:#?}");
    let seen: Vec<(String, String, String)> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["tenant"].as_str().unwrap().to_owned(),
                format!(
                    "{}@{}",
                    v["name"].as_str().unwrap(),
                    v["version"].as_str().unwrap()
                ),
                v["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("acme", "house@1.0.0", "validated"),
        ("acme", "script@1.0.0", "validated"),
        ("acme", "wild@1.0.0", "quarantined"),
        ("other", "theirs@2.0.0", "validated"),
    ]
    .iter()
    .map(|(t, v, s)| (t.to_string(), v.to_string(), s.to_string()))
    .collect();
    assert_eq!(seen, expected, "{:#}", all.body);
    let theirs = &all.body[3];
    assert_eq!(theirs["limits"]["fuel"], 5_000, "the host-wide limit now");

    // Limits are kept across a restart.
    server.kill();
    let server = Server::start_on_with(&db, &env);
    let operator = server.client(operator.key().unwrap());
    let client = server.client(client.key().unwrap());
    assert_eq!(operator.get("/v1/limits").body["limits"]["fuel"], 5_000);
    let house = client.get("/v1/plugins/house/limits").body;
    assert_eq!(house["effective"]["deadline_ms"], 1000, "{house:#}");
    let evaluation = client.post("/v1/debtors/kunde/evaluate", &json!({})).body;
    assert_eq!(evaluation["strategy"], "house@1.0.0");
    assert_eq!(evaluation["outcome"], "ok", "{evaluation:#}");
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "waited for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn evaluation_inputs_past_their_retention_are_dropped_and_cannot_be_replayed() {
    let server = Server::start_with_env(
        &[
            &STILL[..],
            &[
                ("DUN_SWEEP_INTERVAL_SECS", "1"),
                ("DUN_EVALUATION_INPUT_RETENTION_DAYS", "30"),
            ],
        ]
        .concat(),
    );
    let (_, client) = server.tenant("acme");
    let operator = server.operator();
    let debtor =
        json!({ "external_id": "kunde", "name": "Kunde GmbH", "email": "ap@kunde.example" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let invoice = json!({ "external_id": "K-1", "debtor_id": "kunde", "currency": "EUR",
                          "amount": 100_00, "issued_on": "2026-03-01", "due_on": "2026-04-24" });
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
    let evaluate = || {
        let reply = client.post("/v1/debtors/kunde/evaluate", &json!({}));
        assert_eq!(reply.status, 201, "{reply:#?}");
        reply.body["id"].as_str().unwrap().to_owned()
    };
    let old = evaluate();
    // Within the retention: kept, and the sweep leaves it be.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kept = client.get(&format!("/v1/evaluations/{old}")).body;
    assert!(kept["input"].is_object(), "{kept:#}");

    // 31 days on, the next sweep drops it; a newer evaluation keeps its own.
    let moved = operator.post("/v1/test-clock", &json!({ "advance_secs": 31 * 86_400 }));
    assert_eq!(moved.status, 200, "{moved:#?}");
    let new = evaluate();
    wait_until("the sweep to drop the old input", || {
        client.get(&format!("/v1/evaluations/{old}")).body["input_dropped_at"].is_string()
    });
    let dropped = client.get(&format!("/v1/evaluations/{old}")).body;
    assert!(dropped.get("input").is_none(), "{dropped:#}");
    assert_eq!(dropped["outcome"], "ok", "the evaluation itself stays");
    let replay = client.post(
        &format!("/v1/evaluations/{old}/replay?strategy=ladder"),
        &json!({}),
    );
    replay.assert_problem(410, Some("input"));
    assert!(
        replay.body["detail"]
            .as_str()
            .unwrap()
            .contains("evaluation_input_retention_days"),
        "{:#}",
        replay.body
    );
    assert!(client.get(&format!("/v1/evaluations/{new}")).body["input"].is_object());
    let replay = client.post(
        &format!("/v1/evaluations/{new}/replay?strategy=ladder"),
        &json!({}),
    );
    assert_eq!(replay.status, 200, "{replay:#?}");
    assert_eq!(replay.body["same"], true);
}

#[test]
fn quarantine_counts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dun.db");
    let env = STILL;
    let mut server = Server::start_on_with(&db, &env);
    let (admin, client) = server.tenant("acme");
    let operator = server.operator();
    assert_eq!(
        upload(&admin, "wild", "1.0.0", &component("hostile")).status,
        201
    );
    let debtor =
        json!({ "external_id": "kunde", "name": "Kunde GmbH", "email": "ap@kunde.example" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let invoice = json!({ "external_id": "K-1", "debtor_id": "kunde", "currency": "EUR",
                          "amount": 100_00, "issued_on": "2026-03-01", "due_on": "2026-04-24" });
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
    let reply = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "wild@1.0.0", "config": { "mode": "trap" } }),
    );
    assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
    let evaluate = |client: &Client| {
        let reply = client.post("/v1/debtors/kunde/evaluate", &json!({}));
        assert_eq!(reply.status, 201, "{reply:#?}");
        reply.body
    };
    for _ in 0..3 {
        assert_eq!(evaluate(&client)["outcome"], "trap");
    }
    // Three faults before the restart, two after: the fifth quarantines it.
    server.kill();
    let mut server = Server::start_on_with(&db, &env);
    let client = server.client(client.key().unwrap());
    assert_eq!(evaluate(&client)["outcome"], "trap");
    let fallback = evaluate(&client);
    assert_eq!(fallback["strategy"], "ladder", "{fallback:#}");
    let wild = client.get("/v1/plugins/wild/versions/1.0.0").body;
    assert_eq!(wild["status"], "quarantined", "{wild:#}");
    assert!(
        wild["quarantine_reason"]
            .as_str()
            .unwrap()
            .starts_with("5 faults in its last 5 evaluations"),
        "{wild:#}"
    );

    // Released, it starts with a clean record, restart or not: four more
    // faults do not quarantine it again.
    let operator = server.client(operator.key().unwrap());
    let released = operator.request(
        "POST",
        "/v1/plugins/wild/versions/1.0.0/release",
        None,
        &[("Dun-Tenant", "acme")],
    );
    assert_eq!(released.status, 200, "{released:#?}");
    assert_eq!(evaluate(&client)["outcome"], "trap");
    server.kill();
    let server = Server::start_on_with(&db, &env);
    let client = server.client(client.key().unwrap());
    for _ in 0..3 {
        let evaluation = evaluate(&client);
        assert_eq!(evaluation["strategy"], "wild@1.0.0", "{evaluation:#}");
        assert_eq!(evaluation["outcome"], "trap");
    }
    let fifth = evaluate(&client);
    assert_eq!(fifth["strategy"], "ladder", "{fifth:#}");
}

#[test]
fn the_arms_of_a_split_segment_are_compared_side_by_side() {
    let server = Server::start_with_env(&[
        ("DUN_TEST_CLOCK", "2026-05-04T10:00:00Z"),
        ("DUN_SCHEDULER_INTERVAL_SECS", "0"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
    ]);
    let (admin, client) = server.tenant("acme");
    let operator = server.operator();
    let reply = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "ladder", "split": { "strategy": "segmented", "percent": 50 } }),
    );
    assert!(matches!(reply.status, 200 | 201), "{reply:#?}");

    // 20 debtors, each owing one invoice of €100 issued in the period.
    let mut arm_of = std::collections::BTreeMap::new();
    for n in 1..=20 {
        let id = format!("d-{n}");
        let debtor = json!({ "external_id": id, "name": format!("Debtor {n}"),
                             "email": format!("ap@{n}.example"), "time_zone": "Europe/Berlin" });
        assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
        let invoice = json!({ "external_id": format!("{id}-1"), "debtor_id": id, "currency": "EUR",
                              "amount": 100_00, "issued_on": "2026-04-01", "due_on": "2026-04-20" });
        assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
        let evaluation = client.post(&format!("/v1/debtors/{id}/evaluate"), &json!({}));
        assert_eq!(evaluation.status, 201, "{evaluation:#?}");
        assert_eq!(evaluation.body["outcome"], "ok");
        arm_of.insert(id, evaluation.body["strategy"].as_str().unwrap().to_owned());
    }
    let outbox = |id: &str| client.get(&format!("/v1/debtors/{id}/outbox")).body;
    // Every debtor was reminded at once; the dispatcher sends them all.
    let settled = |m: &Value| !matches!(m["status"].as_str(), Some("scheduled" | "sending"));
    wait_until("the reminders to be sent", || {
        arm_of.keys().all(|id| {
            let messages = outbox(id);
            let messages = messages.as_array().unwrap();
            !messages.is_empty() && messages.iter().all(|m| m["status"] == "sent")
        })
    });
    // Two days later the even-numbered debtors pay in full.
    let moved = operator.post("/v1/test-clock", &json!({ "advance_secs": 2 * 86_400 }));
    assert_eq!(moved.status, 200, "{moved:#?}");
    for n in (2..=20).step_by(2) {
        let id = format!("d-{n}");
        let payment = json!({ "debtor_id": id, "currency": "EUR", "amount": 100_00, "received_on": "2026-05-06",
                              "allocations": [{ "invoice_id": format!("{id}-1"), "amount": 100_00 }] });
        let reply = client.post("/v1/payments", &payment);
        assert_eq!(reply.status, 201, "{reply:#?}");
    }
    wait_until("the dispatcher to settle what is due", || {
        arm_of.keys().all(|id| {
            outbox(id)
                .as_array()
                .unwrap()
                .iter()
                .all(|m| settled(m) || m["scheduled_at"].as_str() > Some("2026-05-06T10:00:00Z"))
        })
    });
    let reply = client.get("/v1/segments/default/arms?from=2026-04-01&to=2026-05-06");
    assert_eq!(reply.status, 200, "{reply:#?}");
    let arms = reply.body;
    assert_eq!(arms["segment"], "default");
    let listed: Vec<(&str, &str, u64)> = arms["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["strategy"].as_str().unwrap(),
                a["role"].as_str().unwrap(),
                a["percent"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("ladder", "active", 50), ("segmented", "split", 50)]
    );
    for arm in arms["arms"].as_array().unwrap() {
        let strategy = arm["strategy"].as_str().unwrap();
        let debtors: Vec<&String> = arm_of
            .iter()
            .filter(|(_, s)| s.as_str() == strategy)
            .map(|(id, _)| id)
            .collect();
        assert!(debtors.len() >= 3, "{arm_of:?}");
        let paid = debtors
            .iter()
            .filter(|id| id[2..].parse::<u32>().unwrap() % 2 == 0)
            .count() as f64;
        let sent = debtors
            .iter()
            .flat_map(|id| outbox(id).as_array().cloned().unwrap())
            .filter(|m| m["status"] == "sent")
            .count();
        assert_eq!(arm["evaluations"], debtors.len(), "{arm:#}");
        assert_eq!(arm["faults"], 0);
        let eur = &arm["currencies"][0];
        assert_eq!(eur["currency"], "EUR", "{arm:#}");
        let hundredths = |x: f64| (x * 100.0).round() / 100.0;
        assert_eq!(
            eur["collection_rate"].as_f64(),
            Some(hundredths(paid * 100.0 / debtors.len() as f64)),
            "{arm:#}"
        );
        assert_eq!(eur["reminders_sent"], sent, "{arm:#}");
        assert_eq!(eur["collected"], paid as i64 * 100_00);
        // Each paid invoice had been reminded of: all of it was collected
        // after a reminder, two days after it.
        assert_eq!(eur["collected_after_reminder"], paid as i64 * 100_00);
        assert_eq!(
            eur["messages_per_1000_collected"].as_f64(),
            Some(hundredths(sent as f64 * 1000.0 / (paid * 100.0))),
            "{arm:#}"
        );
        assert_eq!(
            eur["average_days_to_pay_after_first_reminder"].as_f64(),
            Some(2.0),
            "{arm:#}"
        );
        // The same figures as the KPI report filtered on that arm.
        let kpis = client
            .get(&format!(
                "/v1/kpis?from=2026-04-01&to=2026-05-06&segment=default&plugin_version={strategy}"
            ))
            .body;
        let report = &kpis["currencies"][0];
        assert_eq!(eur["collection_rate"], report["collection_rate"]);
        assert_eq!(
            eur["average_days_to_pay_after_first_reminder"],
            report["messages"]["average_days_to_pay_after_first_reminder"]
        );
    }
    // An unknown segment, a bad period.
    assert_eq!(client.get("/v1/segments/nope/arms").status, 404);
    client
        .get("/v1/segments/default/arms?from=2026-05-06&to=2026-04-01")
        .assert_problem(400, Some("from"));
}

/// Runs `dun plugin ARGS` against `server` with `key`: (status, stdout, stderr).
fn cli(server: &Server, key: &str, args: &[&str]) -> (i32, String, String) {
    let out = support::dun()
        .arg("plugin")
        .args(args)
        .env("DUN_URL", &server.base)
        .env("DUN_API_KEY", key)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_lifecycle_through_the_dun_cli() {
    let server = Server::start_with_env(&STILL);
    let (admin, client) = server.tenant("acme");
    let operator = server.operator();
    let (admin_key, operator_key) = (admin.key().unwrap(), operator.key().unwrap());
    let file = format!("{PLUGIN_DIR}/ladder.wasm");

    let (status, out, err) = cli(
        &server,
        admin_key,
        &["push", &file, "--name", "house", "--version", "1.0.0"],
    );
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.starts_with("uploaded house@1.0.0"), "{out}");
    let (status, out, err) = cli(&server, admin_key, &["list"]);
    assert_eq!(status, 0, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["version"], "1.0.0");
    assert_eq!(listed[0]["limits"]["fuel"], 50_000_000);

    // Limits: an admin tightens, not loosens; an operator loosens.
    let (status, out, err) = cli(
        &server,
        admin_key,
        &["limits", "house", "--fuel", "1000000"],
    );
    assert_eq!(status, 0, "{err}");
    let limits: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(limits["effective"]["fuel"], 1_000_000);
    let (status, _, err) = cli(
        &server,
        admin_key,
        &["limits", "house", "--deadline-ms", "300"],
    );
    assert_eq!(status, 1);
    assert!(err.contains("only tighten"), "{err}");
    let (status, out, err) = cli(
        &server,
        operator_key,
        &[
            "limits",
            "house",
            "--deadline-ms",
            "300",
            "--tenant",
            "acme",
        ],
    );
    assert_eq!(status, 0, "{err}");
    let limits: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(limits["effective"]["deadline_ms"], 300);
    assert_eq!(
        limits["own"]["fuel"], 1_000_000,
        "the limits not named on the command line are kept"
    );

    // Activate (a segment names it), decide, replay, look at the arms,
    // roll back; release refuses a version not in quarantine.
    let reply = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "house@1.0.0" }),
    );
    assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
    let debtor =
        json!({ "external_id": "kunde", "name": "Kunde GmbH", "email": "ap@kunde.example" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let invoice = json!({ "external_id": "K-1", "debtor_id": "kunde", "currency": "EUR",
                          "amount": 100_00, "issued_on": "2026-03-01", "due_on": "2026-04-24" });
    assert_eq!(client.post("/v1/invoices", &invoice).status, 201);
    let evaluation = client.post("/v1/debtors/kunde/evaluate", &json!({})).body;
    assert_eq!(evaluation["strategy"], "house@1.0.0", "{evaluation:#}");
    let id = evaluation["id"].as_str().unwrap();
    let (status, out, err) = cli(
        &server,
        client.key().unwrap(),
        &["replay", id, "--strategy", "ladder"],
    );
    assert_eq!(status, 0, "{err}");
    assert!(
        out.starts_with("house@1.0.0 -> ladder: the same plan"),
        "{out}"
    );
    let (status, out, err) = cli(
        &server,
        client.key().unwrap(),
        &["arms", "default", "--from", "2026-05-01"],
    );
    assert_eq!(status, 0, "{err}");
    let arms: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(arms["arms"][0]["strategy"], "house@1.0.0");
    assert_eq!(arms["arms"][0]["evaluations"], 1);
    let (status, out, err) = cli(&server, admin_key, &["rollback", "default"]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["strategy"],
        "ladder"
    );
    let (status, _, err) = cli(
        &server,
        operator_key,
        &["release", "house", "1.0.0", "--tenant", "acme"],
    );
    assert_eq!(status, 1);
    assert!(
        err.contains("(409)") && err.contains("not quarantined"),
        "{err}"
    );
}
