//! Invoices: what a debtor owes, in minor units of one currency. The status
//! is derived, never set by a client: from voiding, write-off, the open
//! amount, collection hand-off, open disputes, active payment plans and
//! pending promises (in that order of precedence). [`refresh_status`] is
//! the one place that derives it, and it records every change on the
//! debtor's timeline.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::timeline::{self, EventKind};
use super::{FieldError, Result, StoreError, debtors, from_json, to_json};
use crate::case::Terms;
use crate::money::Currency;

/// Where an invoice stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InvoiceStatus {
    Open,
    PartiallyPaid,
    Paid,
    Disputed,
    Promised,
    InPlan,
    WrittenOff,
    Void,
    InCollection,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 9] = [
        InvoiceStatus::Open,
        InvoiceStatus::PartiallyPaid,
        InvoiceStatus::Paid,
        InvoiceStatus::Disputed,
        InvoiceStatus::Promised,
        InvoiceStatus::InPlan,
        InvoiceStatus::WrittenOff,
        InvoiceStatus::Void,
        InvoiceStatus::InCollection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::PartiallyPaid => "partially-paid",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Disputed => "disputed",
            InvoiceStatus::Promised => "promised",
            InvoiceStatus::InPlan => "in-plan",
            InvoiceStatus::WrittenOff => "written-off",
            InvoiceStatus::Void => "void",
            InvoiceStatus::InCollection => "in-collection",
        }
    }

    pub fn parse(name: &str) -> Option<InvoiceStatus> {
        InvoiceStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Money is still owed and may be chased (or is paused, not settled).
    pub fn is_owed(self) -> bool {
        !matches!(
            self,
            InvoiceStatus::Paid | InvoiceStatus::WrittenOff | InvoiceStatus::Void
        )
    }
    /// Whether reminders may still name it: owed, and neither disputed nor
    /// handed to collection.
    pub fn is_chased(self) -> bool {
        self.is_owed() && !matches!(self, InvoiceStatus::Disputed | InvoiceStatus::InCollection)
    }
}

/// An invoice as sent by a billing system.
#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    /// The billing system's id for the invoice; unique within the tenant.
    pub external_id: String,
    /// The debtor's id (their `external_id`); the debtor must exist.
    pub debtor_id: String,
    /// The number printed on the invoice. Default: `external_id`.
    pub number: Option<String>,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// Total, in minor units of `currency` (cents for EUR). Positive.
    pub amount: i64,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    #[serde(default)]
    pub terms: Terms,
    /// The client's own data, kept and returned as is (a JSON object, ≤ 4 KiB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

impl NewInvoice {
    pub fn problems(&self, prefix: &str) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, detail: String| {
            problems.push(FieldError::new(format!("{prefix}{field}"), detail))
        };
        if let Err(detail) = debtors::check_external_id(&self.external_id) {
            bad("external_id", detail.into());
        }
        if let Err(detail) = debtors::check_external_id(&self.debtor_id) {
            bad("debtor_id", detail.into());
        }
        if let Some(number) = &self.number
            && (number.is_empty() || number.len() > 64)
        {
            bad("number", "an invoice number is 1-64 characters".into());
        }
        if Currency::from_code(&self.currency).is_none() {
            bad(
                "currency",
                format!(
                    "{:?} is not an ISO 4217 currency code (upper case, e.g. EUR)",
                    self.currency
                ),
            );
        }
        if self.amount <= 0 {
            bad("amount", "must be a positive number of minor units".into());
        } else if self.amount > MAX_AMOUNT {
            bad(
                "amount",
                format!("must be at most {MAX_AMOUNT} minor units"),
            );
        }
        if self.due_on < self.issued_on {
            bad("due_on", "is before issued_on".into());
        }
        if self.terms.late_fee < 0 {
            bad("terms.late_fee", "must not be negative".into());
        }
        if self.terms.interest_bp_per_year > 100_000 {
            bad(
                "terms.interest_bp_per_year",
                "more than 1000% a year is not a term".into(),
            );
        }
        if let Some(metadata) = &self.metadata {
            if !metadata.is_object() {
                bad("metadata", "must be a JSON object".into());
            } else if metadata.to_string().len() > 4096 {
                bad("metadata", "must be at most 4 KiB".into());
            }
        }
        problems
    }
}

/// Largest amount one invoice or payment may carry: 10^15 minor units.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// An invoice as stored.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    /// The billing system's id (its `external_id`).
    pub id: String,
    pub debtor_id: String,
    pub number: String,
    pub currency: String,
    /// Total, minor units: the invoice's own amount plus any fees charged.
    pub amount: i64,
    /// Still owed, minor units (fees included).
    pub open_amount: i64,
    /// Fees charged by the strategy (included in `amount` and
    /// `open_amount`), minor units.
    pub fees: i64,
    /// Contact about it is paused until this date (a strategy's deferral).
    pub deferred_until: Option<NaiveDate>,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    /// Days past due today (negative before the due date).
    pub days_overdue: i64,
    pub status: InvoiceStatus,
    pub terms: Terms,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub paid_on: Option<NaiveDate>,
    pub voided_on: Option<NaiveDate>,
    pub void_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "i.id, i.external_id, d.external_id, i.number, i.currency, i.amount, i.open_amount, i.issued_on, i.due_on,
    i.status, i.terms, i.metadata, i.paid_on, i.voided_on, i.void_reason, i.created_at, i.updated_at, i.fees, i.deferred_until";

fn from_row(row: &rusqlite::Row<'_>, today: NaiveDate) -> rusqlite::Result<(i64, Invoice)> {
    let due_on: NaiveDate = row.get(8)?;
    let status: String = row.get(9)?;
    let terms: Option<String> = row.get(10)?;
    let metadata: Option<String> = row.get(11)?;
    Ok((
        row.get(0)?,
        Invoice {
            id: row.get(1)?,
            debtor_id: row.get(2)?,
            number: row.get(3)?,
            currency: row.get(4)?,
            amount: row.get(5)?,
            open_amount: row.get(6)?,
            issued_on: row.get(7)?,
            due_on,
            days_overdue: (today - due_on).num_days(),
            status: InvoiceStatus::parse(&status).unwrap_or(InvoiceStatus::Open),
            terms: terms
                .as_deref()
                .map(from_json)
                .transpose()?
                .unwrap_or_default(),
            metadata: metadata.as_deref().map(from_json).transpose()?,
            paid_on: row.get(12)?,
            voided_on: row.get(13)?,
            void_reason: row.get(14)?,
            created_at: row.get(15)?,
            updated_at: row.get(16)?,
            fees: row.get(17)?,
            deferred_until: row.get(18)?,
        },
    ))
}

/// What the other store modules need to know of an invoice.
#[derive(Clone, Debug)]
pub(crate) struct InvoiceRow {
    pub id: i64,
    pub external_id: String,
    pub debtor_id: i64,
    pub currency: String,
    pub amount: i64,
    pub open_amount: i64,
    pub status: InvoiceStatus,
}

pub(crate) fn row(conn: &Connection, tenant_id: i64, external_id: &str) -> Result<InvoiceRow> {
    conn.prepare_cached(
        "SELECT id, external_id, debtor_id, currency, amount, open_amount, status FROM invoices
         WHERE tenant_id = ?1 AND external_id = ?2",
    )?
    .query_row(params![tenant_id, external_id], invoice_row)
    .optional()?
    .ok_or_else(|| StoreError::not_found("invoice", external_id))
}

fn invoice_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InvoiceRow> {
    Ok(InvoiceRow {
        id: r.get(0)?,
        external_id: r.get(1)?,
        debtor_id: r.get(2)?,
        currency: r.get(3)?,
        amount: r.get(4)?,
        open_amount: r.get(5)?,
        status: InvoiceStatus::parse(&r.get::<_, String>(6)?).unwrap_or(InvoiceStatus::Open),
    })
}

/// The owed invoices of a debtor in one currency, oldest due first: the
/// order an unallocated payment settles them in.
pub(crate) fn owed_by_debtor(
    conn: &Connection,
    debtor_id: i64,
    currency: &str,
) -> Result<Vec<InvoiceRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, external_id, debtor_id, currency, amount, open_amount, status FROM invoices
         WHERE debtor_id = ?1 AND currency = ?2 AND open_amount > 0 AND status NOT IN ('void', 'written-off')
         ORDER BY due_on, id",
    )?;
    let rows = stmt.query_map(params![debtor_id, currency], invoice_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(
    conn: &Connection,
    tenant_id: i64,
    external_id: &str,
    today: NaiveDate,
) -> Result<Invoice> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM invoices i JOIN debtors d ON d.id = i.debtor_id
         WHERE i.tenant_id = ?1 AND i.external_id = ?2"
    ))?
    .query_row(params![tenant_id, external_id], |r| from_row(r, today))
    .optional()?
    .map(|(_, i)| i)
    .ok_or_else(|| StoreError::not_found("invoice", external_id))
}

/// Filters for listing invoices; all optional.
#[derive(Clone, Debug, Default)]
pub struct InvoiceFilter {
    pub statuses: Vec<InvoiceStatus>,
    /// Only owed invoices past their due date (true) or not (false).
    pub overdue: Option<bool>,
    pub debtor_id: Option<String>,
    pub currency: Option<String>,
    pub due_before: Option<NaiveDate>,
    pub due_after: Option<NaiveDate>,
    pub after: Option<i64>,
    pub limit: usize,
}

pub fn list(
    conn: &Connection,
    tenant_id: i64,
    filter: &InvoiceFilter,
    today: NaiveDate,
) -> Result<(Vec<Invoice>, Option<i64>)> {
    let statuses = (!filter.statuses.is_empty())
        .then(|| {
            to_json(
                &filter
                    .statuses
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            )
        })
        .transpose()?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM invoices i JOIN debtors d ON d.id = i.debtor_id
         WHERE i.tenant_id = ?1 AND i.id > ?2
           AND (?3 IS NULL OR i.status IN (SELECT value FROM json_each(?3)))
           AND (?4 IS NULL OR (?4 = 1) = (i.due_on < ?5 AND i.open_amount > 0 AND i.status NOT IN ('void', 'written-off', 'paid')))
           AND (?6 IS NULL OR d.external_id = ?6)
           AND (?7 IS NULL OR i.currency = ?7)
           AND (?8 IS NULL OR i.due_on < ?8)
           AND (?9 IS NULL OR i.due_on > ?9)
         ORDER BY i.id LIMIT ?10"
    ))?;
    let rows = stmt.query_map(
        params![
            tenant_id,
            filter.after.unwrap_or(0),
            statuses,
            filter.overdue,
            today,
            filter.debtor_id,
            filter.currency,
            filter.due_before,
            filter.due_after,
            filter.limit as i64 + 1
        ],
        |r| from_row(r, today),
    )?;
    let mut page: Vec<(i64, Invoice)> = rows.collect::<rusqlite::Result<_>>()?;
    let next = if page.len() > filter.limit {
        page.truncate(filter.limit);
        page.last().map(|(id, _)| *id)
    } else {
        None
    };
    Ok((page.into_iter().map(|(_, i)| i).collect(), next))
}

/// How one item of a create went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    /// The same invoice was already there: nothing changed.
    Unchanged,
    Rejected,
}

/// One item of a bulk ingest that was not created.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BulkItemResult {
    /// Position in the request from 0: the array index, or for NDJSON the
    /// line number minus 1.
    pub index: usize,
    pub external_id: Option<String>,
    pub outcome: Outcome,
    pub problems: Vec<FieldError>,
}

/// The result of a bulk ingest: counts, and each item that was not created.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct BulkOutcome {
    pub received: usize,
    pub created: usize,
    pub unchanged: usize,
    pub rejected: usize,
    /// Rejected items, with every problem and its field.
    pub errors: Vec<BulkItemResult>,
}

#[derive(Serialize)]
struct CreatedData<'a> {
    id: &'a str,
    number: &'a str,
    currency: &'a str,
    amount: i64,
    issued_on: NaiveDate,
    due_on: NaiveDate,
}

/// An invoice checked and turned into the text the store binds: the CPU
/// work of an ingest, done by the caller's thread rather than the writer's.
#[derive(Clone, Debug)]
pub struct PreparedInvoice {
    invoice: NewInvoice,
    number: String,
    issued_on: String,
    due_on: String,
    terms: Option<String>,
    metadata: Option<String>,
    event: String,
}

/// An item that could not be prepared: its id when known, and its problems.
pub type Unprepared = (Option<String>, Vec<FieldError>);

/// Checks each parsed item and prepares it for [`create_many`].
pub fn prepare(
    items: Vec<Result<NewInvoice, Vec<FieldError>>>,
) -> Vec<Result<PreparedInvoice, Unprepared>> {
    items
        .into_iter()
        .map(|item| {
            let invoice = item.map_err(|problems| (None, problems))?;
            let problems = invoice.problems("");
            if !problems.is_empty() {
                return Err((Some(invoice.external_id), problems));
            }
            let number = invoice
                .number
                .clone()
                .unwrap_or_else(|| invoice.external_id.clone());
            let json = |e: serde_json::Error| {
                (
                    Some(invoice.external_id.clone()),
                    vec![FieldError::new("body", e.to_string())],
                )
            };
            let terms = (invoice.terms != Terms::default())
                .then(|| serde_json::to_string(&invoice.terms))
                .transpose()
                .map_err(json)?;
            let metadata = invoice
                .metadata
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(json)?;
            let event = serde_json::to_string(&CreatedData {
                id: &invoice.external_id,
                number: &number,
                currency: &invoice.currency,
                amount: invoice.amount,
                issued_on: invoice.issued_on,
                due_on: invoice.due_on,
            })
            .map_err(json)?;
            Ok(PreparedInvoice {
                issued_on: super::sql_date(invoice.issued_on),
                due_on: super::sql_date(invoice.due_on),
                number,
                terms,
                metadata,
                event,
                invoice,
            })
        })
        .collect()
}

/// Rows per multi-row INSERT: fewer statement runs, well under SQLite's
/// limit of bound parameters.
const CHUNK: usize = 64;

/// Creates invoices; items already present with the same content are
/// `unchanged`, with other content `rejected` (an invoice is not silently
/// rewritten). Each item stands alone: a bad item does not stop the others.
pub fn create_many(
    conn: &Connection,
    tenant_id: i64,
    items: Vec<Result<PreparedInvoice, Unprepared>>,
    now: DateTime<Utc>,
) -> Result<BulkOutcome> {
    let mut outcome = BulkOutcome {
        received: items.len(),
        ..BulkOutcome::default()
    };
    let reject = |outcome: &mut BulkOutcome,
                  index: usize,
                  external_id: Option<String>,
                  problems: Vec<FieldError>| {
        outcome.rejected += 1;
        outcome.errors.push(BulkItemResult {
            index,
            external_id,
            outcome: Outcome::Rejected,
            problems,
        });
    };
    // Which of these ids exist already: one query for the whole batch.
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| i.as_ref().ok().map(|p| p.invoice.external_id.as_str()))
        .collect();
    let existing: std::collections::HashSet<String> = conn
        // CROSS JOIN keeps json_each outermost: one index probe per id, not a
        // scan of the tenant's invoices.
        .prepare_cached(
            "SELECT i.external_id FROM json_each(?2) AS j CROSS JOIN invoices AS i
             WHERE i.tenant_id = ?1 AND i.external_id = j.value",
        )?
        .query_map(params![tenant_id, to_json(&ids)?], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut debtor_ids: HashMap<String, Option<i64>> = HashMap::new();
    let mut find_debtor =
        conn.prepare_cached("SELECT id FROM debtors WHERE tenant_id = ?1 AND external_id = ?2")?;
    let mut fresh: Vec<(i64, PreparedInvoice)> = Vec::new();
    let mut in_batch: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut compare_later: Vec<(usize, i64, PreparedInvoice)> = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let prepared = match item {
            Ok(prepared) => prepared,
            Err((external_id, problems)) => {
                reject(&mut outcome, index, external_id, problems);
                continue;
            }
        };
        let debtor_key = &prepared.invoice.debtor_id;
        let debtor = match debtor_ids.get(debtor_key) {
            Some(id) => *id,
            None => {
                let id: Option<i64> = find_debtor
                    .query_row(params![tenant_id, debtor_key], |r| r.get(0))
                    .optional()?;
                debtor_ids.insert(debtor_key.clone(), id);
                id
            }
        };
        let Some(debtor) = debtor else {
            let detail = format!("no debtor {debtor_key:?} in this tenant; create it first");
            reject(
                &mut outcome,
                index,
                Some(prepared.invoice.external_id),
                vec![FieldError::new("debtor_id", detail)],
            );
            continue;
        };
        if existing.contains(&prepared.invoice.external_id)
            || !in_batch.insert(prepared.invoice.external_id.clone())
        {
            compare_later.push((index, debtor, prepared));
        } else {
            fresh.push((debtor, prepared));
        }
    }
    let now_text = super::sql_timestamp(now);
    for chunk in fresh.chunks(CHUNK) {
        insert_chunk(conn, tenant_id, chunk, &now_text)?;
    }
    record_created(conn, tenant_id, &fresh, &now_text)?;
    outcome.created = fresh.len();
    for (index, debtor, prepared) in compare_later {
        let invoice = &prepared.invoice;
        let differences = differences(
            conn,
            tenant_id,
            debtor,
            invoice,
            &prepared.number,
            prepared.terms.as_deref(),
            prepared.metadata.as_deref(),
        )?;
        if differences.is_empty() {
            outcome.unchanged += 1;
        } else {
            let problems = differences
                .into_iter()
                .map(|field| {
                    FieldError::new(
                        field,
                        format!(
                            "invoice {:?} already exists with a different {field}",
                            invoice.external_id
                        ),
                    )
                })
                .collect();
            reject(
                &mut outcome,
                index,
                Some(invoice.external_id.clone()),
                problems,
            );
        }
    }
    outcome.errors.sort_by_key(|e| e.index);
    Ok(outcome)
}

/// One `invoice.created` event per debtor for the invoices of this request:
/// `{"invoices": [{number, currency, amount, issued_on, due_on, id}, …]}`,
/// with the invoice's id as the subject when there is one invoice. (An
/// event per invoice would cost a bulk ingest a quarter of its speed.)
fn record_created(
    conn: &Connection,
    tenant_id: i64,
    fresh: &[(i64, PreparedInvoice)],
    now: &str,
) -> Result<()> {
    let mut by_debtor: Vec<(i64, Vec<&PreparedInvoice>)> = Vec::new();
    let mut position: HashMap<i64, usize> = HashMap::new();
    for (debtor, prepared) in fresh {
        let at = *position.entry(*debtor).or_insert_with(|| {
            by_debtor.push((*debtor, Vec::new()));
            by_debtor.len() - 1
        });
        by_debtor[at].1.push(prepared);
    }
    let mut event = conn.prepare_cached(
        "INSERT INTO events (tenant_id, debtor_id, at, kind, subject, data) VALUES (?1, ?2, ?3, 'invoice.created', ?4, ?5)",
    )?;
    for (debtor, invoices) in by_debtor {
        let mut data = String::from("{\"invoices\":[");
        for (i, p) in invoices.iter().enumerate() {
            if i > 0 {
                data.push(',');
            }
            data.push_str(&p.event);
        }
        data.push_str("]}");
        let subject = (invoices.len() == 1).then(|| invoices[0].invoice.external_id.as_str());
        event.execute(params![tenant_id, debtor, now, subject, data])?;
    }
    Ok(())
}

/// Inserts new invoices, a chunk per statement.
fn insert_chunk(
    conn: &Connection,
    tenant_id: i64,
    chunk: &[(i64, PreparedInvoice)],
    now: &str,
) -> Result<()> {
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)"; chunk.len()].join(", ");
    let mut insert = conn.prepare_cached(&format!(
        "INSERT INTO invoices (tenant_id, debtor_id, external_id, number, currency, amount, open_amount, issued_on, due_on, status, terms, metadata, created_at, updated_at)
         VALUES {rows}"
    ))?;
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * 13);
    for (debtor, p) in chunk {
        values.extend_from_slice(&[
            &tenant_id as &dyn rusqlite::ToSql,
            debtor,
            &p.invoice.external_id,
            &p.number,
            &p.invoice.currency,
            &p.invoice.amount,
            &p.invoice.amount,
            &p.issued_on,
            &p.due_on,
            &p.terms,
            &p.metadata,
            &now,
            &now,
        ]);
    }
    insert.execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

/// Which fields of an existing invoice differ from a re-sent one.
fn differences(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    invoice: &NewInvoice,
    number: &str,
    terms: Option<&str>,
    metadata: Option<&str>,
) -> Result<Vec<&'static str>> {
    type Stored = (
        i64,
        String,
        String,
        i64,
        NaiveDate,
        NaiveDate,
        Option<String>,
        Option<String>,
    );
    let stored: Stored = conn
        .prepare_cached(
            // The invoice's own amount: fees charged since are dun's, not
            // the billing system's, so a re-send still matches.
            "SELECT debtor_id, number, currency, amount - fees, issued_on, due_on, terms, metadata FROM invoices
             WHERE tenant_id = ?1 AND external_id = ?2",
        )?
        .query_row(params![tenant_id, invoice.external_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
        })?;
    let mut fields = Vec::new();
    if stored.0 != debtor {
        fields.push("debtor_id");
    }
    if stored.1 != number {
        fields.push("number");
    }
    if stored.2 != invoice.currency {
        fields.push("currency");
    }
    if stored.3 != invoice.amount {
        fields.push("amount");
    }
    if stored.4 != invoice.issued_on {
        fields.push("issued_on");
    }
    if stored.5 != invoice.due_on {
        fields.push("due_on");
    }
    if stored.6.as_deref() != terms {
        fields.push("terms");
    }
    if stored.7.as_deref() != metadata {
        fields.push("metadata");
    }
    Ok(fields)
}

/// Creates one invoice. Returns it and whether it was created (`false`: the
/// same invoice was already there).
pub fn create(
    conn: &Connection,
    tenant_id: i64,
    invoice: NewInvoice,
    now: DateTime<Utc>,
) -> Result<(Invoice, bool)> {
    let external_id = invoice.external_id.clone();
    let outcome = create_many(conn, tenant_id, prepare(vec![Ok(invoice)]), now)?;
    if let Some(error) = outcome.errors.into_iter().next() {
        // An invoice already there with other content conflicts; anything
        // else about the request is invalid.
        let exists = error
            .problems
            .iter()
            .any(|p| p.detail.contains("already exists"));
        return Err(if exists {
            StoreError::Conflict {
                field: error.problems[0].field.clone(),
                detail: error
                    .problems
                    .iter()
                    .map(|p| p.detail.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        } else {
            StoreError::Invalid(error.problems)
        });
    }
    Ok((
        get(conn, tenant_id, &external_id, now.date_naive())?,
        outcome.created == 1,
    ))
}

/// Voids an invoice: it is no longer owed and never chased. Refused when
/// money has been paid on it (refund first). Voiding twice is a no-op.
pub fn void(
    conn: &Connection,
    tenant_id: i64,
    external_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    let invoice = row(conn, tenant_id, external_id)?;
    let today = now.date_naive();
    if invoice.status == InvoiceStatus::Void {
        return get(conn, tenant_id, external_id, today);
    }
    if invoice.open_amount != invoice.amount {
        return Err(StoreError::invalid(
            "id",
            format!(
                "{} of {} minor units have been paid on invoice {external_id:?}; refund the payment before voiding",
                invoice.amount - invoice.open_amount,
                invoice.amount
            ),
        ));
    }
    if reason.trim().is_empty() || reason.len() > 500 {
        return Err(StoreError::invalid(
            "reason",
            "a reason is 1-500 characters",
        ));
    }
    conn.prepare_cached(
        "UPDATE invoices SET voided_on = ?2, void_reason = ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![invoice.id, today, reason, now])?;
    timeline::append(
        conn,
        tenant_id,
        invoice.debtor_id,
        now,
        EventKind::InvoiceVoided,
        Some(external_id),
        &json!({ "reason": reason }),
    )?;
    refresh_status(conn, tenant_id, invoice.id, now, today)?;
    get(conn, tenant_id, external_id, today)
}

/// Derives the invoice's status from everything stored about it and, when
/// it changed, stores it and records the change on the timeline.
///
/// `on` is the date the change took effect (a payment's date), kept as the
/// invoice's `paid_on` when it became paid.
pub(crate) fn refresh_status(
    conn: &Connection,
    tenant_id: i64,
    invoice_id: i64,
    now: DateTime<Utc>,
    on: NaiveDate,
) -> Result<InvoiceStatus> {
    type Facts = (
        i64,
        String,
        i64,
        i64,
        bool,
        bool,
        bool,
        bool,
        bool,
        bool,
        String,
    );
    let facts: Facts = conn
        .prepare_cached(
            "SELECT i.debtor_id, i.status, i.amount, i.open_amount, i.voided_on IS NOT NULL, i.written_off_on IS NOT NULL,
                    i.in_collection = 1,
                    EXISTS (SELECT 1 FROM disputes x WHERE x.invoice_id = i.id AND x.resolved_at IS NULL),
                    EXISTS (SELECT 1 FROM plan_invoices pi JOIN payment_plans p ON p.id = pi.plan_id
                            WHERE pi.invoice_id = i.id AND p.status = 'active'),
                    EXISTS (SELECT 1 FROM promise_invoices pi JOIN promises p ON p.id = pi.promise_id
                            WHERE pi.invoice_id = i.id AND p.status = 'pending'),
                    i.external_id
             FROM invoices i WHERE i.id = ?1 AND i.tenant_id = ?2",
        )?
        .query_row(params![invoice_id, tenant_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })?;
    let (
        debtor,
        old,
        amount,
        open,
        voided,
        written_off,
        in_collection,
        disputed,
        in_plan,
        promised,
        external_id,
    ) = facts;
    let status = if voided {
        InvoiceStatus::Void
    } else if written_off {
        InvoiceStatus::WrittenOff
    } else if open == 0 {
        InvoiceStatus::Paid
    } else if in_collection {
        InvoiceStatus::InCollection
    } else if disputed {
        InvoiceStatus::Disputed
    } else if in_plan {
        InvoiceStatus::InPlan
    } else if promised {
        InvoiceStatus::Promised
    } else if open < amount {
        InvoiceStatus::PartiallyPaid
    } else {
        InvoiceStatus::Open
    };
    if status.as_str() != old {
        let paid_on = (status == InvoiceStatus::Paid).then_some(on);
        conn.prepare_cached(
            "UPDATE invoices SET status = ?2, paid_on = ?3, updated_at = ?4 WHERE id = ?1",
        )?
        .execute(params![invoice_id, status.as_str(), paid_on, now])?;
        timeline::append(
            conn,
            tenant_id,
            debtor,
            now,
            EventKind::InvoiceStatusChanged,
            Some(&external_id),
            &json!({ "from": old, "to": status }),
        )?;
        if !status.is_chased() {
            super::outbox::cancel_unneeded(conn, tenant_id, debtor, now)?;
        }
    }
    Ok(status)
}
