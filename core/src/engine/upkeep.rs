//! The engine's verification, repair, retention and migration entry
//! points; each delegates to its module.

use super::Engine;
use super::Inner;
use crate::api::VerifyDepth;
use crate::error::Result;
use crate::prune::{PruneOptions, PrunePlan, PruneReport};
use crate::repair::{ArchiveOptions, ArchivePlan, RepairPlan, RepairReport, RetireReport};
use crate::verify::{DrillReport, DrillSample, IntegrityReport, VerifyOptions, VerifyScope};

impl Engine {
    pub(crate) fn inner(&self) -> &std::sync::Arc<Inner> {
        &self.inner
    }

    /// Verifies the repository (or one wedding's part of it) with default
    /// options. `Quick` checks from one listing per location that every
    /// shard exists with its recorded size, and that each metadata object
    /// is on every location (a coded one: on its k+m); `Deep` reads and
    /// checks every shard, decodes and decrypts a sample of packs, and
    /// checks every metadata copy or shard.
    pub async fn verify(&self, scope: VerifyScope, depth: VerifyDepth) -> Result<IntegrityReport> {
        self.verify_with(scope, depth, VerifyOptions::default())
            .await
    }

    /// [`Engine::verify`] with a rate limit, a byte budget, resumption of an
    /// interrupted pass (`scrub-cursor.json` in the state folder) and
    /// automatic repair.
    pub async fn verify_with(
        &self,
        scope: VerifyScope,
        depth: VerifyDepth,
        options: VerifyOptions,
    ) -> Result<IntegrityReport> {
        let report = crate::verify::verify(&self.inner, scope, depth, &options).await?;
        crate::health::record_scrub(
            &self.inner.config.state_dir,
            &report,
            self.inner.config.context.now(),
        );
        Ok(report)
    }

    /// Plans the repair of what a verification found; writes nothing.
    pub async fn repair_plan(&self, report: &IntegrityReport) -> Result<RepairPlan> {
        crate::repair::plan(&self.inner, report).await
    }

    /// Executes a repair plan: shards rebuilt from k good ones, written, read
    /// back, new placements recorded in a new index object, and metadata
    /// replicas copied from a good copy.
    pub async fn repair(&self, plan: RepairPlan) -> Result<RepairReport> {
        let report = crate::repair::execute(&self.inner, plan).await?;
        crate::health::record_repair(&self.inner.config.state_dir, &report);
        Ok(report)
    }

    /// A quick verification, then the repair of everything it found:
    /// missing shards and metadata (a wiped location is rebuilt in full).
    /// Bit rot inside shards needs a deep verification
    /// ([`VerifyOptions::auto_repair`] repairs after one).
    pub async fn repair_all(&self) -> Result<RepairReport> {
        let report = self.verify(VerifyScope::All, VerifyDepth::Quick).await?;
        let plan = self.repair_plan(&report).await?;
        self.repair(plan).await
    }

    /// Plans moving every shard off a location; writes nothing.
    pub async fn retire_plan(&self, location_id: &str) -> Result<RepairPlan> {
        crate::repair::retire_plan(&self.inner, location_id).await
    }

    /// Retires a location: marks it retired in the repository (every
    /// process stops writing to it), re-creates each of its shards on
    /// another location, and records the new placements. It stays readable
    /// until the operator removes it from the configuration.
    pub async fn retire_location(&self, location_id: &str) -> Result<RetireReport> {
        crate::repair::retire_location(&self.inner, location_id).await
    }

    /// Plans a prune: snapshots the retention rules (or `forget_ids`) drop,
    /// packs to mark, and packs of expired markers to delete. Refused on
    /// Saturdays and blocked days.
    pub async fn prune_plan(&self, options: &PruneOptions) -> Result<PrunePlan> {
        crate::prune::prune_plan(&self.inner, options).await
    }

    /// Executes a prune plan (two-phase: forget and mark now, delete packs of
    /// markers whose grace has passed and which are still unreferenced).
    pub async fn prune(&self, plan: PrunePlan, options: &PruneOptions) -> Result<PruneReport> {
        crate::prune::prune(&self.inner, plan, options).await
    }

    /// Plans moving the packs of snapshots older than the cutoff to cold locations.
    pub async fn archive_plan(&self, options: &ArchiveOptions) -> Result<ArchivePlan> {
        crate::repair::archive_plan(&self.inner, options).await
    }

    /// Executes an archival plan.
    pub async fn archive(
        &self,
        plan: ArchivePlan,
        options: &ArchiveOptions,
    ) -> Result<RepairReport> {
        crate::repair::archive(&self.inner, plan, &options.window).await
    }

    /// A recovery drill: restores a sampled snapshot to a temporary folder,
    /// checks every file, times it, removes the folder, and keeps the report
    /// in the state folder.
    pub async fn drill(&self, sample: DrillSample) -> Result<DrillReport> {
        crate::verify::drill::drill(self, sample).await
    }

    /// The latest drill report kept in the state folder.
    pub fn last_drill(&self) -> Result<Option<DrillReport>> {
        crate::verify::drill::last_drill(&self.inner.config.state_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>(_: &T) {}

    /// Hosts spawn these futures on multi-threaded runtimes.
    #[allow(dead_code, reason = "compile-time check only")]
    fn entry_points_are_send(e: &Engine, r: &IntegrityReport) {
        send(&e.verify(VerifyScope::All, VerifyDepth::Deep));
        send(&e.repair_plan(r));
        send(&e.repair(RepairPlan::default()));
        send(&e.repair_all());
        send(&e.retire_location("x"));
        let opts = PruneOptions::default();
        send(&e.prune_plan(&opts));
        let a = ArchiveOptions::default();
        send(&e.archive_plan(&a));
        send(&e.drill(DrillSample::Random));
    }
}
