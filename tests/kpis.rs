//! KPIs end to end.
//!
//! 1. The real IBM accounts-receivable data set is imported with the CLI,
//!    a server is started on that database, and every figure of
//!    `GET /v1/kpis` for a year, a quarter, a month and a period cut
//!    mid-month is compared with what this test computes on its own from
//!    the CSV: its own CSV split, date arithmetic and money parsing,
//!    integer cents, rounding to 0.01 by hand. `dun kpis --json` must give
//!    the same report.
//! 2. A small scenario over HTTP on a test clock: two arms (segments), one
//!    running the `scripted` test strategy and one an uploaded version of
//!    it, send real reminders through the dispatcher; payments follow on
//!    known days; the message figures (response rate by channel and tone,
//!    days to pay after the first reminder, reminders per 1,000 collected)
//!    and the receivable figures are asserted exactly, whole and filtered
//!    by segment, by strategy and by currency.
//! 3. Bad parameters are refused with the parameter named.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use dun::builtin::PLUGIN_DIR;
use serde_json::{Value, json};
use support::{Client, Server, civil_from_days, days_from_civil, dun, run_ok, shared_data};

// ---------------------------------------------------------------------------
// Dates and money, by hand.

/// `YYYY-MM-DD` as a day number.
fn day(text: &str) -> i64 {
    let p: Vec<i64> = text.split('-').map(|p| p.parse().unwrap()).collect();
    days_from_civil(p[0], p[1], p[2])
}

/// `m/d/YYYY` (the IBM file's US dates) as a day number.
fn us_day(text: &str) -> i64 {
    let p: Vec<i64> = text.split('/').map(|p| p.parse().unwrap()).collect();
    days_from_civil(p[2], p[0], p[1])
}

fn iso(n: i64) -> String {
    let (y, m, d) = civil_from_days(n);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The first and last day of the month holding day `n`.
fn month_of(n: i64) -> (i64, i64) {
    let (y, m, _) = civil_from_days(n);
    let first = days_from_civil(y, m, 1);
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    (first, next - 1)
}

/// "47.07" → 4707.
fn cents(text: &str) -> i64 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 2, "{text:?}");
    whole.parse::<i64>().unwrap() * 100 + format!("{frac:0<2}").parse::<i64>().unwrap()
}

/// `num / den` in hundredths, rounded half up (everything here is ≥ 0).
fn hundredths(num: i128, den: i128) -> Option<i64> {
    assert!(num >= 0 && den >= 0);
    (den != 0).then(|| ((num * 200 + den) / (2 * den)) as i64)
}

/// A served figure in hundredths (`null` is `None`).
fn served(value: &Value, what: &str) -> Option<i64> {
    if value.is_null() {
        return None;
    }
    let f = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {value} is not a number"));
    let h = (f * 100.0).round();
    assert!(
        (f * 100.0 - h).abs() < 1e-6,
        "{what}: {f} has more than two decimals"
    );
    Some(h as i64)
}

// ---------------------------------------------------------------------------
// Part 1: the IBM data set, figures computed independently.

struct Invoice {
    amount: i64,
    issued: i64,
    due: i64,
    settled: Option<i64>,
}

fn read_ibm(path: &Path) -> Vec<Invoice> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name).unwrap();
    let (issued, due, amount, settled) = (
        col("InvoiceDate"),
        col("DueDate"),
        col("InvoiceAmount"),
        col("SettledDate"),
    );
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            Invoice {
                amount: cents(cells[amount]),
                issued: us_day(cells[issued]),
                due: us_day(cells[due]),
                settled: (!cells[settled].is_empty()).then(|| us_day(cells[settled])),
            }
        })
        .collect()
}

/// Open on `as_of`: issued by then and not settled by then.
fn open_on(inv: &Invoice, as_of: i64) -> bool {
    inv.issued <= as_of && inv.settled.is_none_or(|s| s > as_of)
}

/// current, 1-30, 31-60, 61-90, 90+, total: (amount, invoices).
fn aging(rows: &[Invoice], as_of: i64) -> [(i64, u64); 6] {
    let mut b = [(0i64, 0u64); 6];
    for inv in rows.iter().filter(|i| open_on(i, as_of)) {
        let late = as_of - inv.due;
        let i = match late {
            ..=0 => 0,
            1..=30 => 1,
            31..=60 => 2,
            61..=90 => 3,
            _ => 4,
        };
        for k in [i, 5] {
            b[k].0 += inv.amount;
            b[k].1 += 1;
        }
    }
    b
}

fn sales(rows: &[Invoice], first: i64, last: i64) -> i64 {
    rows.iter()
        .filter(|i| i.issued >= first && i.issued <= last)
        .map(|i| i.amount)
        .sum()
}

/// Countback DSO in hundredths: walk back from `to` month by month.
fn countback(rows: &[Invoice], ending: i64, to: i64) -> Option<i64> {
    if ending == 0 {
        return Some(0);
    }
    let mut rest = ending as i128;
    let mut whole: i128 = 0;
    let (mut first, _) = month_of(to);
    let mut last = to;
    for _ in 0..600 {
        let s = sales(rows, first, last) as i128;
        let days = (last - first + 1) as i128;
        if s > 0 && s >= rest {
            return hundredths(whole * s + rest * days, s);
        }
        rest -= s;
        whole += days;
        last = first - 1;
        first = month_of(last).0;
    }
    None
}

/// Every figure the report should show for the period, as JSON in the
/// report's own shape (ratios and days in hundredths).
fn expected(rows: &[Invoice], from: i64, to: i64) -> Value {
    let days = to - from + 1;
    let beginning = aging(rows, from - 1)[5].0;
    let end = aging(rows, to);
    let (ending, current) = (end[5].0, end[0].0);
    let overdue = ending - current;
    let credit_sales = sales(rows, from, to);
    let settled_in: Vec<&Invoice> = rows
        .iter()
        .filter(|i| i.settled.is_some_and(|s| s >= from && s <= to))
        .collect();
    let collected: i64 = settled_in.iter().map(|i| i.amount).sum();
    let on_time = settled_in
        .iter()
        .filter(|i| i.settled.unwrap() <= i.due)
        .count() as i64;
    let dso = |r: i64| hundredths(r as i128 * days as i128, credit_sales as i128);
    let available = (beginning + credit_sales) as i128;
    let mut snapshots = Vec::new();
    let (mut month_first, _) = month_of(from);
    while month_first <= to {
        let (_, month_last) = month_of(month_first);
        if month_last >= from && month_last <= to {
            snapshots.push(month_last);
        }
        month_first = month_last + 1;
    }
    if snapshots.last() != Some(&to) {
        snapshots.push(to);
    }
    let names = ["current", "1-30", "31-60", "61-90", "90+", "total"];
    let series: Vec<Value> = snapshots
        .iter()
        .map(|&as_of| {
            let b = aging(rows, as_of);
            let mut snapshot = json!({ "as_of": iso(as_of) });
            for (i, name) in names.iter().enumerate() {
                snapshot[*name] = json!({ "amount": b[i].0, "invoices": b[i].1 });
            }
            snapshot
        })
        .collect();
    json!({
        "receivables": { "beginning": beginning, "ending": ending,
                         "ending_current": current, "ending_overdue": overdue },
        "credit_sales": credit_sales,
        "collected": collected,
        "dso": dso(ending),
        "countback_dso": countback(rows, ending, to),
        "best_possible_dso": dso(current),
        "add": dso(overdue),
        "cei": hundredths((available - ending as i128) * 100, available - current as i128),
        "collection_rate": hundredths(collected as i128 * 100, available),
        "settled_invoices": settled_in.len(),
        "settled_on_time": on_time,
        "on_time_rate": hundredths(on_time as i128 * 100, settled_in.len() as i128),
        "aging_series": series,
    })
}

/// The served currency block with every ratio in hundredths, in the shape
/// of [`expected`], and its message block apart.
fn comparable(block: &Value) -> (Value, Value) {
    let mut out = block.clone();
    let object = out.as_object_mut().unwrap();
    let messages = object.remove("messages").expect("messages");
    object.remove("currency");
    for key in [
        "dso",
        "countback_dso",
        "best_possible_dso",
        "add",
        "cei",
        "collection_rate",
        "on_time_rate",
    ] {
        let h = served(&object[key], key);
        object.insert(key.into(), json!(h));
    }
    (out, messages)
}

#[test]
fn kpis_on_the_ibm_data_set_match_an_independent_computation() {
    let Some(csv) = shared_data("ibm-accounts-receivable.csv") else {
        return;
    };
    let rows = read_ibm(&csv);
    assert_eq!(rows.len(), 2586);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dun.db");
    run_ok(dun().args(["tenant", "create", "ibm", "--db"]).arg(&db));
    run_ok(
        dun()
            .args(["import", "invoices"])
            .arg(&csv)
            .args(["--tenant", "ibm", "--layout", "ibm-ar", "--db"])
            .arg(&db),
    );
    let server = Server::start_on(&db);
    let key = run_ok(
        dun()
            .args([
                "key", "create", "--tenant", "ibm", "--role", "client", "--db",
            ])
            .arg(&db),
    );
    let client = server.client(&key);

    for (from, to) in [
        ("2013-01-01", "2013-12-31"), // a year
        ("2012-01-01", "2012-12-31"), // the first year: nothing before it
        ("2013-04-01", "2013-06-30"), // a quarter
        ("2012-11-01", "2012-11-30"), // a month
        ("2012-02-10", "2012-09-17"), // cut mid-month at both ends
        ("2013-12-01", "2014-01-31"), // the data's end: sales stop, payments go on
    ] {
        let path = format!("/v1/kpis?from={from}&to={to}");
        let started = Instant::now();
        let reply = client.get(&path);
        let took = started.elapsed();
        assert_eq!(reply.status, 200, "{path}: {reply:#?}");
        eprintln!("{path}: {} ms", took.as_millis());
        let body = &reply.body;
        let (f, t) = (day(from), day(to));
        assert_eq!(body["from"], from);
        assert_eq!(body["to"], to);
        assert_eq!(body["days"], t - f + 1);
        let blocks = body["currencies"].as_array().unwrap();
        assert_eq!(blocks.len(), 1, "{body:#}");
        assert_eq!(blocks[0]["currency"], "USD");
        let (figures, messages) = comparable(&blocks[0]);
        assert_eq!(figures, expected(&rows, f, t), "{path}");
        // Nothing was ever sent in this data set.
        assert_eq!(messages["sent"], 0, "{path}");
        assert_eq!(messages["response_rate"], Value::Null, "{path}");

        // The CLI reads the same database and prints the same report.
        let printed = run_ok(
            dun()
                .args([
                    "kpis", "--tenant", "ibm", "--from", from, "--to", to, "--json", "--db",
                ])
                .arg(&db),
        );
        let printed: Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(&printed, body, "dun kpis --json for {from}..{to}");
    }

    // The report for people names every figure.
    let table = run_ok(
        dun()
            .args([
                "kpis",
                "--tenant",
                "ibm",
                "--from",
                "2013-01-01",
                "--to",
                "2013-12-31",
                "--db",
            ])
            .arg(&db),
    );
    for label in [
        "DSO",
        "countback DSO",
        "best possible DSO",
        "ADD",
        "CEI",
        "collection rate",
        "on-time rate",
        "response rate",
        "2013-06-30",
    ] {
        assert!(table.contains(label), "{label} missing from:\n{table}");
    }

    // A currency filter keeps that currency, even with nothing in it.
    let reply = client.get("/v1/kpis?from=2013-01-01&to=2013-12-31&currency=EUR");
    assert_eq!(reply.status, 200, "{reply:#?}");
    let eur = &reply.body["currencies"][0];
    assert_eq!(eur["currency"], "EUR");
    assert_eq!(eur["credit_sales"], 0);
    assert_eq!(eur["dso"], Value::Null);
    assert_eq!(
        reply.body["currencies"].as_array().unwrap().len(),
        1,
        "{:#}",
        reply.body
    );
    // No evaluation ever ran: a segment filter leaves no debtor.
    let reply = client.get("/v1/kpis?from=2013-01-01&to=2013-12-31&segment=default");
    assert_eq!(reply.status, 200, "{reply:#?}");
    assert_eq!(reply.body["currencies"], json!([]));
    assert_eq!(reply.body["segment"], "default");
}

// ---------------------------------------------------------------------------
// Part 2: reminders sent for real, then payments.

const START: &str = "2026-05-04T10:00:00Z";
const DAY: i64 = 86_400;

fn advance(operator: &Client, secs: i64) {
    let reply = operator.post("/v1/test-clock", &json!({ "advance_secs": secs }));
    assert_eq!(reply.status, 200, "{reply:#?}");
}

fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited 20 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Evaluates the debtor now and waits until what it kept has been sent.
fn remind_now(client: &Client, debtor: &str) {
    let reply = client.post(&format!("/v1/debtors/{debtor}/evaluate"), &json!({}));
    assert_eq!(reply.status, 201, "{reply:#?}");
    assert_eq!(reply.body["outcome"], "ok", "{:#}", reply.body);
    let evaluation = reply.body["id"].clone();
    wait_for(&format!("{debtor}'s reminder sent"), || {
        let outbox = client.get(&format!("/v1/debtors/{debtor}/outbox"));
        let rows = outbox.body.as_array()?.clone();
        let mine: Vec<&Value> = rows
            .iter()
            .filter(|m| {
                m["idempotency_key"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(evaluation.as_str().unwrap())
            })
            .collect();
        (!mine.is_empty() && mine.iter().all(|m| m["status"] == "sent")).then_some(())
    });
}

fn pay(client: &Client, body: Value) {
    let reply = client.post("/v1/payments", &body);
    assert_eq!(reply.status, 201, "{reply:#?}");
}

fn kpis(client: &Client, query: &str) -> Value {
    let reply = client.get(&format!("/v1/kpis?from=2026-05-01&to=2026-05-31{query}"));
    assert_eq!(reply.status, 200, "{query}: {reply:#?}");
    reply.body
}

/// The currency blocks by code.
fn by_currency(report: &Value) -> BTreeMap<String, Value> {
    report["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["currency"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

/// (channel, tone, sent, answered, rate in hundredths) per row.
fn responses(messages: &Value) -> Vec<(String, String, u64, u64, Option<i64>)> {
    messages["by_channel_and_tone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["channel"].as_str().unwrap().to_owned(),
                r["tone"].as_str().unwrap().to_owned(),
                r["sent"].as_u64().unwrap(),
                r["answered"].as_u64().unwrap(),
                served(&r["response_rate"], "response_rate"),
            )
        })
        .collect()
}

fn row(
    channel: &str,
    tone: &str,
    sent: u64,
    answered: u64,
    rate: Option<i64>,
) -> (String, String, u64, u64, Option<i64>) {
    (channel.into(), tone.into(), sent, answered, rate)
}

/// The message figures: sent, answered, response rate, paid invoices,
/// average days (hundredths), collected after a reminder, per 1,000.
fn message_figures(m: &Value) -> (u64, u64, Option<i64>, u64, Option<i64>, i64, Option<i64>) {
    (
        m["sent"].as_u64().unwrap(),
        m["answered"].as_u64().unwrap(),
        served(&m["response_rate"], "response_rate"),
        m["reminded_invoices_paid"].as_u64().unwrap(),
        served(
            &m["average_days_to_pay_after_first_reminder"],
            "average_days_to_pay_after_first_reminder",
        ),
        m["collected_after_reminder"].as_i64().unwrap(),
        served(
            &m["messages_per_1000_collected"],
            "messages_per_1000_collected",
        ),
    )
}

/// Scenario, on a test clock from Monday 4 May 2026, 10:00 UTC. Arm A
/// (segment `default`, strategy `scripted`) sends gentle emails, arm B
/// (segment `vip`, `scripted@1.0.0` uploaded) firm SMS. Every invoice was
/// due 24 April.
///
/// | day | what |
/// | --- | --- |
/// | 4 May | reminders to a1, a2, a3 (email gentle; A1 100, A2 200, A3 300 EUR), b1 (sms firm; B1 400 EUR), b2 (sms firm; B2 500 EUR and B3 80 USD) |
/// | 6 May | a1 pays A1 (by date): answers its reminder, 2 days after it |
/// | 7 May | b1 pays 200 of B1 at 09:00 UTC: answers; B1 not settled |
/// | 9 May | arm A turns firm: emails to a2, a3 |
/// | 11 May | b2 pays B2 at 10:00 UTC, exactly 7 days after: answers; 7 days |
/// | 14 May | a2 pays A2: too late for the 4 May email, in time for the 9 May one; 10 days after the first |
/// | 20 May | c1, never reminded, pays C1 (50 EUR, issued 1 May, due 30 June) |
#[test]
fn message_kpis_from_reminders_really_sent_by_arm_channel_and_tone() {
    let server = Server::start_with_env(&[
        ("DUN_STRATEGIES_DIR", PLUGIN_DIR),
        ("DUN_TEST_CLOCK", START),
        ("DUN_SCHEDULER_INTERVAL_SECS", "0"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
    ]);
    let operator = server.operator();
    let (admin, client) = server.tenant("acme");

    // Arm B runs an uploaded version of the scripted strategy.
    let wasm = std::fs::read(format!("{PLUGIN_DIR}/scripted.wasm")).unwrap();
    let reply = admin.request(
        "POST",
        "/v1/plugins/scripted/versions?version=1.0.0",
        Some(&wasm),
        &[("Content-Type", "application/wasm")],
    );
    assert_eq!(reply.status, 201, "{reply:#?}");
    let remind = |channel: &str, tone: &str| json!({ "actions": [{ "kind": "remind", "channel": channel, "tone": tone, "in_secs": 0 }] });
    let segment = |id: &str, body: Value| {
        let reply = admin.put(&format!("/v1/segments/{id}"), &body);
        assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
    };
    segment(
        "default",
        json!({ "strategy": "scripted", "config": remind("email", "gentle") }),
    );
    segment(
        "vip",
        json!({ "priority": 10, "rule": { "tags_any": ["vip"] },
                "strategy": "scripted@1.0.0", "config": remind("sms", "firm") }),
    );

    for (id, tags) in [
        ("a1", json!([])),
        ("a2", json!([])),
        ("a3", json!([])),
        ("b1", json!(["vip"])),
        ("b2", json!(["vip"])),
        ("c1", json!([])),
    ] {
        let reply = client.post(
            "/v1/debtors",
            &json!({ "external_id": id, "name": id, "email": format!("ap@{id}.example"),
                     "phone": "+4930123456", "time_zone": "UTC", "tags": tags }),
        );
        assert_eq!(reply.status, 201, "{reply:#?}");
    }
    for (id, debtor, currency, amount, issued, due) in [
        ("A1", "a1", "EUR", 100_00, "2026-03-01", "2026-04-24"),
        ("A2", "a2", "EUR", 200_00, "2026-03-01", "2026-04-24"),
        ("A3", "a3", "EUR", 300_00, "2026-03-01", "2026-04-24"),
        ("B1", "b1", "EUR", 400_00, "2026-03-01", "2026-04-24"),
        ("B2", "b2", "EUR", 500_00, "2026-03-01", "2026-04-24"),
        ("B3", "b2", "USD", 80_00, "2026-03-01", "2026-04-24"),
        ("C1", "c1", "EUR", 50_00, "2026-05-01", "2026-06-30"),
    ] {
        let reply = client.post(
            "/v1/invoices",
            &json!({ "external_id": id, "debtor_id": debtor, "currency": currency,
                     "amount": amount, "issued_on": issued, "due_on": due }),
        );
        assert_eq!(reply.status, 201, "{reply:#?}");
    }

    // 4 May.
    for debtor in ["a1", "a2", "a3", "b1", "b2"] {
        remind_now(&client, debtor);
    }
    let b2 = client.get("/v1/debtors/b2/outbox").body;
    assert_eq!(b2[0]["channel"], "sms");
    assert_eq!(b2[0]["invoice_ids"], json!(["B2", "B3"]), "{b2:#}");
    // 6 May.
    advance(&operator, 2 * DAY);
    pay(
        &client,
        json!({ "debtor_id": "a1", "currency": "EUR", "amount": 100_00 }),
    );
    // 7 May.
    advance(&operator, DAY);
    pay(
        &client,
        json!({ "debtor_id": "b1", "currency": "EUR", "amount": 200_00,
                "received_at": "2026-05-07T09:00:00Z" }),
    );
    // 9 May: arm A turns firm.
    advance(&operator, 2 * DAY);
    segment(
        "default",
        json!({ "strategy": "scripted", "config": remind("email", "firm") }),
    );
    for debtor in ["a2", "a3"] {
        remind_now(&client, debtor);
    }
    // 11 May.
    advance(&operator, 2 * DAY);
    pay(
        &client,
        json!({ "debtor_id": "b2", "currency": "EUR", "amount": 500_00,
                "received_at": "2026-05-11T10:00:00Z" }),
    );
    // 14 May.
    advance(&operator, 3 * DAY);
    pay(
        &client,
        json!({ "debtor_id": "a2", "currency": "EUR", "amount": 200_00 }),
    );
    // 20 May.
    advance(&operator, 6 * DAY);
    pay(
        &client,
        json!({ "debtor_id": "c1", "currency": "EUR", "amount": 50_00 }),
    );

    // Everything.
    let all = kpis(&client, "");
    let currencies = by_currency(&all);
    assert_eq!(currencies.keys().collect::<Vec<_>>(), ["EUR", "USD"]);
    let eur = &currencies["EUR"];
    let m = &eur["messages"];
    // 7 sent (5 on 4 May, 2 on 9 May), answered: a1's, b1's, b2's, a2's second.
    assert_eq!(
        responses(m),
        vec![
            row("email", "gentle", 3, 1, Some(33_33)),
            row("email", "firm", 2, 1, Some(50_00)),
            row("sms", "firm", 2, 2, Some(100_00)),
        ]
    );
    // A1 in 2 days, A2 in 10, B2 in 7: 19 / 3 = 6.33. Collected after a
    // reminder: A1 100 + A2 200 + B1 200 + B2 500 = EUR 1,000 (not C1's
    // 50); 7 reminders per EUR 1,000.
    assert_eq!(
        message_figures(m),
        (7, 4, Some(57_14), 3, Some(6_33), 1_000_00, Some(7_00))
    );
    // The receivables: 1,500 owed on 30 April, C1's 50 sold in May,
    // 1,050 collected, A3 300 and the rest of B1 200 owed at the end, both
    // 37 days late.
    assert_eq!(
        eur["receivables"],
        json!({ "beginning": 1_500_00, "ending": 500_00, "ending_current": 0, "ending_overdue": 500_00 })
    );
    assert_eq!(
        (eur["credit_sales"].as_i64(), eur["collected"].as_i64()),
        (Some(50_00), Some(1_050_00))
    );
    let ratio = |key: &str| served(&eur[key], key);
    // DSO 500 / 50 × 31 = 310; best possible 0; ADD 310.
    assert_eq!(ratio("dso"), Some(310_00));
    assert_eq!(ratio("best_possible_dso"), Some(0));
    assert_eq!(ratio("add"), Some(310_00));
    // Countback: May's 50 (31 days), April's nothing (30), then 450 of
    // March's 1,500: 61 + 0.3 × 31 = 70.30.
    assert_eq!(ratio("countback_dso"), Some(70_30));
    // CEI (1,500 + 50 − 500) / (1,500 + 50 − 0) = 67.74 %; collection
    // rate 1,050 / 1,550, the same.
    assert_eq!(ratio("cei"), Some(67_74));
    assert_eq!(ratio("collection_rate"), Some(67_74));
    // Paid in May: A1, A2, B2 (late), C1 (early): 1 of 4 on time.
    assert_eq!(
        (
            eur["settled_invoices"].as_u64(),
            eur["settled_on_time"].as_u64(),
            ratio("on_time_rate")
        ),
        (Some(4), Some(1), Some(25_00))
    );
    assert_eq!(
        eur["aging_series"],
        json!([{ "as_of": "2026-05-31",
                 "current": { "amount": 0, "invoices": 0 }, "1-30": { "amount": 0, "invoices": 0 },
                 "31-60": { "amount": 500_00, "invoices": 2 }, "61-90": { "amount": 0, "invoices": 0 },
                 "90+": { "amount": 0, "invoices": 0 }, "total": { "amount": 500_00, "invoices": 2 } }])
    );
    // USD: b2's SMS named B3 too; no USD payment followed it.
    let usd = &currencies["USD"];
    assert_eq!(
        responses(&usd["messages"]),
        vec![row("sms", "firm", 1, 0, Some(0))]
    );
    assert_eq!(
        message_figures(&usd["messages"]),
        (1, 0, Some(0), 0, None, 0, None)
    );
    assert_eq!(usd["receivables"]["ending"], 80_00);

    // Arm B alone, by segment or by its strategy version.
    for filter in ["&segment=vip", "&plugin_version=scripted@1.0.0"] {
        let report = kpis(&client, filter);
        let currencies = by_currency(&report);
        assert_eq!(
            currencies.keys().collect::<Vec<_>>(),
            ["EUR", "USD"],
            "{filter}"
        );
        let eur = &currencies["EUR"];
        assert_eq!(
            responses(&eur["messages"]),
            vec![row("sms", "firm", 2, 2, Some(100_00))],
            "{filter}"
        );
        // B2 in 7 days; B1 200 + B2 500 collected after: 2 per 700 = 2.86 per 1,000.
        assert_eq!(
            message_figures(&eur["messages"]),
            (2, 2, Some(100_00), 1, Some(7_00), 700_00, Some(2_86)),
            "{filter}"
        );
        // Receivables of b1 and b2 only: 900 owed, 700 collected, B1's
        // 200 left, nothing sold.
        assert_eq!(
            eur["receivables"],
            json!({ "beginning": 900_00, "ending": 200_00, "ending_current": 0, "ending_overdue": 200_00 }),
            "{filter}"
        );
        assert_eq!(eur["collected"], 700_00, "{filter}");
        assert_eq!(eur["dso"], Value::Null, "{filter}");
        // (900 − 200) / 900 = 77.78 %.
        assert_eq!(served(&eur["cei"], "cei"), Some(77_78), "{filter}");
        assert_eq!(
            message_figures(&currencies["USD"]["messages"]).0,
            1,
            "{filter}"
        );
    }

    // Arm A alone: 5 emails, 2 answered; A1 and A2 paid in 2 and 10 days;
    // 300 collected after them: 16.67 per 1,000. Its debtors owe no USD.
    let report = kpis(&client, "&segment=default");
    let currencies = by_currency(&report);
    assert_eq!(currencies.keys().collect::<Vec<_>>(), ["EUR"]);
    let m = &currencies["EUR"]["messages"];
    assert_eq!(
        responses(m),
        vec![
            row("email", "gentle", 3, 1, Some(33_33)),
            row("email", "firm", 2, 1, Some(50_00)),
        ]
    );
    assert_eq!(
        message_figures(m),
        (5, 2, Some(40_00), 2, Some(6_00), 300_00, Some(16_67))
    );
    assert_eq!(currencies["EUR"]["receivables"]["beginning"], 600_00);

    // A strategy name without a version takes it and every version of it.
    let both = kpis(&client, "&plugin_version=scripted&currency=EUR");
    assert_eq!(
        message_figures(&both["currencies"][0]["messages"]),
        message_figures(&all["currencies"][0]["messages"])
    );
    assert_eq!(both["currencies"].as_array().unwrap().len(), 1);
    // A strategy nobody ran: nothing.
    assert_eq!(
        kpis(&client, "&plugin_version=ladder")["currencies"],
        json!([])
    );
    // A week later, the 9 May emails' window is in the period's past: the
    // same figures; a period before anything was sent has none.
    let reply = client.get("/v1/kpis?from=2026-04-01&to=2026-04-30&currency=EUR");
    assert_eq!(reply.status, 200, "{reply:#?}");
    assert_eq!(
        message_figures(&reply.body["currencies"][0]["messages"]),
        (0, 0, None, 0, None, 0, None)
    );
    // Without a period: the year to today (20 May 2026).
    let reply = client.get("/v1/kpis?currency=EUR");
    assert_eq!(reply.status, 200, "{reply:#?}");
    assert_eq!(
        (reply.body["from"].as_str(), reply.body["to"].as_str()),
        (Some("2025-05-21"), Some("2026-05-20"))
    );

    // The CLI on the same database gives the same numbers.
    let printed = run_ok(
        dun()
            .args([
                "kpis",
                "--tenant",
                "acme",
                "--from",
                "2026-05-01",
                "--to",
                "2026-05-31",
                "--segment",
                "vip",
                "--json",
                "--db",
            ])
            .arg(&server.db),
    );
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(printed, kpis(&client, "&segment=vip"));
}

// ---------------------------------------------------------------------------
// Part 3: bad parameters.

#[test]
fn bad_parameters_are_refused_naming_the_parameter() {
    let server = Server::start();
    let (_, client) = server.tenant("acme");
    for (query, field) in [
        ("from=2013-12-31&to=2013-01-01", "from"),
        ("from=2013-02-30&to=2013-03-31", "from"),
        ("from=2013-01-01&to=31.12.2013", "to"),
        ("from=2013-01-01&to=2013-12-31&currency=EURO", "currency"),
        ("from=2013-01-01&to=2013-12-31&currency=eur", "currency"),
        ("from=2000-01-01&to=2013-12-31", "from"),
        ("from=2013-01-01&to=%2B12345-01-01", "to"),
        ("from=2013-01-01&to=2013-12-31&segment=", "segment"),
        ("from=2013-01-01&to=2013-12-31&colour=red", "colour"),
    ] {
        let reply = client.get(&format!("/v1/kpis?{query}"));
        reply.assert_problem(400, Some(field));
    }
    assert_eq!(server.anonymous().get("/v1/kpis").status, 401);

    // The CLI refuses the same, naming the flag.
    let out = dun()
        .args([
            "kpis",
            "--tenant",
            "acme",
            "--from",
            "2013-12-31",
            "--to",
            "2013-01-01",
            "--db",
        ])
        .arg(&server.db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--from"), "{stderr}");
    let out = dun()
        .args(["kpis", "--tenant", "nobody", "--db"])
        .arg(&server.db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
}
