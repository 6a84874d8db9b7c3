//! Aging: what was owed on a date, by how long past due, per currency.
//! Recomputed from dated allocations, so "as of" any past date is exact:
//! an invoice counts when it was issued by then, not voided or written off
//! by then, and had money still open after the payments received by then;
//! a fee counts from the day it was charged.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::Result;

/// Money and invoice count in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// Minor units open.
    pub amount: i64,
    pub invoices: u64,
}

/// The standard buckets, by days past due on the report date.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgingBuckets {
    pub currency: String,
    /// Not yet due (0 or fewer days past due).
    pub current: Bucket,
    #[serde(rename = "1-30")]
    pub days_1_30: Bucket,
    #[serde(rename = "31-60")]
    pub days_31_60: Bucket,
    #[serde(rename = "61-90")]
    pub days_61_90: Bucket,
    #[serde(rename = "90+")]
    pub days_over_90: Bucket,
    pub total: Bucket,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgingReport {
    pub as_of: NaiveDate,
    /// One entry per currency, by code.
    pub currencies: Vec<AgingBuckets>,
}

impl AgingBuckets {
    fn add(&mut self, days_past_due: i64, amount: i64) {
        let bucket = match days_past_due {
            ..=0 => &mut self.current,
            1..=30 => &mut self.days_1_30,
            31..=60 => &mut self.days_31_60,
            61..=90 => &mut self.days_61_90,
            _ => &mut self.days_over_90,
        };
        for b in [bucket, &mut self.total] {
            b.amount += amount;
            b.invoices += 1;
        }
    }
}

pub fn report(
    conn: &Connection,
    tenant_id: i64,
    as_of: NaiveDate,
    currency: Option<&str>,
) -> Result<AgingReport> {
    report_for(conn, tenant_id, as_of, currency, None)
}

/// [`report`] over some of the tenant's debtors only (by row id), for KPIs
/// filtered by segment or strategy; `None` is every debtor.
pub fn report_for(
    conn: &Connection,
    tenant_id: i64,
    as_of: NaiveDate,
    currency: Option<&str>,
    debtors: Option<&[i64]>,
) -> Result<AgingReport> {
    let debtors = debtors.map(|d| super::to_json(&d)).transpose()?;
    let mut stmt = conn.prepare_cached(
        "SELECT currency, due_on, open FROM (
             SELECT i.currency, i.due_on,
                    i.amount
                    - CASE WHEN i.fees = 0 THEN 0 ELSE
                          COALESCE((SELECT SUM(f.amount) FROM fees f
                                    WHERE f.invoice_id = i.id AND substr(f.charged_at, 1, 10) > ?2), 0) END
                    - COALESCE((SELECT SUM(a.amount) FROM allocations a
                                WHERE a.invoice_id = i.id AND a.on_date <= ?2), 0) AS open
             FROM invoices i
             WHERE i.tenant_id = ?1 AND i.issued_on <= ?2
               AND (i.voided_on IS NULL OR i.voided_on > ?2)
               AND (i.written_off_on IS NULL OR i.written_off_on > ?2)
               AND (?3 IS NULL OR i.currency = ?3)
               AND (?4 IS NULL OR i.debtor_id IN (SELECT value FROM json_each(?4))))
         WHERE open > 0",
    )?;
    let mut by_currency: BTreeMap<String, AgingBuckets> = BTreeMap::new();
    let rows = stmt.query_map(params![tenant_id, as_of, currency, debtors], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, NaiveDate>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (currency, due_on, open) = row?;
        by_currency
            .entry(currency.clone())
            .or_insert_with(|| AgingBuckets {
                currency,
                ..AgingBuckets::default()
            })
            .add((as_of - due_on).num_days(), open);
    }
    Ok(AgingReport {
        as_of,
        currencies: by_currency.into_values().collect(),
    })
}
