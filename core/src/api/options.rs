//! The platform's option strings, parsed in one place.
//!
//! Every enum here serializes to and parses from exactly the strings of the
//! platform contract (`"wedding_day_urgent"`, `"photos_only"`, ...), so the
//! CLI, the bindings and the REST example never parse them again.

/// Declares a string enum with serde, `FromStr`, `Display` and `as_str`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $s)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The contract's string for this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err(crate::Error::invalid(format!(
                        "unknown {} {:?}: expected one of {}",
                        stringify!($name),
                        other,
                        [$($s),+].join(", ")
                    ))),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// What a backup reads.
    BackupType {
        /// Reads every file.
        Full = "full",
        /// Reads only files changed since the wedding's latest snapshot.
        Incremental = "incremental",
        /// Reads documents and new or changed photos; see ARCHITECTURE.md.
        CriticalOnly = "critical_only",
    }
}

string_enum! {
    /// How urgent a backup is; picks the redundancy profile.
    Priority {
        /// Everyday backups.
        Standard = "standard",
        /// Important, not urgent.
        High = "high",
        /// Weddings within 7 days, Saturdays, active uploads.
        Critical = "critical",
        /// The wedding is today.
        WeddingDayUrgent = "wedding_day_urgent",
    }
}

string_enum! {
    /// How long snapshots are kept (rules applied by prune).
    Retention {
        /// The standard keep rules.
        Standard = "standard",
        /// Longer keep rules.
        Extended = "extended",
        /// Never forgotten.
        Permanent = "permanent",
    }
}

string_enum! {
    /// How a wedding's data is encrypted.
    EncryptionLevel {
        /// Repository keys (AES-256-GCM); dedupes across weddings.
        Standard = "standard",
        /// Per-wedding keys wrapped by the repository key.
        Enhanced = "enhanced",
        /// Per-wedding keys wrapped by the host's KeyProvider.
        GovernmentGrade = "government_grade",
    }
}

string_enum! {
    /// What a recovery restores.
    DataType {
        /// Every file of the snapshot.
        CompleteWedding = "complete_wedding",
        /// Files classified as photos (by content).
        PhotosOnly = "photos_only",
        /// Files classified as documents (by content).
        DocumentsOnly = "documents_only",
        /// The paths named in the request's `items`.
        SpecificItems = "specific_items",
    }
}

string_enum! {
    /// How hard a recovery pushes the locations.
    Urgency {
        /// Leaves capacity for other work.
        Standard = "standard",
        /// More parallel reads.
        Urgent = "urgent",
        /// Every location at once, hedging slow reads early.
        WeddingDayCritical = "wedding_day_critical",
    }
}

string_enum! {
    /// Where a recovery writes.
    RecoveryLocation {
        /// The folder the snapshot was taken from.
        Original = "original",
        /// The folder named in the request's `destination`.
        Alternate = "alternate",
        /// A new temporary folder, returned in the result.
        Temporary = "temporary",
    }
}

string_enum! {
    /// What a file is, by content.
    FileClass {
        /// JPEG, PNG, HEIC, camera RAW, ...
        Photo = "photo",
        /// MP4, MOV, ...
        Video = "video",
        /// PDF, office files, text, CSV, JSON, ...
        Document = "document",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// How thoroughly `verify` checks.
    VerifyDepth {
        /// Every shard the index expects exists with the right size (listings only).
        Quick = "quick",
        /// Every shard read and hashed, a sample of packs decoded and
        /// decrypted, metadata compared across locations.
        Deep = "deep",
    }
}

string_enum! {
    /// How thoroughly the repository can still be restored.
    RecoveryCapability {
        /// Every pack has all its shards.
        Optimal = "optimal",
        /// Some shards are missing, every pack still has at least k.
        Degraded = "degraded",
        /// Some pack has fewer than k shards reachable.
        Critical = "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_roundtrip_through_fromstr_and_serde() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), *p);
            assert_eq!(
                serde_json::to_string(p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        for d in DataType::ALL {
            assert_eq!(d.to_string().parse::<DataType>().unwrap(), *d);
        }
        let e = "WeddingDay".parse::<Priority>().unwrap_err().to_string();
        assert!(e.contains("wedding_day_urgent"), "{e}");
        assert!(Priority::WeddingDayUrgent > Priority::Critical);
    }
}
