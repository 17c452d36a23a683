//! Which priority class a wedding's work gets, from the calendar.
//!
//! The default, [`WeddingAwarePolicy`], applies these rules in order; the
//! first that matches wins. "Days until" counts venue-local calendar days
//! from the venue's today to the wedding's date (so a wedding tomorrow is 1
//! day away at 00:01 and at 23:59 alike).
//!
//! 1. `wedding_day_urgent`: it is the wedding's date in the venue's time zone.
//! 2. `critical`, any of:
//!    - the wedding is 1..=`critical_days` days ahead (default 7);
//!    - it is on a Saturday (venue-local) and 1..=`saturday_critical_days`
//!      days ahead (default 7, so the same as the rule above unless widened:
//!      Saturdays are the peak and a platform may protect them earlier);
//!    - photos are being uploaded (`active_photo_uploads > 0`), whatever the date;
//!    - a vendor deadline falls in `[now, now + deadline_hours]` (default 48 h).
//! 3. `high`: the wedding is at most `high_days` days ahead or behind
//!    (default 30): the month before, and the month after, when galleries
//!    and albums are delivered.
//! 4. `standard`: everything else.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};

use super::calendar::WeddingEvent;
use crate::api::Priority;

/// Classifies a wedding at an instant. Implementations must be pure (the
/// same event and instant give the same class) so that tests replay.
pub trait PriorityPolicy: Send + Sync + std::fmt::Debug {
    /// The class of work for `event` at `now`.
    fn classify(&self, event: &WeddingEvent, now: DateTime<Utc>) -> Priority;
}

/// The wedding-aware default; see the module documentation for its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeddingAwarePolicy {
    /// Weddings this many days ahead (or fewer) are critical.
    pub critical_days: i64,
    /// Saturday weddings this many days ahead (or fewer) are critical.
    pub saturday_critical_days: i64,
    /// A vendor deadline this close makes the wedding critical.
    pub deadline_hours: i64,
    /// Weddings this many days ahead or behind (or fewer) are high.
    pub high_days: i64,
}

impl Default for WeddingAwarePolicy {
    fn default() -> Self {
        WeddingAwarePolicy {
            critical_days: 7,
            saturday_critical_days: 7,
            deadline_hours: 48,
            high_days: 30,
        }
    }
}

impl PriorityPolicy for WeddingAwarePolicy {
    fn classify(&self, event: &WeddingEvent, now: DateTime<Utc>) -> Priority {
        let days_until = (event.date - event.local_date(now)).num_days();
        if days_until == 0 {
            return Priority::WeddingDayUrgent;
        }
        let ahead = days_until > 0;
        let saturday = event.date.weekday() == Weekday::Sat;
        let deadline_soon = event
            .vendor_deadlines
            .iter()
            .any(|d| *d >= now && *d - now <= Duration::hours(self.deadline_hours));
        if (ahead && days_until <= self.critical_days)
            || (ahead && saturday && days_until <= self.saturday_critical_days)
            || event.active_photo_uploads > 0
            || deadline_soon
        {
            return Priority::Critical;
        }
        if days_until.abs() <= self.high_days {
            return Priority::High;
        }
        Priority::Standard
    }
}

/// Saturday protection: why deferrable maintenance (prune, archival
/// migration, rebalancing, deep scrub, drills) may not start at `now`, or
/// `None` when it may. It is held back while it is Saturday in the home time
/// zone or in any calendar venue's time zone (Saturday somewhere the
/// platform has weddings), and on any calendar wedding's local date.
pub(crate) fn maintenance_blackout(
    events: &[WeddingEvent],
    home: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Option<String> {
    let saturday = |tz: chrono_tz::Tz| now.with_timezone(&tz).weekday() == Weekday::Sat;
    if saturday(home) {
        return Some(format!("Saturday in {home}"));
    }
    for e in events {
        if e.local_date(now) == e.date {
            return Some(format!("wedding day of {}", e.id));
        }
        if saturday(e.time_zone) {
            return Some(format!("Saturday in {} (wedding {})", e.time_zone, e.id));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveTime, TimeZone};
    use chrono_tz::Tz;

    fn wedding(y: i32, m: u32, d: u32, tz: Tz) -> WeddingEvent {
        WeddingEvent::new(
            "w",
            NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            NaiveTime::from_hms_opt(16, 0, 0).unwrap(),
            tz,
        )
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    const P: WeddingAwarePolicy = WeddingAwarePolicy {
        critical_days: 7,
        saturday_critical_days: 7,
        deadline_hours: 48,
        high_days: 30,
    };

    #[test]
    fn wedding_day_is_the_venue_local_date_around_midnight() {
        // Sydney is UTC+11 in January: the wedding day there starts at 13:00 UTC
        // the day before and ends at 12:59:59 UTC on the date.
        let w = wedding(2025, 1, 11, chrono_tz::Australia::Sydney);
        assert_eq!(P.classify(&w, at(2025, 1, 10, 12, 59)), Priority::Critical);
        assert_eq!(
            P.classify(&w, at(2025, 1, 10, 13, 0)),
            Priority::WeddingDayUrgent
        );
        assert_eq!(
            P.classify(&w, at(2025, 1, 11, 12, 59)),
            Priority::WeddingDayUrgent
        );
        // After local midnight it is the day after: no longer urgent.
        assert_eq!(P.classify(&w, at(2025, 1, 11, 13, 0)), Priority::High);
        // Los Angeles is UTC−8: the day runs 08:00 UTC to 07:59 UTC next day.
        let w = wedding(2025, 1, 11, chrono_tz::America::Los_Angeles);
        assert_eq!(P.classify(&w, at(2025, 1, 11, 7, 59)), Priority::Critical);
        assert_eq!(
            P.classify(&w, at(2025, 1, 12, 7, 59)),
            Priority::WeddingDayUrgent
        );
        assert_eq!(P.classify(&w, at(2025, 1, 12, 8, 0)), Priority::High);
    }

    #[test]
    fn within_seven_days_is_critical_counted_in_local_days() {
        // Wednesday wedding (not a Saturday), Berlin.
        let w = wedding(2025, 6, 18, chrono_tz::Europe::Berlin);
        // 7 days ahead local: June 11 local starts at June 10 22:00 UTC.
        assert_eq!(P.classify(&w, at(2025, 6, 10, 21, 59)), Priority::High);
        assert_eq!(P.classify(&w, at(2025, 6, 10, 22, 0)), Priority::Critical);
        assert_eq!(P.classify(&w, at(2025, 6, 16, 12, 0)), Priority::Critical);
    }

    #[test]
    fn saturday_window_can_be_wider_than_the_general_one() {
        let sat = wedding(2025, 6, 21, chrono_tz::UTC);
        let wed = wedding(2025, 6, 18, chrono_tz::UTC);
        let wide = WeddingAwarePolicy {
            saturday_critical_days: 10,
            ..P
        };
        // 10 days before each.
        assert_eq!(
            wide.classify(&sat, at(2025, 6, 11, 9, 0)),
            Priority::Critical
        );
        assert_eq!(wide.classify(&wed, at(2025, 6, 8, 9, 0)), Priority::High);
        assert_eq!(wide.classify(&sat, at(2025, 6, 10, 9, 0)), Priority::High);
        // With the defaults the Saturday rule is the general 7-day rule.
        assert_eq!(P.classify(&sat, at(2025, 6, 14, 0, 0)), Priority::Critical);
        assert_eq!(P.classify(&sat, at(2025, 6, 13, 23, 59)), Priority::High);
    }

    #[test]
    fn across_the_year_end() {
        // New Year's Eve wedding in Tokyo (UTC+9), seen from the old and new year.
        let w = wedding(2025, 12, 31, chrono_tz::Asia::Tokyo);
        // Local Dec 24 (7 days ahead) starts at Dec 23 15:00 UTC.
        assert_eq!(P.classify(&w, at(2025, 12, 23, 14, 59)), Priority::High);
        assert_eq!(P.classify(&w, at(2025, 12, 23, 15, 0)), Priority::Critical);
        assert_eq!(
            P.classify(&w, at(2025, 12, 31, 14, 59)),
            Priority::WeddingDayUrgent
        );
        assert_eq!(P.classify(&w, at(2025, 12, 31, 15, 0)), Priority::High);
        // A January wedding seen from December, 30 and 31 days ahead.
        let jan = wedding(2026, 1, 30, chrono_tz::UTC);
        assert_eq!(P.classify(&jan, at(2025, 12, 31, 12, 0)), Priority::High);
        assert_eq!(
            P.classify(&jan, at(2025, 12, 30, 12, 0)),
            Priority::Standard
        );
    }

    #[test]
    fn active_uploads_make_any_wedding_critical() {
        let mut w = wedding(2024, 3, 2, chrono_tz::UTC);
        assert_eq!(P.classify(&w, at(2025, 6, 1, 0, 0)), Priority::Standard);
        w.active_photo_uploads = 1;
        assert_eq!(P.classify(&w, at(2025, 6, 1, 0, 0)), Priority::Critical);
        // The wedding's own day still outranks it.
        assert_eq!(
            P.classify(&w, at(2024, 3, 2, 10, 0)),
            Priority::WeddingDayUrgent
        );
    }

    #[test]
    fn vendor_deadline_within_48_hours() {
        let mut w = wedding(2025, 3, 1, chrono_tz::UTC);
        let deadline = at(2025, 9, 1, 0, 0);
        w.vendor_deadlines.push(deadline);
        let now = deadline - Duration::hours(48);
        assert_eq!(P.classify(&w, now), Priority::Critical);
        assert_eq!(
            P.classify(&w, now - Duration::minutes(1)),
            Priority::Standard
        );
        assert_eq!(P.classify(&w, deadline), Priority::Critical);
        // A deadline that has passed no longer counts.
        assert_eq!(
            P.classify(&w, deadline + Duration::minutes(1)),
            Priority::Standard
        );
    }

    #[test]
    fn maintenance_blackout_on_saturdays_and_wedding_days() {
        let home = chrono_tz::Europe::London;
        // Friday 2025-06-13 23:30 UTC = Saturday 00:30 in London (BST).
        assert!(maintenance_blackout(&[], home, at(2025, 6, 13, 23, 30)).is_some());
        assert!(maintenance_blackout(&[], home, at(2025, 6, 13, 22, 59)).is_none());
        // Sunday 2025-06-15 00:30 in London is still Saturday in Los Angeles.
        let la = wedding(2025, 8, 2, chrono_tz::America::Los_Angeles);
        let sunday_early = at(2025, 6, 14, 23, 30);
        assert!(maintenance_blackout(&[], home, sunday_early).is_none());
        let why = maintenance_blackout(std::slice::from_ref(&la), home, sunday_early).unwrap();
        assert!(why.contains("Los_Angeles"), "{why}");
        // A Tuesday wedding day blocks maintenance; the day after does not.
        let tue = wedding(2025, 6, 17, chrono_tz::UTC);
        let why = maintenance_blackout(std::slice::from_ref(&tue), home, at(2025, 6, 17, 9, 0));
        assert!(why.unwrap().contains("wedding day"));
        assert!(maintenance_blackout(&[tue], home, at(2025, 6, 18, 9, 0)).is_none());
    }

    #[test]
    fn high_covers_the_month_around_the_wedding_then_standard() {
        let w = wedding(2025, 6, 14, chrono_tz::UTC);
        assert_eq!(P.classify(&w, at(2025, 5, 15, 0, 0)), Priority::High); // 30 ahead
        assert_eq!(P.classify(&w, at(2025, 5, 14, 23, 59)), Priority::Standard); // 31
        assert_eq!(P.classify(&w, at(2025, 7, 14, 23, 59)), Priority::High); // 30 behind
        assert_eq!(P.classify(&w, at(2025, 7, 15, 0, 0)), Priority::Standard); // 31
    }
}
