//! Metadata objects erasure-coded like packs (repository format 5).
//!
//! A backup's index object, manifest parts and snapshot record are stored
//! with the backup's own k+m: the sealed object is split with
//! [`crate::erasure::encode_pack`] and each of k+m locations holds one shard
//! under the object's key (`snapshots/<name>` on every one of them). The
//! shard header's pack-id field carries the object's SHA-256, which is its
//! name, so a shard says which object it belongs to and its body digest
//! finds bit rot without the key. Any k shards rebuild the object.
//!
//! Why not a whole copy on every location, as formats 1–4 do: metadata then
//! costs 5 copies where the data costs 5/3, and a copy beyond the m+1th
//! buys nothing a restore can use, since the data needs k locations anyway.
//! Every location an object was written to lists it; with k+m locations in
//! all (five for 3+2), every location lists every snapshot.
//!
//! A reader accepts either form ([`classify`]): whole copies are what older
//! formats, prune markers and a repair's placement index keep.

use std::collections::HashMap;

use bytes::Bytes;

use super::store::Store;
use crate::erasure::{decode_pack, encode_pack, open_shard, ReedSolomon, ShardHeader};
use crate::error::{Error, Result};
use crate::placement::{PlacementPolicy, RedundancyProfile};
use crate::provider::Location;
use crate::repo::content_name;

/// What one location's copy of a metadata object is.
#[derive(Debug)]
pub(crate) enum MetaCopy {
    /// The whole sealed object: its bytes hash to its name.
    Whole,
    /// An intact shard of it (header and body digest checked).
    Shard(ShardHeader),
    /// Neither: rotten, truncated, or a shard of another object.
    Bad(String),
}

/// The 32-byte digest a metadata name spells in hex.
pub(crate) fn object_id(name: &str) -> Option<[u8; 32]> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(name, &mut id).ok()?;
    Some(id)
}

/// Tells what `bytes`, stored under a name `name`, are.
pub(crate) fn classify(name: &str, bytes: &[u8]) -> MetaCopy {
    if content_name(bytes) == name {
        return MetaCopy::Whole;
    }
    let Some(id) = object_id(name) else {
        return MetaCopy::Bad("the name is not a SHA-256 digest".into());
    };
    match open_shard(bytes) {
        Ok((h, _)) if h.pack_id == id => MetaCopy::Shard(h),
        Ok(_) => MetaCopy::Bad("a shard of another object".into()),
        Err(e) => MetaCopy::Bad(format!("neither a whole copy nor an intact shard: {e}")),
    }
}

/// Shards of one object as they arrive, grouped by coding (an object
/// written twice with different k+m would otherwise mix them).
#[derive(Debug, Default)]
pub(crate) struct ShardSet {
    groups: HashMap<(u8, u8, u64), Vec<Option<Bytes>>>,
}

impl ShardSet {
    /// Adds an intact shard (see [`classify`]).
    pub(crate) fn add(&mut self, h: &ShardHeader, bytes: Bytes) {
        let n = usize::from(h.k) + usize::from(h.m);
        let slots = self
            .groups
            .entry((h.k, h.m, h.pack_len))
            .or_insert_with(|| vec![None; n]);
        if let Some(slot) = slots.get_mut(usize::from(h.index)) {
            *slot = Some(bytes);
        }
    }

    /// The object and its k+m, once some coding has k distinct shards
    /// (each such coding is tried until one decodes); `None` before.
    pub(crate) fn decode(
        &self,
        name: &str,
    ) -> Option<std::result::Result<(Vec<u8>, usize), String>> {
        let id = object_id(name)?;
        let mut last = None;
        for ((k, m, _), shards) in &self.groups {
            let (k, m) = (usize::from(*k), usize::from(*m));
            if shards.iter().filter(|s| s.is_some()).count() < k {
                continue;
            }
            match decode_pack(&id, k, m, shards) {
                Ok(d) if content_name(&d.data) == name => return Some(Ok((d.data, k + m))),
                Ok(_) => last = Some("the shards decode to other bytes than the name says".into()),
                Err(e) => last = Some(e.to_string()),
            }
        }
        last.map(Err)
    }

    /// The coding with the most distinct shards, and those shards by index.
    pub(crate) fn best(&self) -> Option<(usize, usize, &[Option<Bytes>])> {
        self.groups
            .iter()
            .max_by_key(|(_, s)| s.iter().filter(|s| s.is_some()).count())
            .map(|((k, m, _), s)| (usize::from(*k), usize::from(*m), s.as_slice()))
    }
}

impl Store {
    /// Writes a sealed metadata object under `prefix + sha256(sealed)` as
    /// k+m shards, one per location of `targets` chosen by `placement`
    /// (seeded by the name; see [`super::shard_write::write_shards`]: a
    /// location that fails is replaced by a spare, one that already holds
    /// a shard of the object coded the same keeps it). Returns the name, the
    /// locations in shard order, and the bytes of all the shards.
    pub(crate) async fn put_coded(
        &self,
        prefix: &str,
        sealed: Vec<u8>,
        profile: RedundancyProfile,
        targets: &[Location],
        placement: &dyn PlacementPolicy,
    ) -> Result<(String, Vec<String>, u64)> {
        let (k, m) = (profile.data_shards, profile.parity_shards);
        let name = content_name(&sealed);
        let key = format!("{prefix}{name}");
        let id =
            object_id(&name).ok_or_else(|| Error::Internal("content name is not hex".into()))?;
        let shards = encode_pack(&ReedSolomon, id, &sealed, k, m)
            .map_err(|e| Error::Internal(format!("coding {key}: {e}")))?;
        // Written before (a part a full backup writes again, placed over
        // other locations): any intact shard of it coded the same stands.
        let coded_same = |there: &[u8]| {
            matches!(classify(&name, there), MetaCopy::Shard(h)
                if (usize::from(h.k), usize::from(h.m)) == (k, m))
        };
        let chosen = super::shard_write::write_shards(
            self,
            placement,
            &name,
            targets,
            &shards,
            |_| key.clone(),
            coded_same,
        )
        .await?;
        let bytes = shards.iter().map(|s| s.len() as u64).sum();
        let locations = chosen.iter().map(|&i| targets[i].id.clone()).collect();
        Ok((name, locations, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_told_apart() {
        let sealed = b"a sealed metadata object".to_vec();
        let name = content_name(&sealed);
        assert!(matches!(classify(&name, &sealed), MetaCopy::Whole));
        let id = object_id(&name).unwrap();
        let shards = encode_pack(&ReedSolomon, id, &sealed, 3, 2).unwrap();
        let headers: Vec<ShardHeader> = shards
            .iter()
            .enumerate()
            .map(|(i, s)| match classify(&name, s) {
                MetaCopy::Shard(h) if usize::from(h.index) == i => h,
                other => panic!("shard {i}: {other:?}"),
            })
            .collect();
        let mut set = ShardSet::default();
        for i in [4, 1] {
            set.add(&headers[i], shards[i].clone());
            assert!(set.decode(&name).is_none(), "fewer than k shards decode");
        }
        set.add(&headers[2], shards[2].clone());
        assert_eq!(set.decode(&name).unwrap().unwrap(), (sealed.clone(), 5));
        assert_eq!(set.best().map(|(k, m, _)| (k, m)), Some((3, 2)));

        let mut rotten = shards[1].to_vec();
        *rotten.last_mut().unwrap() ^= 1;
        assert!(matches!(classify(&name, &rotten), MetaCopy::Bad(_)));
        let other = content_name(b"another object");
        assert!(matches!(classify(&other, &shards[1]), MetaCopy::Bad(_)));
        assert!(matches!(classify("not-hex", &shards[1]), MetaCopy::Bad(_)));
    }
}
