//! Redundancy profiles and shard placement.
//!
//! A profile is k data + m parity shards per pack: any m of the k+m
//! locations may be lost. The [`PlacementPolicy`] picks k+m distinct
//! locations for each pack, spreading regions first.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::Priority;
use crate::error::{Error, Result};

/// k data shards + m parity shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedundancyProfile {
    /// Data shards.
    pub data_shards: usize,
    /// Parity shards: locations that may be lost.
    pub parity_shards: usize,
}

impl RedundancyProfile {
    /// A profile of k + m.
    pub const fn new(data_shards: usize, parity_shards: usize) -> Self {
        RedundancyProfile {
            data_shards,
            parity_shards,
        }
    }

    /// Total shards, one per location.
    pub fn total(&self) -> usize {
        self.data_shards + self.parity_shards
    }
}

/// The profile for each priority.
///
/// Defaults: `standard` 2+1 (3 locations, survives 1, 1.5× storage);
/// `high` 2+2 (4 locations, survives 2, 2×); `critical` and
/// `wedding_day_urgent` 3+2 (5 locations, survives any 2, 1.67×).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedundancyProfiles {
    /// For `standard`.
    pub standard: RedundancyProfile,
    /// For `high`.
    pub high: RedundancyProfile,
    /// For `critical` and `wedding_day_urgent`.
    pub critical: RedundancyProfile,
}

impl Default for RedundancyProfiles {
    fn default() -> Self {
        RedundancyProfiles {
            standard: RedundancyProfile::new(2, 1),
            high: RedundancyProfile::new(2, 2),
            critical: RedundancyProfile::new(3, 2),
        }
    }
}

/// Critical data must survive the loss of this many locations...
pub const CRITICAL_MIN_PARITY: usize = 2;
/// ...and be spread over at least this many.
pub const CRITICAL_MIN_LOCATIONS: usize = 5;

impl RedundancyProfiles {
    /// Checks that the critical profile keeps its promise and no profile is empty.
    pub fn validate(&self) -> Result<()> {
        for (name, p) in [
            ("standard", self.standard),
            ("high", self.high),
            ("critical", self.critical),
        ] {
            if p.data_shards == 0 || p.total() > 255 {
                return Err(Error::invalid(format!(
                    "redundancy profile {name}: {}+{} is not a valid k+m (k ≥ 1, k+m ≤ 255)",
                    p.data_shards, p.parity_shards
                )));
            }
        }
        let c = self.critical;
        if c.parity_shards < CRITICAL_MIN_PARITY || c.total() < CRITICAL_MIN_LOCATIONS {
            return Err(Error::invalid(format!(
                "redundancy profile critical: {}+{} must use at least {CRITICAL_MIN_LOCATIONS} locations and survive the loss of {CRITICAL_MIN_PARITY}",
                c.data_shards, c.parity_shards
            )));
        }
        Ok(())
    }

    /// The profile for a priority, with a request's `locations: n` applied:
    /// parity stays, data shards become n − m.
    pub fn for_request(
        &self,
        wedding: &str,
        priority: Priority,
        locations: Option<usize>,
    ) -> Result<RedundancyProfile> {
        let critical = matches!(priority, Priority::Critical | Priority::WeddingDayUrgent);
        let base = match priority {
            Priority::Standard => self.standard,
            Priority::High => self.high,
            Priority::Critical | Priority::WeddingDayUrgent => self.critical,
        };
        let Some(n) = locations else { return Ok(base) };
        if n <= base.parity_shards {
            return Err(Error::invalid(format!(
                "wedding {wedding}: locations: {n} leaves no data shard with {} parity shards",
                base.parity_shards
            )));
        }
        if critical && n < CRITICAL_MIN_LOCATIONS {
            return Err(Error::invalid(format!(
                "wedding {wedding}: priority {priority} needs at least {CRITICAL_MIN_LOCATIONS} locations, the request asked for {n}"
            )));
        }
        if n > 255 {
            return Err(Error::invalid(format!(
                "wedding {wedding}: locations: {n} is more than 255"
            )));
        }
        Ok(RedundancyProfile::new(
            n - base.parity_shards,
            base.parity_shards,
        ))
    }
}

/// A candidate location as placement sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// Location id.
    pub id: &'a str,
    /// Region.
    pub region: &'a str,
}

/// Chooses the locations of a pack's shards.
pub trait PlacementPolicy: Send + Sync + std::fmt::Debug {
    /// Returns `n` distinct indices into `candidates` (shard i goes to the
    /// i-th returned), or `None` when fewer than `n` exist.
    fn place(&self, pack_id: &str, n: usize, candidates: &[Candidate<'_>]) -> Option<Vec<usize>>;
}

/// Spreads regions first (no region gets a second shard while another has
/// none), then picks by rendezvous hashing of pack and location id, so that
/// load spreads evenly and the same pack maps to the same locations.
#[derive(Debug, Default, Clone, Copy)]
pub struct RegionSpread;

impl PlacementPolicy for RegionSpread {
    fn place(&self, pack_id: &str, n: usize, candidates: &[Candidate<'_>]) -> Option<Vec<usize>> {
        if candidates.len() < n {
            return None;
        }
        let score = |c: &Candidate<'_>| -> [u8; 32] {
            Sha256::new()
                .chain_update(pack_id)
                .chain_update([0])
                .chain_update(c.id)
                .finalize()
                .into()
        };
        let mut order: Vec<(usize, [u8; 32])> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (i, score(c)))
            .collect();
        order.sort_by_key(|(_, score)| std::cmp::Reverse(*score));
        let mut chosen = Vec::with_capacity(n);
        let mut used_regions: std::collections::HashMap<&str, usize> = Default::default();
        while chosen.len() < n {
            let least = order
                .iter()
                .filter(|(i, _)| !chosen.contains(i))
                .map(|(i, _)| {
                    used_regions
                        .get(candidates[*i].region)
                        .copied()
                        .unwrap_or(0)
                })
                .min()?;
            let pick = order
                .iter()
                .find(|(i, _)| {
                    !chosen.contains(i)
                        && used_regions
                            .get(candidates[*i].region)
                            .copied()
                            .unwrap_or(0)
                            == least
                })?
                .0;
            *used_regions.entry(candidates[pick].region).or_default() += 1;
            chosen.push(pick);
        }
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_by_priority_and_locations() {
        let p = RedundancyProfiles::default();
        p.validate().unwrap();
        assert_eq!(
            p.for_request("w", Priority::Critical, None).unwrap(),
            RedundancyProfile::new(3, 2)
        );
        assert_eq!(
            p.for_request("w", Priority::WeddingDayUrgent, Some(7))
                .unwrap(),
            RedundancyProfile::new(5, 2)
        );
        assert!(p.for_request("w", Priority::Critical, Some(4)).is_err());
        assert_eq!(
            p.for_request("w", Priority::Standard, Some(4)).unwrap(),
            RedundancyProfile::new(3, 1)
        );
        assert!(p.for_request("w", Priority::Standard, Some(1)).is_err());
        let weak = RedundancyProfiles {
            critical: RedundancyProfile::new(4, 1),
            ..p
        };
        assert!(weak.validate().is_err());
    }

    #[test]
    fn placement_spreads_regions_and_is_stable() {
        let c = [
            Candidate {
                id: "a1",
                region: "eu",
            },
            Candidate {
                id: "a2",
                region: "eu",
            },
            Candidate {
                id: "b1",
                region: "us",
            },
            Candidate {
                id: "c1",
                region: "ap",
            },
        ];
        for pack in ["p1", "p2", "p3", "p4"] {
            let pick = RegionSpread.place(pack, 3, &c).unwrap();
            let regions: std::collections::HashSet<_> = pick.iter().map(|i| c[*i].region).collect();
            assert_eq!(regions.len(), 3, "{pack}: {pick:?}");
            assert_eq!(RegionSpread.place(pack, 3, &c).unwrap(), pick);
        }
        assert_eq!(RegionSpread.place("p", 4, &c).unwrap().len(), 4);
        assert!(RegionSpread.place("p", 5, &c).is_none());
    }
}
