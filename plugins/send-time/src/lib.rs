#![cfg_attr(target_arch = "wasm32", no_std)]
//! The ladder's steps, each sent when this debtor is most likely to pay.
//!
//! The host counts, per debtor, the local hour at which each past payment
//! arrived (`history.payments-by-hour`). This strategy takes the ladder's plan
//! and moves every reminder to the next occurrence of the debtor's best hour
//! ([`History::best_hour`]: the most frequent payment hour, neighbours at half
//! weight), in the debtor's own zone. SMS and calls only use hours 08-20,
//! where the host's quiet hours allow them; with no history the reminder goes
//! at 10:00 local. A letter's send time does not matter to the debtor, so
//! letters keep the ladder's time.

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use dun_strategy::{
    Action, Case, Channel, History, Info, Plan, Strategy, Timestamp, local_hour, next_local_hour,
};

/// The hour used when a debtor has never paid.
const DEFAULT_HOUR: u8 = 10;

/// The local hour to send on `channel`, given the debtor's history.
pub fn best_hour(history: &History, channel: Channel) -> u8 {
    match channel {
        Channel::Sms | Channel::Call => history.best_hour_between(8, 20),
        Channel::Email | Channel::Letter => history.best_hour(),
    }
    .unwrap_or(DEFAULT_HOUR)
}

/// When to send on `channel`: now if this is already the best hour, else the
/// next time the debtor's clock shows it.
fn send_at(case: &Case, channel: Channel) -> Timestamp {
    let zone = &case.debtor.time_zone;
    let hour = best_hour(&case.debtor.history, channel);
    if local_hour(case.now, zone) == hour {
        case.now
    } else {
        next_local_hour(case.now, hour, zone)
    }
}

/// The ladder's plan with reminders re-timed to the best hour.
pub fn plan(case: &Case) -> Plan {
    let mut plan = ladder::plan(case);
    let mut moved = Vec::new();
    for action in &mut plan.actions {
        if let Action::Remind(reminder) = action
            && reminder.channel != Channel::Letter
        {
            reminder.send_at = send_at(case, reminder.channel);
            moved.push(format!(
                "{} at {:02}:00",
                reminder.channel.label(),
                local_hour(reminder.send_at, &case.debtor.time_zone)
            ));
        }
    }
    if !moved.is_empty() {
        plan.note = format!("{} (sent {})", plan.note, moved.join(", "));
    }
    plan
}

/// What send-time says about itself.
pub fn info() -> Info {
    Info::new(
        "send-time",
        env!("CARGO_PKG_VERSION"),
        "The classic dunning ladder, with every email and SMS sent at the local hour this \
         debtor has most often paid in the past (SMS and calls within 08:00-21:00), and at \
         10:00 local for debtors without payment history.",
    )
}

/// send-time as a component.
pub struct SendTime;

impl Strategy for SendTime {
    fn describe() -> Info {
        info()
    }

    fn decide(case: Case) -> Result<Plan, String> {
        Ok(plan(&case))
    }
}

#[cfg(target_arch = "wasm32")]
dun_strategy::export!(SendTime);

#[cfg(test)]
mod tests {
    use super::*;
    use dun_strategy::testing::CaseBuilder;
    use dun_strategy::{Date, HOUR, local_time};

    const TODAY: Date = Date {
        year: 2026,
        month: 5,
        day: 20,
    };

    fn paid_at(hours: &[(usize, u32)]) -> impl FnOnce(&mut dun_strategy::Debtor) + '_ {
        move |debtor| {
            for &(h, n) in hours {
                debtor.history.payments_by_hour[h] = n;
            }
            debtor.history.invoices_paid = hours.iter().map(|(_, n)| n).sum();
        }
    }

    fn send_times(plan: &Plan) -> Vec<(Channel, Timestamp)> {
        plan.actions
            .iter()
            .filter_map(|a| match a {
                Action::Remind(r) => Some((r.channel, r.send_at)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reminders_move_to_the_best_local_hour() {
        // Pays in the evening, Tokyo time; decided at 10:00 UTC = 19:00 Tokyo.
        let case = CaseBuilder::new(TODAY)
            .zone("Asia/Tokyo")
            .with_debtor(paid_at(&[(21, 5), (22, 1)]))
            .invoice("a", 100_00, 8)
            .build();
        let times = send_times(&plan(&case));
        let email_at = local_time(TODAY, 21, 0, "Asia/Tokyo");
        // SMS may not go at 21:00 local: the best hour within 08-20 is 20.
        let sms_at = local_time(TODAY, 20, 0, "Asia/Tokyo");
        assert_eq!(
            times,
            vec![(Channel::Email, email_at), (Channel::Sms, sms_at)]
        );
    }

    #[test]
    fn the_best_hour_already_passed_today_means_tomorrow() {
        let case = CaseBuilder::new(TODAY)
            .with_debtor(paid_at(&[(8, 3)]))
            .invoice("a", 100_00, 2)
            .build();
        let times = send_times(&plan(&case));
        assert_eq!(
            times,
            vec![(Channel::Email, TODAY.add_days(1).midnight_utc() + 8 * HOUR)]
        );
    }

    #[test]
    fn no_history_sends_at_ten_and_now_if_it_is_ten() {
        let case = CaseBuilder::new(TODAY).invoice("a", 100_00, 2).build();
        assert_eq!(send_times(&plan(&case)), vec![(Channel::Email, case.now)]);
    }

    #[test]
    fn letters_keep_the_ladder_time() {
        let case = CaseBuilder::new(TODAY)
            .with_debtor(paid_at(&[(15, 3)]))
            .invoice("a", 100_00, 22)
            .build();
        assert_eq!(send_times(&plan(&case)), vec![(Channel::Letter, case.now)]);
    }
}
