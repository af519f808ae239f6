//! The spool: undelivered events kept on disk, so that they survive the end
//! of the process (the OpenTelemetry Collector's persistent queue and
//! Vector's disk buffer do the same for their pipelines).
//!
//! One append-only file, `events.spool`, in the configured directory (format
//! in [`record`]), and a lock file, `spool.lock`, held exclusively (`flock`
//! / `LockFileEx`) while a client uses the directory: the kernel releases it
//! when the process ends, however it ends. The lock file also holds the
//! owner's pid, which is how the pure-JS client (no `flock` in Node) tells a
//! live owner from a dead one.
//!
//! [`Spool::sync`] brings the file in line with the store's undelivered
//! events: it appends the new ones (`E` records) and marks those that left
//! the buffer (`D` records); when most of the file is dead, or it would grow
//! past its limit, it rewrites it (a temporary file renamed over it) with
//! only the live events, leaving out the oldest ones that do not fit.
//! It runs on the sync loop's schedule and when stopping, never on the
//! recording path.

mod record;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use super::SyncError;
use crate::event::{AnalyticsEvent, EventId};
use record::HEADER;

/// The spool file's name in its directory.
pub const SPOOL_FILE: &str = "events.spool";
/// The lock file's name in the spool directory.
pub const LOCK_FILE: &str = "spool.lock";
/// Below this size the file is never compacted just for its dead records.
const COMPACT_MIN_BYTES: u64 = 64 * 1024;

/// What a spool holds and has done, for monitoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolStatus {
    /// The spool directory.
    pub dir: PathBuf,
    /// Undelivered events in the spool file now.
    pub spooled: u64,
    /// The spool file's size in bytes.
    pub file_bytes: u64,
    /// Events read back from the file when the client was created (before
    /// the store took them: see [`SyncReport::replayed`](super::SyncReport::replayed)).
    pub read_back: u64,
    /// Undelivered events left out of the spool because it was full
    /// (`max_bytes`), oldest first. They stay in memory and are still sent.
    pub left_out: u64,
    /// A last record cut short by a crash, found when the file was read.
    pub torn_records: u64,
    /// Bytes that were not records, skipped when the file was read.
    pub garbage_bytes: u64,
    /// Intact records that could not be understood, skipped when the file was read.
    pub unreadable_records: u64,
    /// Writes that failed (disk full, permissions…), since the client was created.
    pub write_errors: u64,
}

/// An open spool: the file, its lock, and which events it holds.
pub(crate) struct Spool {
    path: PathBuf,
    file: File,
    /// Held for as long as the spool is open.
    _lock: File,
    max_bytes: u64,
    len: u64,
    /// Events in the file and not marked done, with their record sizes.
    live: HashMap<EventId, u64>,
    live_bytes: u64,
    /// Buffered events left out for lack of room (so that they are not tried
    /// again at every write), until they leave the buffer.
    excluded: HashSet<EventId>,
    status: SpoolStatus,
}

fn unavailable(dir: &Path) -> impl FnOnce(io::Error) -> SyncError + '_ {
    move |source| SyncError::SpoolUnavailable {
        dir: dir.to_owned(),
        source,
    }
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, locks it, and reads
    /// back the events it holds, oldest first.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
    ) -> Result<(Self, Vec<AnalyticsEvent>), SyncError> {
        fs::create_dir_all(dir).map_err(unavailable(dir))?;
        let mut lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(unavailable(dir))?;
        if !lock.try_lock_exclusive().map_err(unavailable(dir))? {
            return Err(SyncError::SpoolLocked {
                dir: dir.to_owned(),
            });
        }
        // The owner's pid, for the pure-JS client (which cannot take the
        // lock itself and checks whether that process is alive instead).
        lock.set_len(0)
            .and_then(|()| writeln!(lock, "{}", std::process::id()))
            .map_err(unavailable(dir))?;
        let path = dir.join(SPOOL_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(unavailable(dir))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(unavailable(dir))?;
        let contents = record::read(&bytes);
        let mut spool = Self {
            path,
            file,
            _lock: lock,
            max_bytes,
            len: bytes.len() as u64,
            live: HashMap::new(),
            live_bytes: 0,
            excluded: HashSet::new(),
            status: SpoolStatus {
                dir: dir.to_owned(),
                read_back: contents.events.len() as u64,
                torn_records: contents.torn_records,
                garbage_bytes: contents.garbage_bytes,
                unreadable_records: contents.unreadable_records,
                ..SpoolStatus::default()
            },
        };
        let events: Vec<AnalyticsEvent> = contents.events.iter().map(|(e, _)| e.clone()).collect();
        if contents.damaged() || !bytes.starts_with(HEADER) {
            // Never append after damage: rewrite the file with what was read.
            spool.compact(&events, true).map_err(unavailable(dir))?;
        } else {
            for (event, size) in &contents.events {
                spool.live.insert(event.event_id(), *size);
                spool.live_bytes += size;
            }
        }
        Ok((spool, events))
    }

    /// What the spool holds and has done.
    pub(crate) fn status(&self) -> SpoolStatus {
        SpoolStatus {
            spooled: self.live.len() as u64,
            file_bytes: self.len,
            ..self.status.clone()
        }
    }

    /// Events in the file now.
    pub(crate) fn spooled(&self) -> u64 {
        self.live.len() as u64
    }

    /// Brings the file in line with `events`, the store's undelivered events
    /// (oldest first); with `durable`, also waits for the disk
    /// (`fdatasync`). A failed write is counted; the file stays readable (a
    /// torn record is skipped by the next reader).
    pub(crate) fn sync(&mut self, events: &[AnalyticsEvent], durable: bool) -> io::Result<()> {
        let result = self.try_sync(events, durable);
        if result.is_err() {
            self.status.write_errors += 1;
        }
        result
    }

    fn try_sync(&mut self, events: &[AnalyticsEvent], durable: bool) -> io::Result<()> {
        let current: HashSet<EventId> = events.iter().map(AnalyticsEvent::event_id).collect();
        self.excluded.retain(|id| current.contains(id));
        let done: Vec<EventId> = self
            .live
            .keys()
            .filter(|id| !current.contains(id))
            .copied()
            .collect();
        let mut appended = Vec::new();
        record::done_records(&done, &mut appended);
        let mut added = Vec::new();
        for event in events {
            let id = event.event_id();
            if !self.live.contains_key(&id) && !self.excluded.contains(&id) {
                let start = appended.len();
                appended.extend_from_slice(&record::event_record(event));
                added.push((id, (appended.len() - start) as u64));
            }
        }
        if appended.is_empty() {
            return if durable {
                self.file.sync_data()
            } else {
                Ok(())
            };
        }
        let gone: u64 = done.iter().filter_map(|id| self.live.get(id)).sum();
        let live_after = self.live_bytes - gone + added.iter().map(|(_, s)| s).sum::<u64>();
        let len_after = self.len + appended.len() as u64;
        let dead_after = len_after.saturating_sub(HEADER.len() as u64 + live_after);
        if live_after == 0
            || len_after > self.max_bytes
            || (dead_after > live_after && len_after > COMPACT_MIN_BYTES)
        {
            return self.compact(events, durable);
        }
        self.file.write_all(&appended)?;
        self.len = len_after;
        for id in &done {
            self.live.remove(id);
        }
        self.live.extend(added);
        self.live_bytes = live_after;
        if durable {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Rewrites the file with `events` only, the newest that fit in
    /// `max_bytes`; the older ones are left out (and counted).
    fn compact(&mut self, events: &[AnalyticsEvent], durable: bool) -> io::Result<()> {
        let budget = self.max_bytes.saturating_sub(HEADER.len() as u64);
        let mut kept: Vec<(EventId, Vec<u8>)> = Vec::new();
        let mut used = 0;
        let mut full = false;
        for event in events.iter().rev() {
            let id = event.event_id();
            if self.excluded.contains(&id) {
                continue;
            }
            let bytes = (!full).then(|| record::event_record(event));
            match bytes {
                Some(bytes) if used + bytes.len() as u64 <= budget => {
                    used += bytes.len() as u64;
                    kept.push((id, bytes));
                }
                // Once one does not fit, every older one is left out too:
                // the oldest go first.
                _ => {
                    full = true;
                    self.excluded.insert(id);
                    self.status.left_out += 1;
                }
            }
        }
        kept.reverse();
        let tmp = self.path.with_extension("spool.tmp");
        {
            let mut out = File::create(&tmp)?;
            let mut buf = HEADER.to_vec();
            for (_, bytes) in &kept {
                buf.extend_from_slice(bytes);
            }
            out.write_all(&buf)?;
            if durable {
                out.sync_all()?;
            }
        }
        fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.len = HEADER.len() as u64 + used;
        self.live = kept
            .into_iter()
            .map(|(id, b)| (id, b.len() as u64))
            .collect();
        self.live_bytes = used;
        Ok(())
    }
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .field("spooled", &self.live.len())
            .field("file_bytes", &self.len)
            .finish_non_exhaustive()
    }
}
