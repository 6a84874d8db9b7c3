//! Golden tests for a strategy (`dun plugin test FILE.wasm TESTS_DIR`), in
//! the spirit of `opa test`: each `*.json` file under the directory holds a
//! case and the plan expected for it, or a short script of steps over time,
//! and is run in the real sandbox with the host's limits.
//!
//! ```json
//! { "name": "a gentle email the day after the due date",
//!   "case": "cases/one-invoice.json",            // a path (from this file) or the case itself
//!   "config": { "firm_after_days": 10 },         // optional: replaces the case's config
//!   "now": "2026-05-13T08:00:00Z",               // optional: replaces the case's now
//!   "expect": { "actions": [{ "kind": "remind", "channel": "email", "tone": "gentle" }] } }
//! ```
//!
//! A script has `steps` instead of `expect`; each step moves `now` to its
//! `at`, applies what happened (`paid`: invoice ids settled in full; the
//! reminders the previous plan scheduled up to `at` become past contacts, as
//! the host would record them), decides, and checks the step's `expect`.
//!
//! An expectation matches **partially** by default: each expected action
//! must match a distinct action of the plan, in order, on the fields it
//! names (other fields and other actions are free); `"exact": true` asks
//! for exactly those actions. `"review_at"` and `"note"` are checked when
//! given. A failure prints both sides and a line diff.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::case::{Case, Contact, ContactOutcome};
use crate::plan::Action;
use crate::runtime::{Limits, Plugin, PluginError, Runtime};

/// One test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    name: Option<String>,
    case: Value,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    now: Option<DateTime<Utc>>,
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default)]
    steps: Vec<Step>,
}

/// One step of a script.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at: DateTime<Utc>,
    /// Invoices settled in full before this step.
    #[serde(default)]
    paid: Vec<String>,
    expect: Expect,
}

/// What the plan must look like.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    actions: Vec<Value>,
    /// Exactly these actions, in this order (default: at least these).
    #[serde(default)]
    exact: bool,
    #[serde(default)]
    review_at: Option<Value>,
    #[serde(default)]
    note: Option<Value>,
}

/// How one test went.
#[derive(Debug)]
pub struct Outcome {
    pub file: PathBuf,
    pub name: String,
    /// Why it failed (with the diff), or `None` when it passed.
    pub failure: Option<String>,
    /// Fuel and time over all of its decisions.
    pub fuel: u64,
    pub duration: Duration,
    pub decisions: usize,
}

/// The `*.json` files under `dir` (recursively), sorted, skipping a
/// `cases/` folder of case files that tests point to.
pub fn find(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "cases") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "json") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Runs one test file.
pub fn run(runtime: &Runtime, plugin: &Plugin, file: &Path, limits: &Limits) -> Outcome {
    let mut outcome = Outcome {
        file: file.to_path_buf(),
        name: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        failure: None,
        fuel: 0,
        duration: Duration::ZERO,
        decisions: 0,
    };
    if let Err(failure) = run_file(runtime, plugin, file, limits, &mut outcome) {
        outcome.failure = Some(failure);
    }
    outcome
}

fn run_file(
    runtime: &Runtime,
    plugin: &Plugin,
    file: &Path,
    limits: &Limits,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read it: {e}"))?;
    let test: TestFile =
        serde_json::from_str(&text).map_err(|e| format!("not a test file: {e}"))?;
    if let Some(name) = &test.name {
        outcome.name = name.clone();
    }
    let mut case = load_case(&test.case, file)?;
    if let Some(config) = test.config {
        case.config = config;
    }
    if let Some(now) = test.now {
        case.now = now;
    }
    match (test.expect, test.steps.is_empty()) {
        (Some(expect), true) => {
            let actions = decide(runtime, plugin, &case, limits, outcome)?;
            check(&expect, &actions).map_err(|e| format!("at {}: {e}", case.now))
        }
        (None, false) => {
            let mut scheduled: Vec<Contact> = Vec::new();
            for (n, step) in test.steps.iter().enumerate() {
                if step.at < case.now {
                    return Err(format!("step {}: `at` goes back in time", n + 1));
                }
                case.now = step.at;
                // What the last plan scheduled up to now went out; the rest
                // is replaced by this step's plan.
                let went = std::mem::take(&mut scheduled)
                    .into_iter()
                    .filter(|c| c.at <= step.at);
                case.contacts.extend(went);
                for id in &step.paid {
                    let before = case.invoices.len();
                    case.invoices.retain(|i| &i.id != id);
                    if case.invoices.len() == before {
                        return Err(format!(
                            "step {}: `paid` names {id:?}, not in the case",
                            n + 1
                        ));
                    }
                    case.debtor.history.invoices_paid += 1;
                }
                let actions = decide(runtime, plugin, &case, limits, outcome)
                    .map_err(|e| format!("step {} at {}: {e}", n + 1, step.at))?;
                check(&step.expect, &actions)
                    .map_err(|e| format!("step {} at {}: {e}", n + 1, step.at))?;
                // A new plan replaces what the last one had not sent yet.
                scheduled = reminders_of(&actions.plan);
            }
            Ok(())
        }
        (Some(_), false) => Err("has both `expect` and `steps`; give one".into()),
        (None, true) => Err("has neither `expect` nor `steps`".into()),
    }
}

/// The case a test names: a path relative to the test file, or inline.
fn load_case(value: &Value, file: &Path) -> Result<Case, String> {
    match value {
        Value::String(path) => {
            let path = file.parent().unwrap_or(Path::new(".")).join(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("case {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("case {}: {e}", path.display()))
        }
        inline => serde_json::from_value(inline.clone()).map_err(|e| format!("case: {e}")),
    }
}

/// A decision, as the test compares it.
struct Decided {
    plan: crate::plan::Plan,
    /// The plan as JSON: `actions`, `review_at`, `note`.
    json: Value,
}

fn decide(
    runtime: &Runtime,
    plugin: &Plugin,
    case: &Case,
    limits: &Limits,
    outcome: &mut Outcome,
) -> Result<Decided, String> {
    let decision = runtime
        .decide(plugin, case, limits)
        .map_err(|e| fault(&e))?;
    outcome.fuel += decision.fuel_used;
    outcome.duration += decision.duration;
    outcome.decisions += 1;
    let json = serde_json::to_value(&decision.plan).map_err(|e| e.to_string())?;
    Ok(Decided {
        plan: decision.plan,
        json,
    })
}

/// A plugin fault, with its log tail.
fn fault(error: &PluginError) -> String {
    let mut text = format!("the strategy failed [{}]: {error}", error.kind());
    if let PluginError::InvalidPlan { problems, .. } = error {
        for problem in problems {
            text.push_str(&format!("\n  - {problem}"));
        }
    }
    if let Some(tail) = error.log_tail()
        && !tail.lines.is_empty()
    {
        text.push_str(&format!("\nplugin log:\n{tail}"));
    }
    text
}

/// The plan's reminders as the contacts they become once sent.
fn reminders_of(plan: &crate::plan::Plan) -> Vec<Contact> {
    plan.actions
        .iter()
        .filter_map(|action| match action {
            Action::Remind(r) => Some(Contact {
                at: r.send_at,
                channel: r.channel,
                tone: r.tone,
                invoice_ids: r.invoice_ids.clone(),
                template: r.template.clone(),
                outcome: ContactOutcome::Sent,
            }),
            _ => None,
        })
        .collect()
}

/// Whether the plan meets the expectation; the reason and a diff if not.
fn check(expect: &Expect, decided: &Decided) -> Result<(), String> {
    let actual: Vec<Value> = decided.json["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    if expect.exact && actual.len() != expect.actions.len() {
        problems.push(format!(
            "expected exactly {} action(s), the plan has {}",
            expect.actions.len(),
            actual.len()
        ));
    } else {
        let mut from = 0;
        for (n, wanted) in expect.actions.iter().enumerate() {
            let found = if expect.exact {
                contains(&actual[n], wanted).then_some(n)
            } else {
                (from..actual.len()).find(|&i| contains(&actual[i], wanted))
            };
            match found {
                Some(i) => from = i + 1,
                None => {
                    problems.push(format!(
                        "expected action {} ({}) is not in the plan{}",
                        n + 1,
                        compact(wanted),
                        if expect.exact {
                            " at that place"
                        } else {
                            " (after the ones before it)"
                        }
                    ));
                    break;
                }
            }
        }
    }
    for (field, wanted) in [("review_at", &expect.review_at), ("note", &expect.note)] {
        if let Some(wanted) = wanted
            && !contains(&decided.json[field], wanted)
        {
            problems.push(format!(
                "expected {field} {}, the plan has {}",
                compact(wanted),
                compact(&decided.json[field])
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let expected = pretty(&Value::Array(expect.actions.clone()));
    let got = pretty(&Value::Array(actual));
    Err(format!(
        "{}\n--- expected actions\n+++ the plan's actions\n{}",
        problems.join("\n"),
        diff(&expected, &got)
    ))
}

/// `actual` has every field `wanted` names, with the same value (objects
/// recursively; arrays and scalars equal).
pub fn contains(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Object(a), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|found| contains(found, v))),
        (a, w) => a == w,
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A line diff (longest common subsequence): `-` only in `a`, `+` only in
/// `b`, two spaces in both.
pub fn diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_expected_action_matches_on_the_fields_it_names() {
        let actual = json!({ "kind": "remind", "channel": "email", "tone": "gentle",
                             "invoice_ids": ["a", "b"], "send_at": "2026-05-13T08:00:00Z" });
        assert!(contains(
            &actual,
            &json!({ "kind": "remind", "tone": "gentle" })
        ));
        assert!(!contains(
            &actual,
            &json!({ "kind": "remind", "tone": "firm" })
        ));
        assert!(
            !contains(&actual, &json!({ "invoice_ids": ["a"] })),
            "arrays are equal or not"
        );
        assert!(!contains(&actual, &json!({ "template": "x" })));
    }

    #[test]
    fn the_diff_shows_what_differs_in_place() {
        assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
        assert_eq!(diff("", "a"), "+ a\n");
    }
}
