//! __NAME__: a dun collection strategy.
//!
//! The host calls `decide` with one debtor's case (their open invoices,
//! past contacts, payment history and this segment's config) and carries out
//! the plan it returns, after its own guardrails (quiet hours, caps,
//! opt-outs). This one reminds about each overdue invoice in a tone that
//! grows with the days overdue (gentle, firm, final), by email (a final
//! notice by letter when the debtor has an address), at a fixed local hour,
//! and not again in the same tone within `repeat_after_days`.
//!
//! Change `plan`, then: `cargo test` (native unit tests below),
//! `cargo build --release --target wasm32-wasip2`, and
//! `dun plugin test target/wasm32-wasip2/release/__CRATE__.wasm tests/`.

use dun_strategy::{
    Action, Case, Channel, DAY, Info, Plan, Strategy, Tone, local_hour, next_local_hour,
};
use serde::Deserialize;

/// The segment's config; every field is optional.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Days overdue from which reminders are firm.
    pub firm_after_days: i32,
    /// Days overdue from which they are final (by letter when possible).
    pub final_after_days: i32,
    /// The debtor's local hour at which reminders go (0-23).
    pub hour: u8,
    /// Days before the same tone is used again about an invoice.
    pub repeat_after_days: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            firm_after_days: 10,
            final_after_days: 30,
            hour: 10,
            repeat_after_days: 7,
        }
    }
}

/// [`Config`] as JSON Schema: the host checks a segment's config against it
/// when the segment is saved.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "firm_after_days": { "type": "integer", "minimum": 1 },
    "final_after_days": { "type": "integer", "minimum": 1 },
    "hour": { "type": "integer", "minimum": 0, "maximum": 23 },
    "repeat_after_days": { "type": "integer", "minimum": 1 }
  }
}"#;

/// The tone for an invoice this many days overdue.
fn tone(config: &Config, days_overdue: i32) -> Tone {
    if days_overdue >= config.final_after_days {
        Tone::Final
    } else if days_overdue >= config.firm_after_days {
        Tone::Firm
    } else {
        Tone::Gentle
    }
}

/// The plan for this case.
pub fn plan(case: &Case) -> Result<Plan, String> {
    let config: Config = case.config()?;
    let today = case.today();
    let zone = &case.debtor.time_zone;
    let since = case.now - config.repeat_after_days * DAY;
    let mut by_tone: Vec<(Tone, Vec<String>)> = Vec::new();
    for invoice in &case.invoices {
        if !invoice.is_actionable(today) || !invoice.is_overdue() {
            continue;
        }
        let tone = tone(&config, invoice.days_overdue);
        let reminded = case.contacts.iter().any(|c| {
            c.went_out()
                && c.at > since
                && c.tone.rank() >= tone.rank()
                && c.invoice_ids.contains(&invoice.id)
        });
        if reminded {
            continue;
        }
        match by_tone.iter_mut().find(|(t, _)| *t == tone) {
            Some((_, ids)) => ids.push(invoice.id.clone()),
            None => by_tone.push((tone, vec![invoice.id.clone()])),
        }
    }
    let send_at = if local_hour(case.now, zone) == config.hour {
        case.now
    } else {
        next_local_hour(case.now, config.hour, zone)
    };
    let mut plan = Plan::new(Vec::new()).with_note("__NAME__");
    for (tone, ids) in by_tone {
        let channel = if tone == Tone::Final && case.can_use(Channel::Letter) {
            Channel::Letter
        } else if case.can_use(Channel::Email) {
            Channel::Email
        } else if case.can_use(Channel::Sms) {
            Channel::Sms
        } else {
            dun_strategy::warn("no channel to reach the debtor on");
            continue;
        };
        plan.push(Action::remind(channel, tone, ids, send_at));
    }
    // Look again tomorrow at the same hour (sooner if something happens).
    Ok(plan.review_at(next_local_hour(case.now + 1, config.hour, zone).max(case.now + DAY / 2)))
}

/// The component's exports.
pub struct Component;

impl Strategy for Component {
    fn describe() -> Info {
        Info::new(
            "__NAME__",
            env!("CARGO_PKG_VERSION"),
            "Reminds about overdue invoices, gentle then firm then final.",
        )
        .with_config_schema(CONFIG_SCHEMA)
    }

    fn decide(case: Case) -> Result<Plan, String> {
        plan(&case)
    }
}

#[cfg(target_arch = "wasm32")]
dun_strategy::export!(Component);

#[cfg(test)]
mod tests {
    use super::*;
    use dun_strategy::testing::CaseBuilder;
    use dun_strategy::{Date, Tone};

    fn tones(plan: &Plan) -> Vec<Tone> {
        plan.reminders().map(|r| r.tone).collect()
    }

    #[test]
    fn the_tone_grows_with_the_days_overdue() {
        let case = CaseBuilder::new(Date::new(2026, 5, 20))
            .invoice("a", 100_00, 3)
            .invoice("b", 200_00, 12)
            .invoice("c", 300_00, 40)
            .build();
        let plan = plan(&case).unwrap();
        assert_eq!(tones(&plan), [Tone::Gentle, Tone::Firm, Tone::Final]);
        assert_eq!(plan.reminders().last().unwrap().channel, Channel::Letter);
    }

    #[test]
    fn not_again_in_the_same_tone_within_a_week() {
        let case = CaseBuilder::new(Date::new(2026, 5, 20))
            .invoice("a", 100_00, 3)
            .contact(2, Channel::Email, Tone::Gentle, &["a"])
            .build();
        assert!(tones(&plan(&case).unwrap()).is_empty());
    }

    #[test]
    fn the_config_moves_the_thresholds() {
        let case = CaseBuilder::new(Date::new(2026, 5, 20))
            .invoice("a", 100_00, 3)
            .config(r#"{"firm_after_days": 2}"#)
            .build();
        assert_eq!(tones(&plan(&case).unwrap()), [Tone::Firm]);
        let misspelt = CaseBuilder::new(Date::new(2026, 5, 20))
            .config(r#"{"firm_after": 2}"#)
            .build();
        assert!(plan(&misspelt).is_err());
    }
}
