//! Scrubbing and repair: injected bit rot and lost shards are all found,
//! all repaired, and everything restores; a wiped location is rebuilt.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use heirloom::api::{EmergencyRecoveryRequest, Priority, VerifyDepth, WeddingBackupRequest};
use heirloom::{Engine, FindingKind, VerifyOptions, VerifyScope};
use heirloom_tests::*;

const WEDDINGS: [&str; 3] = ["w-ada", "w-bea", "w-cleo"];

/// Three small weddings, 3+2 over five locations, 1 MiB packs.
async fn three_weddings(repo: &TestRepo) -> (Engine, Vec<PathBuf>) {
    let mut cfg = repo.config("state");
    cfg.pack_size = 1024 * 1024;
    let engine = Engine::open(cfg).await.expect("open");
    let mut sources = Vec::new();
    for (i, w) in WEDDINGS.iter().enumerate() {
        let src = repo.path(&format!("src-{w}"));
        small_wedding(&src, 100 + i as u64 * 17);
        let mut req = WeddingBackupRequest::directory(*w, &src);
        req.priority = Priority::Critical;
        engine.create_backup(req).await.expect("backup");
        sources.push(src);
    }
    (engine, sources)
}

/// (location index, shard key, path) of every shard.
fn all_shards(repo: &TestRepo) -> Vec<(usize, String, PathBuf)> {
    let mut out = Vec::new();
    for loc in 0..repo.locations.len() {
        for p in repo.shard_files(loc) {
            let key = p
                .strip_prefix(&repo.locations[loc])
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((loc, key, p));
        }
    }
    out
}

fn pack_of(key: &str) -> String {
    key.rsplit('/')
        .next()
        .and_then(|f| f.split('.').next())
        .unwrap()
        .to_owned()
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn restore_all(repo: &TestRepo, sources: &[PathBuf], tag: &str) {
    let engine = Engine::open(repo.config(&format!("state-{tag}")))
        .await
        .unwrap();
    for (w, src) in WEDDINGS.iter().zip(sources) {
        let out = repo.path(&format!("out-{tag}-{w}"));
        engine
            .recover(EmergencyRecoveryRequest::to_folder(*w, &out))
            .await
            .expect("recover");
        assert_same_tree(src, &out, true);
    }
}

fn deep_all() -> VerifyOptions {
    VerifyOptions {
        sample_one_in: 1,
        ..Default::default()
    }
}

/// 5% of shards corrupted and 3% more deleted, at seeded random places
/// across all locations, at most m = 2 per pack: a deep verify finds each
/// one, a repair fixes all, a second deep verify is clean, and every
/// wedding restores byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_rot_and_loss_are_all_found_and_repaired() {
    let repo = TestRepo::new(5);
    let (engine, sources) = three_weddings(&repo).await;
    let clean = engine
        .verify_with(VerifyScope::All, VerifyDepth::Deep, deep_all())
        .await
        .unwrap();
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert!(clean.chunks_verified > 0 && clean.packs_decoded == clean.packs_total);

    let mut shards = all_shards(&repo);
    let total = shards.len();
    let (n_corrupt, n_delete) = (total * 5 / 100, total * 3 / 100);
    assert!(n_corrupt >= 5 && n_delete >= 3, "{total} shards is too few");
    let mut rng = XorShift(0xC0FFEE);
    // Seeded shuffle.
    for i in (1..shards.len()).rev() {
        shards.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let mut per_pack: BTreeMap<String, usize> = BTreeMap::new();
    let mut injected: BTreeMap<(String, String), FindingKind> = BTreeMap::new();
    for (loc, key, path) in &shards {
        if injected.len() == n_corrupt + n_delete {
            break;
        }
        let n = per_pack.entry(pack_of(key)).or_default();
        if *n == 2 {
            continue;
        }
        *n += 1;
        let kind = if injected.len() < n_corrupt {
            let mut b = std::fs::read(path).unwrap();
            let at = (rng.next() as usize) % b.len();
            b[at] ^= 1 << (rng.next() % 8);
            std::fs::write(path, &b).unwrap();
            FindingKind::Corrupt
        } else {
            std::fs::remove_file(path).unwrap();
            FindingKind::Missing
        };
        injected.insert((format!("loc{loc}"), key.clone()), kind);
    }

    let report = engine
        .verify_with(VerifyScope::All, VerifyDepth::Deep, deep_all())
        .await
        .unwrap();
    let found: BTreeMap<(String, String), FindingKind> = report
        .findings
        .iter()
        .map(|f| ((f.location.clone(), f.object.clone()), f.kind))
        .collect();
    assert_eq!(found.len(), report.findings.len());
    assert_eq!(
        found, injected,
        "deep verify must find exactly what was injected"
    );
    println!(
        "deep verify: {} shards, {} bytes, {:.1} MB/s, {} findings",
        report.shards_checked,
        report.bytes_read,
        report.mb_per_sec,
        report.findings.len()
    );

    let plan = engine.repair_plan(&report).await.unwrap();
    assert!(plan.unfixable.is_empty(), "{:?}", plan.unfixable);
    let json = serde_json::to_string(&plan).unwrap();
    assert!(json.contains("\"action\":\"rebuildShards\""), "{json}");
    let repaired = engine.repair(plan).await.unwrap();
    assert!(repaired.is_complete(), "{repaired:?}");
    assert_eq!(repaired.shards_written as usize, injected.len());
    assert_eq!(repaired.shards_relocated, 0);

    let again = engine
        .verify_with(VerifyScope::All, VerifyDepth::Deep, deep_all())
        .await
        .unwrap();
    assert!(again.findings.is_empty(), "{:?}", again.findings);
    restore_all(&repo, &sources, "after").await;
}

/// The files of a location (its objects; the empty `packs/xx` folders
/// made when the repository was created are not objects) and their bytes.
fn folder_bytes(dir: &Path) -> (u64, Vec<String>) {
    let files: Vec<String> = list_tree(dir)
        .into_iter()
        .filter(|(_, d)| !d)
        .map(|(p, _)| p)
        .collect();
    let bytes = files
        .iter()
        .map(|p| std::fs::metadata(dir.join(p)).unwrap().len())
        .sum();
    (bytes, files)
}

/// A location folder emptied (removed and recreated) is rebuilt in full by
/// `repair_all`: shards, metadata, config and key slots, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_location_is_rebuilt_in_full() {
    let repo = TestRepo::new(5);
    let (engine, sources) = three_weddings(&repo).await;
    let before = folder_bytes(&repo.locations[2]);
    // Wiped under a running engine.
    std::fs::remove_dir_all(&repo.locations[2]).unwrap();
    std::fs::create_dir_all(&repo.locations[2]).unwrap();
    let quick = engine
        .verify(VerifyScope::All, VerifyDepth::Quick)
        .await
        .unwrap();
    assert!(quick.count(FindingKind::Missing) > 0);
    assert!(quick.count(FindingKind::MetadataDivergence) > 0);
    assert!(quick
        .findings
        .iter()
        .any(|f| f.object == "config" && f.location == "loc2"));
    let report = engine.repair_all().await.unwrap();
    assert!(report.is_complete(), "{report:?}");
    let after = folder_bytes(&repo.locations[2]);
    println!(
        "wiped location: {} bytes before, {} after, {} shards and {} metadata objects written in {} ms",
        before.0, after.0, report.shards_written, report.metadata_copied, report.duration_ms
    );
    assert_eq!(before.0, after.0, "byte count of the location");
    assert_eq!(before.1, after.1, "files of the location");
    let deep = engine
        .verify(VerifyScope::All, VerifyDepth::Deep)
        .await
        .unwrap();
    assert!(deep.findings.is_empty(), "{:?}", deep.findings);
    // The other four locations away: the rebuilt one plus parity still serve.
    repo.remove_location(0);
    repo.remove_location(1);
    restore_all(&repo, &sources, "rebuilt").await;
}

/// Quick verify finds a deleted shard and a truncated one, from listings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_verify_finds_a_deleted_and_a_truncated_shard() {
    let repo = TestRepo::new(5);
    let (engine, _) = three_weddings(&repo).await;
    let shards = all_shards(&repo);
    let (_, gone_key, gone) = &shards[3];
    let (_, short_key, short) = &shards[shards.len() - 2];
    std::fs::remove_file(gone).unwrap();
    let b = std::fs::read(short).unwrap();
    std::fs::write(short, &b[..b.len() / 2]).unwrap();
    let r = engine
        .verify(VerifyScope::All, VerifyDepth::Quick)
        .await
        .unwrap();
    let got: BTreeSet<(FindingKind, String)> = r
        .findings
        .iter()
        .map(|f| (f.kind, f.object.clone()))
        .collect();
    let want: BTreeSet<_> = [
        (FindingKind::Missing, gone_key.clone()),
        (FindingKind::WrongSize, short_key.clone()),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(r.bytes_read, 0, "quick reads no shard");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["findings"][0]["kind"], "missing");
    assert!(json["findings"][0]["packId"].is_string());
    assert!(json["shardsChecked"].as_u64().unwrap() > 0);
}

/// A deep pass stopped by its byte budget resumes from the cursor in the
/// state folder and covers every pack exactly once; one wedding's scope
/// covers only its packs; a stray shard is reported, not repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_scrub_resumes_and_scopes() {
    let repo = TestRepo::new(5);
    let (engine, _) = three_weddings(&repo).await;
    let budget = VerifyOptions {
        byte_budget: Some(2 * 1024 * 1024),
        rate_limit_bytes_per_sec: Some(200 * 1024 * 1024),
        ..Default::default()
    };
    let first = engine
        .verify_with(VerifyScope::All, VerifyDepth::Deep, budget.clone())
        .await
        .unwrap();
    assert!(!first.complete);
    assert!(first.packs_checked < first.packs_total);
    assert!(repo.path("state/scrub-cursor.json").exists());
    let mut rounds = 1;
    let mut last = first.clone();
    while !last.complete {
        last = engine
            .verify_with(
                VerifyScope::All,
                VerifyDepth::Deep,
                VerifyOptions {
                    resume: true,
                    ..budget.clone()
                },
            )
            .await
            .unwrap();
        assert!(last.resumed);
        assert_eq!(last.pass_started_at, first.pass_started_at);
        rounds += 1;
        assert!(rounds < 100);
    }
    assert_eq!(last.packs_checked, last.packs_total);
    assert_eq!(last.shards_checked, last.packs_total * 5);
    assert!(!repo.path("state/scrub-cursor.json").exists());

    let one = engine
        .verify(
            VerifyScope::Wedding {
                wedding_id: "w-bea".into(),
            },
            VerifyDepth::Quick,
        )
        .await
        .unwrap();
    assert!(one.packs_total > 0 && one.packs_total < last.packs_total);
    assert!(one.is_clean());

    let stray = repo.locations[1].join("packs/zz/zz00.0");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"left by a crashed backup").unwrap();
    let r = engine
        .verify(VerifyScope::All, VerifyDepth::Quick)
        .await
        .unwrap();
    assert_eq!(r.count(FindingKind::Stray), 1);
    assert!(r.is_clean());
    let plan = engine.repair_plan(&r).await.unwrap();
    assert!(plan.actions.is_empty() && plan.deferred.len() == 1);
}

/// A deep scrub with `auto_repair` repairs what it found in the same call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_repair_after_a_failing_scrub() {
    let repo = TestRepo::new(5);
    let (engine, _) = three_weddings(&repo).await;
    let shards = all_shards(&repo);
    std::fs::remove_file(&shards[7].2).unwrap();
    let r = engine
        .verify_with(
            VerifyScope::All,
            VerifyDepth::Deep,
            VerifyOptions {
                auto_repair: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.count(FindingKind::Missing), 1);
    let repair = r.repair.expect("repaired");
    assert_eq!(repair.shards_written, 1);
    assert!(shards[7].2.exists());
}
