//! A strategy that plans exactly what its config says, so the host's tests
//! can show the guardrails any plan. The segment's config:
//!
//! ```json
//! {"actions": [
//!    {"kind": "remind", "channel": "sms", "tone": "firm", "in_secs": 0, "template": "promo"},
//!    {"kind": "charge-fee", "fee": "late-fee", "amount": 500},
//!    {"kind": "offer-discount", "percent_bp": 300, "days": 10},
//!    {"kind": "offer-plan", "installments": 3, "every_days": 30, "first_in_days": 7},
//!    {"kind": "defer", "days": 5},
//!    {"kind": "escalate"}],
//!  "review_in_secs": 86400}
//! ```
//!
//! Each action is about every invoice in the case (a fee: one per invoice),
//! or only those listed in its optional `"invoices": ["id", …]`. Times count
//! from the case's `now` (`in_secs`), dates from the debtor's local today
//! (`days`, `first_in_days`). An action that would name no invoice is left
//! out. Nothing is checked beyond the config's shape: whatever the host
//! thinks of the plan is what the tests are about.

use dun_strategy::{Action, Case, Channel, EscalationTarget, FeeKind, Info, Plan, Strategy, Tone};
use serde::Deserialize;

/// The segment's config.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The actions to plan, in order.
    pub actions: Vec<Step>,
    /// Ask to be reviewed this many seconds after `now`.
    pub review_in_secs: Option<i64>,
}

/// One planned action, as written in the config.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    Remind {
        channel: ChannelName,
        tone: ToneName,
        #[serde(default)]
        in_secs: i64,
        /// A named template of the tenant's instead of the tone's.
        template: Option<String>,
        invoices: Option<Vec<String>>,
    },
    ChargeFee {
        fee: FeeName,
        amount: i64,
        invoices: Option<Vec<String>>,
    },
    OfferDiscount {
        percent_bp: u16,
        days: i64,
        invoices: Option<Vec<String>>,
    },
    OfferPlan {
        installments: u8,
        every_days: u16,
        first_in_days: i64,
        invoices: Option<Vec<String>>,
    },
    Defer {
        days: i64,
        invoices: Option<Vec<String>>,
    },
    Escalate {
        #[serde(default)]
        target: TargetName,
        invoices: Option<Vec<String>>,
    },
}

/// [`Channel`] as written in the config.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum ChannelName {
    Email,
    Sms,
    Call,
    Letter,
}

/// [`Tone`] as written in the config.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum ToneName {
    Courtesy,
    Gentle,
    Firm,
    Final,
}

/// [`FeeKind`] as written in the config.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum FeeName {
    LateFee,
    Interest,
    CollectionCost,
}

/// [`EscalationTarget`] as written in the config; default `collection-agency`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum TargetName {
    #[default]
    CollectionAgency,
    Legal,
    InternalTeam,
}

/// The JSON Schema of [`Config`], declared in `describe` so the host
/// refuses a misspelt config when the segment is saved.
pub const CONFIG_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "scripted strategy config",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "actions": { "type": "array", "items": { "$ref": "#/$defs/action" } },
    "review_in_secs": { "type": "integer", "minimum": 0 }
  },
  "$defs": {
    "invoices": { "type": "array", "items": { "type": "string" } },
    "action": {
      "type": "object",
      "required": ["kind"],
      "properties": {
        "kind": { "enum": ["remind", "charge-fee", "offer-discount", "offer-plan", "defer", "escalate"] },
        "invoices": { "$ref": "#/$defs/invoices" },
        "channel": { "enum": ["email", "sms", "call", "letter"] },
        "tone": { "enum": ["courtesy", "gentle", "firm", "final"] },
        "in_secs": { "type": "integer", "minimum": 0 },
        "template": { "type": "string" },
        "fee": { "enum": ["late-fee", "interest", "collection-cost"] },
        "amount": { "type": "integer" },
        "percent_bp": { "type": "integer", "minimum": 0, "maximum": 65535 },
        "days": { "type": "integer" },
        "installments": { "type": "integer", "minimum": 0, "maximum": 255 },
        "every_days": { "type": "integer", "minimum": 0, "maximum": 65535 },
        "first_in_days": { "type": "integer" },
        "target": { "enum": ["collection-agency", "legal", "internal-team"] }
      },
      "additionalProperties": false
    }
  }
}"##;

/// The plan the config asks for, on this case.
pub fn plan(case: &Case) -> Result<Plan, String> {
    let config: Config = case.config()?;
    let today = case.today();
    let all: Vec<String> = case.invoices.iter().map(|i| i.id.clone()).collect();
    let mut plan = Plan::new(Vec::new()).with_note("scripted");
    for step in config.actions {
        let pick = |only: Option<Vec<String>>| only.unwrap_or_else(|| all.clone());
        let ids = match &step {
            Step::Remind { invoices, .. }
            | Step::ChargeFee { invoices, .. }
            | Step::OfferDiscount { invoices, .. }
            | Step::OfferPlan { invoices, .. }
            | Step::Defer { invoices, .. }
            | Step::Escalate { invoices, .. } => pick(invoices.clone()),
        };
        if ids.is_empty() {
            continue;
        }
        match step {
            Step::Remind {
                channel,
                tone,
                in_secs,
                template,
                ..
            } => {
                let mut action =
                    Action::remind(channel.into(), tone.into(), ids, case.now + in_secs);
                if let Action::Remind(reminder) = &mut action {
                    reminder.template = template;
                }
                plan.push(action)
            }
            Step::ChargeFee { fee, amount, .. } => {
                for id in &ids {
                    plan.push(Action::charge_fee(id, fee.into(), amount, "scripted fee"));
                }
            }
            Step::OfferDiscount {
                percent_bp, days, ..
            } => plan.push(Action::offer_discount(
                ids,
                percent_bp,
                today.add_days(days),
            )),
            Step::OfferPlan {
                installments,
                every_days,
                first_in_days,
                ..
            } => plan.push(Action::offer_plan(
                ids,
                installments,
                every_days,
                today.add_days(first_in_days),
            )),
            Step::Defer { days, .. } => plan.push(Action::defer(
                ids,
                today.add_days(days),
                "scripted deferral",
            )),
            Step::Escalate { target, .. } => {
                plan.push(Action::escalate(target.into(), ids, "scripted escalation"))
            }
        }
    }
    if let Some(secs) = config.review_in_secs {
        plan = plan.review_at(case.now + secs);
    }
    Ok(plan)
}

impl From<ChannelName> for Channel {
    fn from(channel: ChannelName) -> Channel {
        match channel {
            ChannelName::Email => Channel::Email,
            ChannelName::Sms => Channel::Sms,
            ChannelName::Call => Channel::Call,
            ChannelName::Letter => Channel::Letter,
        }
    }
}

impl From<ToneName> for Tone {
    fn from(tone: ToneName) -> Tone {
        match tone {
            ToneName::Courtesy => Tone::Courtesy,
            ToneName::Gentle => Tone::Gentle,
            ToneName::Firm => Tone::Firm,
            ToneName::Final => Tone::Final,
        }
    }
}

impl From<FeeName> for FeeKind {
    fn from(fee: FeeName) -> FeeKind {
        match fee {
            FeeName::LateFee => FeeKind::LateFee,
            FeeName::Interest => FeeKind::Interest,
            FeeName::CollectionCost => FeeKind::CollectionCost,
        }
    }
}

impl From<TargetName> for EscalationTarget {
    fn from(target: TargetName) -> EscalationTarget {
        match target {
            TargetName::CollectionAgency => EscalationTarget::CollectionAgency,
            TargetName::Legal => EscalationTarget::Legal,
            TargetName::InternalTeam => EscalationTarget::InternalTeam,
        }
    }
}

/// The component's exports.
pub struct Scripted;

impl Strategy for Scripted {
    fn describe() -> Info {
        Info::new(
            "scripted",
            env!("CARGO_PKG_VERSION"),
            "Plans exactly the actions its config lists, for tests of the host's guardrails.",
        )
        .with_config_schema(CONFIG_SCHEMA)
    }

    fn decide(case: Case) -> Result<Plan, String> {
        plan(&case)
    }
}

#[cfg(target_arch = "wasm32")]
dun_strategy::export!(Scripted);

#[cfg(test)]
mod tests {
    use super::*;
    use dun_strategy::testing::CaseBuilder;
    use dun_strategy::{DAY, Date};

    #[test]
    fn plans_what_the_config_lists_for_every_invoice() {
        let case = CaseBuilder::new(Date::new(2026, 5, 4))
            .invoice("a", 100_00, 3)
            .invoice("b", 50_00, 1)
            .config(
                r#"{"actions": [
                    {"kind": "remind", "channel": "sms", "tone": "firm", "in_secs": 60},
                    {"kind": "charge-fee", "fee": "late-fee", "amount": 500},
                    {"kind": "defer", "days": 5, "invoices": ["b"]}],
                    "review_in_secs": 86400}"#,
            )
            .build();
        let plan = plan(&case).unwrap();
        assert_eq!(plan.actions.len(), 4);
        assert_eq!(
            plan.actions[0],
            Action::remind(Channel::Sms, Tone::Firm, ["a", "b"], case.now + 60)
        );
        assert_eq!(
            plan.actions[2],
            Action::charge_fee("b", FeeKind::LateFee, 500, "scripted fee")
        );
        assert_eq!(
            plan.actions[3],
            Action::defer(["b"], Date::new(2026, 5, 9), "scripted deferral")
        );
        assert_eq!(plan.review_at, Some(case.now + DAY));
    }

    #[test]
    fn a_misspelt_config_is_refused() {
        let case = CaseBuilder::new(Date::new(2026, 5, 4))
            .config(r#"{"actions": [{"kind": "remind", "chanel": "sms", "tone": "firm"}]}"#)
            .build();
        assert!(plan(&case).is_err());
    }
}
