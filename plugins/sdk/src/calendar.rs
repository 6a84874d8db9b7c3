//! Calendar arithmetic: dates as day numbers, and a debtor's local time.
//!
//! Dates are converted to days since 1970-01-01 with the proleptic Gregorian
//! rules (Howard Hinnant's `days_from_civil`), so arithmetic needs no time
//! zone. Local time needs the zone's rules: inside the sandbox they come from
//! the host (`dun:strategy/calendar`), natively from chrono-tz; both use the
//! IANA database, so a unit test and the component agree.

use crate::{Date, Timestamp};

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// Seconds in an hour.
pub const HOUR: i64 = 3_600;

impl Date {
    /// A date from its parts. Does not check that the day exists.
    pub fn new(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    /// The date `days` days after 1970-01-01 (negative for earlier dates).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Days since 1970-01-01 (negative for earlier dates).
    pub fn days(&self) -> i64 {
        let month = i64::from(self.month);
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `n` days later (earlier when negative).
    pub fn add_days(&self, n: i64) -> Date {
        Date::from_days(self.days() + n)
    }

    /// Days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(&self, later: &Date) -> i64 {
        later.days() - self.days()
    }

    /// Day of the week, 0 = Monday ... 6 = Sunday.
    pub fn weekday(&self) -> u8 {
        // 1970-01-01 was a Thursday (3).
        (self.days() + 3).rem_euclid(7) as u8
    }

    /// Midnight UTC at the start of this date.
    pub fn midnight_utc(&self) -> Timestamp {
        self.days() * DAY
    }
}

impl core::fmt::Display for Date {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Eq for Date {}

impl PartialOrd for Date {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Date {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.year, self.month, self.day).cmp(&(other.year, other.month, other.day))
    }
}

/// The offset from UTC in seconds east that the IANA zone `zone` has at the
/// instant `at`, or `None` for an unknown zone.
pub fn utc_offset(zone: &str, at: Timestamp) -> Option<i32> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::dun::strategy::calendar::utc_offset(zone, at)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use chrono::{Offset, TimeZone};
        let tz: chrono_tz::Tz = zone.parse().ok()?;
        let utc = chrono::DateTime::from_timestamp(at, 0)?;
        Some(
            tz.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    }
}

/// Seconds to add to a UTC instant to get the wall-clock time in `zone`
/// (0, that is UTC, for an unknown zone).
fn offset_or_utc(zone: &str, at: Timestamp) -> i64 {
    i64::from(utc_offset(zone, at).unwrap_or(0))
}

/// The calendar date at instant `at` in `zone`.
pub fn local_date(at: Timestamp, zone: &str) -> Date {
    Date::from_days((at + offset_or_utc(zone, at)).div_euclid(DAY))
}

/// The local hour of the day (0-23) at instant `at` in `zone`.
pub fn local_hour(at: Timestamp, zone: &str) -> u8 {
    ((at + offset_or_utc(zone, at)).rem_euclid(DAY) / HOUR) as u8
}

/// The instant when the wall clock in `zone` shows `hour:minute` on `date`.
/// When that wall time does not exist (the hour skipped by a daylight-saving
/// change), the first instant after the gap.
pub fn local_time(date: Date, hour: u8, minute: u8, zone: &str) -> Timestamp {
    let wall = date.midnight_utc() + i64::from(hour) * HOUR + i64::from(minute) * 60;
    // Guess with the offset at the wall time read as UTC, then correct once
    // with the offset at the guess: exact except inside a DST gap.
    let guess = wall - offset_or_utc(zone, wall);
    let exact = wall - offset_or_utc(zone, guess);
    if exact + offset_or_utc(zone, exact) == wall {
        exact
    } else {
        exact.max(guess)
    }
}

/// The first instant at or after `at` when the local time in `zone` is
/// `hour:00`.
pub fn next_local_hour(at: Timestamp, hour: u8, zone: &str) -> Timestamp {
    let today = local_date(at, zone);
    let candidate = local_time(today, hour, 0, zone);
    if candidate >= at {
        candidate
    } else {
        local_time(today.add_days(1), hour, 0, zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip_across_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            assert_eq!(Date::from_days(days).days(), days);
        }
        assert_eq!(Date::new(1970, 1, 1).days(), 0);
        assert_eq!(Date::new(2000, 3, 1).days(), 11_017);
        assert_eq!(Date::new(2024, 2, 29).add_days(1), Date::new(2024, 3, 1));
        assert_eq!(Date::new(2026, 11, 25).weekday(), 2, "a Wednesday");
    }

    #[test]
    fn local_time_follows_daylight_saving() {
        // 2026-03-29 01:00 UTC Europe/Berlin switches from +1 to +2.
        let before = Date::new(2026, 3, 28);
        let after = Date::new(2026, 3, 30);
        assert_eq!(local_time(before, 9, 0, "Europe/Berlin"), 1_774_684_800);
        assert_eq!(local_time(after, 9, 0, "Europe/Berlin"), 1_774_854_000);
        assert_eq!(local_hour(1_774_854_000, "Europe/Berlin"), 9);
        // 02:30 does not exist on the day of the change: the first instant after the gap.
        let gap = local_time(Date::new(2026, 3, 29), 2, 30, "Europe/Berlin");
        assert_eq!(local_hour(gap, "Europe/Berlin"), 3);
    }

    #[test]
    fn next_local_hour_is_today_or_tomorrow() {
        let zone = "America/New_York";
        let at = local_time(Date::new(2026, 6, 1), 14, 30, zone);
        assert_eq!(next_local_hour(at, 16, zone), at + 90 * 60);
        assert_eq!(next_local_hour(at, 10, zone), at + 19 * HOUR + 30 * 60);
        assert_eq!(
            local_date(next_local_hour(at, 10, zone), zone),
            Date::new(2026, 6, 2)
        );
    }

    #[test]
    fn unknown_zone_reads_as_utc() {
        assert_eq!(utc_offset("Mars/Olympus_Mons", 0), None);
        assert_eq!(local_hour(5 * HOUR, "Mars/Olympus_Mons"), 5);
    }
}
