//! A replay for people: the summary as a table (strategies side by side)
//! and the timeline as CSV. JSON is the types' own serde shape.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Entry, Summary};
use crate::money::Currency;

/// The summaries side by side, one column per strategy, with a header
/// saying what was replayed and under which assumptions (of the first).
pub fn table(summaries: &[&Summary]) -> String {
    let Some(first) = summaries.first() else {
        return String::new();
    };
    let mut t = Table::default();
    let each = |f: &dyn Fn(&Summary) -> String| summaries.iter().map(|s| f(s)).collect();
    t.row("decisions", each(&|s| count(s.decisions)));
    t.row(
        "  per second",
        each(&|s| count(s.timing.decisions_per_second)),
    );
    t.row("  faults", each(&|s| count(s.faults.total)));
    for kind in keys(summaries, |s| {
        s.faults.by_kind.keys().map(|k| k.to_string()).collect()
    }) {
        t.row(
            &format!("    {kind}"),
            each(&|s| count(s.faults.by_kind.get(kind.as_str()).copied().unwrap_or(0))),
        );
    }
    t.row("messages sent", each(&|s| count(s.messages.sent)));
    for channel in first.messages.by_channel.keys() {
        t.row(
            &format!("  {}", channel.as_str()),
            each(&|s| count(s.messages.by_channel.get(channel).copied().unwrap_or(0))),
        );
    }
    for tone in first.messages.by_tone.keys() {
        t.row(
            &format!("  {}", tone.as_str()),
            each(&|s| count(s.messages.by_tone.get(tone).copied().unwrap_or(0))),
        );
    }
    t.row(
        "reminders cancelled (nothing left to chase)",
        each(&|s| count(s.messages.cancelled)),
    );
    t.row(
        "reminders replaced by a later decision",
        each(&|s| count(s.messages.replaced)),
    );
    t.row(
        "reminders pending after the period",
        each(&|s| count(s.messages.pending)),
    );
    t.row(
        "debtors reached",
        each(&|s| {
            format!(
                "{} of {}",
                count(s.debtors_reached as u64),
                count(s.debtors as u64)
            )
        }),
    );
    t.row(
        "reminders to invoices already paid",
        each(&|s| count(s.reminders_to_paid.messages)),
    );
    t.row(
        "  invoices named in them",
        each(&|s| count(s.reminders_to_paid.invoices)),
    );
    t.row("escalations", each(&|s| count(s.escalations.actions)));
    t.row(
        "  invoices escalated",
        each(&|s| count(s.escalations.invoices)),
    );
    for currency in keys(summaries, |s| s.escalations.value.keys().cloned().collect()) {
        t.row(
            &format!("  value escalated, {currency}"),
            each(&|s| {
                money(
                    &currency,
                    s.escalations.value.get(&currency).copied().unwrap_or(0),
                )
            }),
        );
    }
    t.row(
        "  settled later anyway",
        each(&|s| count(s.escalations.settled_later)),
    );
    t.row(
        &format!(
            "overdue contacted within {} days",
            first.overdue_contacted.within_days
        ),
        each(&|s| {
            let o = &s.overdue_contacted;
            format!("{} of {}", count(o.invoices_contacted), count(o.invoices))
        }),
    );
    for currency in keys(summaries, |s| {
        s.overdue_contacted.value.keys().cloned().collect()
    }) {
        t.row(
            &format!("  share of overdue value, {currency}"),
            each(&|s| {
                let share = s.overdue_contacted.share_of_value.get(&currency);
                share.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
            }),
        );
    }
    t.row(
        "actions planned (guardrails)",
        each(&|s| count(s.guardrails.planned)),
    );
    t.row("  kept", each(&|s| count(s.guardrails.kept)));
    t.row("  moved", each(&|s| count(s.guardrails.moved)));
    for rule in keys(summaries, |s| {
        s.guardrails.moved_by.keys().cloned().collect()
    }) {
        t.row(
            &format!("    {rule}"),
            each(&|s| count(s.guardrails.moved_by.get(&rule).copied().unwrap_or(0))),
        );
    }
    t.row("  suppressed", each(&|s| count(s.guardrails.suppressed)));
    for rule in keys(summaries, |s| {
        s.guardrails.suppressed_by.keys().cloned().collect()
    }) {
        t.row(
            &format!("    {rule}"),
            each(&|s| count(s.guardrails.suppressed_by.get(&rule).copied().unwrap_or(0))),
        );
    }
    for kind in keys(summaries, |s| {
        s.other_actions.keys().map(|k| k.to_string()).collect()
    }) {
        t.row(
            &kind,
            each(&|s| count(s.other_actions.get(kind.as_str()).copied().unwrap_or(0))),
        );
    }
    t.row(
        "wall time",
        each(&|s| format!("{:.2} s", s.timing.wall_ms as f64 / 1000.0)),
    );

    let a = &first.assumptions;
    let channels: Vec<&str> = a.channels.iter().map(|c| c.as_str()).collect();
    let mut out = format!(
        "{} invoices of {} debtors, {} to {}, replayed in {}\n\
         assumed: every debtor reachable by {}; invoices arrive and are paid at {}; \
         the {} disputed invoices are never chased\n\n",
        count(first.invoices as u64),
        count(first.debtors as u64),
        first.period.from,
        first.period.to,
        a.time_zone,
        channels.join(", "),
        a.events_at,
        count(first.invoices_disputed as u64),
    );
    let names: Vec<String> = summaries.iter().map(|s| s.strategy.name.clone()).collect();
    out.push_str(&t.render(&names));
    out
}

/// Row labels and one value per strategy.
#[derive(Default)]
struct Table {
    rows: Vec<(String, Vec<String>)>,
}

impl Table {
    fn row(&mut self, label: &str, values: Vec<String>) {
        self.rows.push((label.to_owned(), values));
    }

    fn render(&self, names: &[String]) -> String {
        let label_width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let widths: Vec<usize> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                self.rows
                    .iter()
                    .filter_map(|(_, v)| v.get(i).map(String::len))
                    .chain([name.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |label: &str, values: &[String]| {
            let mut line = format!("{label:<label_width$}");
            for (value, width) in values.iter().zip(&widths) {
                line.push_str(&format!("  {value:>width$}"));
            }
            line.push('\n');
            line
        };
        let mut out = line("", names);
        for (label, values) in &self.rows {
            out.push_str(&line(label, values));
        }
        out
    }
}

/// The keys any summary has, in order.
fn keys(summaries: &[&Summary], of: impl Fn(&Summary) -> Vec<String>) -> BTreeSet<String> {
    summaries.iter().flat_map(|s| of(s)).collect()
}

/// 12345 as "12,345".
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Minor units in major units, the integer part grouped: "1,234.56".
fn money(code: &str, minor: i64) -> String {
    let Some(currency) = Currency::from_code(code) else {
        return minor.to_string();
    };
    let text = currency.format_minor(minor);
    let (sign, text) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |t| ("-", t));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = count(whole.parse().unwrap_or(0));
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// The timeline as CSV: one row per entry, the columns of [`Entry`];
/// instants in RFC 3339 UTC, invoice ids separated by spaces, amounts in
/// minor units.
pub fn timeline_csv(timeline: &[Entry]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "at",
        "local_date",
        "debtor_id",
        "kind",
        "status",
        "channel",
        "tone",
        "invoice_ids",
        "amount",
        "currency",
        "decided_at",
        "planned_at",
        "scheduled_at",
        "paid_invoice_ids",
        "detail",
    ])?;
    let instant = |at: &DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let optional = |at: &Option<DateTime<Utc>>| at.as_ref().map(instant).unwrap_or_default();
    for e in timeline {
        writer.write_record([
            instant(&e.at),
            e.local_date.to_string(),
            e.debtor_id.clone(),
            e.kind.to_owned(),
            e.status.to_owned(),
            e.channel.map(|c| c.as_str().to_owned()).unwrap_or_default(),
            e.tone.map(|t| t.as_str().to_owned()).unwrap_or_default(),
            e.invoice_ids.join(" "),
            e.amount.map(|a| a.to_string()).unwrap_or_default(),
            e.currency.clone().unwrap_or_default(),
            instant(&e.decided_at),
            optional(&e.planned_at),
            optional(&e.scheduled_at),
            e.paid_invoice_ids.join(" "),
            e.detail.clone(),
        ])?;
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(money("USD", 123_456_78), "123,456.78");
        assert_eq!(money("USD", -5), "-0.05");
        assert_eq!(money("JPY", 1_000_000), "1,000,000");
    }
}
