//! The health report reads what verify, repair and drills record.

use heirloom::api::{Priority, VerifyDepth, WeddingBackupRequest};
use heirloom::{DrillSample, VerifyScope};
use heirloom_tests::*;

fn check(report: &heirloom::api::HealthReport, name: &str) -> u8 {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.score)
        .unwrap_or_else(|| panic!("no {name} check"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_repair_and_drill_feed_the_health_report() {
    let repo = TestRepo::new(5);
    let src = repo.path("src");
    small_wedding(&src, 51);
    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory("w-health", &src);
    req.priority = Priority::Critical;
    engine.create_backup(req).await.unwrap();
    let before = engine.health().await.unwrap();
    assert_eq!(check(&before, "integrity"), 50, "unknown before any scrub");
    assert_eq!(check(&before, "recovery"), 50, "unknown before any drill");

    // A deleted shard: the scrub's problem counts against integrity until repaired.
    let shard = repo.shard_files(1).into_iter().next().expect("a shard");
    std::fs::remove_file(&shard).unwrap();
    let report = engine
        .verify(VerifyScope::All, VerifyDepth::Quick)
        .await
        .unwrap();
    assert!(!report.findings.is_empty());
    assert_eq!(check(&engine.health().await.unwrap(), "integrity"), 0);
    let plan = engine.repair_plan(&report).await.unwrap();
    engine.repair(plan).await.unwrap();
    assert_eq!(
        check(&engine.health().await.unwrap(), "integrity"),
        85,
        "found and fixed"
    );
    engine
        .verify(VerifyScope::All, VerifyDepth::Deep)
        .await
        .unwrap();
    assert_eq!(
        check(&engine.health().await.unwrap(), "integrity"),
        100,
        "clean"
    );

    let drill = engine.drill(DrillSample::Random).await.unwrap();
    assert!(drill.passed());
    assert_eq!(check(&engine.health().await.unwrap(), "recovery"), 100);
}
