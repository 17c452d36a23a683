//! The scheduler end to end: class order, Saturday protection and yields,
//! restart persistence, failover with locations down, degraded marking and
//! its events, real-time folders.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use heirloom::api::{BackupSource, Priority, SourceItem, WeddingBackupRequest};
use heirloom::{
    CancellationToken, Context, Engine, EngineConfig, Error, Event, JobId, JobRequest, JobState,
    MaintenanceKind, MaintenanceOutcome, MaintenanceRunner, MaintenanceTask, ManualClock,
    WeddingEvent, WorkerLimits,
};
use heirloom_tests::*;
use tokio::sync::broadcast;

/// Fast ticks and probes so that the tests wait for little.
fn fast(mut cfg: EngineConfig) -> EngineConfig {
    cfg.schedule.tick = Duration::from_millis(50);
    cfg.schedule.probe_interval = Duration::from_millis(200);
    cfg.schedule.retry.base = Duration::from_millis(50);
    cfg.schedule.shutdown_grace = Duration::from_secs(5);
    cfg
}

fn items_backup(wedding: &str, seed: u64) -> WeddingBackupRequest {
    let mut req = WeddingBackupRequest::directory(wedding, "unused");
    req.source = BackupSource::Items {
        items: vec![SourceItem {
            name: "photo.jpg".into(),
            path: None,
            data: Some(photo(50_000, seed)),
        }],
    };
    req
}

fn start(
    engine: &Engine,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<heirloom::Result<()>>,
) {
    let token = CancellationToken::new();
    let (e, t) = (engine.clone(), token.clone());
    (token, tokio::spawn(async move { e.run(t).await }))
}

async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn state_of(engine: &Engine, id: JobId) -> JobState {
    engine.job(id).unwrap().unwrap().state
}

async fn next_event(
    rx: &mut broadcast::Receiver<Event>,
    timeout: Duration,
    want: impl Fn(&Event) -> bool,
) -> Event {
    tokio::time::timeout(timeout, async {
        loop {
            match rx.recv().await {
                Ok(e) if want(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream closed: {e}"),
            }
        }
    })
    .await
    .expect("event did not arrive in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classes_run_in_order_with_one_worker() {
    let repo = TestRepo::new(5);
    let mut cfg = fast(repo.config("state"));
    cfg.schedule.limits = WorkerLimits {
        workers: 1,
        reserved_critical: 0,
        per_class: [1; 4],
        ..WorkerLimits::default()
    };
    let engine = Engine::open(cfg).await.unwrap();
    let mut rx = engine.events();
    for (w, p) in [
        ("standard", Priority::Standard),
        ("high", Priority::High),
        ("critical", Priority::Critical),
        ("urgent", Priority::WeddingDayUrgent),
    ] {
        engine
            .enqueue(JobRequest::backup(items_backup(w, 1)).with_priority(p))
            .unwrap();
    }
    let (stop, run) = start(&engine);
    let mut order = Vec::new();
    while order.len() < 4 {
        if let Event::BackupStarted { wedding_id, .. } =
            next_event(&mut rx, Duration::from_secs(60), |e| {
                matches!(e, Event::BackupStarted { .. })
            })
            .await
        {
            order.push(wedding_id);
        }
    }
    assert_eq!(order, ["urgent", "critical", "high", "standard"]);
    wait_until("all done", Duration::from_secs(60), || {
        engine
            .jobs()
            .unwrap()
            .iter()
            .all(|j| j.state == JobState::Done)
    })
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();
}

/// Holds a maintenance task until it is cancelled, except from the
/// `finish_from`-th start on.
#[derive(Debug, Default)]
struct HoldingRunner {
    started: Mutex<Vec<MaintenanceKind>>,
    cancelled: AtomicUsize,
    finish_from: AtomicUsize,
}

#[async_trait]
impl MaintenanceRunner for HoldingRunner {
    async fn run(
        &self,
        task: &MaintenanceTask,
        cancel: CancellationToken,
    ) -> heirloom::Result<MaintenanceOutcome> {
        let n = {
            let mut s = self.started.lock().unwrap();
            s.push(task.kind);
            s.len()
        };
        let finish_from = self.finish_from.load(Ordering::SeqCst);
        if finish_from != 0 && n >= finish_from {
            return Ok(MaintenanceOutcome {
                result_id: format!("{}-{n}", task.kind),
                summary: "ok".into(),
            });
        }
        cancel.cancelled().await;
        self.cancelled.fetch_add(1, Ordering::SeqCst);
        Err(Error::Cancelled(format!("{} yielded", task.kind)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturday_protection_holds_maintenance_and_critical_work_makes_it_yield() {
    let repo = TestRepo::new(5);
    // Saturday 14 June 2025, 10:00 UTC.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2025, 6, 14, 10, 0, 0).unwrap(),
    ));
    let runner = Arc::new(HoldingRunner::default());
    let mut cfg = fast(repo.config("state"));
    cfg.context = Context::seeded(clock.clone(), 7);
    cfg.schedule.maintenance = Some(runner.clone());
    let engine = Engine::open(cfg).await.unwrap();
    let mut rx = engine.events();
    let prune = engine
        .enqueue(JobRequest::maintenance(MaintenanceKind::Prune, None))
        .unwrap();
    let (stop, run) = start(&engine);

    // Backups run on Saturdays; prune does not start.
    let b = engine
        .enqueue(JobRequest::backup(items_backup("sat", 1)))
        .unwrap();
    wait_until("saturday backup", Duration::from_secs(60), || {
        state_of(&engine, b) == JobState::Done
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(runner.started.lock().unwrap().is_empty());
    assert_eq!(state_of(&engine, prune), JobState::Queued);

    // Monday: prune starts.
    clock.set(Utc.with_ymd_and_hms(2025, 6, 16, 10, 0, 0).unwrap());
    wait_until("prune started", Duration::from_secs(30), || {
        runner.started.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(state_of(&engine, prune), JobState::Running);

    // Critical work arrives: the prune yields within seconds and the backup runs.
    runner.finish_from.store(2, Ordering::SeqCst);
    let arrived = tokio::time::Instant::now();
    let critical = engine
        .enqueue(JobRequest::backup(items_backup("crit", 2)).with_priority(Priority::Critical))
        .unwrap();
    next_event(&mut rx, Duration::from_secs(10), |e| {
        matches!(e, Event::JobProgress { job_id, state, .. } if *job_id == prune && state == "yielded")
    })
    .await;
    assert!(
        arrived.elapsed() < Duration::from_secs(5),
        "{:?}",
        arrived.elapsed()
    );
    assert_eq!(runner.cancelled.load(Ordering::SeqCst), 1);
    wait_until("critical backup", Duration::from_secs(60), || {
        state_of(&engine, critical) == JobState::Done
    })
    .await;
    // Then the prune runs again and finishes.
    wait_until("prune done", Duration::from_secs(30), || {
        state_of(&engine, prune) == JobState::Done
    })
    .await;
    let job = engine.job(prune).unwrap().unwrap();
    assert_eq!((job.runs, job.attempts), (2, 0));
    assert_eq!(job.result_id.as_deref(), Some("prune-2"));

    // A wedding day (a Tuesday) holds maintenance back too.
    clock.set(Utc.with_ymd_and_hms(2025, 6, 17, 10, 0, 0).unwrap());
    engine
        .calendar()
        .add(WeddingEvent::new(
            "tuesday",
            NaiveDate::from_ymd_opt(2025, 6, 17).unwrap(),
            NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
            chrono_tz::UTC,
        ))
        .unwrap();
    let scrub = engine
        .enqueue(JobRequest::maintenance(MaintenanceKind::DeepScrub, None))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(state_of(&engine, scrub), JobState::Queued);
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_without_a_runner_fails_as_not_available() {
    let repo = TestRepo::new(3);
    // A Wednesday, so that Saturday protection does not hold it.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2025, 6, 18, 10, 0, 0).unwrap(),
    ));
    let mut cfg = fast(repo.config("state"));
    cfg.context = Context::seeded(clock, 3);
    let engine = Engine::open(cfg).await.unwrap();
    let id = engine
        .enqueue(JobRequest::maintenance(
            MaintenanceKind::Repair,
            Some("loc1".into()),
        ))
        .unwrap();
    let (stop, run) = start(&engine);
    wait_until("repair failed", Duration::from_secs(30), || {
        state_of(&engine, id) == JobState::Failed
    })
    .await;
    let job = engine.job(id).unwrap().unwrap();
    assert!(job.error.unwrap().contains("not available"));
    assert!(job.result_id.is_none());
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_and_in_flight_jobs_survive_a_crash_and_finish_exactly_once() {
    let repo = TestRepo::new(3);
    let ids: Vec<JobId>;
    {
        let (faulty, locations) = repo.faulty_locations();
        let mut cfg = fast(repo.config("state"));
        cfg.locations = locations;
        cfg.schedule.limits = WorkerLimits {
            workers: 1,
            reserved_critical: 0,
            ..WorkerLimits::default()
        };
        let engine = Engine::open(cfg).await.unwrap();
        ids = (0..4)
            .map(|i| {
                engine
                    .enqueue(JobRequest::backup(items_backup(&format!("w{i}"), i)))
                    .unwrap()
            })
            .collect();
        // The first backup stops at its first shard write to loc0...
        let gate = faulty[0].gate_writes_after(0);
        let (_stop, run) = start(&engine);
        tokio::time::timeout(Duration::from_secs(60), gate.wait_reached())
            .await
            .expect("a backup reached the gate");
        assert_eq!(state_of(&engine, ids[0]), JobState::Running);
        // ...and the process dies there.
        run.abort();
        let _ = run.await;
        drop(engine);
    }
    let engine = Engine::open(fast(repo.config("state"))).await.unwrap();
    let (stop, run) = start(&engine);
    wait_until("every job done", Duration::from_secs(120), || {
        ids.iter()
            .all(|id| state_of(&engine, *id) == JobState::Done)
    })
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();
    for (i, id) in ids.iter().enumerate() {
        let job = engine.job(*id).unwrap().unwrap();
        let snaps = engine.snapshots(Some(&format!("w{i}"))).await.unwrap();
        assert_eq!(snaps.len(), 1, "w{i}: one snapshot per job");
        assert_eq!(job.result_id.as_deref(), Some(snaps[0].id.as_str()));
        assert_eq!(job.runs, if i == 0 { 2 } else { 1 }, "w{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_backups_fail_over_with_one_and_two_of_seven_locations_down() {
    let repo = TestRepo::new(7);
    let (faulty, locations) = repo.faulty_locations();
    let mut cfg = fast(repo.config("state"));
    cfg.locations = locations;
    let engine = Engine::open(cfg).await.unwrap();
    let mut rx = engine.events();
    let (stop, run) = start(&engine);
    for (round, down) in [(0u64, vec![1usize]), (1, vec![1, 4])] {
        for d in &down {
            faulty[*d].set_down(true);
        }
        let id = engine
            .enqueue(
                JobRequest::backup(items_backup(&format!("fo{round}"), round))
                    .with_priority(Priority::Critical),
            )
            .unwrap();
        let used = match next_event(
            &mut rx,
            Duration::from_secs(60),
            |e| matches!(e, Event::BackupFinished { job_id, .. } if *job_id == id),
        )
        .await
        {
            Event::BackupFinished { locations_used, .. } => locations_used,
            _ => unreachable!(),
        };
        assert_eq!(used.len(), 5, "{used:?}");
        for d in &down {
            assert!(!used.contains(&format!("loc{d}")), "{used:?}");
        }
        assert_eq!(state_of(&engine, id), JobState::Done);
    }
    let status = engine.status().await.unwrap();
    assert_eq!(status.total_locations, 7);
    assert_eq!(status.healthy_locations, 5);
    assert_ne!(
        status.recovery_capability,
        heirloom::api::RecoveryCapability::Critical
    );
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_that_keeps_failing_is_degraded_repaired_and_recovers() {
    let repo = TestRepo::new(5);
    let (faulty, locations) = repo.faulty_locations();
    let mut cfg = fast(repo.config("state"));
    cfg.locations = locations;
    let engine = Engine::open(cfg).await.unwrap();
    engine
        .create_backup(items_backup("before", 9))
        .await
        .unwrap();
    let mut rx = engine.events();
    let (stop, run) = start(&engine);

    faulty[2].set_down(true);
    let e = next_event(&mut rx, Duration::from_secs(20), |e| {
        matches!(e, Event::LocationDegraded { .. })
    })
    .await;
    assert!(
        matches!(&e, Event::LocationDegraded { location, failures, .. } if location == "loc2" && *failures >= 3),
        "{e:?}"
    );
    // Its repair is queued; without a repair engine it fails as not available.
    wait_until("repair job", Duration::from_secs(20), || {
        engine.jobs().unwrap().iter().any(|j| {
            matches!(&j.kind, heirloom::JobKind::Maintenance { task } if task.kind == MaintenanceKind::Repair && task.location.as_deref() == Some("loc2"))
                && j.state == JobState::Failed
                && j.error.as_deref().is_some_and(|e| e.contains("not available"))
        })
    })
    .await;
    let health = engine.health().await.unwrap();
    assert!(health
        .locations
        .iter()
        .any(|l| l.id == "loc2" && l.degraded));
    assert!(health.score < 100);

    faulty[2].set_down(false);
    let e = next_event(&mut rx, Duration::from_secs(20), |e| {
        matches!(e, Event::LocationRecovered { .. })
    })
    .await;
    assert!(matches!(&e, Event::LocationRecovered { location, .. } if location == "loc2"));
    let health = engine.health().await.unwrap();
    assert!(health.locations.iter().all(|l| !l.degraded && !l.down));
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_in_a_watched_folder_is_in_a_few_snapshots_within_seconds() {
    let repo = TestRepo::new(5);
    let folder = repo.path("shoot");
    std::fs::create_dir_all(&folder).unwrap();
    let mut cfg = fast(repo.config("state"));
    cfg.schedule.realtime.quiet = Duration::from_millis(500);
    cfg.schedule.realtime.max_delay = Duration::from_secs(3);
    let engine = Engine::open(cfg).await.unwrap();
    let today = Utc::now().date_naive();
    let mut event = WeddingEvent::new(
        "live",
        today,
        NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
        chrono_tz::UTC,
    );
    event.source = Some(folder.clone());
    engine.calendar().add(event).unwrap();
    let (stop, run) = start(&engine);
    // The calendar queues a first (empty) backup at once.
    wait_until("first calendar backup", Duration::from_secs(60), || {
        engine
            .jobs()
            .unwrap()
            .iter()
            .any(|j| j.state == JobState::Done)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = engine.snapshots(Some("live")).await.unwrap().len();

    for i in 0..200 {
        std::fs::write(folder.join(format!("IMG_{i:04}.jpg")), photo(8_000, i)).unwrap();
    }
    let last_write = tokio::time::Instant::now();
    loop {
        let snaps = engine.snapshots(Some("live")).await.unwrap();
        if snaps.last().is_some_and(|s| s.files == 200) {
            let made = snaps.len() - before;
            assert!((1..=5).contains(&made), "{made} snapshots for one burst");
            break;
        }
        assert!(
            last_write.elapsed() < Duration::from_secs(10),
            "the burst was not backed up within 10 s of the last write"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_health_and_metrics_come_from_real_counters() {
    let repo = TestRepo::new(5);
    let engine = Engine::open(fast(repo.config("state"))).await.unwrap();
    // A critical wedding (in 3 days) with a snapshot on five healthy locations.
    let mut event = WeddingEvent::new(
        "soon",
        Utc::now().date_naive() + chrono::Duration::days(3),
        NaiveTime::from_hms_opt(15, 0, 0).unwrap(),
        chrono_tz::Europe::Paris,
    );
    event.venue_region = "eu-west".into();
    engine.calendar().add(event).unwrap();
    let mut req = items_backup("soon", 5);
    req.priority = Priority::Critical;
    let backup = engine.create_backup(req).await.unwrap();

    let status = engine.status().await.unwrap();
    assert_eq!(
        (status.critical_weddings, status.critical_weddings_protected),
        (1, 1)
    );
    assert!(status.total_storage_used >= backup.stats.bytes_stored);
    assert_eq!(status.last_backup_completion, Some(backup.completed_at));
    assert_eq!(
        status.recovery_capability,
        heirloom::api::RecoveryCapability::Optimal
    );
    let json = serde_json::to_value(&status).unwrap();
    assert!(json.get("criticalWeddingsProtected").is_some() && json.get("healthScore").is_some());

    // No scrub or drill yet: those inputs are unknown, so degraded, not optimal.
    let health = engine.health().await.unwrap();
    assert_eq!(health.checks.len(), 5);
    assert_eq!(health.level, heirloom::api::HealthLevel::Degraded);
    // A real scrub and a real drill supply the two inputs.
    let scrub = engine
        .verify(heirloom::VerifyScope::All, heirloom::api::VerifyDepth::Deep)
        .await
        .unwrap();
    assert!(scrub.findings.is_empty(), "{:?}", scrub.findings);
    assert!(engine
        .drill(heirloom::DrillSample::Random)
        .await
        .unwrap()
        .passed());
    let health = engine.health().await.unwrap();
    // The calendar wedding has no folder, so completeness has nothing to miss.
    assert_eq!(health.score, 100, "{health:#?}");
    assert_eq!(health.level, heirloom::api::HealthLevel::Optimal);

    let text = engine.metrics_text().await;
    assert!(
        text.contains("heirloom_critical_weddings_protected 1"),
        "{text}"
    );
    assert!(text.contains("heirloom_health_score 100"), "{text}");
    assert!(text.contains("heirloom_location_up{location=\"loc0\",region=\"region-0\"} 1"));
}
