//! Admission rules.

use chrono::Utc;

use super::*;
use crate::api::WeddingBackupRequest;
use crate::schedule::job::{JobKind, JobState, MaintenanceTask};

fn job(id: JobId, priority: Priority, kind: JobKind) -> JobInfo {
    JobInfo {
        id,
        kind,
        priority,
        state: JobState::Queued,
        attempts: 0,
        runs: 0,
        enqueued_at: Utc::now(),
        not_before: Utc::now(),
        started_at: None,
        finished_at: None,
        result_id: None,
        error: None,
    }
}

fn backup(id: JobId, p: Priority) -> JobInfo {
    let request = WeddingBackupRequest::directory(format!("w{id}"), "/x");
    job(id, p, JobKind::Backup { request })
}

fn maint(id: JobId, kind: MaintenanceKind, loc: Option<&str>) -> JobInfo {
    let task = MaintenanceTask {
        kind,
        location: loc.map(str::to_owned),
    };
    job(id, Priority::Standard, JobKind::Maintenance { task })
}

#[test]
fn critical_work_keeps_a_reserved_share() {
    let limits = WorkerLimits::default(); // 4 workers, 1 reserved
    let a = backup(1, Priority::Standard);
    let b = backup(2, Priority::High);
    let c = backup(3, Priority::High);
    let held = [&a, &b, &c];
    assert!(!admits(
        &limits,
        &held,
        &backup(4, Priority::Standard),
        false,
        false
    ));
    assert!(!admits(
        &limits,
        &held,
        &maint(5, MaintenanceKind::Repair, None),
        false,
        false
    ));
    assert!(admits(
        &limits,
        &held,
        &backup(6, Priority::Critical),
        false,
        false
    ));
    let d = backup(7, Priority::Critical);
    let full = [&a, &b, &c, &d];
    assert!(!admits(
        &limits,
        &full,
        &backup(8, Priority::WeddingDayUrgent),
        false,
        false
    ));
}

#[test]
fn per_class_and_per_location_caps() {
    let limits = WorkerLimits {
        workers: 10,
        reserved_critical: 0,
        ..WorkerLimits::default()
    };
    let s1 = backup(1, Priority::Standard);
    let s2 = backup(2, Priority::Standard);
    assert!(!admits(
        &limits,
        &[&s1, &s2],
        &backup(3, Priority::Standard),
        false,
        false
    ));
    assert!(admits(
        &limits,
        &[&s1, &s2],
        &backup(3, Priority::High),
        false,
        false
    ));
    let r = maint(4, MaintenanceKind::Repair, Some("loc1"));
    let limits2 = WorkerLimits {
        maintenance: 5,
        ..limits
    };
    assert!(!admits(
        &limits2,
        &[&r],
        &maint(5, MaintenanceKind::DeepScrub, Some("loc1")),
        false,
        false
    ));
    assert!(admits(
        &limits2,
        &[&r],
        &maint(5, MaintenanceKind::DeepScrub, Some("loc2")),
        false,
        false
    ));
    assert!(!admits(
        &limits,
        &[&r],
        &maint(5, MaintenanceKind::DeepScrub, Some("loc2")),
        false,
        false
    ));
}

#[test]
fn saturday_protection_holds_back_deferrable_maintenance_only() {
    let limits = WorkerLimits::default();
    for kind in [
        MaintenanceKind::Prune,
        MaintenanceKind::ArchivalMigration,
        MaintenanceKind::Rebalance,
        MaintenanceKind::DeepScrub,
        MaintenanceKind::RecoveryDrill,
    ] {
        assert!(
            !admits(&limits, &[], &maint(1, kind, None), true, false),
            "{kind}"
        );
        assert!(
            admits(&limits, &[], &maint(1, kind, None), false, false),
            "{kind}"
        );
    }
    assert!(admits(
        &limits,
        &[],
        &maint(1, MaintenanceKind::Repair, None),
        true,
        false
    ));
    // Waiting critical work holds back all maintenance.
    assert!(!admits(
        &limits,
        &[],
        &maint(1, MaintenanceKind::Repair, None),
        false,
        true
    ));
    assert!(admits(
        &limits,
        &[],
        &backup(2, Priority::Standard),
        true,
        true
    ));
}
