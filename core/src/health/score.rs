//! The health score: five checks, each 0–100, and their weighted mean.
//!
//! | check | weight | score |
//! |---|---|---|
//! | completeness | 25 | 100 × (calendar weddings with a folder whose latest snapshot is younger than 2 × their class interval) / (such weddings); 100 when there are none |
//! | integrity | 20 | latest scrub (`last-scrub.json`): unknown (no file, unreadable, or 0 shards checked) 50; any unfixable finding 0; findings, all fixed, 85; clean 100; older than 7 days: at most 70 |
//! | storage | 20 | 100 × (locations neither down nor degraded) / (locations) |
//! | recovery | 25 | latest drill (`last-drill.json`): unknown 50; failed 20; passed within 30 days 100, earlier 70; then shard availability `degraded` caps it at 60 and `critical` makes it 0 |
//! | geography | 10 | 100 × min(R, N) / N, R = distinct regions of healthy locations, N = ⌈(k+m)/m⌉ of the critical profile (regions needed so that losing one region never loses more than m shards; 3 for 3+2) |
//!
//! Levels: 90–100 `optimal`, 50–89 `degraded`, 0–49 `critical`. The
//! report's level is the worst of its score's level and every check's level,
//! so one critical check makes the report critical, and an unknown input
//! (50) alone makes it degraded, never optimal.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{HealthCheck, HealthLevel, RecoveryCapability};

/// `state_dir/last-scrub.json`, written by the verify engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrubSummary {
    /// When the scrub finished.
    pub finished_at: DateTime<Utc>,
    /// Problems found (missing, corrupt shards...).
    pub findings: u64,
    /// Problems that could not be fixed.
    pub unfixable: u64,
    /// Shards checked.
    pub shards_checked: u64,
}

/// `state_dir/last-drill.json`, written by the recovery-drill runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillSummary {
    /// When the drill finished.
    pub finished_at: DateTime<Utc>,
    /// Every sampled snapshot restored byte-identical.
    pub ok: bool,
    /// How long the restore took.
    pub duration_ms: u64,
    /// Bytes restored.
    pub bytes: u64,
}

/// Score of an unknown input.
pub(crate) const UNKNOWN: u8 = 50;

pub(crate) const WEIGHTS: [(&str, u8); 5] = [
    ("completeness", 25),
    ("integrity", 20),
    ("storage", 20),
    ("recovery", 25),
    ("geography", 10),
];

fn ratio(part: usize, whole: usize) -> u8 {
    if whole == 0 {
        return 100;
    }
    ((part.min(whole) * 100 + whole / 2) / whole) as u8
}

/// The level of a score.
pub(crate) fn level(score: u8) -> HealthLevel {
    match score {
        90.. => HealthLevel::Optimal,
        50..=89 => HealthLevel::Degraded,
        _ => HealthLevel::Critical,
    }
}

pub(crate) fn completeness(fresh: usize, total: usize) -> u8 {
    ratio(fresh, total)
}

pub(crate) fn integrity(scrub: Option<&ScrubSummary>, now: DateTime<Utc>) -> u8 {
    let Some(s) = scrub.filter(|s| s.shards_checked > 0) else {
        return UNKNOWN;
    };
    let score = if s.unfixable > 0 {
        0
    } else if s.findings > 0 {
        85
    } else {
        100
    };
    if now - s.finished_at > Duration::days(7) {
        score.min(70)
    } else {
        score
    }
}

pub(crate) fn storage(healthy: usize, total: usize) -> u8 {
    ratio(healthy, total)
}

pub(crate) fn recovery(
    drill: Option<&DrillSummary>,
    capability: RecoveryCapability,
    now: DateTime<Utc>,
) -> u8 {
    let base = match drill {
        None => UNKNOWN,
        Some(d) if !d.ok => 20,
        Some(d) if now - d.finished_at <= Duration::days(30) => 100,
        Some(_) => 70,
    };
    match capability {
        RecoveryCapability::Optimal => base,
        RecoveryCapability::Degraded => base.min(60),
        RecoveryCapability::Critical => 0,
    }
}

/// Regions needed so that one region's loss costs at most `m` shards of `n`.
pub(crate) fn regions_needed(n: usize, m: usize) -> usize {
    n.div_ceil(m.max(1)).max(1)
}

pub(crate) fn geography(regions: usize, needed: usize) -> u8 {
    ratio(regions, needed)
}

/// Builds a check with its weight and level.
pub(crate) fn check(name: &str, score: u8, detail: String) -> HealthCheck {
    let weight = WEIGHTS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, w)| *w);
    HealthCheck {
        name: name.to_owned(),
        score,
        level: level(score),
        weight,
        detail,
    }
}

/// The weighted mean and the report's level.
pub(crate) fn overall(checks: &[HealthCheck]) -> (u8, HealthLevel) {
    let weights: u32 = checks.iter().map(|c| u32::from(c.weight)).sum();
    let total: u32 = checks
        .iter()
        .map(|c| u32::from(c.weight) * u32::from(c.score))
        .sum();
    let score = (total + weights / 2).checked_div(weights).unwrap_or(0) as u8;
    let worst = checks
        .iter()
        .map(|c| c.level)
        .chain([level(score)])
        .max_by_key(|l| match l {
            HealthLevel::Optimal => 0,
            HealthLevel::Degraded => 1,
            HealthLevel::Critical => 2,
        })
        .unwrap_or(HealthLevel::Critical);
    (score, worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
    }

    fn scrub(days_ago: i64, findings: u64, unfixable: u64) -> ScrubSummary {
        ScrubSummary {
            finished_at: now() - Duration::days(days_ago),
            findings,
            unfixable,
            shards_checked: 100,
        }
    }

    #[test]
    fn completeness_and_storage_are_ratios() {
        assert_eq!(completeness(0, 0), 100);
        assert_eq!(completeness(2, 3), 67);
        assert_eq!(completeness(3, 3), 100);
        assert_eq!(storage(5, 7), 71);
        assert_eq!(storage(0, 7), 0);
    }

    #[test]
    fn integrity_from_the_latest_scrub() {
        assert_eq!(integrity(None, now()), UNKNOWN);
        let mut empty = scrub(0, 0, 0);
        empty.shards_checked = 0;
        assert_eq!(integrity(Some(&empty), now()), UNKNOWN);
        assert_eq!(integrity(Some(&scrub(1, 0, 0)), now()), 100);
        assert_eq!(integrity(Some(&scrub(1, 4, 0)), now()), 85);
        assert_eq!(integrity(Some(&scrub(1, 4, 1)), now()), 0);
        assert_eq!(integrity(Some(&scrub(8, 0, 0)), now()), 70);
        assert_eq!(integrity(Some(&scrub(8, 4, 1)), now()), 0);
    }

    #[test]
    fn recovery_from_drill_and_shard_availability() {
        let drill = |days: i64, ok: bool| DrillSummary {
            finished_at: now() - Duration::days(days),
            ok,
            duration_ms: 1000,
            bytes: 1,
        };
        use RecoveryCapability::*;
        assert_eq!(recovery(None, Optimal, now()), UNKNOWN);
        assert_eq!(recovery(Some(&drill(2, true)), Optimal, now()), 100);
        assert_eq!(recovery(Some(&drill(31, true)), Optimal, now()), 70);
        assert_eq!(recovery(Some(&drill(2, false)), Optimal, now()), 20);
        assert_eq!(recovery(Some(&drill(2, true)), Degraded, now()), 60);
        assert_eq!(recovery(Some(&drill(2, true)), Critical, now()), 0);
    }

    #[test]
    fn geography_needs_enough_regions_to_lose_one() {
        assert_eq!(regions_needed(5, 2), 3);
        assert_eq!(regions_needed(3, 1), 3);
        assert_eq!(regions_needed(4, 2), 2);
        assert_eq!(geography(1, 3), 33);
        assert_eq!(geography(3, 3), 100);
        assert_eq!(geography(6, 3), 100);
    }

    #[test]
    fn overall_is_the_weighted_mean_and_the_worst_level() {
        let all = |s: u8| -> Vec<HealthCheck> {
            WEIGHTS
                .iter()
                .map(|(n, _)| check(n, s, String::new()))
                .collect()
        };
        assert_eq!(WEIGHTS.iter().map(|(_, w)| u32::from(*w)).sum::<u32>(), 100);
        assert_eq!(overall(&all(100)), (100, HealthLevel::Optimal));
        let mut checks = all(100);
        checks[1] = check("integrity", UNKNOWN, String::new());
        // 100 − 20 × 50 / 100 = 90, but an unknown input is only degraded.
        assert_eq!(overall(&checks), (90, HealthLevel::Degraded));
        checks[3] = check("recovery", 0, String::new());
        assert_eq!(overall(&checks), (65, HealthLevel::Critical));
        assert_eq!(level(89), HealthLevel::Degraded);
        assert_eq!(level(49), HealthLevel::Critical);
    }
}
