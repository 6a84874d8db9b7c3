//! The case: everything a strategy may look at for one debtor.
//!
//! These are the host's own types, in the shape the rest of dun (store,
//! engine, CLI, case files) uses: dates are `NaiveDate`, instants are UTC
//! `DateTime`s, money is integer minor units. The runtime converts them to the
//! contract's types at one boundary (`runtime::contract`); nothing else knows
//! the WIT shapes. As JSON (case files, replay) they read naturally:
//! `"due_on": "2026-05-20"`, `"now": "2026-05-27T09:00:00Z"`, `"channel": "sms"`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A way to reach a debtor.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Email,
    Sms,
    Call,
    Letter,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Email, Channel::Sms, Channel::Call, Channel::Letter];

    /// The name used in JSON, the store and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Call => "call",
            Channel::Letter => "letter",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// The dunning ladder's tones, mildest first.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Tone {
    Courtesy,
    Gentle,
    Firm,
    Final,
}

impl Tone {
    /// The name used in JSON, the store and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Courtesy => "courtesy",
            Tone::Gentle => "gentle",
            Tone::Firm => "firm",
            Tone::Final => "final",
        }
    }
}

/// Where an invoice that is still owed stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvoiceStatus {
    Open,
    PartiallyPaid,
    Disputed,
    Promised,
    InPlan,
    InCollection,
}

/// The terms an invoice was issued under.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Terms {
    /// Flat late fee, minor units.
    pub late_fee: i64,
    /// Yearly interest in basis points.
    pub interest_bp_per_year: u32,
    /// Days after the due date before fees apply.
    pub grace_days: u32,
}

/// An invoice with money still owed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    pub id: String,
    pub number: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Invoiced amount, minor units.
    pub amount: i64,
    /// Still owed, minor units, fees included.
    pub open_amount: i64,
    #[serde(default)]
    pub fees_charged: i64,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    pub status: InvoiceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_on: Option<NaiveDate>,
    #[serde(default)]
    pub terms: Terms,
}

/// What came of a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContactOutcome {
    Sent,
    Delivered,
    Opened,
    Failed,
    Suppressed,
}

/// A contact already made with the debtor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub at: DateTime<Utc>,
    pub channel: Channel,
    pub tone: Tone,
    pub invoice_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    pub outcome: ContactOutcome,
}

/// Payment behaviour, computed by the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct History {
    pub invoices_paid: u32,
    pub paid_on_time: u32,
    pub average_days_late: f32,
    pub last_payment_at: Option<DateTime<Utc>>,
    /// 24 counts, local hours 0..23.
    pub payments_by_hour: Vec<u32>,
    /// 7 counts, Monday first.
    pub payments_by_weekday: Vec<u32>,
}

impl Default for History {
    fn default() -> Self {
        History {
            invoices_paid: 0,
            paid_on_time: 0,
            average_days_late: 0.0,
            last_payment_at: None,
            payments_by_hour: vec![0; 24],
            payments_by_weekday: vec![0; 7],
        }
    }
}

/// The debtor a case is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debtor {
    pub id: String,
    pub name: String,
    #[serde(default = "default_segment")]
    pub segment: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// IANA zone, e.g. "Europe/Berlin".
    pub time_zone: String,
    /// BCP 47 language tag.
    #[serde(default = "default_language")]
    pub language: String,
    /// Reachable and not opted out.
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub history: History,
}

fn default_segment() -> String {
    "default".into()
}

fn default_language() -> String {
    "en".into()
}

/// Everything a strategy may look at for one debtor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub now: DateTime<Utc>,
    pub debtor: Debtor,
    pub invoices: Vec<Invoice>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// The segment's JSON config; absent means `{}`.
    #[serde(default = "empty_config")]
    pub config: serde_json::Value,
}

fn empty_config() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl Case {
    /// The debtor's IANA zone, or UTC when the name is unknown.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.debtor.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Today's date in the debtor's zone.
    pub fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.zone()).date_naive()
    }

    /// Whole days from the invoice's due date to today in the debtor's zone.
    pub fn days_overdue(&self, invoice: &Invoice) -> i32 {
        days_between(invoice.due_on, self.today())
    }

    /// The SHA-256 of the case's JSON: identifies the exact input of an
    /// evaluation (for replay and audit).
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        // Serializing these types cannot fail: no maps with non-string keys.
        let json = serde_json::to_vec(self).unwrap_or_default();
        sha2::Sha256::digest(json).into()
    }

    /// The seed of the sandbox's random numbers: a function of who is
    /// decided about and when, so replaying a case replays its randomness.
    /// Cheaper than [`Case::digest`], which would cost more than the
    /// decision itself on the hot path.
    pub fn random_seed(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(self.debtor.id.as_bytes());
        hasher.update(self.now.timestamp().to_le_bytes());
        hasher.finalize().into()
    }
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: NaiveDate, to: NaiveDate) -> i32 {
    let days = (to - from).num_days();
    days.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}
