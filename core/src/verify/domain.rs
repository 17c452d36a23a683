//! Which keys a pack was sealed with: the repository's (standard
//! encryption) or one wedding's (enhanced, government_grade).
//!
//! A pack record does not name its key domain. The snapshots that wrote a
//! pack (through the index objects named in their records) give a hint;
//! without one, the repository keys and then every wedding domain in use are
//! tried against the pack's sealed header, which only the right key opens.

use std::collections::{BTreeSet, HashMap};

use crate::api::EncryptionLevel;
use crate::crypto::wedding::DomainKeys;
use crate::engine::catalog::Catalog;
use crate::engine::keys::domain_keys;
use crate::engine::Inner;
use crate::pack::read_header;
use crate::snapshot::ChunkEntry;

type Domain = (String, EncryptionLevel);

/// Key-domain hints for the packs of a catalog.
pub(crate) struct Domains {
    hints: HashMap<String, BTreeSet<Domain>>,
    private: BTreeSet<Domain>,
}

impl Domains {
    pub(crate) fn new(cat: &Catalog) -> Self {
        let mut hints: HashMap<String, BTreeSet<Domain>> = HashMap::new();
        let mut private = BTreeSet::new();
        for rec in cat.snapshots.values() {
            let d = (rec.wedding_id.clone(), rec.encryption);
            if rec.encryption != EncryptionLevel::Standard {
                private.insert(d.clone());
            }
            for idx in &rec.indexes {
                for pack in cat.index_packs.get(idx).into_iter().flatten() {
                    hints.entry(pack.clone()).or_default().insert(d.clone());
                }
            }
        }
        Domains { hints, private }
    }

    /// The keys that open this pack's header, with the chunk list it holds;
    /// `None` when no known domain opens it.
    pub(crate) async fn open_header(
        &self,
        inner: &Inner,
        pack_id: &str,
        data: &[u8],
    ) -> Option<(DomainKeys, Vec<ChunkEntry>)> {
        let mut order: Vec<Domain> = self
            .hints
            .get(pack_id)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let repo = (String::new(), EncryptionLevel::Standard);
        order.push(repo);
        order.extend(self.private.iter().cloned());
        let mut tried = BTreeSet::new();
        for (wedding, level) in order {
            let keys = if level == EncryptionLevel::Standard {
                crate::engine::keys::repository_keys(inner)
            } else {
                match domain_keys(inner, &wedding, level, None).await {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::debug!(wedding = %wedding, %level, error = %e, "key domain not available to verify");
                        continue;
                    }
                }
            };
            if !tried.insert((
                if level == EncryptionLevel::Standard {
                    String::new()
                } else {
                    wedding
                },
                level,
            )) {
                continue;
            }
            if let Ok(chunks) = read_header(data, &keys.data) {
                return Some((keys, chunks));
            }
        }
        None
    }
}
