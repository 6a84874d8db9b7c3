//! The plugin registry's checks: what a component must pass before a
//! tenant's segments may run it. In order: its size and that it is a
//! component that compiles, imports nothing dun does not provide and
//! matches a contract version dun supports (`Runtime::load`); that
//! `describe()` answers, with a config schema that is JSON Schema when it
//! declares one; and that it returns a valid plan within the limits for
//! every built-in conformance case (the sample cases in `examples/cases/`,
//! each with an empty config). The first failure stops the checks and is
//! what the author is told, with the plugin's log tail. Records are in
//! `store::plugins`; routes in `api::plugins`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::runtime::{Info, Limits, Plugin, PluginError, Runtime};

/// The conformance cases, by name.
pub const CONFORMANCE: &[(&str, &str)] = &[
    (
        "01-courtesy-before-due",
        include_str!("../../examples/cases/01-courtesy-before-due.json"),
    ),
    (
        "02-gentle-day-1",
        include_str!("../../examples/cases/02-gentle-day-1.json"),
    ),
    (
        "03-firm-day-7",
        include_str!("../../examples/cases/03-firm-day-7.json"),
    ),
    (
        "04-final-day-21",
        include_str!("../../examples/cases/04-final-day-21.json"),
    ),
    (
        "05-escalate-day-45",
        include_str!("../../examples/cases/05-escalate-day-45.json"),
    ),
    (
        "06-paid-nothing-open",
        include_str!("../../examples/cases/06-paid-nothing-open.json"),
    ),
    (
        "07-disputed",
        include_str!("../../examples/cases/07-disputed.json"),
    ),
    (
        "08-promised",
        include_str!("../../examples/cases/08-promised.json"),
    ),
    (
        "09-several-invoices",
        include_str!("../../examples/cases/09-several-invoices.json"),
    ),
    (
        "10-no-sms-no-letter",
        include_str!("../../examples/cases/10-no-sms-no-letter.json"),
    ),
];

/// One check at upload and what it found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Check {
    /// `component`, `describe`, `config-schema`, `conformance/<case>`.
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// Fuel used, for checks that run the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

/// A component that passed every check.
pub struct Validated {
    pub plugin: Arc<Plugin>,
    pub info: Info,
    pub checks: Vec<Check>,
}

/// Why a component was refused: the check that failed (with the fault's
/// kind and the plugin's log tail) and the checks that passed before it.
#[derive(Debug)]
pub struct Rejected {
    pub check: String,
    pub kind: String,
    pub detail: String,
    pub log: Vec<String>,
    pub checks: Vec<Check>,
}

impl Rejected {
    fn new(check: &str, error: &PluginError, checks: Vec<Check>) -> Rejected {
        let mut detail = error.to_string();
        if let PluginError::InvalidPlan { problems, .. } = error {
            detail = problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            detail.insert_str(0, "an invalid plan: ");
        }
        Rejected {
            check: check.to_owned(),
            kind: error.kind().to_owned(),
            detail,
            log: error
                .log_tail()
                .map(|tail| tail.lines.iter().map(|l| l.to_string()).collect())
                .unwrap_or_default(),
            checks,
        }
    }
}

/// Runs every check on `bytes`.
pub fn validate(runtime: &Runtime, bytes: &[u8], limits: &Limits) -> Result<Validated, Rejected> {
    let mut checks = Vec::new();
    let plugin = runtime
        .load(bytes)
        .map_err(|e| Rejected::new("component", &e, Vec::new()))?;
    checks.push(Check {
        check: "component".into(),
        ok: true,
        detail: format!(
            "{} bytes, contract dun:strategy@{}, imports {}",
            plugin.size,
            plugin.contract,
            plugin.imports.join(", ")
        ),
        fuel: None,
    });
    let (info, _) = runtime
        .describe(&plugin, limits)
        .map_err(|e| Rejected::new("describe", &e, checks.clone()))?;
    checks.push(Check {
        check: "describe".into(),
        ok: true,
        detail: format!("{} {}: {}", info.name, info.version, info.description),
        fuel: None,
    });
    if let Some(schema) = &info.config_schema {
        let problem = match serde_json::from_str::<serde_json::Value>(schema) {
            Err(e) => Some(format!("the config schema is not JSON: {e}")),
            Ok(value) => jsonschema::validator_for(&value)
                .err()
                .map(|e| format!("the config schema is not a valid JSON Schema: {e}")),
        };
        if let Some(detail) = problem {
            return Err(Rejected {
                check: "config-schema".into(),
                kind: "invalid-config-schema".into(),
                detail,
                log: Vec::new(),
                checks,
            });
        }
        checks.push(Check {
            check: "config-schema".into(),
            ok: true,
            detail: "a valid JSON Schema".into(),
            fuel: None,
        });
    }
    for (name, text) in CONFORMANCE {
        let case: Case = serde_json::from_str(text).expect("the conformance cases are cases");
        let check = format!("conformance/{name}");
        let decision = runtime
            .decide(&plugin, &case, limits)
            .map_err(|e| Rejected::new(&check, &e, checks.clone()))?;
        checks.push(Check {
            check,
            ok: true,
            detail: format!(
                "{} action(s) in {} µs",
                decision.plan.actions.len(),
                decision.duration.as_micros()
            ),
            fuel: Some(decision.fuel_used),
        });
    }
    Ok(Validated {
        plugin,
        info,
        checks,
    })
}

/// Where a segment's shadow strategy and its active one disagree.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ShadowReport {
    pub segment: String,
    /// The shadow strategy now, and the strategies it ran beside.
    pub shadow: Option<String>,
    pub active: Vec<String>,
    /// Evaluations compared (the newest 1,000 at most), how many plans
    /// agreed on every aspect, and shadow runs that faulted.
    pub compared: usize,
    pub agreed: usize,
    pub shadow_faults: usize,
    /// Evaluations that disagreed, per aspect: `action-kinds`, `channels`,
    /// `tones`, `timing`.
    pub disagreements: std::collections::BTreeMap<String, usize>,
    /// Actions planned, by kind, by each side.
    pub actions: std::collections::BTreeMap<String, (usize, usize)>,
    /// Up to 10 disagreeing cases, newest first.
    #[schema(value_type = Vec<Object>)]
    pub examples: Vec<serde_json::Value>,
}

/// Compares a segment's shadow runs (newest first) with the evaluations
/// they shadowed: what the shadow report shows, over the API and on the
/// dashboard.
pub fn shadow_report(
    segment: String,
    shadow: Option<String>,
    pairs: &[crate::store::evaluations::ShadowPair],
) -> ShadowReport {
    let mut report = ShadowReport {
        segment,
        shadow,
        active: Vec::new(),
        compared: 0,
        agreed: 0,
        shadow_faults: 0,
        disagreements: Default::default(),
        actions: Default::default(),
        examples: Vec::new(),
    };
    for pair in pairs {
        if !report.active.contains(&pair.active_strategy) {
            report.active.push(pair.active_strategy.clone());
        }
        if pair.shadow_outcome != "ok" {
            report.shadow_faults += 1;
            continue;
        }
        let (Some(active), Some(shadow)) = (&pair.active_plan, &pair.shadow_plan) else {
            continue;
        };
        report.compared += 1;
        for (plan, side) in [(active, 0), (shadow, 1)] {
            for action in plan["actions"].as_array().into_iter().flatten() {
                let kind = action["kind"].as_str().unwrap_or_default().to_owned();
                let counts = report.actions.entry(kind).or_default();
                if side == 0 {
                    counts.0 += 1;
                } else {
                    counts.1 += 1;
                }
            }
        }
        let differences = differences(active, shadow);
        if differences.is_empty() {
            report.agreed += 1;
            continue;
        }
        for (aspect, _) in &differences {
            *report.disagreements.entry(aspect.clone()).or_default() += 1;
        }
        if report.examples.len() < 10 {
            report.examples.push(serde_json::json!({
                "evaluation_id": pair.evaluation_id,
                "debtor_id": pair.debtor_id,
                "at": pair.at,
                "active_strategy": pair.active_strategy,
                "shadow_strategy": pair.shadow_strategy,
                "differences": differences.iter().map(|(aspect, what)| serde_json::json!({ "aspect": aspect, "what": what })).collect::<Vec<_>>(),
                "active_plan": active,
                "shadow_plan": shadow,
            }));
        }
    }
    report
}

/// How a shadow plan differs from the plan carried out, by aspect:
/// `action-kinds` (which actions, counted by kind), `channels` and `tones`
/// (of the reminders), `timing` (a reminder on the same channel in the same
/// tone at another time). Empty when they agree on all four.
pub fn differences(
    active: &serde_json::Value,
    shadow: &serde_json::Value,
) -> Vec<(String, String)> {
    let actions =
        |plan: &serde_json::Value| plan["actions"].as_array().cloned().unwrap_or_default();
    let (a, s) = (actions(active), actions(shadow));
    let field = |action: &serde_json::Value, name: &str| {
        action[name].as_str().unwrap_or_default().to_owned()
    };
    let sorted = |list: &[serde_json::Value], name: &str, reminders_only: bool| {
        let mut values: Vec<String> = list
            .iter()
            .filter(|x| !reminders_only || x["kind"] == "remind")
            .map(|x| field(x, name))
            .collect();
        values.sort();
        if reminders_only {
            values.dedup();
        }
        values
    };
    let mut found = Vec::new();
    for (aspect, name, reminders_only) in [
        ("action-kinds", "kind", false),
        ("channels", "channel", true),
        ("tones", "tone", true),
    ] {
        let (x, y) = (
            sorted(&a, name, reminders_only),
            sorted(&s, name, reminders_only),
        );
        if x != y {
            found.push((
                aspect.to_owned(),
                format!("[{}] vs [{}]", x.join(", "), y.join(", ")),
            ));
        }
    }
    let times =
        |list: &[serde_json::Value]| -> std::collections::BTreeMap<(String, String), String> {
            list.iter()
                .filter(|x| x["kind"] == "remind")
                .map(|x| ((field(x, "channel"), field(x, "tone")), field(x, "send_at")))
                .collect()
        };
    let (x, y) = (times(&a), times(&s));
    for (key, at) in &x {
        if let Some(other) = y.get(key)
            && other != at
        {
            found.push((
                "timing".to_owned(),
                format!("{} {} at {at} vs {other}", key.0, key.1),
            ));
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_strategies_pass_and_a_non_component_does_not() {
        let runtime = Runtime::new(Default::default()).unwrap();
        let limits = Limits::default();
        for builtin in crate::builtin::BUILTINS {
            let validated = validate(&runtime, builtin.wasm, &limits)
                .unwrap_or_else(|r| panic!("{}: {r:?}", builtin.name));
            assert_eq!(
                validated.checks.len(),
                2 + usize::from(validated.info.config_schema.is_some()) + CONFORMANCE.len()
            );
        }
        let rejected = validate(&runtime, b"\0asm not really", &limits)
            .err()
            .unwrap();
        assert_eq!(rejected.check, "component");
        assert_eq!(rejected.kind, "not-a-component");
    }

    #[test]
    fn shadow_differences_are_named_by_aspect() {
        let remind = |channel: &str, tone: &str, at: &str| serde_json::json!({ "kind": "remind", "channel": channel, "tone": tone, "send_at": at });
        let plan = |actions: Vec<serde_json::Value>| serde_json::json!({ "actions": actions });
        let active = plan(vec![remind("email", "firm", "2026-05-04T10:00:00Z")]);
        assert!(differences(&active, &active).is_empty());
        let later = plan(vec![remind("email", "firm", "2026-05-05T10:00:00Z")]);
        assert_eq!(differences(&active, &later)[0].0, "timing");
        let more = plan(vec![
            remind("email", "firm", "2026-05-04T10:00:00Z"),
            remind("sms", "final", "2026-05-04T10:00:00Z"),
            serde_json::json!({ "kind": "offer-plan" }),
        ]);
        let aspects: Vec<String> = differences(&active, &more)
            .into_iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(aspects, ["action-kinds", "channels", "tones"]);
    }
}
