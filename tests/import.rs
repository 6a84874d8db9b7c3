//! `dun import invoices` end to end: the real IBM accounts-receivable data
//! set goes in with the CLI, and what comes out (the CLI's report, then the
//! HTTP API of a server started on that database: invoices, payments, aging
//! on many dates) is checked against figures this test computes on its own
//! from the CSV, by hand: its own CSV split, its own date arithmetic, its
//! own money parsing, integer cents throughout. Also: re-importing changes
//! nothing, a bad file imports nothing and names each bad line, and the
//! `standard` layout takes a currency column (JPY 0 decimals, KWD 3).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use support::{Client, Server, civil_from_days, days_from_civil, dun, run_ok, shared_data};

const DATA_SET: &str = "ibm-accounts-receivable.csv";

// ---------------------------------------------------------------------------
// Dates, by hand: days since 1970-01-01 (proleptic Gregorian).

/// A date as a day number, from year, month and day (checked).
fn day(y: i64, m: i64, d: i64) -> i64 {
    let n = days_from_civil(y, m, d);
    assert_eq!(civil_from_days(n), (y, m, d), "{y}-{m}-{d} is not a date");
    n
}

/// `m/d/YYYY` (the IBM file's US dates).
fn us_date(text: &str) -> i64 {
    let parts: Vec<i64> = text
        .split('/')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("{text:?} is not m/d/Y"))
        })
        .collect();
    assert_eq!(parts.len(), 3, "{text:?} is not m/d/Y");
    day(parts[2], parts[0], parts[1])
}

/// `YYYY-MM-DD`.
fn iso_date(text: &str) -> i64 {
    let parts: Vec<i64> = text
        .split('-')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("{text:?} is not Y-m-d"))
        })
        .collect();
    assert_eq!(parts.len(), 3, "{text:?} is not Y-m-d");
    day(parts[0], parts[1], parts[2])
}

fn iso(n: i64) -> String {
    let (y, m, d) = civil_from_days(n);
    format!("{y:04}-{m:02}-{d:02}")
}

// ---------------------------------------------------------------------------
// Money, by hand: a decimal in major units to integer minor units.

fn minor_units(text: &str, exponent: u32) -> i64 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(
        !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    assert!(frac.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
    assert!(
        frac.len() <= exponent as usize,
        "{text:?} has too many decimals"
    );
    let mut minor: i64 = whole.parse::<i64>().unwrap() * 10i64.pow(exponent);
    if !frac.is_empty() {
        minor += frac.parse::<i64>().unwrap() * 10i64.pow(exponent - frac.len() as u32);
    }
    minor
}

// ---------------------------------------------------------------------------
// The CSV, by hand (the data set has no quoted fields).

/// One invoice as this test reads it from a CSV.
#[derive(Clone, Debug)]
struct Row {
    debtor: String,
    invoice: String,
    currency: String,
    amount: i64,
    issued: i64,
    due: i64,
    settled: Option<i64>,
    disputed: bool,
}

/// Splits a CSV without quotes: the header's column positions and the rows.
fn split_csv(text: &str) -> (HashMap<String, usize>, Vec<Vec<String>>) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let columns: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, c)| (c.trim().to_owned(), i))
        .collect();
    let rows: Vec<Vec<String>> = lines
        .map(|line| {
            assert!(!line.contains('"'), "quoted field in {line:?}");
            let cells: Vec<String> = line.split(',').map(|c| c.trim().to_owned()).collect();
            assert_eq!(cells.len(), header.len(), "{line:?}");
            cells
        })
        .collect();
    (columns, rows)
}

/// The IBM accounts-receivable file, read independently of `dun`.
fn read_ibm(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).expect("read the data set");
    let (columns, rows) = split_csv(&text);
    let col = |name: &str| {
        *columns
            .get(name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (customer, number, issued, due, amount, disputed, settled) = (
        col("customerID"),
        col("invoiceNumber"),
        col("InvoiceDate"),
        col("DueDate"),
        col("InvoiceAmount"),
        col("Disputed"),
        col("SettledDate"),
    );
    rows.into_iter()
        .map(|cells| Row {
            debtor: cells[customer].clone(),
            invoice: cells[number].clone(),
            currency: "USD".into(),
            amount: minor_units(&cells[amount], 2),
            issued: us_date(&cells[issued]),
            due: us_date(&cells[due]),
            settled: (!cells[settled].is_empty()).then(|| us_date(&cells[settled])),
            disputed: cells[disputed] == "Yes",
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Aging, computed independently.

/// current, 1-30, 31-60, 61-90, 90+, total: (amount, invoices) each.
type Buckets = [(i64, u64); 6];
const BUCKET_NAMES: [&str; 6] = ["current", "1-30", "31-60", "61-90", "90+", "total"];

/// What was open on `as_of`, per currency: an invoice counts when issued on
/// or before it and its settlement (a payment of the whole amount) was not
/// received on or before it; bucketed by days past due.
fn expected_aging(rows: &[Row], as_of: i64) -> BTreeMap<String, Buckets> {
    let mut out: BTreeMap<String, Buckets> = BTreeMap::new();
    for row in rows {
        if row.issued > as_of {
            continue;
        }
        let paid = match row.settled {
            Some(on) if on <= as_of => row.amount,
            _ => 0,
        };
        let open = row.amount - paid;
        if open <= 0 {
            continue;
        }
        let late = as_of - row.due;
        let bucket = match late {
            ..=0 => 0,
            1..=30 => 1,
            31..=60 => 2,
            61..=90 => 3,
            _ => 4,
        };
        let buckets = out.entry(row.currency.clone()).or_default();
        for b in [bucket, 5] {
            buckets[b].0 += open;
            buckets[b].1 += 1;
        }
    }
    out
}

/// `GET /v1/aging` as the same shape.
fn served_aging(client: &Client, query: &str) -> BTreeMap<String, Buckets> {
    let reply = client.get(&format!("/v1/aging?{query}"));
    assert_eq!(reply.status, 200, "{reply:#?}");
    let mut out = BTreeMap::new();
    for entry in reply.body["currencies"].as_array().expect("currencies") {
        let mut buckets: Buckets = Default::default();
        for (i, name) in BUCKET_NAMES.iter().enumerate() {
            let b = &entry[*name];
            buckets[i] = (
                b["amount"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{name}: {entry}")),
                b["invoices"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name}: {entry}")),
            );
        }
        let code = entry["currency"].as_str().expect("currency").to_owned();
        assert!(
            out.insert(code, buckets).is_none(),
            "a currency twice: {}",
            reply.body
        );
    }
    out
}

fn assert_aging(client: &Client, rows: &[Row], as_of: i64) -> BTreeMap<String, Buckets> {
    let expected = expected_aging(rows, as_of);
    let served = served_aging(client, &format!("as_of={}", iso(as_of)));
    assert_eq!(
        served,
        expected,
        "aging as of {} (buckets: {BUCKET_NAMES:?}, each (amount, invoices))",
        iso(as_of)
    );
    expected
}

// ---------------------------------------------------------------------------
// The CLI and the server.

/// A temporary database with one tenant; the directory lives as long as this.
struct Db {
    dir: tempfile::TempDir,
    path: PathBuf,
    tenant: &'static str,
}

impl Db {
    fn new(tenant: &'static str) -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dun.db");
        run_ok(dun().args(["tenant", "create", tenant, "--db"]).arg(&path));
        Db { dir, path, tenant }
    }

    fn import(&self, file: &Path, layout: &str, extra: &[&str]) -> Output {
        dun()
            .args(["import", "invoices"])
            .arg(file)
            .args(["--tenant", self.tenant, "--layout", layout])
            .args(extra)
            .arg("--db")
            .arg(&self.path)
            .output()
            .expect("run dun import")
    }

    /// An import that must succeed: its JSON report.
    fn import_ok(&self, file: &Path, layout: &str, extra: &[&str]) -> Value {
        let out = self.import(file, layout, extra);
        assert!(
            out.status.success(),
            "import failed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the report is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// A file in the temporary directory.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a CSV");
        path
    }

    /// A server on this database and a client key of the tenant.
    fn serve(&self) -> (Server, Client) {
        let server = Server::start_on(&self.path);
        let key = run_ok(
            dun()
                .args([
                    "key",
                    "create",
                    "--tenant",
                    self.tenant,
                    "--role",
                    "client",
                    "--db",
                ])
                .arg(&self.path),
        );
        let client = server.client(&key);
        (server, client)
    }
}

/// Every item of a paginated list, walking `next_cursor`.
fn walk(client: &Client, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=500&cursor={c}"),
            None => format!("{path}{sep}limit=500"),
        };
        let reply = client.get(&url);
        assert_eq!(reply.status, 200, "{url}: {reply:#?}");
        let page = reply.body["items"].as_array().expect("items");
        assert!(page.len() <= 500, "{url}: a page of {}", page.len());
        items.extend(page.iter().cloned());
        match reply.body["next_cursor"].as_str() {
            Some(next) => {
                assert!(!page.is_empty(), "{url}: an empty page with a cursor");
                cursor = Some(next.to_owned());
            }
            None => return items,
        }
    }
    panic!("{path}: the cursor never ended");
}

/// Per currency: invoices, amount, settled invoices, settled amount, open amount.
fn expected_totals(rows: &[Row]) -> Value {
    let mut totals: BTreeMap<String, [i64; 5]> = BTreeMap::new();
    for row in rows {
        let t = totals.entry(row.currency.clone()).or_default();
        t[0] += 1;
        t[1] += row.amount;
        if row.settled.is_some() {
            t[2] += 1;
            t[3] += row.amount;
        } else {
            t[4] += row.amount;
        }
    }
    Value::Object(
        totals
            .into_iter()
            .map(|(code, t)| {
                (
                    code,
                    json!({
                        "invoices": t[0], "amount": t[1], "settled_invoices": t[2],
                        "settled_amount": t[3], "open_amount": t[4],
                    }),
                )
            })
            .collect(),
    )
}

/// The invoice as the server should show it once imported.
fn assert_invoice(served: &Value, row: &Row) {
    let what = format!("invoice {}: {served}", row.invoice);
    assert_eq!(served["id"], row.invoice, "{what}");
    assert_eq!(served["debtor_id"], row.debtor, "{what}");
    assert_eq!(served["currency"], row.currency, "{what}");
    assert_eq!(served["amount"], row.amount, "{what}");
    assert_eq!(served["issued_on"], iso(row.issued), "{what}");
    assert_eq!(served["due_on"], iso(row.due), "{what}");
    let expected_meta = if row.disputed {
        json!({ "disputed": true })
    } else {
        Value::Null
    };
    assert_eq!(served["metadata"], expected_meta, "{what}");
    match row.settled {
        Some(on) => {
            assert_eq!(served["open_amount"], 0, "{what}");
            assert_eq!(served["status"], "paid", "{what}");
            assert_eq!(served["paid_on"], iso(on), "{what}");
        }
        None => {
            assert_eq!(served["open_amount"], row.amount, "{what}");
            assert_eq!(served["paid_on"], Value::Null, "{what}");
            let status = if row.disputed { "disputed" } else { "open" };
            assert_eq!(served["status"], status, "{what}");
        }
    }
}

/// Each debtor's payments: exactly one per settled invoice, of its whole
/// amount, received on the settlement date, allocated to it.
fn assert_payments(client: &Client, rows: &[Row]) {
    let mut by_debtor: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        by_debtor.entry(&row.debtor).or_default().push(row);
    }
    let mut seen_ids = BTreeSet::new();
    for (debtor, rows) in by_debtor {
        let reply = client.get(&format!("/v1/debtors/{debtor}/payments"));
        assert_eq!(reply.status, 200, "{reply:#?}");
        let payments = reply.body.as_array().expect("an array of payments");
        let settled: Vec<&&Row> = rows.iter().filter(|r| r.settled.is_some()).collect();
        assert_eq!(payments.len(), settled.len(), "debtor {debtor}'s payments");
        let mut by_invoice: HashMap<String, &Value> = HashMap::new();
        for p in payments {
            assert!(seen_ids.insert(p["id"].as_str().expect("id").to_owned()));
            let allocations = p["allocations"].as_array().expect("allocations");
            assert_eq!(allocations.len(), 1, "{p}");
            let invoice = allocations[0]["invoice_id"].as_str().expect("invoice_id");
            assert!(
                by_invoice.insert(invoice.to_owned(), p).is_none(),
                "two payments for invoice {invoice}"
            );
        }
        for row in settled {
            let p = by_invoice
                .get(&row.invoice)
                .unwrap_or_else(|| panic!("no payment for invoice {}", row.invoice));
            assert_eq!(p["debtor_id"], row.debtor, "{p}");
            assert_eq!(p["currency"], row.currency, "{p}");
            assert_eq!(p["amount"], row.amount, "{p}");
            assert_eq!(p["allocations"][0]["amount"], row.amount, "{p}");
            assert_eq!(p["unapplied"], 0, "{p}");
            assert_eq!(p["received_on"], iso(row.settled.unwrap()), "{p}");
        }
    }
}

// ---------------------------------------------------------------------------
// The real data set.

#[test]
fn the_ibm_data_set_imports_and_matches_independent_figures() {
    let Some(file) = shared_data(DATA_SET) else {
        return;
    };
    let rows = read_ibm(&file);

    // Independent figures.
    assert_eq!(rows.len(), 2_586, "the data set changed?");
    let invoice_ids: BTreeSet<&str> = rows.iter().map(|r| r.invoice.as_str()).collect();
    assert_eq!(invoice_ids.len(), rows.len(), "invoice ids are unique");
    let debtors: BTreeSet<&str> = rows.iter().map(|r| r.debtor.as_str()).collect();
    assert_eq!(debtors.len(), 100);
    let total: i64 = rows.iter().map(|r| r.amount).sum();
    let settled: Vec<&Row> = rows.iter().filter(|r| r.settled.is_some()).collect();
    let settled_amount: i64 = settled.iter().map(|r| r.amount).sum();
    assert_eq!(settled.len(), rows.len(), "all settled in this data set");
    assert_eq!(total - settled_amount, 0);
    eprintln!(
        "data set: {} invoices, {} debtors, total {total} cents, {} settled ({settled_amount} cents)",
        rows.len(),
        debtors.len(),
        settled.len()
    );

    // The CLI's report.
    let db = Db::new("ibm");
    let report = db.import_ok(&file, "ibm-ar", &["--currency", "USD"]);
    assert_eq!(report["rows"], rows.len(), "{report:#}");
    assert_eq!(report["debtors_created"], debtors.len(), "{report:#}");
    assert_eq!(report["invoices_created"], rows.len(), "{report:#}");
    assert_eq!(report["invoices_unchanged"], 0, "{report:#}");
    assert_eq!(report["payments_recorded"], settled.len(), "{report:#}");
    assert_eq!(report["disputes_opened"], 0, "{report:#}");
    assert_eq!(report["totals"], expected_totals(&rows), "{report:#}");
    assert_eq!(report["totals"]["USD"]["amount"], total);
    assert_eq!(report["totals"]["USD"]["settled_amount"], settled_amount);
    assert_eq!(report["totals"]["USD"]["open_amount"], 0);

    // Over HTTP.
    let (_server, client) = db.serve();
    let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r.invoice.as_str(), r)).collect();
    let listed = walk(&client, "/v1/invoices");
    assert_eq!(listed.len(), rows.len(), "invoices listed");
    let mut listed_ids = BTreeSet::new();
    let mut listed_total = 0;
    for invoice in &listed {
        let id = invoice["id"].as_str().expect("id");
        assert!(listed_ids.insert(id), "invoice {id} listed twice");
        let row = by_id
            .get(id)
            .unwrap_or_else(|| panic!("invoice {id} is not in the file"));
        assert_invoice(invoice, row);
        listed_total += invoice["amount"].as_i64().expect("amount");
    }
    assert_eq!(listed_ids, invoice_ids);
    assert_eq!(listed_total, total);
    assert_eq!(
        walk(&client, "/v1/invoices?status=paid").len(),
        rows.len(),
        "paid invoices"
    );
    assert_eq!(
        walk(&client, "/v1/invoices?status=open,partially-paid,disputed").len(),
        0
    );
    let served_debtors: BTreeSet<String> = walk(&client, "/v1/debtors")
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        served_debtors,
        debtors
            .iter()
            .map(|d| d.to_string())
            .collect::<BTreeSet<_>>()
    );

    // A few invoices one by one: the first and last rows, the first
    // disputed one, the largest and the latest paid.
    let mut picks: Vec<&Row> = vec![&rows[0], &rows[rows.len() - 1]];
    picks.push(rows.iter().find(|r| r.disputed).expect("a disputed row"));
    picks.push(rows.iter().max_by_key(|r| r.amount).unwrap());
    picks.push(rows.iter().max_by_key(|r| r.settled).unwrap());
    for row in picks {
        let reply = client.get(&format!("/v1/invoices/{}", row.invoice));
        assert_eq!(reply.status, 200, "{reply:#?}");
        assert_invoice(&reply.body, row);
    }
    assert_eq!(client.get("/v1/invoices/no-such-invoice").status, 404);

    // Aging on many dates across 2012-2014, bucket by bucket.
    let first_issued = rows.iter().map(|r| r.issued).min().unwrap();
    let last_settled = rows.iter().filter_map(|r| r.settled).max().unwrap();
    assert_eq!(iso(first_issued), "2012-01-03");
    assert_eq!(iso(last_settled), "2014-01-19");
    // The latest-paid invoice relative to its due date probes the bucket
    // edges: due date, a day after, 30 and 31 days after, and the day
    // before / of its settlement.
    let late = rows
        .iter()
        .max_by_key(|r| r.settled.unwrap() - r.due)
        .unwrap();
    let late_by = late.settled.unwrap() - late.due;
    assert!(late_by > 31, "the latest payment is {late_by} days late");
    let mut dates = vec![
        first_issued - 1, // before the first invoice: nothing owed
        first_issued,     // the first invoice counts from its issue date
        iso_date("2012-03-15"),
        iso_date("2012-06-30"),
        iso_date("2012-12-31"),
        iso_date("2013-04-30"),
        iso_date("2013-09-30"),
        iso_date("2013-12-31"),
        last_settled - 1,
        last_settled,           // everything settled by then
        iso_date("2014-06-30"), // after the last settlement
        late.due,
        late.due + 1,
        late.due + 30,
        late.due + 31,
        late.settled.unwrap() - 1,
        late.settled.unwrap(),
    ];
    dates.sort();
    dates.dedup();
    let mut summary = Vec::new();
    for &as_of in &dates {
        let expected = assert_aging(&client, &rows, as_of);
        let usd = expected.get("USD").copied().unwrap_or_default();
        summary.push(format!(
            "{}: total {} cents in {} invoices [current {}/{}, 1-30 {}/{}, 31-60 {}/{}, 61-90 {}/{}, 90+ {}/{}]",
            iso(as_of),
            usd[5].0,
            usd[5].1,
            usd[0].0,
            usd[0].1,
            usd[1].0,
            usd[1].1,
            usd[2].0,
            usd[2].1,
            usd[3].0,
            usd[3].1,
            usd[4].0,
            usd[4].1
        ));
    }
    eprintln!("aging (USD):\n  {}", summary.join("\n  "));
    // The edges are real: nothing before the first invoice or after the last
    // settlement; something on the days in between.
    assert!(expected_aging(&rows, first_issued - 1).is_empty());
    assert!(!expected_aging(&rows, first_issued).is_empty());
    assert!(expected_aging(&rows, last_settled).is_empty());
    assert!(!expected_aging(&rows, last_settled - 1).is_empty());
    let mid = iso_date("2013-04-30");
    let with_currency = served_aging(&client, &format!("as_of={}&currency=USD", iso(mid)));
    assert_eq!(with_currency, expected_aging(&rows, mid));
    assert!(served_aging(&client, &format!("as_of={}&currency=EUR", iso(mid))).is_empty());
}

#[test]
fn importing_the_same_file_again_changes_nothing() {
    let Some(file) = shared_data(DATA_SET) else {
        return;
    };
    let rows = read_ibm(&file);
    let db = Db::new("ibm");
    let first = db.import_ok(&file, "ibm-ar", &[]);
    assert_eq!(first["invoices_created"], rows.len(), "{first:#}");
    let second = db.import_ok(&file, "ibm-ar", &[]);
    assert_eq!(second["rows"], rows.len(), "{second:#}");
    assert_eq!(second["debtors_created"], 0, "{second:#}");
    assert_eq!(second["invoices_created"], 0, "{second:#}");
    assert_eq!(second["invoices_unchanged"], rows.len(), "{second:#}");
    assert_eq!(second["payments_recorded"], 0, "{second:#}");
    assert_eq!(second["disputes_opened"], 0, "{second:#}");
    // The totals describe the file, so they are the same.
    assert_eq!(second["totals"], first["totals"], "{second:#}");

    let (_server, client) = db.serve();
    assert_eq!(walk(&client, "/v1/invoices").len(), rows.len());
    assert_eq!(walk(&client, "/v1/debtors").len(), 100);
    assert_payments(&client, &rows);
    // And a third time, with the server running.
    let third = db.import_ok(&file, "ibm-ar", &[]);
    assert_eq!(third["invoices_unchanged"], rows.len(), "{third:#}");
    assert_eq!(third["payments_recorded"], 0, "{third:#}");
    assert_payments(&client, &rows);
}

// ---------------------------------------------------------------------------
// Bad files.

const IBM_HEADER: &str = "countryCode,customerID,PaperlessDate,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate,PaperlessBill,DaysToSettle,DaysLate";

/// The problems `dun import` printed: (line, rest) for each `  line N…`.
fn problem_lines(stderr: &str) -> Vec<(usize, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix("line ")?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            Some((digits.parse().ok()?, rest[digits.len()..].to_owned()))
        })
        .collect()
}

/// Nothing at all in the tenant: no invoices, no debtors.
fn assert_empty(db: &Db) {
    let (_server, client) = db.serve();
    assert_eq!(
        walk(&client, "/v1/invoices").len(),
        0,
        "invoices after a refused import"
    );
    assert_eq!(
        walk(&client, "/v1/debtors").len(),
        0,
        "debtors after a refused import"
    );
}

#[test]
fn a_file_with_bad_rows_imports_nothing_and_names_each_bad_line() {
    let db = Db::new("bad");
    let text = format!(
        "{IBM_HEADER}\n\
         818,0001-GOOD,,1001,1/6/2012,2/5/2012,47.07,No,2/3/2012,Paper,28,0\n\
         818,0001-GOOD,,1002,13/45/2012,2/5/2012,10.00,No,2/3/2012,Paper,28,0\n\
         818,0002-GOOD,,1003,1/7/2012,2/6/2012,12.5,Yes,,Paper,0,0\n\
         818,0002-GOOD,,1004,1/8/2012,2/7/2012,twelve,No,2/3/2012,Paper,28,0\n\
         818,0003-GOOD,,1001,1/9/2012,2/8/2012,1.00,No,2/3/2012,Paper,28,0\n\
         818,0003-GOOD,,1006,1/9/2012,2/8/2012,1.00,No,2/3/2012,Paper\n\
         818,0003-GOOD,,1007,1/10/2012,2/9/2012,3.30,No,,Paper,0,0\n"
    );
    let path = db.write("bad.csv", &text);
    let out = db.import(&path, "ibm-ar", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr:\n{stderr}");
    assert!(
        out.stdout.is_empty(),
        "a report for a refused file: {:?}",
        out.stdout
    );
    assert!(stderr.contains("nothing imported"), "{stderr}");
    let problems = problem_lines(&stderr);
    let lines: BTreeSet<usize> = problems.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        lines,
        BTreeSet::from([3, 5, 6, 7]),
        "lines named:\n{stderr}"
    );
    let about = |n: usize| -> Vec<&str> {
        problems
            .iter()
            .filter(|(l, _)| *l == n)
            .map(|(_, r)| r.as_str())
            .collect()
    };
    assert!(
        about(3).iter().any(|r| r.contains("InvoiceDate")),
        "{stderr}"
    );
    assert!(
        about(5).iter().any(|r| r.contains("InvoiceAmount")),
        "{stderr}"
    );
    assert!(
        about(6)
            .iter()
            .any(|r| r.contains("invoiceNumber") && r.contains("line 2")),
        "{stderr}"
    );
    assert!(!about(7).is_empty(), "{stderr}");
    assert_empty(&db);

    // Fixed, the same file goes in whole.
    let fixed = text
        .replace("13/45/2012", "1/6/2012")
        .replace("twelve", "12.00")
        .replace("0003-GOOD,,1001,", "0003-GOOD,,1005,")
        .replace("1.00,No,2/3/2012,Paper\n", "1.00,No,2/3/2012,Paper,28,0\n");
    let path = db.write("fixed.csv", &fixed);
    let report = db.import_ok(&path, "ibm-ar", &[]);
    assert_eq!(report["rows"], 7, "{report:#}");
    assert_eq!(report["debtors_created"], 3, "{report:#}");
    assert_eq!(report["invoices_created"], 7, "{report:#}");
    assert_eq!(report["payments_recorded"], 5, "{report:#}");
    // 1003 is disputed and unsettled: a dispute is opened.
    assert_eq!(report["disputes_opened"], 1, "{report:#}");
}

#[test]
fn a_header_without_a_needed_column_imports_nothing() {
    let db = Db::new("bad");
    let path = db.write(
        "no-due.csv",
        "countryCode,customerID,invoiceNumber,InvoiceDate,InvoiceAmount,Disputed,SettledDate\n\
         818,0001-GOOD,1001,1/6/2012,47.07,No,2/3/2012\n",
    );
    let out = db.import(&path, "ibm-ar", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("DueDate"),
        "the missing column is named: {stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_empty(&db);
}

#[test]
fn a_mistyped_database_path_is_an_error_not_a_new_database() {
    let db = Db::new("typo");
    let path = db.write(
        "one.csv",
        "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n\
         818,0001-GOOD,1001,1/6/2012,2/5/2012,47.07,No,2/3/2012\n",
    );
    let missing = db.dir.path().join("dnu.db");
    for args in [
        vec![
            "import",
            "invoices",
            path.to_str().unwrap(),
            "--tenant",
            "typo",
            "--layout",
            "ibm-ar",
        ],
        vec!["kpis", "--tenant", "typo"],
        vec!["tenant", "list"],
    ] {
        let out = dun()
            .args(&args)
            .arg("--db")
            .arg(&missing)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains("no database at"), "{args:?}: {stderr}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
}

#[test]
fn a_row_the_store_refuses_rolls_back_the_whole_file() {
    // Every cell parses, but one invoice is due before it is issued: the
    // store refuses it after debtors were written; all of it must go.
    let db = Db::new("bad");
    let path = db.write(
        "due-before-issue.csv",
        &format!(
            "{IBM_HEADER}\n\
             818,0001-GOOD,,1001,1/6/2012,2/5/2012,47.07,No,2/3/2012,Paper,28,0\n\
             818,0002-GOOD,,1002,3/6/2012,2/5/2012,10.00,No,,Paper,0,0\n\
             818,0003-GOOD,,1003,1/6/2012,2/5/2012,10.00,No,,Paper,0,0\n"
        ),
    );
    let out = db.import(&path, "ibm-ar", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: BTreeSet<usize> = problem_lines(&stderr).iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, BTreeSet::from([3]), "{stderr}");
    assert_empty(&db);
}

#[test]
fn every_row_the_store_refuses_is_named() {
    let db = Db::new("bad");
    let path = db.write(
        "two-bad.csv",
        &format!(
            "{IBM_HEADER}\n\
             818,0001-GOOD,,1001,3/6/2012,2/5/2012,47.07,No,,Paper,0,0\n\
             818,0002-GOOD,,1002,1/6/2012,2/5/2012,10.00,No,,Paper,0,0\n\
             818,0003-GOOD,,1003,4/6/2012,2/5/2012,10.00,No,,Paper,0,0\n"
        ),
    );
    let out = db.import(&path, "ibm-ar", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: BTreeSet<usize> = problem_lines(&stderr).iter().map(|(n, _)| *n).collect();
    assert_eq!(
        lines,
        BTreeSet::from([2, 4]),
        "both rows due before issue:\n{stderr}"
    );
    assert_empty(&db);
}

#[test]
fn a_settlement_in_the_future_is_named_by_its_line() {
    let db = Db::new("bad");
    let path = db.write(
        "future.csv",
        "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\n\
         c1,i1,2024-01-01,2024-01-31,10.00,EUR,2024-01-10,No\n\
         c1,i2,2024-01-01,2024-01-31,10.00,EUR,2999-01-10,No\n",
    );
    let out = db.import(&path, "standard", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: BTreeSet<usize> = problem_lines(&stderr).iter().map(|(n, _)| *n).collect();
    assert_eq!(
        lines,
        BTreeSet::from([3]),
        "the future settlement is on line 3:\n{stderr}"
    );
    assert_empty(&db);
}

#[test]
fn a_settlement_added_to_the_ledger_is_recorded_on_the_next_import() {
    let db = Db::new("ledger");
    let header = "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\n";
    let path = db.write(
        "before.csv",
        &format!(
            "{header}c1,i1,2024-01-01,2024-01-31,10.00,EUR,,No\n\
             c1,i2,2024-01-05,2024-02-04,20.00,EUR,,Yes\n"
        ),
    );
    let report = db.import_ok(&path, "standard", &[]);
    assert_eq!(report["disputes_opened"], 1, "{report:#}");
    let path = db.write(
        "after.csv",
        &format!(
            "{header}c1,i1,2024-01-01,2024-01-31,10.00,EUR,2024-02-10,No\n\
             c1,i2,2024-01-05,2024-02-04,20.00,EUR,2024-02-11,Yes\n"
        ),
    );
    let report = db.import_ok(&path, "standard", &[]);
    assert_eq!(report["invoices_unchanged"], 2, "{report:#}");
    assert_eq!(report["payments_recorded"], 2, "{report:#}");
    assert_eq!(report["disputes_opened"], 0, "{report:#}");
    let (_server, client) = db.serve();
    for (id, on) in [("i1", "2024-02-10"), ("i2", "2024-02-11")] {
        let reply = client.get(&format!("/v1/invoices/{id}"));
        assert_eq!(reply.body["status"], "paid", "{reply:#?}");
        assert_eq!(reply.body["paid_on"], on, "{reply:#?}");
        assert_eq!(reply.body["open_amount"], 0, "{reply:#?}");
    }
    // On the day before each settlement it was still owed.
    let aging = served_aging(&client, "as_of=2024-02-09");
    assert_eq!(aging["EUR"][5], (3000, 2), "{aging:?}");
    let aging = served_aging(&client, "as_of=2024-02-10");
    assert_eq!(aging["EUR"][5], (2000, 1), "{aging:?}");
    assert!(served_aging(&client, "as_of=2024-02-11").is_empty());
}

#[test]
fn a_changed_invoice_on_reimport_is_refused_and_changes_nothing() {
    let db = Db::new("changed");
    let first = "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\n\
                 c1,i1,2024-01-01,2024-01-31,10.00,EUR,,No\n";
    let path = db.write("first.csv", first);
    db.import_ok(&path, "standard", &[]);
    let second = "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\n\
                  c2,i2,2024-01-01,2024-01-31,5.00,EUR,2024-01-10,No\n\
                  c1,i1,2024-01-01,2024-01-31,11.00,EUR,,No\n";
    let path = db.write("second.csv", second);
    let out = db.import(&path, "standard", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let problems = problem_lines(&stderr);
    assert!(
        problems
            .iter()
            .any(|(n, r)| *n == 3 && r.contains("amount")),
        "{stderr}"
    );
    let (_server, client) = db.serve();
    let invoices = walk(&client, "/v1/invoices");
    assert_eq!(invoices.len(), 1, "{invoices:#?}");
    assert_eq!(invoices[0]["amount"], 1000);
    assert_eq!(walk(&client, "/v1/debtors").len(), 1, "c2 was rolled back");
}

#[test]
fn bad_lines_are_named_by_their_real_line_after_a_blank_line() {
    let db = Db::new("bad");
    let path = db.write(
        "blank.csv",
        "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\n\
         c1,i1,2024-01-01,2024-01-31,10.00,EUR,,No\n\
         \n\
         c1,i2,2024-01-01,2024-01-31,ten,EUR,,No\n",
    );
    let out = db.import(&path, "standard", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: BTreeSet<usize> = problem_lines(&stderr).iter().map(|(n, _)| *n).collect();
    assert_eq!(
        lines,
        BTreeSet::from([4]),
        "the bad row is on line 4:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// The standard layout, with a currency column.

#[test]
fn the_standard_layout_takes_each_rows_currency_and_its_decimals() {
    let db = Db::new("multi");
    let text = "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\n\
                jp-1,JP-100,2024-01-10,2024-02-09,1200,JPY,2024-02-01,No\n\
                jp-1,JP-101,2024-02-10,2024-03-11,50000,JPY,,No\n\
                kw-1,KW-200,2024-01-15,2024-02-14,12.345,KWD,,Yes\n\
                kw-1,KW-201,2024-01-20,2024-02-19,1.5,KWD,2024-03-01,No\n\
                kw-2,KW-202,2024-03-01,2024-03-31,7,KWD,,\n\
                us-1,US-300,2024-01-05,2024-02-04,99.99,USD,,No\n";
    let path = db.write("multi.csv", text);

    // Independently: the rows as this test reads them.
    let (columns, cells) = split_csv(text);
    let exponent = |code: &str| match code {
        "JPY" => 0,
        "KWD" => 3,
        _ => 2,
    };
    let rows: Vec<Row> = cells
        .iter()
        .map(|c| {
            let currency = c[columns["currency"]].clone();
            Row {
                debtor: c[columns["debtor_id"]].clone(),
                invoice: c[columns["invoice_id"]].clone(),
                amount: minor_units(&c[columns["amount"]], exponent(&currency)),
                currency,
                issued: iso_date(&c[columns["issued_on"]]),
                due: iso_date(&c[columns["due_on"]]),
                settled: (!c[columns["settled_on"]].is_empty())
                    .then(|| iso_date(&c[columns["settled_on"]])),
                disputed: c[columns["disputed"]] == "Yes",
            }
        })
        .collect();
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount).collect();
    assert_eq!(amounts, [1200, 50000, 12345, 1500, 7000, 9999]);

    let report = db.import_ok(&path, "standard", &["--currency", "EUR"]);
    assert_eq!(report["rows"], 6, "{report:#}");
    assert_eq!(report["debtors_created"], 4, "{report:#}");
    assert_eq!(report["invoices_created"], 6, "{report:#}");
    assert_eq!(report["payments_recorded"], 2, "{report:#}");
    assert_eq!(report["disputes_opened"], 1, "{report:#}");
    assert_eq!(report["totals"], expected_totals(&rows), "{report:#}");
    assert_eq!(
        report["totals"]["KWD"],
        json!({"invoices": 3, "amount": 20845, "settled_invoices": 1, "settled_amount": 1500, "open_amount": 19345}),
    );
    assert_eq!(
        report["totals"]["JPY"],
        json!({"invoices": 2, "amount": 51200, "settled_invoices": 1, "settled_amount": 1200, "open_amount": 50000}),
    );
    assert!(report["totals"].get("EUR").is_none(), "{report:#}");

    let (_server, client) = db.serve();
    for row in &rows {
        let reply = client.get(&format!("/v1/invoices/{}", row.invoice));
        assert_eq!(reply.status, 200, "{reply:#?}");
        assert_invoice(&reply.body, row);
    }
    for as_of in [
        "2024-01-09",
        "2024-02-15",
        "2024-03-01",
        "2024-04-15",
        "2024-12-31",
    ] {
        assert_aging(&client, &rows, iso_date(as_of));
    }
    // Spelled out for one date: 2024-04-15.
    let aging = served_aging(&client, "as_of=2024-04-15");
    let zero = (0, 0);
    assert_eq!(
        aging["JPY"],
        [zero, zero, (50000, 1), zero, zero, (50000, 1)]
    );
    assert_eq!(
        aging["KWD"],
        [zero, (7000, 1), zero, (12345, 1), zero, (19345, 2)]
    );
    assert_eq!(aging["USD"], [zero, zero, zero, (9999, 1), zero, (9999, 1)]);
    let only_kwd = served_aging(&client, "as_of=2024-04-15&currency=KWD");
    assert_eq!(only_kwd.keys().collect::<Vec<_>>(), ["KWD"]);

    // Again: nothing changes.
    let again = db.import_ok(&path, "standard", &[]);
    assert_eq!(again["invoices_unchanged"], 6, "{again:#}");
    assert_eq!(again["payments_recorded"], 0, "{again:#}");
    assert_eq!(again["disputes_opened"], 0, "{again:#}");
}

#[test]
fn a_spreadsheet_export_with_a_bom_crlf_and_quotes_imports() {
    let db = Db::new("sheet");
    let path = db.write(
        "sheet.csv",
        "\u{feff}debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\r\n\
         \"Smith, J.\",\"A-1\",2024-01-01,2024-01-31,\"1000\",JPY,,No\r\n\
         \"Smith, J.\",A-2,2024-01-02,2024-02-01,0.500,KWD,2024-01-20,No\r\n",
    );
    let report = db.import_ok(&path, "standard", &[]);
    assert_eq!(report["rows"], 2, "{report:#}");
    assert_eq!(report["debtors_created"], 1, "{report:#}");
    assert_eq!(report["totals"]["JPY"]["amount"], 1000, "{report:#}");
    assert_eq!(report["totals"]["KWD"]["settled_amount"], 500, "{report:#}");
    let (_server, client) = db.serve();
    let reply = client.get("/v1/invoices/A-1");
    assert_eq!(reply.body["debtor_id"], "Smith, J.", "{reply:#?}");
    assert_eq!(reply.body["amount"], 1000, "{reply:#?}");
}

#[test]
fn the_standard_layout_refuses_amounts_finer_than_the_currency() {
    let db = Db::new("multi");
    let path = db.write(
        "too-fine.csv",
        "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\n\
         jp-1,JP-100,2024-01-10,2024-02-09,1200.5,JPY,,No\n\
         kw-1,KW-200,2024-01-15,2024-02-14,1.2345,KWD,,No\n\
         kw-1,KW-201,2024-01-15,2024-02-14,1.234,KWD,,No\n\
         xx-1,XX-1,2024-01-15,2024-02-14,1.00,usd,,No\n",
    );
    let out = db.import(&path, "standard", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: BTreeSet<usize> = problem_lines(&stderr).iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, BTreeSet::from([2, 3, 5]), "{stderr}");
    assert_empty(&db);
}
