//! Debtors: the customers who owe. Created or updated by their external id
//! (the billing system's customer id, unique per tenant), with the ways to
//! reach them, their time zone and language, tags, and per-channel opt-outs.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::timeline::{self, EventKind};
use super::{FieldError, Result, StoreError, from_json, to_json};
use crate::case::Channel;

/// A postal address, for letters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    /// Street lines, first to last.
    pub lines: Vec<String>,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: String,
}

/// A debtor as written by a client: create, or replace by `external_id`.
#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DebtorInput {
    /// The billing system's id for this customer; unique within the tenant.
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    /// E.164, e.g. `+4915112345678`. Used for SMS and calls.
    pub phone: Option<String>,
    pub postal_address: Option<PostalAddress>,
    /// IANA time zone (`Europe/Berlin`); quiet hours are kept in it. Default `UTC`.
    #[serde(default = "default_zone")]
    pub time_zone: String,
    /// BCP 47 language tag (`de`, `en-GB`) for templates. Default `en`.
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_zone() -> String {
    "UTC".into()
}

fn default_language() -> String {
    "en".into()
}

/// A debtor as stored.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Debtor {
    /// The billing system's id (the `external_id` it was created with).
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub postal_address: Option<PostalAddress>,
    pub time_zone: String,
    pub language: String,
    pub tags: Vec<String>,
    /// Channels the debtor asked not to be contacted on.
    pub opt_outs: Vec<Channel>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Debtor {
    /// Whether the debtor has the contact details `channel` needs (opt-outs
    /// aside): an email address, a phone number (SMS and calls), a postal
    /// address (letters).
    pub fn has_details_for(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms | Channel::Call => self.phone.is_some(),
            Channel::Letter => self.postal_address.is_some(),
        }
    }

    /// The channels the debtor has details for, in [`Channel::ALL`]'s order.
    pub fn channels_with_details(&self) -> Vec<Channel> {
        Channel::ALL
            .into_iter()
            .filter(|c| self.has_details_for(*c))
            .collect()
    }
}

impl DebtorInput {
    /// Every problem with this input, each with its field (under `prefix`).
    pub fn problems(&self, prefix: &str) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, detail: &str| {
            problems.push(FieldError::new(format!("{prefix}{field}"), detail))
        };
        if let Err(detail) = check_external_id(&self.external_id) {
            bad("external_id", detail);
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            bad("name", "a name is 1-200 characters");
        }
        if let Some(email) = &self.email
            && !looks_like_email(email)
        {
            bad("email", "not an email address");
        }
        if let Some(phone) = &self.phone
            && !is_e164(phone)
        {
            bad(
                "phone",
                "a phone number is E.164: + then 7 to 15 digits, e.g. +4915112345678",
            );
        }
        if let Some(address) = &self.postal_address {
            if address.lines.is_empty() || address.lines.iter().any(|l| l.trim().is_empty()) {
                bad("postal_address.lines", "at least one non-empty line");
            }
            if address.city.trim().is_empty() {
                bad("postal_address.city", "required");
            }
            if address.country.len() != 2
                || !address.country.bytes().all(|b| b.is_ascii_uppercase())
            {
                bad(
                    "postal_address.country",
                    "an ISO 3166-1 alpha-2 code in upper case, e.g. DE",
                );
            }
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            bad(
                "time_zone",
                "not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)",
            );
        }
        if !is_language_tag(&self.language) {
            bad("language", "not a BCP 47 language tag (e.g. en, de, pt-BR)");
        }
        if self.tags.len() > 50 {
            bad("tags", "at most 50 tags");
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.is_empty() || tag.len() > 64 || tag.chars().any(char::is_control) {
                problems.push(FieldError::new(
                    format!("{prefix}tags[{i}]"),
                    "a tag is 1-64 printable characters",
                ));
            }
        }
        problems
    }
}

/// External ids name things in URLs: 1-128 printable characters.
pub(crate) fn check_external_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        Err("an id is 1-128 printable characters")
    } else {
        Ok(())
    }
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Filters for listing debtors.
#[derive(Clone, Debug, Default)]
pub struct DebtorFilter {
    pub tag: Option<String>,
    /// `(true, today)`: only debtors with an owed invoice past due today;
    /// `(false, today)`: only debtors without one.
    pub overdue: Option<(bool, chrono::NaiveDate)>,
    /// Continue after this debtor (the last `id` of the previous page).
    pub after: Option<i64>,
    pub limit: usize,
}

const COLUMNS: &str = "d.id, d.external_id, d.name, d.email, d.phone, d.postal_address, d.time_zone, d.language, d.tags, d.created_at, d.updated_at,
    (SELECT group_concat(channel) FROM opt_outs o WHERE o.debtor_id = d.id)";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Debtor)> {
    let address: Option<String> = row.get(5)?;
    let opt_outs: Option<String> = row.get(11)?;
    let mut opt_outs: Vec<Channel> = opt_outs
        .unwrap_or_default()
        .split(',')
        .filter_map(Channel::parse)
        .collect();
    opt_outs.sort();
    Ok((
        row.get(0)?,
        Debtor {
            id: row.get(1)?,
            name: row.get(2)?,
            email: row.get(3)?,
            phone: row.get(4)?,
            postal_address: address.as_deref().map(from_json).transpose()?,
            time_zone: row.get(6)?,
            language: row.get(7)?,
            tags: from_json(&row.get::<_, String>(8)?)?,
            created_at: row.get(9)?,
            updated_at: row.get(10)?,
            opt_outs,
        },
    ))
}

/// The row id of a debtor of this tenant, or NotFound.
pub(crate) fn row_id(conn: &Connection, tenant_id: i64, external_id: &str) -> Result<i64> {
    conn.prepare_cached("SELECT id FROM debtors WHERE tenant_id = ?1 AND external_id = ?2")?
        .query_row(params![tenant_id, external_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("debtor", external_id))
}

pub fn get(conn: &Connection, tenant_id: i64, external_id: &str) -> Result<Debtor> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM debtors d WHERE d.tenant_id = ?1 AND d.external_id = ?2"
    ))?
    .query_row(params![tenant_id, external_id], from_row)
    .optional()?
    .map(|(_, d)| d)
    .ok_or_else(|| StoreError::not_found("debtor", external_id))
}

/// One page of debtors in creation order, with the cursor of the next page.
pub fn list(
    conn: &Connection,
    tenant_id: i64,
    filter: &DebtorFilter,
) -> Result<(Vec<Debtor>, Option<i64>)> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM debtors d
         WHERE d.tenant_id = ?1 AND d.id > ?2
           AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(d.tags) WHERE value = ?3))
           AND (?4 IS NULL OR ?4 = EXISTS (SELECT 1 FROM invoices i WHERE i.debtor_id = d.id AND i.open_amount > 0
                AND i.status NOT IN ('void', 'written-off', 'paid') AND i.due_on < ?6))
         ORDER BY d.id LIMIT ?5"
    ))?;
    let rows = stmt.query_map(
        params![
            tenant_id,
            filter.after.unwrap_or(0),
            filter.tag,
            filter.overdue.map(|(overdue, _)| overdue),
            filter.limit as i64 + 1,
            filter.overdue.map(|(_, today)| today)
        ],
        from_row,
    )?;
    let mut page: Vec<(i64, Debtor)> = rows.collect::<rusqlite::Result<_>>()?;
    let next = if page.len() > filter.limit {
        page.truncate(filter.limit);
        page.last().map(|(id, _)| *id)
    } else {
        None
    };
    Ok((page.into_iter().map(|(_, d)| d).collect(), next))
}

/// Creates the debtor or replaces its fields. Returns it and whether it was
/// created. An identical re-send changes nothing and records nothing.
pub fn upsert(
    conn: &Connection,
    tenant_id: i64,
    input: &DebtorInput,
    now: DateTime<Utc>,
) -> Result<(Debtor, bool)> {
    let problems = input.problems("");
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems));
    }
    let mut tags = input.tags.clone();
    tags.sort();
    tags.dedup();
    let address = input.postal_address.as_ref().map(to_json).transpose()?;
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM debtors d WHERE d.tenant_id = ?1 AND d.external_id = ?2"
        ))?
        .query_row(params![tenant_id, input.external_id], from_row)
        .optional()?;
    match existing {
        None => {
            conn.prepare_cached(
                "INSERT INTO debtors (tenant_id, external_id, name, email, phone, postal_address, time_zone, language, tags, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            )?
            .execute(params![
                tenant_id,
                input.external_id,
                input.name,
                input.email,
                input.phone,
                address,
                input.time_zone,
                input.language,
                to_json(&tags)?,
                now
            ])?;
            let row = conn.last_insert_rowid();
            timeline::append(
                conn,
                tenant_id,
                row,
                now,
                EventKind::DebtorCreated,
                None,
                &json!({ "name": input.name }),
            )?;
            Ok((get(conn, tenant_id, &input.external_id)?, true))
        }
        Some((row, old)) => {
            let mut changed = Vec::new();
            if old.name != input.name {
                changed.push("name");
            }
            if old.email != input.email {
                changed.push("email");
            }
            if old.phone != input.phone {
                changed.push("phone");
            }
            if old.postal_address != input.postal_address {
                changed.push("postal_address");
            }
            if old.time_zone != input.time_zone {
                changed.push("time_zone");
            }
            if old.language != input.language {
                changed.push("language");
            }
            if old.tags != tags {
                changed.push("tags");
            }
            if changed.is_empty() {
                return Ok((old, false));
            }
            conn.prepare_cached(
                "UPDATE debtors SET name = ?2, email = ?3, phone = ?4, postal_address = ?5, time_zone = ?6, language = ?7, tags = ?8, updated_at = ?9
                 WHERE id = ?1",
            )?
            .execute(params![
                row,
                input.name,
                input.email,
                input.phone,
                address,
                input.time_zone,
                input.language,
                to_json(&tags)?,
                now
            ])?;
            timeline::append(
                conn,
                tenant_id,
                row,
                now,
                EventKind::DebtorUpdated,
                None,
                &json!({ "changed": changed }),
            )?;
            Ok((get(conn, tenant_id, &input.external_id)?, false))
        }
    }
}

/// Records that the debtor does (or no longer does) refuse `channel`.
/// Returns the debtor; a request that changes nothing records nothing.
pub fn set_opt_out(
    conn: &Connection,
    tenant_id: i64,
    external_id: &str,
    channel: Channel,
    opted_out: bool,
    source: &str,
    now: DateTime<Utc>,
) -> Result<Debtor> {
    let debtor = row_id(conn, tenant_id, external_id)?;
    let changed = if opted_out {
        conn.prepare_cached(
            "INSERT INTO opt_outs (debtor_id, channel, at, source) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?
        .execute(params![debtor, channel.as_str(), now, source])?
    } else {
        conn.prepare_cached("DELETE FROM opt_outs WHERE debtor_id = ?1 AND channel = ?2")?
            .execute(params![debtor, channel.as_str()])?
    };
    if changed > 0 {
        let kind = if opted_out {
            EventKind::OptOutAdded
        } else {
            EventKind::OptOutRemoved
        };
        timeline::append(
            conn,
            tenant_id,
            debtor,
            now,
            kind,
            None,
            &json!({ "channel": channel, "source": source }),
        )?;
        conn.prepare_cached("UPDATE debtors SET updated_at = ?2 WHERE id = ?1")?
            .execute(params![debtor, now])?;
    }
    get(conn, tenant_id, external_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_details_are_checked() {
        assert!(is_e164("+4915112345678"));
        assert!(!is_e164("015112345678"));
        assert!(!is_e164("+0123456789"));
        assert!(looks_like_email("ap@example.com"));
        assert!(!looks_like_email("ap@example"));
        assert!(!looks_like_email("a p@example.com"));
        assert!(is_language_tag("en") && is_language_tag("pt-BR") && is_language_tag("zh-Hant-TW"));
        assert!(!is_language_tag("EN") && !is_language_tag("english"));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let input = DebtorInput {
            external_id: String::new(),
            name: "Acme".into(),
            email: Some("nope".into()),
            phone: Some("123".into()),
            postal_address: None,
            time_zone: "Mars/Olympus".into(),
            language: "en".into(),
            tags: vec!["ok".into(), String::new()],
        };
        let fields: Vec<String> = input
            .problems("debtor.")
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            [
                "debtor.external_id",
                "debtor.email",
                "debtor.phone",
                "debtor.time_zone",
                "debtor.tags[1]"
            ]
        );
    }
}
