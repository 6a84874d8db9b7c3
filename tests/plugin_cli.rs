//! `dun plugin run` and `dun plugin check` as a strategy author uses them:
//! the real binary, the real compiled ladder, the sample cases.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dun(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dun"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run dun");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each action as "kind channel tone ids" (or "kind target ids").
fn summary(plan: &Value) -> Vec<String> {
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let ids: Vec<&str> = a["invoice_ids"]
                .as_array()
                .map_or(vec![], |ids| ids.iter().filter_map(Value::as_str).collect());
            let what = match a["kind"].as_str() {
                Some("remind") => format!(
                    "{} {}",
                    a["channel"].as_str().unwrap_or("?"),
                    a["tone"].as_str().unwrap_or("?")
                ),
                Some("escalate") => a["target"].as_str().unwrap_or("?").to_string(),
                _ => String::new(),
            };
            format!(
                "{} {what} {}",
                a["kind"].as_str().unwrap_or("?"),
                ids.join(",")
            )
        })
        .collect()
}

#[test]
fn the_ladder_plans_every_sample_case() {
    // (case file, expected actions, expected review_at)
    let expected: &[(&str, &[&str], Option<&str>)] = &[
        (
            "01-courtesy-before-due",
            &["remind email courtesy inv-101"],
            Some("2026-05-24T07:00:00Z"),
        ),
        (
            "02-gentle-day-1",
            &["remind email gentle inv-102"],
            Some("2026-05-26T07:00:00Z"),
        ),
        (
            "03-firm-day-7",
            &["remind email firm inv-103", "remind sms firm inv-103"],
            Some("2026-06-03T07:00:00Z"),
        ),
        (
            "04-final-day-21",
            &["remind letter final inv-104"],
            Some("2026-06-13T07:00:00Z"),
        ),
        (
            "05-escalate-day-45",
            &["escalate collection-agency inv-105"],
            None,
        ),
        ("06-paid-nothing-open", &[], None),
        ("07-disputed", &[], None),
        ("08-promised", &[], Some("2026-05-26T07:00:00Z")),
        (
            "09-several-invoices",
            &[
                "remind email gentle inv-109,inv-110",
                "remind email firm inv-111",
                "remind sms firm inv-111",
                "remind email courtesy inv-112",
            ],
            Some("2026-05-22T07:00:00Z"),
        ),
        (
            "10-no-sms-no-letter",
            &["remind email final inv-113"],
            Some("2026-06-12T07:00:00Z"),
        ),
    ];
    for (name, actions, review_at) in expected {
        let case = format!("examples/cases/{name}.json");
        let (code, stdout, stderr) = dun(&[
            "plugin",
            "run",
            "target/plugins/ladder.wasm",
            "--case",
            &case,
        ]);
        assert_eq!(code, 0, "{name}: {stderr}");
        let out: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
        assert_eq!(summary(&out["plan"]), *actions, "{name}");
        assert_eq!(
            out["plan"]["review_at"].as_str(),
            *review_at,
            "{name} review_at"
        );
        assert!(
            out["fuel_used"].as_u64().is_some_and(|f| f > 0),
            "{name}: fuel reported"
        );
        assert!(
            out["duration_us"].as_u64().is_some(),
            "{name}: duration reported"
        );
        // Every reminder goes out at the decision time (the ladder does not time).
        for action in out["plan"]["actions"].as_array().expect("actions") {
            if action["kind"] == "remind" {
                assert_eq!(action["send_at"], "2026-05-20T08:00:00Z", "{name}");
            }
        }
    }
}

#[test]
fn run_takes_a_config_and_a_decision_time() {
    let (code, stdout, stderr) = dun(&[
        "plugin",
        "run",
        "send-time",
        "--case",
        "examples/cases/02-gentle-day-1.json",
        "--now",
        "2026-05-20T05:00:00Z",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let out: Value = serde_json::from_str(&stdout).expect("JSON");
    // This debtor pays most around 14:00 Berlin (12:00 UTC).
    assert_eq!(out["plan"]["actions"][0]["send_at"], "2026-05-20T12:00:00Z");
}

#[test]
fn check_describes_the_component_and_its_imports() {
    let (code, stdout, stderr) = dun(&["plugin", "check", "target/plugins/ladder.wasm"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("ladder 0.1.0\n"), "{stdout}");
    assert!(
        stdout.contains("contract:   dun:strategy@0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("  dun:strategy/calendar@0.1.0"), "{stdout}");
    assert!(stdout.contains("sha256:     "), "{stdout}");

    let (code, stdout, _) = dun(&["plugin", "check", "segmented"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("config:     JSON Schema"), "{stdout}");
}

#[test]
fn a_plugin_fault_is_reported_with_its_kind_and_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("panic.json");
    std::fs::write(&config, r#"{"mode": "panic"}"#).expect("write config");
    let (code, _, stderr) = dun(&[
        "plugin",
        "run",
        "target/plugins/hostile.wasm",
        "--case",
        "examples/cases/03-firm-day-7.json",
        "--config",
        config.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("plugin error [trap]:"), "{stderr}");
    assert!(
        stderr.contains("hostile: deliberate panic"),
        "the panic message is in the log tail: {stderr}"
    );

    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "hello").expect("write");
    let (code, _, stderr) = dun(&["plugin", "check", not_wasm.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("[not-a-component]"), "{stderr}");

    let (code, _, stderr) = dun(&[
        "plugin",
        "run",
        "ladder",
        "--case",
        "examples/cases/nope.json",
    ]);
    assert_eq!(code, 2, "a usage error is not a plugin fault");
    assert!(stderr.contains("nope.json"), "{stderr}");
}
