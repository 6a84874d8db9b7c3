//! `dun import invoices`: a CSV of invoices and their settlements becomes
//! debtors, invoices and payments. Columns are found by a mapping (a preset
//! such as `ibm-ar` for the IBM accounts-receivable layout, or the
//! `standard` one, each column overridable). The whole file is checked
//! first and imported in one transaction: a file with a bad row imports
//! nothing and every bad row is reported with its line and column. Running
//! the same file again changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use crate::money::Currency;
use crate::store::arrangements::{self, NewDispute};
use crate::store::debtors::{self, DebtorInput};
use crate::store::invoices::{self, NewInvoice};
use crate::store::payments::{self, NewAllocation, NewPayment, Overpayment};
use crate::store::{FieldError, Store, StoreError};

/// Which CSV column holds each field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMap {
    pub debtor_id: String,
    pub invoice_id: String,
    pub issued_on: String,
    pub due_on: String,
    pub amount: String,
    /// Empty or absent: not settled.
    pub settled_on: Option<String>,
    /// "Yes"/"true"/"1": the invoice is (or was) disputed.
    pub disputed: Option<String>,
    /// The currency column; without it every row is in the default currency.
    pub currency: Option<String>,
    /// How dates are written (chrono `strftime` syntax).
    pub date_format: String,
}

impl ColumnMap {
    /// `standard`: `debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed`, ISO dates.
    pub fn standard() -> Self {
        ColumnMap {
            debtor_id: "debtor_id".into(),
            invoice_id: "invoice_id".into(),
            issued_on: "issued_on".into(),
            due_on: "due_on".into(),
            amount: "amount".into(),
            settled_on: Some("settled_on".into()),
            disputed: Some("disputed".into()),
            currency: Some("currency".into()),
            date_format: "%Y-%m-%d".into(),
        }
    }

    /// `ibm-ar`: the IBM accounts-receivable sample (customerID,
    /// invoiceNumber, InvoiceDate, DueDate, InvoiceAmount, Disputed,
    /// SettledDate; US dates; no currency column).
    pub fn ibm_ar() -> Self {
        ColumnMap {
            debtor_id: "customerID".into(),
            invoice_id: "invoiceNumber".into(),
            issued_on: "InvoiceDate".into(),
            due_on: "DueDate".into(),
            amount: "InvoiceAmount".into(),
            settled_on: Some("SettledDate".into()),
            disputed: Some("Disputed".into()),
            currency: None,
            date_format: "%m/%d/%Y".into(),
        }
    }

    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "standard" => Some(Self::standard()),
            "ibm-ar" => Some(Self::ibm_ar()),
            _ => None,
        }
    }

    /// Applies `field=Column` overrides (`settled_on=` with nothing clears it).
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (field, column) = assignment
            .split_once('=')
            .ok_or_else(|| format!("{assignment:?}: write FIELD=COLUMN"))?;
        let optional = (!column.is_empty()).then(|| column.to_owned());
        match field {
            "debtor_id" => self.debtor_id = column.into(),
            "invoice_id" => self.invoice_id = column.into(),
            "issued_on" => self.issued_on = column.into(),
            "due_on" => self.due_on = column.into(),
            "amount" => self.amount = column.into(),
            "settled_on" => self.settled_on = optional,
            "disputed" => self.disputed = optional,
            "currency" => self.currency = optional,
            "date_format" => self.date_format = column.into(),
            other => {
                return Err(format!(
                    "{other:?} is not a field (debtor_id, invoice_id, issued_on, due_on, amount, settled_on, disputed, currency, date_format)"
                ));
            }
        }
        Ok(())
    }
}

/// One invoice read from the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub line: usize,
    pub debtor_id: String,
    pub invoice_id: String,
    pub currency: Currency,
    pub amount: i64,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    pub settled_on: Option<NaiveDate>,
    pub disputed: bool,
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub debtors_created: usize,
    pub invoices_created: usize,
    pub invoices_unchanged: usize,
    pub payments_recorded: usize,
    pub disputes_opened: usize,
    /// Per currency: invoices, their total, settled total and open total (minor units).
    pub totals: BTreeMap<String, Totals>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub invoices: usize,
    pub amount: i64,
    pub settled_invoices: usize,
    pub settled_amount: i64,
    pub open_amount: i64,
}

/// Reads and checks every row; all problems, each with its line and column.
/// Settlements after `today` are refused: a payment cannot have arrived yet.
pub fn read(
    path: &Path,
    map: &ColumnMap,
    default_currency: Currency,
    today: NaiveDate,
) -> Result<Vec<Row>, Vec<FieldError>> {
    let bytes = std::fs::read(path)
        .map_err(|e| vec![FieldError::new("file", format!("{}: {e}", path.display()))])?;
    // The line a record starts on. csv's own position counts from where it
    // started reading, before any blank lines it skipped.
    let line_of = |byte: u64| {
        let start = (byte as usize).min(bytes.len());
        let skipped = bytes[start..]
            .iter()
            .take_while(|b| **b == b'\n' || **b == b'\r')
            .count();
        1 + bytes[..start + skipped]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let headers = reader
        .headers()
        .map_err(|e| vec![FieldError::new("file", e.to_string())])?
        .clone();
    let index = |column: &str| headers.iter().position(|h| h == column);
    let mut problems = Vec::new();
    let mut need = |field: &str, column: &str| {
        let found = index(column);
        if found.is_none() {
            problems.push(FieldError::new(
                field,
                format!(
                    "no column {column:?} in the header ({})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        found.unwrap_or(0)
    };
    let cols = [
        need("debtor_id", &map.debtor_id),
        need("invoice_id", &map.invoice_id),
        need("issued_on", &map.issued_on),
        need("due_on", &map.due_on),
        need("amount", &map.amount),
    ];
    let settled = map.settled_on.as_deref().map(|c| need("settled_on", c));
    let disputed = map.disputed.as_deref().map(|c| need("disputed", c));
    let currency = map.currency.as_deref().map(|c| need("currency", c));
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut rows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(n + 2, |p| line_of(p.byte()));
                problems.push(FieldError::new(format!("line {line}"), e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(n + 2, |p| line_of(p.byte()));
        let cell = |i: usize| record.get(i).unwrap_or("");
        let mut bad = |column: &str, detail: String| {
            problems.push(FieldError::new(format!("line {line}, {column}"), detail))
        };
        let date = |i: usize, column: &str, bad: &mut dyn FnMut(&str, String)| {
            NaiveDate::parse_from_str(cell(i), &map.date_format)
                .map_err(|_| {
                    bad(
                        column,
                        format!(
                            "{:?} is not a date in the form {}",
                            cell(i),
                            map.date_format
                        ),
                    )
                })
                .ok()
        };
        let row_currency = match currency {
            Some(i) => match Currency::from_code(cell(i)) {
                Some(c) => c,
                None => {
                    bad(
                        map.currency.as_deref().unwrap_or(""),
                        format!("{:?} is not an ISO 4217 code", cell(i)),
                    );
                    continue;
                }
            },
            None => default_currency,
        };
        let issued_on = date(cols[2], &map.issued_on, &mut bad);
        let due_on = date(cols[3], &map.due_on, &mut bad);
        let settled_on = match settled {
            Some(i) if !cell(i).is_empty() => {
                date(i, map.settled_on.as_deref().unwrap_or(""), &mut bad).map(Some)
            }
            _ => Some(None),
        };
        let amount = row_currency
            .parse_major(cell(cols[4]))
            .map_err(|e| bad(&map.amount, e.to_string()))
            .ok()
            .filter(|a| *a > 0);
        let (debtor_id, invoice_id) = (cell(cols[0]).to_owned(), cell(cols[1]).to_owned());
        if debtor_id.is_empty() {
            bad(&map.debtor_id, "empty".into());
        }
        if invoice_id.is_empty() {
            bad(&map.invoice_id, "empty".into());
        } else if let Some(first) = seen.insert(invoice_id.clone(), line) {
            bad(
                &map.invoice_id,
                format!("invoice {invoice_id:?} is also on line {first}"),
            );
        }
        let disputed = disputed.is_some_and(|i| {
            matches!(
                cell(i).to_ascii_lowercase().as_str(),
                "yes" | "true" | "1" | "y"
            )
        });
        if let (Some(issued), Some(due)) = (issued_on, due_on)
            && due < issued
        {
            bad(
                &map.due_on,
                format!("{due} is before the issue date {issued}"),
            );
        }
        if let Some(Some(settled)) = settled_on
            && settled > today
        {
            bad(
                map.settled_on.as_deref().unwrap_or(""),
                format!("{settled} is in the future"),
            );
        }
        if let (Some(issued_on), Some(due_on), Some(settled_on), Some(amount)) =
            (issued_on, due_on, settled_on, amount)
        {
            rows.push(Row {
                line,
                debtor_id,
                invoice_id,
                currency: row_currency,
                amount,
                issued_on,
                due_on,
                settled_on,
                disputed,
            });
        } else if amount.is_none()
            && !problems
                .iter()
                .any(|p| p.field == format!("line {line}, {}", map.amount))
        {
            problems.push(FieldError::new(
                format!("line {line}, {}", map.amount),
                "must be positive",
            ));
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Imports checked rows into `tenant` in one transaction.
pub fn import(
    store: &Store,
    tenant: &str,
    rows: Vec<Row>,
    time_zone: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ImportReport, StoreError> {
    let tenant = tenant.to_owned();
    let time_zone = time_zone.to_owned();
    store.write_blocking(move |conn| {
        let tenant = crate::store::tenants::get(conn, &tenant)?;
        let mut report = ImportReport {
            rows: rows.len(),
            ..ImportReport::default()
        };
        let mut debtors_seen = std::collections::HashSet::new();
        for row in &rows {
            if debtors_seen.insert(row.debtor_id.clone()) {
                let input = DebtorInput {
                    external_id: row.debtor_id.clone(),
                    name: row.debtor_id.clone(),
                    email: None,
                    phone: None,
                    postal_address: None,
                    time_zone: time_zone.clone(),
                    language: "en".into(),
                    tags: Vec::new(),
                };
                // An existing debtor keeps what the billing system told us.
                if debtors::get(conn, tenant.row_id, &row.debtor_id).is_err() {
                    debtors::upsert(conn, tenant.row_id, &input, now)?;
                    report.debtors_created += 1;
                }
            }
        }
        let items = rows
            .iter()
            .map(|row| {
                Ok(NewInvoice {
                    external_id: row.invoice_id.clone(),
                    debtor_id: row.debtor_id.clone(),
                    number: None,
                    currency: row.currency.code().to_owned(),
                    amount: row.amount,
                    issued_on: row.issued_on,
                    due_on: row.due_on,
                    terms: Default::default(),
                    metadata: row
                        .disputed
                        .then(|| serde_json::json!({ "disputed": true })),
                })
            })
            .collect();
        let outcome = invoices::create_many(conn, tenant.row_id, invoices::prepare(items), now)?;
        if !outcome.errors.is_empty() {
            // Every refused row, each named by its line.
            let problems = outcome
                .errors
                .iter()
                .flat_map(|error| {
                    let line = rows.get(error.index).map_or(0, |r| r.line);
                    error.problems.iter().map(move |p| {
                        FieldError::new(format!("line {line}, {}", p.field), p.detail.clone())
                    })
                })
                .collect();
            return Err(StoreError::Invalid(problems));
        }
        report.invoices_created = outcome.created;
        report.invoices_unchanged = outcome.unchanged;
        for row in &rows {
            let totals = report
                .totals
                .entry(row.currency.code().to_owned())
                .or_default();
            totals.invoices += 1;
            totals.amount += row.amount;
            match row.settled_on {
                Some(settled_on) => {
                    totals.settled_invoices += 1;
                    totals.settled_amount += row.amount;
                    let payment = NewPayment {
                        external_id: Some(format!("settle-{}", row.invoice_id)),
                        debtor_id: row.debtor_id.clone(),
                        currency: row.currency.code().to_owned(),
                        amount: row.amount,
                        received_on: Some(settled_on),
                        received_at: None,
                        method: None,
                        reference: Some("import".into()),
                        allocations: Some(vec![NewAllocation {
                            invoice_id: row.invoice_id.clone(),
                            amount: row.amount,
                        }]),
                        overpayment: Overpayment::Refuse,
                    };
                    let (_, created) = payments::record(conn, tenant.row_id, &payment, now)
                        .map_err(|e| match e {
                            StoreError::Invalid(problems) => StoreError::Invalid(
                                problems
                                    .into_iter()
                                    .map(|p| {
                                        FieldError::new(
                                            format!("line {}, {}", row.line, p.field),
                                            p.detail,
                                        )
                                    })
                                    .collect(),
                            ),
                            other => other,
                        })?;
                    report.payments_recorded += usize::from(created);
                }
                None => {
                    totals.open_amount += row.amount;
                    let open =
                        invoices::get(conn, tenant.row_id, &row.invoice_id, now.date_naive())?;
                    if row.disputed && open.status != invoices::InvoiceStatus::Disputed {
                        let dispute = NewDispute {
                            invoice_id: row.invoice_id.clone(),
                            reason: "disputed in the imported ledger".into(),
                            source: None,
                        };
                        arrangements::open_dispute(conn, tenant.row_id, &dispute, now)?;
                        report.disputes_opened += 1;
                    }
                }
            }
        }
        Ok(report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_overrides() {
        let mut map = ColumnMap::ibm_ar();
        map.set("settled_on=").unwrap();
        map.set("currency=Curr").unwrap();
        assert_eq!(map.settled_on, None);
        assert_eq!(map.currency.as_deref(), Some("Curr"));
        assert!(map.set("colour=Blue").is_err());
        assert!(map.set("nonsense").is_err());
    }

    #[test]
    fn a_file_with_bad_rows_names_each_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.csv");
        std::fs::write(
            &path,
            "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\n\
             c1,i1,2024-01-01,2024-01-31,10.50,EUR,,No\n\
             c1,i2,2024-13-01,2024-01-31,10.50,EUR,,No\n\
             c2,i1,2024-01-01,2024-01-31,-3,XXX,,No\n",
        )
        .unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let problems = read(
            &path,
            &ColumnMap::standard(),
            Currency::from_code("EUR").unwrap(),
            today,
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["line 3, issued_on", "line 4, currency"]);
    }
}
