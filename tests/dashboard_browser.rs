//! The operator dashboard in real headless Chromium
//! (`tests/browser/dashboard.mjs`): log in with a real key, read the KPI
//! tiles and compare them with `GET /v1/kpis`, the charts drawn without a
//! console error, the registry and a debtor's timeline reached through the
//! page's own navigation, checked against the API.

mod support;

use serde_json::{Value, json};
use support::browser;
use support::dashboard::{self, HOSTILE_NAME};

#[test]
fn an_admin_logs_in_and_sees_the_seeded_figures() {
    let server = dashboard::server();
    let seeded = dashboard::seed(&server);
    let seen = browser::run(
        "dashboard",
        &json!({ "base": server.base, "key": seeded.admin.key().unwrap(), "debtor": "d1" }),
    );

    assert_eq!(seen["atLogin"], "/dashboard/login", "{seen:#}");
    assert_eq!(seen["heading"], "Overview of acme");
    assert_eq!(seen["errors"], json!([]), "console errors: {seen:#}");

    // Every tile shows the API's figure for the same (default) period.
    let report = seeded.client.get("/v1/kpis").body;
    let eur = &report["currencies"][0];
    assert_eq!(eur["currency"], "EUR");
    let tiles = seen["tiles"].as_object().expect("tiles");
    for key in [
        "dso",
        "countback_dso",
        "best_possible_dso",
        "add",
        "cei",
        "collection_rate",
        "on_time_rate",
        "messages.response_rate",
        "messages.average_days_to_pay_after_first_reminder",
        "messages.messages_per_1000_collected",
    ] {
        let value = key.split('.').fold(eur, |v, part| &v[part]);
        let expected = match value {
            Value::Null => "n/a".to_owned(),
            Value::Number(n) => format!("{:.2}", n.as_f64().unwrap()),
            other => panic!("{key}: {other}"),
        };
        assert_eq!(tiles[key], expected, "{key}");
    }
    assert_ne!(tiles["dso"], "n/a");
    assert_ne!(tiles["messages.response_rate"], "n/a");
    let ending = eur["receivables"]["ending"].as_i64().unwrap();
    assert_eq!(
        tiles["receivables.ending"],
        format!("{}.{:02}", ending / 100, ending % 100)
    );

    // The four charts drew: a canvas each, sized, with their series.
    let charts = seen["charts"].as_array().unwrap();
    let ids: Vec<&str> = charts.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["chart-dso", "chart-rates", "chart-aging", "chart-responses"]
    );
    for chart in charts {
        assert_eq!(chart["canvases"], 1, "{chart}");
        assert!(chart["width"].as_u64().unwrap() > 200, "{chart}");
    }
    // x + DSO + countback; x + three rates; x + five buckets; x + rate.
    let series: Vec<u64> = charts
        .iter()
        .map(|c| c["series"].as_u64().unwrap())
        .collect();
    assert_eq!(series, [3, 4, 6, 2]);

    // On a phone's width the page does not scroll sideways.
    assert!(
        seen["phone"]["scrollWidth"].as_u64() <= seen["phone"]["clientWidth"].as_u64(),
        "{:#}",
        seen["phone"]
    );

    // The registry shows what the API lists.
    let versions = seeded.admin.get("/v1/plugins/scripted/versions").body;
    let listed: Vec<String> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{}@{}",
                v["name"].as_str().unwrap(),
                v["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(seen["plugins"], json!(listed));
    let strategies = seen["strategies"].as_array().unwrap();
    let total: u64 = strategies
        .iter()
        .map(|s| s["evaluations"].as_u64().unwrap())
        .sum();
    // d1, d2 (default, scripted), d3 (later, scripted@1.0.0), d5 (faulty).
    assert_eq!(total, 4, "{strategies:?}");
    let faults: u64 = strategies
        .iter()
        .map(|s| s["faults"].as_u64().unwrap())
        .sum();
    assert_eq!(faults, 1, "{strategies:?}");

    // The timeline is the API's, newest first, and the name is text.
    let timeline = seeded.client.get("/v1/debtors/d1/timeline").body;
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(seen["events"], json!(kinds));
    assert!(
        seen["debtorHeading"]
            .as_str()
            .unwrap()
            .starts_with(HOSTILE_NAME),
        "{seen:#}"
    );
    let scripts = seen["scripts"].as_array().unwrap();
    assert!(
        scripts
            .iter()
            .all(|s| s.as_str().unwrap().contains("/dashboard/assets/")),
        "only the dashboard's own scripts: {scripts:?}"
    );
    assert!(
        std::path::Path::new(seen["screenshot"].as_str().unwrap()).exists(),
        "{seen:#}"
    );
}
