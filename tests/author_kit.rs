//! The strategy author's kit, end to end in a temporary directory, the way
//! an author uses it: `dun plugin new` makes a project, cargo builds it to a
//! component, `dun plugin test` runs its golden tests (and fails, with a
//! diff, for a strategy that plans otherwise), and `dun simulate` back-tests
//! it over the real data set beside the ladder.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::dun;

/// Where the scaffolded project is built: its own target directory beside
/// ours (never ours: no nested cargo on one target dir), kept between runs.
fn scaffold_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("scaffold")
}

fn output(command: &mut Command) -> (i32, String, String) {
    let out = command.output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A project made by `dun plugin new`, built to a component: (project dir,
/// component).
fn new_project(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (status, stdout, stderr) = output(dun().current_dir(dir).args(["plugin", "new", name]));
    assert_eq!(status, 0, "{stdout}{stderr}");
    let project = dir.join(name);
    assert!(
        stdout.contains("cargo build --release --target wasm32-wasip2"),
        "{stdout}"
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(cargo)
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", scaffold_target())
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .output()
        .expect("cargo runs");
    assert!(
        build.status.success(),
        "the new project does not build:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let wasm = scaffold_target()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(wasm.exists(), "{}", wasm.display());
    (project, wasm)
}

/// `dun simulate` of the component over the data set, beside the ladder.
fn back_test(wasm: &Path, data: &Path, out: &Path) {
    let (status, stdout, stderr) = output(dun().args([
        "simulate",
        wasm.to_str().unwrap(),
        "--invoices",
        data.to_str().unwrap(),
        "--layout",
        "ibm-ar",
        "--vs",
        "ladder",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("net_30") && stdout.contains("ladder"),
        "{stdout}"
    );
    let summaries: Vec<serde_json::Value> = std::fs::read_dir(out)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path().join("summary.json");
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(summaries.len(), 2, "a folder per strategy");
    for summary in &summaries {
        let decisions = summary["decisions"].as_u64().unwrap();
        assert!(decisions > 10_000, "{summary:#}");
        // A wall-clock deadline can cut a decision short on a busy machine;
        // nothing more than that.
        assert!(
            summary["faults"]["total"].as_u64().unwrap() * 1000 < decisions,
            "{summary:#}"
        );
        assert!(
            summary["messages"]["sent"].as_u64().unwrap() > 0,
            "{summary:#}"
        );
    }
}

#[test]
fn a_new_strategy_builds_and_passes_its_golden_tests() {
    let dir = tempfile::tempdir().unwrap();
    let (project, wasm) = new_project(dir.path(), "net-30");

    // What the component says about itself.
    let (status, stdout, stderr) = output(dun().args(["plugin", "check", wasm.to_str().unwrap()]));
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("net-30 0.1.0"), "{stdout}");
    assert!(stdout.contains("config:     JSON Schema"), "{stdout}");

    // Its golden tests pass, each with its fuel and time.
    let (status, stdout, stderr) = output(dun().current_dir(&project).args([
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        "tests",
    ]));
    assert_eq!(status, 0, "{stdout}{stderr}");
    for test in [
        "firm-from-config.json",
        "gentle-day-1.json",
        "until-paid.json",
    ] {
        assert!(stdout.contains(&format!("PASS  {test}")), "{stdout}");
    }
    assert!(stdout.contains("4 decision(s), fuel "), "{stdout}");
    assert!(stdout.ends_with("3 passed, 0 failed\n"), "{stdout}");

    // It back-tests over the real data set, beside the built-in ladder.
    if let Some(data) = support::shared_data("ibm-accounts-receivable.csv") {
        back_test(&wasm, &data, &dir.path().join("simulated"));
    }

    // A test the strategy does not meet fails with the reason and a diff;

    // the exit status says so.
    std::fs::write(
        project.join("tests/sms.json"),
        r#"{ "name": "an SMS instead", "case": "cases/gentle-day-1.json",
             "expect": { "actions": [{ "kind": "remind", "channel": "sms" }] } }"#,
    )
    .unwrap();
    let (status, stdout, _) = output(dun().current_dir(&project).args([
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        "tests",
    ]));
    assert_eq!(status, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL  sms.json: an SMS instead"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            r#"expected action 1 ({"channel":"sms","kind":"remind"}) is not in the plan"#
        ),
        "{stdout}"
    );
    assert!(stdout.contains(r#"-     "channel": "sms","#), "{stdout}");
    assert!(stdout.contains(r#"+     "channel": "email","#), "{stdout}");
    assert!(stdout.ends_with("3 passed, 1 failed\n"), "{stdout}");
}

#[test]
fn golden_tests_report_bad_files_and_other_strategies_plans() {
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("tests");
    std::fs::create_dir_all(tests.join("cases")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cases/02-gentle-day-1.json"),
        tests.join("cases/day-1.json"),
    )
    .unwrap();
    let write = |name: &str, text: &str| std::fs::write(tests.join(name), text).unwrap();
    // The ladder on day 1: a gentle email (and nothing else, exactly).
    write(
        "a-gentle.json",
        r#"{ "case": "cases/day-1.json",
             "expect": { "exact": true, "actions": [{ "kind": "remind", "channel": "email", "tone": "gentle" }] } }"#,
    );
    write("b-neither.json", r#"{ "case": "cases/day-1.json" }"#);
    write(
        "c-no-case.json",
        r#"{ "case": "cases/missing.json", "expect": {} }"#,
    );
    write(
        "d-bad-step.json",
        r#"{ "case": "cases/day-1.json", "steps": [{ "at": "2026-05-21T08:00:00Z", "paid": ["inv-999"], "expect": {} }] }"#,
    );
    write(
        "e-review.json",
        r#"{ "case": "cases/day-1.json", "expect": { "review_at": "2030-01-01T00:00:00Z" } }"#,
    );
    let (status, stdout, stderr) =
        output(dun().args(["plugin", "test", "ladder", tests.to_str().unwrap()]));
    assert_eq!(status, 1, "{stdout}{stderr}");
    assert!(stdout.contains("PASS  a-gentle.json"), "{stdout}");
    assert!(
        stdout.contains("FAIL  b-neither.json")
            && stdout.contains("has neither `expect` nor `steps`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  c-no-case.json") && stdout.contains("missing.json"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"step 1: `paid` names "inv-999", not in the case"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"expected review_at "2030-01-01T00:00:00Z", the plan has "#),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 passed, 4 failed\n"), "{stdout}");

    // No tests at all is a usage error, not a pass.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (status, _, stderr) =
        output(dun().args(["plugin", "test", "ladder", empty.to_str().unwrap()]));
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("no *.json tests"), "{stderr}");
}

#[test]
fn a_new_project_refuses_a_bad_name_or_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, stderr) =
        output(
            dun()
                .current_dir(dir.path())
                .args(["plugin", "new", "My_Strategy"]),
        );
    assert_eq!(status, 2);
    assert!(stderr.contains("is not a strategy name"), "{stderr}");
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    let (status, _, stderr) = output(
        dun()
            .current_dir(dir.path())
            .args(["plugin", "new", "taken"]),
    );
    assert_eq!(status, 2);
    assert!(stderr.contains("already exists"), "{stderr}");
}
