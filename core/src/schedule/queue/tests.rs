//! Queue order, aging bound, persistence.

use chrono::Duration;

use super::*;
use crate::api::WeddingBackupRequest;
use crate::schedule::job::JobState;

fn queue() -> (tempfile::TempDir, JobQueue) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(StateDb::open(dir.path()).unwrap());
    (dir, JobQueue::new(db))
}

fn backup(w: &str) -> JobKind {
    JobKind::Backup {
        request: WeddingBackupRequest::directory(w, "/unused"),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

const STEP: i64 = 15 * 60 * 1000;

fn add(q: &JobQueue, w: &str, p: Priority, at: DateTime<Utc>) -> JobId {
    q.enqueue(&backup(w), p, at, at, None).unwrap().unwrap()
}

/// Pops the first due job, as one idle worker would.
fn pop(q: &JobQueue, now: DateTime<Utc>) -> Option<JobInfo> {
    let job = q.due(now, STEP).unwrap().into_iter().next()?;
    assert!(q.claim(job.id, now).unwrap());
    assert!(q.complete(job.id, "r", now).unwrap());
    Some(job)
}

#[test]
fn higher_classes_go_first_then_fifo() {
    let (_d, q) = queue();
    let now = t0();
    add(&q, "s1", Priority::Standard, now);
    add(&q, "h1", Priority::High, now);
    add(&q, "c1", Priority::Critical, now);
    add(&q, "u1", Priority::WeddingDayUrgent, now);
    add(&q, "c2", Priority::Critical, now);
    add(&q, "s2", Priority::Standard, now);
    let order: Vec<_> = std::iter::from_fn(|| pop(&q, now))
        .map(|j| j.kind.wedding_id().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(order, ["u1", "c1", "c2", "h1", "s1", "s2"]);
}

#[test]
fn not_before_and_dedup() {
    let (_d, q) = queue();
    let now = t0();
    let later = now + Duration::minutes(5);
    q.enqueue(&backup("a"), Priority::Critical, now, later, None)
        .unwrap();
    assert!(q.due(now, STEP).unwrap().is_empty());
    assert_eq!(q.due(later, STEP).unwrap().len(), 1);
    let first = q
        .enqueue(&backup("b"), Priority::High, now, now, Some("rt:b"))
        .unwrap();
    let again = q
        .enqueue(&backup("b"), Priority::High, now, now, Some("rt:b"))
        .unwrap();
    assert!(first.is_some() && again.is_none());
    // Once the first is running, a new one may queue behind it.
    assert!(q.claim(first.unwrap(), now).unwrap());
    assert!(q
        .enqueue(&backup("b"), Priority::High, now, now, Some("rt:b"))
        .unwrap()
        .is_some());
    assert!(q.has_pending_backup("b").unwrap());
    assert!(!q.has_pending_backup("zz").unwrap());
}

/// Higher-class work arrives exactly as fast as the single worker finishes
/// it, so without aging the queue is never free of it. The standard job
/// starts within the documented bound: 3 steps, plus the 5 jobs that were
/// ahead of it, plus one job in progress.
#[test]
fn aging_bounds_the_wait_of_every_class() {
    for (class, rank) in [
        (Priority::Standard, 3),
        (Priority::High, 2),
        (Priority::Critical, 1),
    ] {
        let (_d, q) = queue();
        let job_len = Duration::minutes(1);
        let mut now = t0();
        for i in 0..5 {
            add(&q, &format!("backlog{i}"), Priority::WeddingDayUrgent, now);
        }
        let low = add(&q, "low", class, now);
        let started = loop {
            add(&q, "stream", Priority::WeddingDayUrgent, now);
            let job = pop(&q, now).unwrap();
            if job.id == low {
                break now;
            }
            now += job_len;
            assert!(now - t0() < Duration::days(1), "{class} starved");
        };
        let waited = started - t0();
        let bound = Duration::milliseconds(rank * STEP) + job_len * 6;
        assert!(waited <= bound, "{class} waited {waited}, bound {bound}");
        assert!(
            waited >= Duration::milliseconds(rank * STEP),
            "{class} should wait for the urgent stream first ({waited})"
        );
    }
}

#[test]
fn strict_priority_would_starve_the_same_job() {
    let (_d, q) = queue();
    let mut now = t0();
    let low = add(&q, "low", Priority::Standard, now);
    for _ in 0..24 * 60 {
        add(&q, "stream", Priority::Critical, now);
        let next = q
            .due(now, i64::MAX / 8)
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        assert_ne!(next.id, low);
        assert!(q.claim(next.id, now).unwrap());
        assert!(q.complete(next.id, "r", now).unwrap());
        now += Duration::minutes(1);
    }
}

#[test]
fn survives_reopen_and_requeues_in_flight_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let now = t0();
    {
        let q = JobQueue::new(Arc::new(StateDb::open(dir.path()).unwrap()));
        let a = add(&q, "a", Priority::High, now);
        let b = add(&q, "b", Priority::High, now);
        add(&q, "c", Priority::High, now);
        assert!(q.claim(a, now).unwrap());
        assert!(q.complete(a, "snap-a", now).unwrap());
        assert!(q.claim(b, now).unwrap());
        // "Crash" with b running.
    }
    let q = JobQueue::new(Arc::new(StateDb::open(dir.path()).unwrap()));
    assert_eq!(q.requeue_in_flight().unwrap(), 1);
    let jobs = q.list().unwrap();
    let states: Vec<_> = jobs.iter().map(|j| j.state).collect();
    assert_eq!(states, [JobState::Done, JobState::Queued, JobState::Queued]);
    assert_eq!(jobs[0].result_id.as_deref(), Some("snap-a"));
    assert_eq!(jobs[1].runs, 1);
    // A done job cannot complete twice, a queued one not without a claim.
    assert!(!q.complete(jobs[0].id, "again", now).unwrap());
    assert!(!q.complete(jobs[1].id, "early", now).unwrap());
}

#[test]
fn retries_and_failures_are_counted() {
    let (_d, q) = queue();
    let now = t0();
    let id = add(&q, "a", Priority::Standard, now);
    assert!(q.claim(id, now).unwrap());
    q.fail(id, "flaky", Some(now + Duration::seconds(30)), now)
        .unwrap();
    let j = q.get(id).unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 1));
    assert!(q.due(now, STEP).unwrap().is_empty());
    let later = now + Duration::seconds(30);
    assert!(q.claim(id, later).unwrap());
    q.fail(id, "broken", None, later).unwrap();
    let j = q.get(id).unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Failed, 2));
    assert_eq!(j.error.as_deref(), Some("broken"));
    let c = q.counts(now).unwrap();
    assert_eq!((c.failed_backups_since, c.failed_total), (1, 1));
}
