//! `dun simulate` as a user runs it: the real binary, the built-in
//! strategies, the real IBM accounts-receivable data set. The figures it
//! prints and writes are checked against figures this test computes on its
//! own from the timeline it wrote and the raw CSV (its own CSV split, date
//! arithmetic and money parsing); the timeline itself against rules anyone
//! can check from outside (the guardrails' caps and hours, no message about
//! an invoice the host knew was paid, none about a disputed one). A small
//! handmade history shows the ladder rung by rung, message by message. Bad
//! input ends with a non-zero status and says what is wrong; a strategy
//! that fails is counted and reported, not fatal.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::{days_from_civil, dun, shared_data};

const DATA_SET: &str = "ibm-accounts-receivable.csv";

// ---------------------------------------------------------------------------
// Dates and money, by hand.

fn numbers(text: &str, separator: char) -> Vec<i64> {
    text.split(separator)
        .map(|p| p.parse().unwrap_or_else(|_| panic!("{text:?}")))
        .collect()
}

/// `m/d/YYYY` (the IBM file's US dates).
fn us_date(text: &str) -> i64 {
    let p = numbers(text, '/');
    days_from_civil(p[2], p[0], p[1])
}

/// `YYYY-MM-DD`, or the date of an RFC 3339 instant (UTC).
fn iso_date(text: &str) -> i64 {
    let p = numbers(&text[..10], '-');
    days_from_civil(p[0], p[1], p[2])
}

/// The hour of an RFC 3339 instant in UTC (`…THH:MM:SSZ`).
fn hour(text: &str) -> i64 {
    assert!(text.ends_with('Z'), "{text}");
    text[11..13].parse().unwrap()
}

/// Seconds since the epoch of an RFC 3339 instant in UTC.
fn seconds(text: &str) -> i64 {
    let t = numbers(&text[11..19], ':');
    iso_date(text) * 86_400 + t[0] * 3_600 + t[1] * 60 + t[2]
}

/// "47.07" in cents.
fn cents(text: &str) -> i64 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac = format!("{frac:0<2}");
    whole.parse::<i64>().unwrap() * 100 + frac[..2].parse::<i64>().unwrap()
}

// ---------------------------------------------------------------------------
// The CSV, by hand (the data set has no quoted fields).

#[derive(Clone, Debug)]
struct Invoice {
    debtor: String,
    id: String,
    amount: i64,
    issued: i64,
    due: i64,
    settled: Option<i64>,
    disputed: bool,
}

fn read_ibm(path: &Path) -> Vec<Invoice> {
    let text = std::fs::read_to_string(path).expect("read the data set");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name).unwrap();
    let (customer, number, issued, due, amount, disputed, settled) = (
        col("customerID"),
        col("invoiceNumber"),
        col("InvoiceDate"),
        col("DueDate"),
        col("InvoiceAmount"),
        col("Disputed"),
        col("SettledDate"),
    );
    lines
        .map(|line| {
            assert!(!line.contains('"'), "quoted field in {line:?}");
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            Invoice {
                debtor: cells[customer].into(),
                id: cells[number].into(),
                amount: cents(cells[amount]),
                issued: us_date(cells[issued]),
                due: us_date(cells[due]),
                settled: (!cells[settled].is_empty()).then(|| us_date(cells[settled])),
                disputed: cells[disputed] == "Yes",
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Running dun simulate.

fn simulate(args: &[&str]) -> Output {
    dun()
        .arg("simulate")
        .args(args)
        .output()
        .expect("run dun simulate")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "dun simulate failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A run's status and stderr, when it must fail.
fn failed(out: &Output) -> (i32, String) {
    assert!(
        !out.status.success(),
        "dun simulate succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn strs(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value} is not an array"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn num(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value} is not a count"))
}

/// A sent message as this test sees it: (at, debtor, channel, tone, ids).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Sent {
    at: String,
    debtor: String,
    channel: String,
    tone: String,
    invoices: Vec<String>,
}

fn sent(timeline: &Value) -> Vec<Sent> {
    timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "remind" && e["status"] == "sent")
        .map(|e| Sent {
            at: e["at"].as_str().unwrap().into(),
            debtor: e["debtor_id"].as_str().unwrap().into(),
            channel: e["channel"].as_str().unwrap().into(),
            tone: e["tone"].as_str().unwrap().into(),
            invoices: strs(&e["invoice_ids"]),
        })
        .collect()
}

/// The timeline CSV says what the JSON says: one row per entry, same
/// order, same instants, kinds, debtors and invoices.
fn csv_matches_json(dir: &Path, timeline: &Value) {
    let text = std::fs::read_to_string(dir.join("timeline.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..8],
        [
            "at",
            "local_date",
            "debtor_id",
            "kind",
            "status",
            "channel",
            "tone",
            "invoice_ids"
        ]
    );
    let entries = timeline.as_array().unwrap();
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), entries.len());
    for (row, entry) in rows.iter().zip(entries) {
        // The first columns never hold a comma.
        let cells: Vec<&str> = row.splitn(9, ',').collect();
        assert_eq!(cells[0], entry["at"], "{row}");
        assert_eq!(cells[2], entry["debtor_id"], "{row}");
        assert_eq!(cells[3], entry["kind"], "{row}");
        assert_eq!(cells[4], entry["status"], "{row}");
        assert_eq!(
            cells[7]
                .split(' ')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>(),
            strs(&entry["invoice_ids"]),
            "{row}"
        );
    }
}

// ---------------------------------------------------------------------------
// The real data set: ladder vs segmented.

#[test]
fn ladder_vs_segmented_on_the_real_data_set() {
    let Some(data) = shared_data(DATA_SET) else {
        return;
    };
    let invoices = read_ibm(&data);
    let out_dir = tempfile::tempdir().unwrap();
    let stdout = ok(&simulate(&[
        "ladder",
        "--vs",
        "segmented",
        "--invoices",
        data.to_str().unwrap(),
        "--layout",
        "ibm-ar",
        "--out",
        out_dir.path().to_str().unwrap(),
    ]));
    // The table: a header line, then a column per strategy.
    assert!(
        stdout.starts_with("2,586 invoices of 100 debtors, 2012-01-03 to 2014-01-19"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("ladder") && l.trim_end().ends_with("segmented")),
        "no column per strategy in\n{stdout}"
    );
    for label in [
        "messages sent",
        "debtors reached",
        "reminders to invoices already paid",
        "escalations",
        "overdue contacted within 7 days",
        "share of overdue value, USD",
        "wall time",
    ] {
        assert!(stdout.contains(label), "no {label:?} in\n{stdout}");
    }

    // The period, independently: the first invoice to the last date.
    let from = invoices.iter().map(|i| i.issued).min().unwrap();
    let to = invoices
        .iter()
        .flat_map(|i| [Some(i.issued), i.settled])
        .flatten()
        .max()
        .unwrap();
    let by_id: HashMap<&str, &Invoice> = invoices.iter().map(|i| (i.id.as_str(), i)).collect();
    let within = 7;
    let mut shares = BTreeMap::new();
    for name in ["ladder", "segmented"] {
        let dir = out_dir.path().join(name);
        let timeline = read_json(&dir.join("timeline.json"));
        let summary = read_json(&dir.join("summary.json"));
        csv_matches_json(&dir, &timeline);
        let sent = sent(&timeline);
        assert!(!sent.is_empty(), "{name} sent nothing");

        assert_eq!(summary["strategy"]["name"], name);
        assert_eq!(iso_date(summary["period"]["from"].as_str().unwrap()), from);
        assert_eq!(iso_date(summary["period"]["to"].as_str().unwrap()), to);
        assert_eq!(num(&summary["invoices"]), invoices.len() as u64);
        let debtors: BTreeSet<&str> = invoices.iter().map(|i| i.debtor.as_str()).collect();
        assert_eq!(num(&summary["debtors"]), debtors.len() as u64);
        assert_eq!(
            num(&summary["invoices_disputed"]),
            invoices.iter().filter(|i| i.disputed).count() as u64
        );
        assert_eq!(num(&summary["faults"]["total"]), 0, "{name}");
        assert!(num(&summary["decisions"]) > 0);

        // Messages by channel, by tone, by both.
        let mut by_channel: BTreeMap<String, u64> = ["email", "sms", "call", "letter"]
            .iter()
            .map(|c| (c.to_string(), 0))
            .collect();
        let mut by_tone: BTreeMap<String, u64> = ["courtesy", "gentle", "firm", "final"]
            .iter()
            .map(|t| (t.to_string(), 0))
            .collect();
        let mut by_both: BTreeMap<String, u64> = BTreeMap::new();
        for m in &sent {
            *by_channel.get_mut(&m.channel).unwrap() += 1;
            *by_tone.get_mut(&m.tone).unwrap() += 1;
            *by_both
                .entry(format!("{}/{}", m.channel, m.tone))
                .or_default() += 1;
        }
        let messages = &summary["messages"];
        assert_eq!(num(&messages["sent"]), sent.len() as u64, "{name}");
        let map = |v: &Value| -> BTreeMap<String, u64> {
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), num(v)))
                .collect()
        };
        assert_eq!(map(&messages["by_channel"]), by_channel, "{name}");
        assert_eq!(map(&messages["by_tone"]), by_tone, "{name}");
        assert_eq!(map(&messages["by_channel_and_tone"]), by_both, "{name}");

        // Debtors reached.
        let reached: BTreeSet<&str> = sent.iter().map(|m| m.debtor.as_str()).collect();
        assert_eq!(num(&summary["debtors_reached"]), reached.len() as u64);

        // Reminders about an invoice the data shows settled on or before
        // the day the message went out.
        let mut to_paid = (0u64, 0u64);
        for (m, entry) in sent.iter().zip(
            timeline
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == "remind" && e["status"] == "sent"),
        ) {
            let day = iso_date(&m.at);
            let paid: Vec<String> = m
                .invoices
                .iter()
                .filter(|id| by_id[id.as_str()].settled.is_some_and(|s| s <= day))
                .cloned()
                .collect();
            assert_eq!(strs(&entry["paid_invoice_ids"]), paid, "{m:?}");
            assert_eq!(iso_date(entry["local_date"].as_str().unwrap()), day);
            if !paid.is_empty() {
                to_paid.0 += 1;
                to_paid.1 += paid.len() as u64;
            }
        }
        assert_eq!(
            (
                num(&summary["reminders_to_paid"]["messages"]),
                num(&summary["reminders_to_paid"]["invoices"])
            ),
            to_paid,
            "{name}"
        );

        // Escalations: none on this data (no undisputed invoice is 45 days
        // late), and the summary agrees with the timeline.
        let escalations = timeline
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "escalate")
            .count() as u64;
        assert_eq!(num(&summary["escalations"]["actions"]), escalations);

        // The share of overdue value contacted within 7 days: invoices not
        // settled by their due date, not disputed, whose first 7 days
        // overdue are in the period; contacted when a message about them
        // went out on one of those days.
        let mut contacted_on: HashMap<&str, Vec<i64>> = HashMap::new();
        for m in &sent {
            for id in &m.invoices {
                contacted_on
                    .entry(id.as_str())
                    .or_default()
                    .push(iso_date(&m.at));
            }
        }
        let (mut total, mut reached_in_time, mut count, mut count_in_time) = (0, 0, 0, 0);
        for i in &invoices {
            let (first, last) = (i.due + 1, i.due + within);
            if i.settled.is_some_and(|s| s <= i.due) || i.disputed || first < from || last > to {
                continue;
            }
            total += i.amount;
            count += 1;
            if contacted_on
                .get(i.id.as_str())
                .is_some_and(|days| days.iter().any(|d| (first..=last).contains(d)))
            {
                reached_in_time += i.amount;
                count_in_time += 1;
            }
        }
        let overdue = &summary["overdue_contacted"];
        assert_eq!(num(&overdue["within_days"]), within as u64);
        assert_eq!(num(&overdue["invoices"]), count);
        assert_eq!(num(&overdue["invoices_contacted"]), count_in_time);
        assert_eq!(overdue["value"]["USD"].as_i64(), Some(total));
        assert_eq!(
            overdue["value_contacted"]["USD"].as_i64(),
            Some(reached_in_time)
        );
        let share = (reached_in_time as f64 / total as f64 * 10_000.0).round() / 10_000.0;
        assert_eq!(overdue["share_of_value"]["USD"].as_f64(), Some(share));
        shares.insert(name, share);

        // What anyone can check from outside: the host's rules held.
        let mut per_day: BTreeMap<(String, String, i64), u32> = BTreeMap::new();
        let mut sms_at: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for m in &sent {
            let day = iso_date(&m.at);
            for id in &m.invoices {
                let invoice = by_id[id.as_str()];
                // Never about an invoice not yet issued, settled on an
                // earlier day (the host knew), or disputed.
                assert!(invoice.issued <= day, "{m:?}");
                assert!(invoice.settled.is_none_or(|s| s >= day), "{m:?}");
                assert!(!invoice.disputed, "{m:?}");
                assert_eq!(invoice.debtor, m.debtor);
            }
            *per_day
                .entry((m.debtor.clone(), m.channel.clone(), day))
                .or_default() += 1;
            if m.channel == "sms" {
                // SMS only 08:00-21:00 in the debtor's zone (UTC here).
                assert!((8..21).contains(&hour(&m.at)), "{m:?}");
                sms_at.entry(&m.debtor).or_default().push(seconds(&m.at));
            }
        }
        // One message per channel per debtor per day.
        assert!(
            per_day.values().all(|n| *n == 1),
            "{name}: a daily cap broken"
        );
        // At most 3 SMS in any rolling 7 days.
        for times in sms_at.values() {
            for (i, t) in times.iter().enumerate() {
                let in_window = times[..=i].iter().filter(|s| **s > t - 7 * 86_400).count();
                assert!(in_window <= 3, "{name}: more than 3 SMS in 7 days");
            }
        }
        // Both strategies take seconds, not minutes, over 2,586 invoices.
        let wall = num(&summary["timing"]["wall_ms"]);
        assert!(wall < 60_000, "{name} took {wall} ms");
        assert!(num(&summary["timing"]["decisions_per_second"]) > 0);
    }
    // The ladder's gentle email goes out on the first day overdue (or the
    // next, past a daily cap): every overdue invoice it may chase is
    // contacted within a week. Segmented waits 5 days for reliable payers.
    assert_eq!(shares["ladder"], 1.0);
    assert!(shares["segmented"] <= shares["ladder"]);
}

// ---------------------------------------------------------------------------
// A handmade history: the ladder, message by message.

/// Four debtors, UTC, the `standard` layout.
/// - d1: A due 2024-01-31, paid 10 days late.
/// - d2: B due 2024-01-31, never paid in the period's first 45 days
///   (escalated), paid on 2024-04-15; C paid on its courtesy day.
/// - d3: D disputed: never chased.
/// - d4: E and F on different rungs the same day: one email waits for the
///   next day (one email a day).
const HANDMADE: &str = "\
debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed
d1,A,2024-01-01,2024-01-31,100.00,USD,2024-02-10,No
d2,B,2024-01-01,2024-01-31,50.00,USD,2024-04-15,No
d2,C,2024-02-05,2024-03-06,20.00,USD,2024-03-03,No
d3,D,2024-01-01,2024-01-31,70.00,USD,2024-03-01,Yes
d4,E,2024-01-01,2024-01-31,30.00,USD,2024-02-03,No
d4,F,2024-01-05,2024-02-04,40.00,USD,2024-02-03,No
";

fn handmade() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.csv");
    std::fs::write(&path, HANDMADE).unwrap();
    (dir, path)
}

#[test]
fn the_ladder_rung_by_rung_on_a_handmade_history() {
    let (dir, csv) = handmade();
    let out = dir.path().join("out");
    ok(&simulate(&[
        "ladder",
        "--invoices",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let timeline = read_json(&out.join("timeline.json"));
    let summary = read_json(&out.join("summary.json"));
    let expected: Vec<Sent> = [
        // Courtesy 3 days before the due date, at 09:00 (the ladder's review hour).
        ("2024-01-28T09:00:00Z", "d1", "email", "courtesy", "A"),
        ("2024-01-28T09:00:00Z", "d2", "email", "courtesy", "B"),
        ("2024-01-28T09:00:00Z", "d4", "email", "courtesy", "E"),
        // Gentle the day after.
        ("2024-02-01T09:00:00Z", "d1", "email", "gentle", "A"),
        ("2024-02-01T09:00:00Z", "d2", "email", "gentle", "B"),
        ("2024-02-01T09:00:00Z", "d4", "email", "gentle", "E"),
        // F's courtesy was due the same day: the daily cap moves it to
        // the start of the next.
        ("2024-02-02T00:00:00Z", "d4", "email", "courtesy", "F"),
        // Firm by email and SMS at 7 days.
        ("2024-02-07T09:00:00Z", "d1", "email", "firm", "A"),
        ("2024-02-07T09:00:00Z", "d1", "sms", "firm", "A"),
        ("2024-02-07T09:00:00Z", "d2", "email", "firm", "B"),
        ("2024-02-07T09:00:00Z", "d2", "sms", "firm", "B"),
        // A was paid on 2024-02-10; B goes on: a final letter at 21 days.
        ("2024-02-21T09:00:00Z", "d2", "letter", "final", "B"),
        // C's courtesy goes at 09:00; it is paid that day at noon.
        ("2024-03-03T09:00:00Z", "d2", "email", "courtesy", "C"),
    ]
    .iter()
    .map(|(at, debtor, channel, tone, id)| Sent {
        at: at.to_string(),
        debtor: debtor.to_string(),
        channel: channel.to_string(),
        tone: tone.to_string(),
        invoices: vec![id.to_string()],
    })
    .collect();
    assert_eq!(sent(&timeline), expected);

    // At 45 days, after the final notice, B goes to a collection agency.
    let others: Vec<(String, String, Vec<String>, String)> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] != "remind")
        .map(|e| {
            (
                e["at"].as_str().unwrap().into(),
                e["kind"].as_str().unwrap().into(),
                strs(&e["invoice_ids"]),
                e["debtor_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        others,
        [(
            "2024-03-16T09:00:00Z".to_string(),
            "escalate".to_string(),
            vec!["B".to_string()],
            "d2".to_string()
        )]
    );
    let escalation = timeline
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "escalate")
        .unwrap();
    assert_eq!(escalation["amount"], 5000);
    assert!(
        escalation["detail"]
            .as_str()
            .unwrap()
            .starts_with("collection-agency")
    );

    assert_eq!(num(&summary["messages"]["sent"]), 13);
    assert_eq!(summary["messages"]["by_channel"]["email"], 10);
    assert_eq!(summary["messages"]["by_channel"]["sms"], 2);
    assert_eq!(summary["messages"]["by_channel"]["letter"], 1);
    assert_eq!(num(&summary["debtors_reached"]), 3);
    assert_eq!(num(&summary["debtors"]), 4);
    assert_eq!(num(&summary["invoices_disputed"]), 1);
    // C's courtesy went out the day C was paid.
    assert_eq!(summary["reminders_to_paid"]["messages"], 1);
    let to_paid = timeline
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["paid_invoice_ids"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .unwrap();
    assert_eq!(to_paid["at"], "2024-03-03T09:00:00Z");
    assert_eq!(strs(&to_paid["paid_invoice_ids"]), ["C"]);
    let escalations = &summary["escalations"];
    assert_eq!(escalations["actions"], 1);
    assert_eq!(escalations["value"]["USD"], 5000);
    // B was paid after all, on 2024-04-15.
    assert_eq!(escalations["settled_later"], 1);
    // Overdue and chaseable: A, B, E (F and C were paid before their due
    // date, D is disputed); each had its gentle email on day 1.
    let overdue = &summary["overdue_contacted"];
    assert_eq!(overdue["invoices"], 3);
    assert_eq!(overdue["invoices_contacted"], 3);
    assert_eq!(overdue["value"]["USD"], 180_00);
    assert_eq!(overdue["share_of_value"]["USD"], 1.0);
    assert_eq!(summary["guardrails"]["moved_by"]["daily-cap"], 1);
    assert_eq!(num(&summary["faults"]["total"]), 0);
}

#[test]
fn fees_and_offers_are_capped_and_charged_once_as_the_host_does() {
    let (dir, csv) = handmade();
    // The test suite's `scripted` strategy plans what its config lists, at
    // every decision: a late fee of 10.00 on every invoice, a 25% discount.
    let config = dir.path().join("scripted.json");
    std::fs::write(
        &config,
        r#"{"actions": [{"kind": "charge-fee", "fee": "late-fee", "amount": 1000},
                        {"kind": "offer-discount", "percent_bp": 2500, "days": 10}],
            "review_in_secs": 86400}"#,
    )
    .unwrap();
    let scripted = format!("{}/scripted.wasm", dun::builtin::PLUGIN_DIR);
    let out = dir.path().join("out");
    ok(&simulate(&[
        &scripted,
        "--config",
        config.to_str().unwrap(),
        "--invoices",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let timeline = read_json(&out.join("timeline.json"));
    let entries = timeline.as_array().unwrap();
    // A late fee once per invoice however often it is planned, at most 15%
    // of the invoice (the policy's max_fee_bp), and none on D: disputed.
    let mut fees: Vec<(String, i64, String)> = entries
        .iter()
        .filter(|e| e["kind"] == "charge-fee")
        .map(|e| {
            (
                strs(&e["invoice_ids"]).join(","),
                e["amount"].as_i64().unwrap(),
                e["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    fees.sort();
    let expected: Vec<(String, i64, String)> = [
        ("A", 1000, "kept"),
        ("B", 750, "moved"),
        ("C", 300, "moved"),
        ("E", 450, "moved"),
        ("F", 600, "moved"),
    ]
    .iter()
    .map(|(id, amount, status)| (id.to_string(), *amount, status.to_string()))
    .collect();
    assert_eq!(fees, expected);
    // Discounts capped at 10% (max_discount_bp), and the fee is in the
    // open amount the offer is about.
    let offers: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "offer-discount")
        .collect();
    assert!(!offers.is_empty());
    for offer in &offers {
        assert_eq!(offer["status"], "moved", "{offer}");
        assert!(
            offer["detail"].as_str().unwrap().starts_with("1000 bp"),
            "{offer}"
        );
    }
    let first_for_a = offers.iter().find(|o| o["debtor_id"] == "d1").unwrap();
    assert_eq!(first_for_a["amount"], 100_00 + 10_00);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(num(&summary["other_actions"]["charge-fee"]), 5);
    assert!(num(&summary["guardrails"]["suppressed_by"]["disputed"]) > 0);
    assert!(num(&summary["guardrails"]["moved_by"]["discount-cap"]) >= offers.len() as u64);
    // Planned again at every later decision, the fee is refused by its cap
    // once charged.
    assert!(num(&summary["guardrails"]["suppressed_by"]["fee-cap"]) > 0);
}

#[test]
fn a_period_and_the_window_are_honoured() {
    let (dir, csv) = handmade();
    let out = dir.path().join("out");
    // February only: what was due before is history, what comes after
    // never happens.
    ok(&simulate(&[
        "ladder",
        "--invoices",
        csv.to_str().unwrap(),
        "--from",
        "2024-02-01",
        "--to",
        "2024-02-29",
        "--within",
        "3",
        "--channels",
        "email",
        "--out",
        out.to_str().unwrap(),
    ]));
    let timeline = read_json(&out.join("timeline.json"));
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["period"]["from"], "2024-02-01");
    assert_eq!(summary["period"]["to"], "2024-02-29");
    for m in sent(&timeline) {
        assert!(
            m.at.as_str() >= "2024-02-01" && m.at.as_str() < "2024-03-01",
            "{m:?}"
        );
        // Email only: the firm step has no SMS, the final step falls back
        // from letter to email.
        assert_eq!(m.channel, "email", "{m:?}");
    }
    assert!(
        sent(&timeline)
            .iter()
            .any(|m| m.tone == "final" && m.invoices == ["B"])
    );
    assert_eq!(
        summary["assumptions"]["channels"],
        serde_json::json!(["email"])
    );
    assert_eq!(summary["overdue_contacted"]["within_days"], 3);
}

#[test]
fn the_same_history_gives_the_same_timeline() {
    let (dir, csv) = handmade();
    let run = |name: &str| {
        let out = dir.path().join(name);
        ok(&simulate(&[
            "ladder",
            "--vs",
            "segmented",
            "--invoices",
            csv.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]));
        let mut summary = read_json(&out.join("ladder/summary.json"));
        summary.as_object_mut().unwrap().remove("timing");
        (
            std::fs::read(out.join("ladder/timeline.csv")).unwrap(),
            std::fs::read(out.join("segmented/timeline.json")).unwrap(),
            summary,
        )
    };
    assert_eq!(run("first"), run("second"));
}

// ---------------------------------------------------------------------------
// Faults and bad input.

#[test]
fn a_strategy_that_panics_is_counted_and_the_replay_goes_on() {
    let (dir, csv) = handmade();
    let config = dir.path().join("panic.json");
    std::fs::write(&config, r#"{"mode": "panic"}"#).unwrap();
    let hostile = format!("{}/hostile.wasm", dun::builtin::PLUGIN_DIR);
    let out = dir.path().join("out");
    let run = simulate(&[
        &hostile,
        "--config",
        config.to_str().unwrap(),
        "--vs",
        "ladder",
        "--invoices",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("warning: hostile faulted"), "{stderr}");
    assert!(stderr.contains("plugin log"), "{stderr}");
    let summary = read_json(&out.join("hostile/summary.json"));
    let decisions = num(&summary["decisions"]);
    assert!(decisions > 0);
    assert_eq!(num(&summary["faults"]["total"]), decisions);
    assert_eq!(num(&summary["faults"]["by_kind"]["trap"]), decisions);
    let first = &summary["faults"]["first"][0];
    assert_eq!(first["kind"], "trap");
    let log = first["log"]["lines"].to_string();
    assert!(log.contains("about to panic"), "{log}");
    assert!(log.contains("deliberate panic"), "{log}");
    assert_eq!(num(&summary["messages"]["sent"]), 0);
    // Faults back off (5 minutes doubling to a day) rather than retrying
    // at once; the ladder beside it ran as ever.
    let ladder = read_json(&out.join("ladder/summary.json"));
    assert_eq!(num(&ladder["messages"]["sent"]), 13);
    assert!(stdout.contains("trap"), "{stdout}");
    let timeline = read_json(&out.join("hostile/timeline.json"));
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "fault" && e["status"] == "trap")
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let (dir, csv) = handmade();
    let csv = csv.to_str().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "ladder".into(),
                "--invoices".into(),
                "/no/such/file.csv".into(),
            ],
            "/no/such/file.csv",
        ),
        (
            vec![
                "ladder".into(),
                "--invoices".into(),
                write(
                    "bad.csv",
                    "debtor_id,invoice_id,issued_on,due_on,amount,currency,settled_on,disputed\nd1,A,2024-13-01,2024-01-31,1.00,USD,,No\n",
                ),
            ],
            "line 2, issued_on",
        ),
        (
            vec![
                "ladder".into(),
                "--invoices".into(),
                write(
                    "ibm.csv",
                    "customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\nc,1,1/1/2024,1/31/2024,1.00,No,\n",
                ),
            ],
            "--layout ibm-ar",
        ),
        (
            vec![
                "segmented".into(),
                "--config".into(),
                write("bad-config.json", r#"{"plan_above": -1}"#),
                "--invoices".into(),
                csv.into(),
            ],
            "config/plan_above",
        ),
        (
            vec![
                "ladder".into(),
                "--config".into(),
                write("not-json.json", "{plan_above"),
                "--invoices".into(),
                csv.into(),
            ],
            "is not valid JSON",
        ),
        (
            vec![
                "ladder".into(),
                "--policy".into(),
                write("policy.json", r#"{"sms_hours": {"start": 22, "end": 8}}"#),
                "--invoices".into(),
                csv.into(),
            ],
            "sms_hours",
        ),
        (
            vec![
                "ladder".into(),
                "--policy".into(),
                write("policy2.json", r#"{"max_sms_per_day": 3}"#),
                "--invoices".into(),
                csv.into(),
            ],
            "max_sms_per_day",
        ),
        (
            vec!["nonesuch".into(), "--invoices".into(), csv.into()],
            "nor a built-in strategy (ladder, segmented, send-time)",
        ),
        (
            vec![
                "ladder".into(),
                "--channels".into(),
                "email,fax".into(),
                "--invoices".into(),
                csv.into(),
            ],
            "\"fax\" is not a channel",
        ),
        (
            vec![
                "ladder".into(),
                "--from".into(),
                "2024-03-01".into(),
                "--to".into(),
                "2024-02-01".into(),
                "--invoices".into(),
                csv.into(),
            ],
            "--from 2024-03-01 is after --to 2024-02-01",
        ),
    ];
    for (args, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, stderr) = failed(&simulate(&args));
        assert_eq!(status, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?}: {stderr:?} does not say {says:?}"
        );
    }
    // Not a component: a plugin error, status 1.
    let not_wasm = write("not.wasm", "hello");
    let (status, stderr) = failed(&simulate(&[&not_wasm, "--invoices", csv]));
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("plugin error [not-a-component]"),
        "{stderr}"
    );
}
