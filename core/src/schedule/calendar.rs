//! The wedding calendar: what the scheduler knows about each wedding, kept in
//! the state database.
//!
//! Time zones are IANA names resolved with `chrono-tz` (the tz database is
//! compiled in). A fixed UTC offset would be wrong for half of the year in
//! every venue with daylight saving time: the venue's date, "the wedding's
//! day" and "Saturday" are all local-calendar notions.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::{db_err, StateDb};
use crate::Context;

/// One wedding on the calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeddingEvent {
    /// The wedding id (the same id backups use).
    pub id: String,
    /// The tenant (studio, planner) the wedding belongs to.
    #[serde(default)]
    pub tenant: String,
    /// The wedding's date, in the venue's time zone.
    pub date: NaiveDate,
    /// When the ceremony starts, venue-local time.
    pub start_time: NaiveTime,
    /// The venue's IANA time zone, e.g. `"Europe/Paris"`.
    pub time_zone: Tz,
    /// The venue's region (free text, e.g. `"eu-west"`).
    #[serde(default)]
    pub venue_region: String,
    /// Photo uploads in progress right now (0 = none).
    #[serde(default)]
    pub active_photo_uploads: u32,
    /// Vendor deadlines (albums, prints, deliveries).
    #[serde(default)]
    pub vendor_deadlines: Vec<DateTime<Utc>>,
    /// The wedding's folder: when set, the scheduler backs it up
    /// periodically (and in real time while the wedding is critical).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    /// Real-time mode (watch `source`) while the wedding is critical.
    #[serde(default = "yes")]
    pub realtime: bool,
}

fn yes() -> bool {
    true
}

impl WeddingEvent {
    /// A wedding on `date` at `start_time` in `time_zone`, nothing else set.
    pub fn new(
        id: impl Into<String>,
        date: NaiveDate,
        start_time: NaiveTime,
        time_zone: Tz,
    ) -> Self {
        WeddingEvent {
            id: id.into(),
            tenant: String::new(),
            date,
            start_time,
            time_zone,
            venue_region: String::new(),
            active_photo_uploads: 0,
            vendor_deadlines: Vec::new(),
            source: None,
            realtime: true,
        }
    }

    /// The ceremony's start as an instant. A start time that falls in a
    /// daylight-saving gap is moved to the first valid instant after it; an
    /// ambiguous one (the hour repeated in autumn) takes the earlier instant.
    pub fn starts_at(&self) -> DateTime<Utc> {
        let naive = self.date.and_time(self.start_time);
        let mut probe = naive;
        for _ in 0..4 {
            if let Some(t) = self.time_zone.from_local_datetime(&probe).earliest() {
                return t.with_timezone(&Utc);
            }
            probe += chrono::Duration::minutes(30);
        }
        // No tz has a gap over two hours; fall back to reading it as UTC.
        Utc.from_utc_datetime(&naive)
    }

    /// The venue-local date at `now`.
    pub fn local_date(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.time_zone).date_naive()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        crate::engine::check_wedding_id(&self.id)?;
        if self.tenant.len() > 200 || self.venue_region.len() > 200 {
            return Err(Error::invalid(format!(
                "wedding {}: tenant and venue region are limited to 200 bytes",
                self.id
            )));
        }
        Ok(())
    }
}

/// The calendar, from [`crate::Engine::calendar`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Calendar {
    db: Arc<StateDb>,
    ctx: Context,
    wake: Arc<tokio::sync::Notify>,
}

impl Calendar {
    pub(crate) fn new(db: Arc<StateDb>, ctx: Context, wake: Arc<tokio::sync::Notify>) -> Self {
        Calendar { db, ctx, wake }
    }

    /// Adds a wedding; fails when its id is already on the calendar.
    pub fn add(&self, event: WeddingEvent) -> Result<()> {
        event.validate()?;
        let json = to_json(&event)?;
        let inserted = self
            .db
            .conn()
            .execute(
                "INSERT OR IGNORE INTO weddings (id, event, updated_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![event.id, json, self.ctx.now().timestamp_millis()],
            )
            .map_err(db_err)?;
        if inserted == 0 {
            return Err(Error::invalid(format!(
                "wedding {} is already on the calendar; use update",
                event.id
            )));
        }
        tracing::info!(wedding = %event.id, date = %event.date, tz = %event.time_zone, "wedding added to the calendar");
        self.wake.notify_one();
        Ok(())
    }

    /// Replaces a wedding's entry; fails when it is not on the calendar.
    pub fn update(&self, event: WeddingEvent) -> Result<()> {
        event.validate()?;
        let json = to_json(&event)?;
        let updated = self
            .db
            .conn()
            .execute(
                "UPDATE weddings SET event = ?2, updated_ms = ?3 WHERE id = ?1",
                rusqlite::params![event.id, json, self.ctx.now().timestamp_millis()],
            )
            .map_err(db_err)?;
        if updated == 0 {
            return Err(Error::NotFound(format!(
                "wedding {} is not on the calendar",
                event.id
            )));
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Removes a wedding (its backups stay); fails when it is not there.
    pub fn remove(&self, wedding_id: &str) -> Result<()> {
        let conn = self.db.conn();
        let n = conn
            .execute("DELETE FROM weddings WHERE id = ?1", [wedding_id])
            .map_err(db_err)?;
        conn.execute("DELETE FROM periodic WHERE wedding_id = ?1", [wedding_id])
            .map_err(db_err)?;
        if n == 0 {
            return Err(Error::NotFound(format!(
                "wedding {wedding_id} is not on the calendar"
            )));
        }
        self.wake.notify_one();
        Ok(())
    }

    /// One wedding.
    pub fn get(&self, wedding_id: &str) -> Result<Option<WeddingEvent>> {
        let json: Option<String> = self
            .db
            .conn()
            .query_row(
                "SELECT event FROM weddings WHERE id = ?1",
                [wedding_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        json.map(|j| from_json(&j)).transpose()
    }

    /// Every wedding, by date then id.
    pub fn list(&self) -> Result<Vec<WeddingEvent>> {
        let conn = self.db.conn();
        let mut stmt = conn.prepare("SELECT event FROM weddings").map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(from_json(&row.map_err(db_err)?)?);
        }
        out.sort_by(|a, b| a.date.cmp(&b.date).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}

fn to_json(event: &WeddingEvent) -> Result<String> {
    serde_json::to_string(event).map_err(|e| Error::Internal(format!("serialize event: {e}")))
}

fn from_json(json: &str) -> Result<WeddingEvent> {
    serde_json::from_str(json)
        .map_err(|e| Error::corrupt("state", "weddings", format!("unreadable event: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn calendar() -> (tempfile::TempDir, Calendar) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(StateDb::open(dir.path()).unwrap());
        let ctx = Context::seeded(Arc::new(ManualClock::new(Utc::now())), 1);
        (dir, Calendar::new(db, ctx, Default::default()))
    }

    fn event(id: &str) -> WeddingEvent {
        WeddingEvent::new(
            id,
            NaiveDate::from_ymd_opt(2025, 6, 14).unwrap(),
            NaiveTime::from_hms_opt(15, 0, 0).unwrap(),
            chrono_tz::Europe::Paris,
        )
    }

    #[test]
    fn add_update_remove_list() {
        let (dir, cal) = calendar();
        cal.add(event("b")).unwrap();
        cal.add(event("a")).unwrap();
        assert!(cal.add(event("a")).is_err());
        let mut e = event("a");
        e.active_photo_uploads = 3;
        e.vendor_deadlines
            .push(Utc.with_ymd_and_hms(2025, 7, 1, 12, 0, 0).unwrap());
        cal.update(e.clone()).unwrap();
        assert_eq!(cal.get("a").unwrap(), Some(e.clone()));
        let ids: Vec<_> = cal.list().unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["a", "b"]);
        cal.remove("b").unwrap();
        assert!(matches!(cal.remove("b"), Err(Error::NotFound(_))));
        assert!(matches!(cal.update(event("zz")), Err(Error::NotFound(_))));
        // Persisted: a second database handle sees it.
        let db = Arc::new(StateDb::open(dir.path()).unwrap());
        let again = Calendar::new(db, cal.ctx.clone(), Default::default());
        assert_eq!(again.list().unwrap(), vec![e]);
    }

    #[test]
    fn serde_uses_iana_names_and_camel_case() {
        let json = serde_json::to_value(event("a")).unwrap();
        assert_eq!(json["timeZone"], "Europe/Paris");
        assert_eq!(json["startTime"], "15:00:00");
        let bad = json.to_string().replace("Europe/Paris", "Mars/Olympus");
        assert!(serde_json::from_str::<WeddingEvent>(&bad).is_err());
    }

    #[test]
    fn start_instant_follows_daylight_saving() {
        let summer = event("a");
        assert_eq!(
            summer.starts_at(),
            Utc.with_ymd_and_hms(2025, 6, 14, 13, 0, 0).unwrap()
        );
        let mut winter = event("a");
        winter.date = NaiveDate::from_ymd_opt(2025, 12, 13).unwrap();
        assert_eq!(
            winter.starts_at(),
            Utc.with_ymd_and_hms(2025, 12, 13, 14, 0, 0).unwrap()
        );
        // 02:30 on the spring-forward night does not exist in Paris.
        let mut gap = event("a");
        gap.date = NaiveDate::from_ymd_opt(2025, 3, 30).unwrap();
        gap.start_time = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        assert_eq!(
            gap.starts_at(),
            Utc.with_ymd_and_hms(2025, 3, 30, 1, 0, 0).unwrap()
        );
    }
}
