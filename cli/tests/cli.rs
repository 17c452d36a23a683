//! The `heirloom` binary, run as an operator would: exit codes, JSON and
//! human output, and a round trip with two locations lost.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }
}

/// `heirloom` in `dir`, with none of the caller's heirloom environment.
fn heirloom(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_heirloom"));
    c.current_dir(dir)
        .args(args)
        .env_remove("HEIRLOOM_PASSPHRASE")
        .env_remove("HEIRLOOM_CONFIG")
        .env_remove("RUST_LOG");
    c
}

fn run(mut c: Command) -> Run {
    let out = c.output().expect("run heirloom");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
        "{}",
        r.stderr
    );
    r
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = run(heirloom(dir, args));
    assert_eq!(
        r.code, 0,
        "heirloom {args:?} failed:\n{}\n{}",
        r.stdout, r.stderr
    );
    r
}

fn fails(dir: &Path, args: &[&str], code: i32) -> Run {
    let r = run(heirloom(dir, args));
    assert_eq!(
        r.code, code,
        "heirloom {args:?}:\n{}\n{}",
        r.stdout, r.stderr
    );
    assert!(
        r.stderr.lines().any(|l| l.starts_with("error: ")),
        "{}",
        r.stderr
    );
    r
}

/// A small wedding folder: photos, a document, a nested folder.
fn wedding(dir: &Path) -> PathBuf {
    let w = dir.join("wedding");
    fs::create_dir_all(w.join("photos/ceremony")).unwrap();
    fs::create_dir_all(w.join("documents")).unwrap();
    for i in 0..4u32 {
        let mut photo = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".to_vec();
        photo.extend(
            (0..300_000u32).map(|b| (b.wrapping_mul(2654435761).wrapping_add(i) >> 13) as u8),
        );
        fs::write(w.join(format!("photos/ceremony/IMG_{i}.jpg")), photo).unwrap();
    }
    fs::write(
        w.join("documents/contract.txt"),
        "ten hours of coverage\n".repeat(100),
    )
    .unwrap();
    w
}

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn init_backup_snapshots_recover_with_two_locations_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let w = wedding(dir);

    let init = ok(dir, &["init"]);
    assert!(
        init.stdout.contains("wrote heirloom.toml"),
        "{}",
        init.stdout
    );
    assert!(dir.join("heirloom-data/heirloom.key").is_file());
    for i in 1..=5 {
        assert!(dir.join(format!("heirloom-data/loc-{i}")).is_dir());
    }

    let b = ok(
        dir,
        &[
            "backup",
            "ada-and-grace",
            "wedding",
            "--priority",
            "critical",
            "--json",
        ],
    );
    let backup = b.json();
    let id = backup["backupId"].as_str().unwrap().to_owned();
    assert_eq!(backup["weddingId"], "ada-and-grace");
    assert_eq!(backup["stats"]["filesTotal"], 5);
    assert_eq!(backup["dataShards"], 3);
    assert_eq!(backup["parityShards"], 2);
    assert_eq!(backup["locationsUsed"].as_array().unwrap().len(), 5);
    assert!(backup["dedupRatio"].is_number());
    assert!(
        !b.stderr.contains("backup:"),
        "no progress with --json: {}",
        b.stderr
    );

    // Human output, with plain progress lines on stderr (not a terminal).
    fs::write(w.join("documents/timeline.txt"), "14:00 ceremony\n").unwrap();
    let h = ok(
        dir,
        &[
            "backup",
            "ada-and-grace",
            "wedding",
            "--type",
            "incremental",
            "--priority",
            "critical",
        ],
    );
    assert!(
        h.stdout.contains("of wedding ada-and-grace completed"),
        "{}",
        h.stdout
    );
    assert!(
        h.stdout.contains("6 (1 read, 5 unchanged, 0 skipped)"),
        "{}",
        h.stdout
    );
    assert!(h.stdout.contains("dedup"), "{}", h.stdout);
    assert!(h.stderr.contains("backup: 1/1 files"), "{}", h.stderr);

    let s = ok(dir, &["snapshots", "ada-and-grace", "--json"]).json();
    let list = s.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[1]["files"], 6);
    let human = ok(dir, &["snapshots"]);
    assert!(
        human.stdout.contains("ada-and-grace") && human.stdout.contains("3+2"),
        "{}",
        human.stdout
    );
    assert!(ok(dir, &["snapshots", "nobody"])
        .stdout
        .contains("no snapshots of wedding nobody"));

    fs::remove_dir_all(dir.join("heirloom-data/loc-2")).unwrap();
    fs::remove_dir_all(dir.join("heirloom-data/loc-5")).unwrap();
    let r = ok(
        dir,
        &[
            "recover",
            "ada-and-grace",
            "--to",
            "restored",
            "--urgency",
            "wedding_day_critical",
            "--json",
        ],
    );
    let rec = r.json();
    assert_eq!(rec["recoveredFiles"], 6);
    assert_eq!(rec["filesVerified"], 6);
    assert_eq!(rec["urgency"], "wedding_day_critical");
    let read: Vec<&str> = rec["locationsRead"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !read.contains(&"loc-2") && !read.contains(&"loc-5"),
        "{read:?}"
    );
    // Whether parity was needed depends on where placement put each pack's
    // data shards (random pack ids): 1 in 10 packs avoids both lost locations.
    assert!(rec["packsRead"].as_u64().unwrap() >= 1);
    assert!(rec["packsReconstructed"].as_u64().unwrap() <= rec["packsRead"].as_u64().unwrap());
    assert_eq!(tree(&w), tree(&dir.join("restored")), "byte-identical");
    assert!(
        !dir.join("heirloom-data/loc-2").exists(),
        "a lost location is not recreated"
    );

    // The first snapshot, by time, and one item, human output.
    let at = list[0]["time"].as_str().unwrap();
    let r = ok(
        dir,
        &[
            "recover",
            "ada-and-grace",
            "--to",
            "first",
            "--at",
            at,
            "--item",
            "documents",
        ],
    );
    assert!(
        r.stdout.contains("recovered wedding ada-and-grace"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rebuilt from parity"), "{}", r.stdout);
    assert!(dir.join("first/documents/contract.txt").is_file());
    assert!(!dir.join("first/documents/timeline.txt").exists());
    assert!(!dir.join("first/photos").exists());

    let r = ok(
        dir,
        &[
            "recover",
            "ada-and-grace",
            "--to",
            "photos",
            "--only",
            "photos",
            "-q",
        ],
    );
    assert!(r.stderr.is_empty(), "-q: {}", r.stderr);
    assert_eq!(tree(&dir.join("photos")).len(), 4);
}

#[test]
fn init_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["init", "--locations", "3", "--data", "d"]);
    let r = fails(tmp.path(), &["init"], 2);
    assert!(
        r.stderr.contains("heirloom.toml: already exists"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: remove heirloom.toml first"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unknown_config_key_names_the_key_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["init", "--json"]);
    let path = tmp.path().join("heirloom.toml");
    let text = fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("region = \"region-3\""))
        .unwrap()
        + 1;
    fs::write(
        &path,
        text.replace("region = \"region-3\"", "regoin = \"region-3\""),
    )
    .unwrap();
    let r = fails(tmp.path(), &["snapshots"], 2);
    assert!(
        r.stderr.contains(&format!(
            "heirloom.toml line {line}: unknown field 'regoin', expected one of"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("\nhint: "), "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().count(),
        2,
        "one line and a hint: {}",
        r.stderr
    );
}

#[test]
fn a_missing_config_or_key_is_a_configuration_error() {
    let tmp = tempfile::tempdir().unwrap();
    let r = fails(tmp.path(), &["snapshots"], 2);
    assert!(
        r.stderr.contains("hint: run `heirloom init`"),
        "{}",
        r.stderr
    );

    fs::write(
        tmp.path().join("other.toml"),
        "state_dir = \"s\"\n[[locations]]\nid = \"a\"\nregion = \"r\"\nprovider = \"local\"\npath = \"a\"\n",
    )
    .unwrap();
    let mut c = heirloom(tmp.path(), &["snapshots"]);
    c.env("HEIRLOOM_CONFIG", "other.toml");
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("other.toml: no key"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: export HEIRLOOM_PASSPHRASE="),
        "{}",
        r.stderr
    );
}

#[test]
fn a_passphrase_repository_opens_only_with_its_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = heirloom(tmp.path(), &["init", "--locations", "3"]);
    c.env("HEIRLOOM_PASSPHRASE", "rice and confetti");
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!tmp.path().join("heirloom-data/heirloom.key").exists());
    assert!(!fs::read_to_string(tmp.path().join("heirloom.toml"))
        .unwrap()
        .contains("\nkey_file"));

    let mut c = heirloom(tmp.path(), &["snapshots"]);
    c.env("HEIRLOOM_PASSPHRASE", "rice and confetti");
    assert_eq!(run(c).code, 0);
    let mut c = heirloom(tmp.path(), &["snapshots"]);
    c.env("HEIRLOOM_PASSPHRASE", "something else");
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("wrong key"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("something else"),
        "never echoes a secret"
    );
}

#[test]
fn operation_failures_exit_1_and_usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    wedding(dir);
    ok(dir, &["init"]);
    ok(dir, &["backup", "w1", "wedding", "-q"]);

    let r = fails(dir, &["recover", "nobody", "--to", "out"], 1);
    assert!(
        r.stderr.contains("not found: wedding nobody"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: `heirloom snapshots`"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());

    fs::write(dir.join("a-file"), b"x").unwrap();
    let r = fails(dir, &["recover", "w1", "--to", "a-file"], 2);
    assert!(
        r.stderr.contains("a-file exists and is not a folder"),
        "{}",
        r.stderr
    );

    // Every command is available: none answers "not available yet".
    for cmd in ["status", "verify", "repair"] {
        let r = ok(dir, &[cmd, "--json"]);
        assert!(!r.stderr.contains("not available yet"), "{}", r.stderr);
        r.json();
    }

    let r = run(heirloom(
        dir,
        &["backup", "w1", "wedding", "--priority", "urgent"],
    ));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("wedding_day_urgent"), "{}", r.stderr);
    let r = run(heirloom(
        dir,
        &["recover", "w1", "--to", "x", "--at", "yesterday"],
    ));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("RFC 3339"), "{}", r.stderr);

    // Critical needs five locations; with two gone the backup fails cleanly.
    fs::remove_dir_all(dir.join("heirloom-data/loc-1")).unwrap();
    let r = fails(
        dir,
        &["backup", "w1", "wedding", "--priority", "critical"],
        1,
    );
    assert!(
        r.stderr.contains("needs 5 distinct healthy locations"),
        "{}",
        r.stderr
    );
}

/// Every file under `root`, recursively.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn verify_finds_a_flipped_byte_repair_fixes_it_status_and_prune_run() {
    use chrono::Datelike;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    wedding(dir);
    ok(dir, &["init"]);
    // Critical: a shard on each of the 5 locations.
    ok(
        dir,
        &["backup", "w1", "wedding", "-q", "--priority", "critical"],
    );

    let clean = ok(dir, &["verify"]);
    assert!(clean.stdout.contains("clean"), "{}", clean.stdout);
    let clean = ok(dir, &["verify", "--deep", "--json"]).json();
    assert_eq!(clean["findings"].as_array().unwrap().len(), 0, "{clean}");
    assert!(clean["shardsChecked"].as_u64().unwrap() > 0, "{clean}");

    // Bit rot: flip a byte in the middle of the largest shard of loc-2.
    let shard = files(&dir.join("heirloom-data/loc-2/packs"))
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .expect("loc-2 holds a shard");
    let mut bytes = fs::read(&shard).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&shard, &bytes).unwrap();

    let r = fails(dir, &["verify", "--deep", "--json"], 1);
    let report = r.json();
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["kind"] == "corrupt"
            && f["location"] == "loc-2"
            && f["object"].as_str().unwrap().starts_with("packs/")),
        "{report}"
    );
    let human = fails(dir, &["verify", "--deep"], 1);
    assert!(human.stdout.contains("corrupt"), "{}", human.stdout);
    assert!(human.stderr.contains("heirloom repair"), "{}", human.stderr);

    let fixed = ok(dir, &["repair", "--json"]).json();
    assert!(fixed["shardsWritten"].as_u64().unwrap() >= 1, "{fixed}");
    assert_eq!(fixed["unfixable"].as_array().unwrap().len(), 0, "{fixed}");
    ok(dir, &["verify", "--deep"]);
    let again = ok(dir, &["repair"]);
    assert!(
        again.stdout.contains("nothing to repair"),
        "{}",
        again.stdout
    );

    let status = ok(dir, &["status", "--json"]).json();
    let score = status["health"]["score"].as_u64().expect("a health score");
    assert!(score <= 100, "{status}");
    assert_eq!(status["status"]["totalLocations"], 5, "{status}");
    let human = ok(dir, &["status"]);
    assert!(human.stdout.contains("health: "), "{}", human.stdout);

    let saturday = chrono::Utc::now().weekday() == chrono::Weekday::Sat;
    for args in [
        &["prune", "--dry-run", "--json"][..],
        &["prune", "--dry-run"],
    ] {
        let r = run(heirloom(dir, args));
        if saturday && r.code == 1 {
            assert!(
                r.stderr
                    .contains("prune never runs on Saturdays or wedding days"),
                "{}",
                r.stderr
            );
            continue;
        }
        assert_eq!(r.code, 0, "{args:?}:\n{}\n{}", r.stdout, r.stderr);
        if args.contains(&"--json") {
            let plan = r.json();
            assert_eq!(plan["plan"]["kept"], 1, "{plan}");
            assert!(plan.get("report").is_none(), "{plan}");
        } else {
            assert!(r.stdout.contains("dry run"), "{}", r.stdout);
        }
    }
}

#[test]
fn the_demo_recovers_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let r = ok(tmp.path(), &["demo", "--dir", "d", "--json"]);
    let report = r.json();
    assert_eq!(report["identical"], true);
    assert_eq!(report["filesCompared"], report["sampleFiles"]);
    assert_eq!(report["backup"]["parityShards"], 2);
    assert_eq!(report["recovery"]["recoveredFiles"], report["sampleFiles"]);
    assert!(!tmp.path().join("d/heirloom-data/loc-2").exists());
}
