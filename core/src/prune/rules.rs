//! Retention: which snapshots of a wedding are kept.
//!
//! | retention | last | daily | weekly | monthly | yearly |
//! |-----------|-----:|------:|-------:|--------:|-------:|
//! | standard  | 3    | 7     | 4      | 12      | 0      |
//! | extended  | 10   | 30    | 26     | 36      | 10     |
//! | permanent | every snapshot, never forgotten              |||||
//!
//! Rules are evaluated over all snapshots of one wedding, newest first, as
//! restic does: "daily 7" keeps the newest snapshot of each of the 7 most
//! recent days that have one (UTC days; ISO weeks; calendar months and
//! years). Each snapshot is judged by the rules of its own `retention`
//! field. The newest snapshot of a wedding is always kept; only an explicit
//! `forget_ids` entry removes it.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::api::Retention;

/// Keep counts of one retention class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeepRules {
    /// The n newest snapshots.
    pub last: u32,
    /// The newest of each of the n most recent days.
    pub daily: u32,
    /// The newest of each of the n most recent ISO weeks.
    pub weekly: u32,
    /// The newest of each of the n most recent months.
    pub monthly: u32,
    /// The newest of each of the n most recent years.
    pub yearly: u32,
    /// Keep everything.
    pub all: bool,
}

impl KeepRules {
    /// The rules of a retention class (the table in the module docs).
    pub fn for_retention(r: Retention) -> KeepRules {
        let rules = |last, daily, weekly, monthly, yearly| KeepRules {
            last,
            daily,
            weekly,
            monthly,
            yearly,
            all: false,
        };
        match r {
            Retention::Standard => rules(3, 7, 4, 12, 0),
            Retention::Extended => rules(10, 30, 26, 36, 10),
            Retention::Permanent => KeepRules {
                all: true,
                ..rules(0, 0, 0, 0, 0)
            },
        }
    }
}

/// A snapshot as the rules see it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub id: String,
    pub time: DateTime<Utc>,
    pub retention: Retention,
}

/// The decision for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub id: String,
    /// Why it is kept; empty: forgotten.
    pub kept_by: Vec<String>,
    /// Why it is forgotten (empty when kept).
    pub reason: String,
}

/// Bucket ordinal (0 = most recent bucket) of each snapshot that is the
/// newest of its bucket; `None` for the others. `snaps` is newest first.
fn buckets<K: Eq + std::hash::Hash>(
    snaps: &[Candidate],
    key: impl Fn(&DateTime<Utc>) -> K,
) -> Vec<Option<u32>> {
    let mut seen = HashSet::new();
    snaps
        .iter()
        .map(|s| {
            let k = key(&s.time);
            if seen.contains(&k) {
                None
            } else {
                seen.insert(k);
                Some(seen.len() as u32 - 1)
            }
        })
        .collect()
}

/// Applies the rules to the snapshots of one wedding.
pub(crate) fn decide(mut snaps: Vec<Candidate>) -> Vec<Decision> {
    snaps.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
    let day = buckets(&snaps, |t| t.date_naive());
    let week = buckets(&snaps, |t| (t.iso_week().year(), t.iso_week().week()));
    let month = buckets(&snaps, |t| (t.year(), t.month()));
    let year = buckets(&snaps, |t| t.year());
    snaps
        .iter()
        .enumerate()
        .map(|(rank, s)| {
            let r = KeepRules::for_retention(s.retention);
            let mut kept_by = Vec::new();
            if r.all {
                kept_by.push("permanent".to_owned());
            }
            if rank == 0 {
                kept_by.push("newest of the wedding".to_owned());
            }
            if (rank as u32) < r.last {
                kept_by.push(format!("last {}", r.last));
            }
            for (ord, n, name) in [
                (day[rank], r.daily, "daily"),
                (week[rank], r.weekly, "weekly"),
                (month[rank], r.monthly, "monthly"),
                (year[rank], r.yearly, "yearly"),
            ] {
                if ord.is_some_and(|o| o < n) {
                    kept_by.push(format!("{name} {n}"));
                }
            }
            let reason = if kept_by.is_empty() {
                format!(
                    "{}: not among the last {}, nor the newest of the {} latest days, {} weeks, {} months, {} years",
                    s.retention, r.last, r.daily, r.weekly, r.monthly, r.yearly
                )
            } else {
                String::new()
            };
            Decision {
                id: s.id.clone(),
                kept_by,
                reason,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(days_ago: i64, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 30, hour, 0, 0).unwrap() - Duration::days(days_ago)
    }

    fn snaps(times: &[DateTime<Utc>], r: Retention) -> Vec<Candidate> {
        times
            .iter()
            .enumerate()
            .map(|(i, t)| Candidate {
                id: format!("s{i:03}"),
                time: *t,
                retention: r,
            })
            .collect()
    }

    fn kept(d: &[Decision]) -> Vec<String> {
        let mut v: Vec<_> = d
            .iter()
            .filter(|d| !d.kept_by.is_empty())
            .map(|d| d.id.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn standard_keeps_last_daily_weekly_monthly() {
        // Two snapshots a day (9h and 18h) for 400 days.
        let times: Vec<_> = (0..400).flat_map(|d| [at(d, 9), at(d, 18)]).collect();
        let d = decide(snaps(&times, Retention::Standard));
        let k = kept(&d);
        // last 3 (days 0,0,1) + daily 7 (newest of days 0..6) + weekly 4 +
        // monthly 12, overlapping.
        assert!(k.contains(&"s000".to_owned()) && k.contains(&"s001".to_owned()));
        // Newest first: s001 (day 0, 18h), s000 (day 0, 9h), s003 (day 1, 18h).
        assert!(k.contains(&"s003".to_owned()), "third newest: last 3");
        assert!(
            !k.contains(&"s002".to_owned()),
            "fourth newest, not newest of its day"
        );
        let daily: Vec<_> = (0..7).map(|d| format!("s{:03}", d * 2 + 1)).collect();
        for id in &daily {
            assert!(k.contains(id), "{id} is the newest of its day");
        }
        assert!(!k.contains(&"s014".to_owned()), "day 7 morning is not kept");
        assert!(k.len() <= 3 + 7 + 4 + 12, "{k:?}");
        assert!(k.len() >= 12, "{k:?}");
        let forgotten = d.iter().find(|d| d.id == "s014").unwrap();
        assert!(
            forgotten.reason.starts_with("standard"),
            "{}",
            forgotten.reason
        );
    }

    #[test]
    fn extended_keeps_more_than_standard() {
        let times: Vec<_> = (0..1200).map(|d| at(d, 12)).collect();
        let s = kept(&decide(snaps(&times, Retention::Standard))).len();
        let e = kept(&decide(snaps(&times, Retention::Extended))).len();
        assert!(e > s, "{e} <= {s}");
        // 2022-12-31 (912 days back) is the newest of its year and month.
        let ext = decide(snaps(&times, Retention::Extended));
        let last_of_2022 = ext.iter().find(|d| d.id == "s912").unwrap();
        assert!(
            last_of_2022.kept_by.contains(&"yearly 10".to_owned()),
            "{last_of_2022:?}"
        );
    }

    #[test]
    fn permanent_forgets_nothing() {
        let times: Vec<_> = (0..100).map(|d| at(d / 10, d as u32 % 24)).collect();
        let d = decide(snaps(&times, Retention::Permanent));
        assert_eq!(kept(&d).len(), 100);
    }

    #[test]
    fn the_last_snapshot_is_never_forgotten_and_each_snapshot_uses_its_own_rules() {
        let d = decide(snaps(&[at(0, 1)], Retention::Standard));
        assert_eq!(kept(&d), vec!["s000"]);
        // An old permanent snapshot survives among many standard ones.
        let mut s = snaps(
            &(0..50)
                .map(|h| at(0, 0) + Duration::minutes(h))
                .collect::<Vec<_>>(),
            Retention::Standard,
        );
        s.push(Candidate {
            id: "perm".into(),
            time: at(0, 0) - Duration::minutes(5),
            retention: Retention::Permanent,
        });
        let d = decide(s);
        let k = kept(&d);
        assert!(k.contains(&"perm".to_owned()));
        assert!(k.contains(&"s049".to_owned()), "newest");
        assert_eq!(
            k.len(),
            4,
            "{k:?}: last 3 (one day, one week, one month) + permanent"
        );
    }
}
