//! Segments: a tenant's ordered rules that decide which strategy (and with
//! which config) decides about a debtor. A debtor belongs to the first
//! segment, by priority, whose rule matches their facts; the `default`
//! segment catches the rest (the built-in `ladder` with `{}` until the
//! tenant changes it).
//!
//! A rule is a conjunction: every condition given must hold, an absent one
//! always does. Amounts are minor units and, when `currency` is given,
//! count only that currency's invoices; without it a condition on amounts
//! holds when it holds for any one currency (amounts in different
//! currencies are never added up).

use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::store::FieldError;

/// The segment every tenant has; it matches everyone and comes last.
pub const DEFAULT: &str = "default";

/// When a segment applies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Rule {
    /// The debtor has at least one of these tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_any: Vec<String>,
    /// The debtor has every one of these tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_all: Vec<String>,
    /// The debtor has none of these tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_none: Vec<String>,
    /// Amounts below count this currency only (ISO 4217); the debtor must
    /// owe something in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Total still owed, minor units, at least…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_total_open: Option<i64>,
    /// …and at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_total_open: Option<i64>,
    /// The largest single open amount, minor units, at least.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_largest_invoice: Option<i64>,
    /// The oldest owed invoice is at least this many days past due
    /// (negative: before its due date)…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_days_overdue: Option<i64>,
    /// …and at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_days_overdue: Option<i64>,
    /// Invoices the debtor has paid in full, at least…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_invoices_paid: Option<u32>,
    /// …and at most (0: new debtors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_invoices_paid: Option<u32>,
    /// Share (0 to 1) of paid invoices paid by their due date, at least…
    /// (a debtor with no paid invoice has no rate and does not match).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_on_time_rate: Option<f64>,
    /// …and at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_on_time_rate: Option<f64>,
    /// Average days late of paid invoices, at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_average_days_late: Option<f64>,
}

impl Rule {
    /// Every problem with the rule, fields named under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, detail: &str| {
            problems.push(FieldError::new(format!("{prefix}.{field}"), detail));
        };
        for (field, tags) in [
            ("tags_any", &self.tags_any),
            ("tags_all", &self.tags_all),
            ("tags_none", &self.tags_none),
        ] {
            if tags.iter().any(|t| t.trim().is_empty() || t.len() > 64) {
                bad(field, "tags are 1-64 characters");
            }
        }
        if let Some(code) = &self.currency
            && crate::money::Currency::from_code(code).is_none()
        {
            bad("currency", "an ISO 4217 code such as EUR");
        }
        let ordered = |min: Option<f64>, max: Option<f64>| match (min, max) {
            (Some(min), Some(max)) => min <= max,
            _ => true,
        };
        let as_f64 = |v: Option<i64>| v.map(|v| v as f64);
        if !ordered(as_f64(self.min_total_open), as_f64(self.max_total_open)) {
            bad("max_total_open", "must be at least min_total_open");
        }
        if !ordered(as_f64(self.min_days_overdue), as_f64(self.max_days_overdue)) {
            bad("max_days_overdue", "must be at least min_days_overdue");
        }
        if !ordered(
            self.min_invoices_paid.map(f64::from),
            self.max_invoices_paid.map(f64::from),
        ) {
            bad("max_invoices_paid", "must be at least min_invoices_paid");
        }
        for (field, value) in [
            ("min_on_time_rate", self.min_on_time_rate),
            ("max_on_time_rate", self.max_on_time_rate),
        ] {
            if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                bad(field, "a share between 0 and 1");
            }
        }
        if !ordered(self.min_on_time_rate, self.max_on_time_rate) {
            bad("max_on_time_rate", "must be at least min_on_time_rate");
        }
        for (field, value) in [
            ("min_total_open", self.min_total_open),
            ("max_total_open", self.max_total_open),
            ("min_largest_invoice", self.min_largest_invoice),
        ] {
            if value.is_some_and(|v| v < 0) {
                bad(field, "minor units, not negative");
            }
        }
        if self
            .max_average_days_late
            .is_some_and(|v| !v.is_finite() || v < 0.0)
        {
            bad("max_average_days_late", "days, not negative");
        }
        problems
    }

    /// Whether the debtor in `case` matches.
    pub fn matches(&self, case: &Case) -> bool {
        let tags = &case.debtor.tags;
        let has = |t: &String| tags.contains(t);
        if !self.tags_any.is_empty() && !self.tags_any.iter().any(has) {
            return false;
        }
        if !self.tags_all.iter().all(has) || self.tags_none.iter().any(has) {
            return false;
        }
        // Amounts, per currency.
        let mut currencies: Vec<&str> = case.invoices.iter().map(|i| i.currency.as_str()).collect();
        currencies.sort_unstable();
        currencies.dedup();
        if let Some(wanted) = &self.currency {
            currencies.retain(|c| c == wanted);
            if currencies.is_empty() {
                return false;
            }
        }
        let amounts_hold = |currency: &str| {
            let open = case
                .invoices
                .iter()
                .filter(|i| i.currency == currency)
                .map(|i| i.open_amount);
            let total: i64 = open.clone().sum();
            let largest = open.max().unwrap_or(0);
            self.min_total_open.is_none_or(|m| total >= m)
                && self.max_total_open.is_none_or(|m| total <= m)
                && self.min_largest_invoice.is_none_or(|m| largest >= m)
        };
        let amounts_given = self.min_total_open.is_some()
            || self.max_total_open.is_some()
            || self.min_largest_invoice.is_some();
        if amounts_given && !currencies.iter().any(|c| amounts_hold(c)) {
            return false;
        }
        if self.min_days_overdue.is_some() || self.max_days_overdue.is_some() {
            let today = case.today();
            let Some(oldest) = case
                .invoices
                .iter()
                .map(|i| (today - i.due_on).num_days())
                .max()
            else {
                return false;
            };
            if self.min_days_overdue.is_some_and(|m| oldest < m)
                || self.max_days_overdue.is_some_and(|m| oldest > m)
            {
                return false;
            }
        }
        let history = &case.debtor.history;
        if self
            .min_invoices_paid
            .is_some_and(|m| history.invoices_paid < m)
            || self
                .max_invoices_paid
                .is_some_and(|m| history.invoices_paid > m)
        {
            return false;
        }
        if self.min_on_time_rate.is_some() || self.max_on_time_rate.is_some() {
            if history.invoices_paid == 0 {
                return false;
            }
            let rate = f64::from(history.paid_on_time) / f64::from(history.invoices_paid);
            if self.min_on_time_rate.is_some_and(|m| rate < m)
                || self.max_on_time_rate.is_some_and(|m| rate > m)
            {
                return false;
            }
        }
        if let Some(max) = self.max_average_days_late
            && (history.invoices_paid == 0 || f64::from(history.average_days_late) > max)
        {
            return false;
        }
        true
    }
}

/// An A/B split: `percent` of a segment's debtors, chosen by a stable hash
/// of the debtor's id, are decided by `strategy` with `config`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub strategy: String,
    #[serde(default = "empty_config")]
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// 1-99.
    pub percent: u8,
}

fn empty_config() -> serde_json::Value {
    serde_json::json!({})
}

impl Split {
    /// Whether the debtor is in the split's arm: the same answer for the
    /// same tenant and debtor, whatever else changes.
    pub fn takes(&self, tenant_id: i64, debtor: &str) -> bool {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(tenant_id.to_le_bytes())
            .chain_update(debtor.as_bytes())
            .finalize();
        let bucket = u16::from_le_bytes([digest[0], digest[1]]) % 100;
        bucket < u16::from(self.percent)
    }
}

/// A segment as stored and shown.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Segment {
    /// Chosen by the tenant: `enterprise`, `new-customers`, `default`.
    pub id: String,
    pub name: String,
    /// Lower goes first; `default` always comes last.
    pub priority: i64,
    pub rule: Rule,
    /// The strategy that decides for this segment: a built-in's name, or a
    /// `NAME.wasm` deployed in `strategies_dir`.
    pub strategy: String,
    /// Handed to the strategy as the case's `config`.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// A strategy run beside `strategy` on the same cases, with the same
    /// config: its plans are recorded, never carried out
    /// (`GET /v1/segments/{id}/shadow-report`).
    pub shadow: Option<String>,
    /// Some of the segment's debtors decided by another strategy (A/B).
    pub split: Option<Split>,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Segment {
    /// The default segment of a tenant that never changed it.
    pub fn implicit_default() -> Segment {
        Segment {
            id: DEFAULT.into(),
            name: "Everyone else".into(),
            priority: i64::MAX,
            rule: Rule::default(),
            strategy: crate::engine::DEFAULT_STRATEGY.into(),
            config: serde_json::json!({}),
            shadow: None,
            split: None,
            created_at: None,
            updated_at: None,
        }
    }
}

/// The segment for the debtor in `case`: the first by priority whose rule
/// matches; `segments` is in priority order and ends with `default`.
pub fn choose<'a>(segments: &'a [Segment], case: &Case) -> Option<&'a Segment> {
    segments
        .iter()
        .find(|s| s.id == DEFAULT || s.rule.matches(case))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(tags: &[&str], invoices: &[(&str, i64, i64)], paid: u32, on_time: u32) -> Case {
        let mut case: Case = serde_json::from_value(serde_json::json!({
            "now": "2026-05-10T10:00:00Z",
            "debtor": { "id": "d", "name": "D", "time_zone": "UTC", "channels": ["email"],
                        "tags": tags },
            "invoices": [],
        }))
        .unwrap();
        for (i, (currency, open, days_overdue)) in invoices.iter().enumerate() {
            case.invoices.push(
                serde_json::from_value(serde_json::json!({
                    "id": format!("i{i}"), "number": format!("N{i}"), "currency": currency,
                    "amount": open, "open_amount": open, "issued_on": "2026-01-01",
                    "due_on": (chrono::NaiveDate::from_ymd_opt(2026, 5, 10).unwrap()
                               - chrono::Duration::days(*days_overdue)).to_string(),
                    "status": "open",
                }))
                .unwrap(),
            );
        }
        case.debtor.history.invoices_paid = paid;
        case.debtor.history.paid_on_time = on_time;
        case
    }

    fn rule(json: serde_json::Value) -> Rule {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn each_condition_narrows_the_match() {
        let big = case(
            &["enterprise"],
            &[("EUR", 600_000, 12), ("USD", 100, 2)],
            10,
            9,
        );
        let small = case(&[], &[("EUR", 5_000, 3)], 0, 0);
        let cases = [
            (serde_json::json!({}), true, true),
            (
                serde_json::json!({"tags_any": ["enterprise", "vip"]}),
                true,
                false,
            ),
            (
                serde_json::json!({"tags_none": ["enterprise"]}),
                false,
                true,
            ),
            (
                serde_json::json!({"tags_all": ["enterprise", "vip"]}),
                false,
                false,
            ),
            (serde_json::json!({"min_total_open": 500_000}), true, false),
            // Only USD counts: 100 is not enough.
            (
                serde_json::json!({"currency": "USD", "min_total_open": 500_000}),
                false,
                false,
            ),
            (serde_json::json!({"currency": "USD"}), true, false),
            (serde_json::json!({"max_total_open": 10_000}), true, true), // USD 100 holds
            (
                serde_json::json!({"currency": "EUR", "max_total_open": 10_000}),
                false,
                true,
            ),
            (
                serde_json::json!({"min_largest_invoice": 600_000}),
                true,
                false,
            ),
            (serde_json::json!({"min_days_overdue": 10}), true, false),
            (serde_json::json!({"max_days_overdue": 5}), false, true),
            (serde_json::json!({"max_invoices_paid": 0}), false, true),
            (serde_json::json!({"min_on_time_rate": 0.8}), true, false),
            (serde_json::json!({"max_on_time_rate": 0.5}), false, false),
        ];
        for (json, for_big, for_small) in cases {
            let r = rule(json.clone());
            assert!(r.problems("rule").is_empty(), "{json}");
            assert_eq!(r.matches(&big), for_big, "big: {json}");
            assert_eq!(r.matches(&small), for_small, "small: {json}");
        }
    }

    #[test]
    fn the_first_match_wins_and_default_catches_the_rest() {
        let segment = |id: &str, json: serde_json::Value| Segment {
            id: id.into(),
            rule: rule(json),
            ..Segment::implicit_default()
        };
        let segments = vec![
            segment(
                "enterprise",
                serde_json::json!({"tags_any": ["enterprise"]}),
            ),
            segment("large", serde_json::json!({"min_total_open": 100_000})),
            Segment::implicit_default(),
        ];
        let big = case(&["enterprise"], &[("EUR", 600_000, 12)], 0, 0);
        let large = case(&[], &[("EUR", 600_000, 12)], 0, 0);
        let small = case(&[], &[("EUR", 5_000, 3)], 0, 0);
        assert_eq!(choose(&segments, &big).unwrap().id, "enterprise");
        assert_eq!(choose(&segments, &large).unwrap().id, "large");
        assert_eq!(choose(&segments, &small).unwrap().id, "default");
    }

    #[test]
    fn bad_rules_name_their_field() {
        let fields = |json: serde_json::Value| -> Vec<String> {
            rule(json)
                .problems("rule")
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(serde_json::json!({"currency": "EURO"})),
            ["rule.currency"]
        );
        assert_eq!(
            fields(serde_json::json!({"min_total_open": 5, "max_total_open": 1})),
            ["rule.max_total_open"]
        );
        assert_eq!(
            fields(serde_json::json!({"min_on_time_rate": 1.5})),
            ["rule.min_on_time_rate"]
        );
        assert_eq!(
            fields(serde_json::json!({"tags_any": [""]})),
            ["rule.tags_any"]
        );
        assert!(serde_json::from_value::<Rule>(serde_json::json!({"colour": 1})).is_err());
    }
}
