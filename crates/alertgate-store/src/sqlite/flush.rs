//! Group flush of the write-ahead log, off the writer's critical path.
//!
//! The writer connection commits with `synchronous = NORMAL`: SQLite writes the transaction's WAL
//! frames (the commit record included) into the file but does not wait for the disk. Every write
//! then waits here for an `fdatasync` of the WAL file that *started after* its commit returned,
//! which makes it exactly as durable as `synchronous = FULL` would (that is all FULL adds in WAL
//! mode: a sync of the WAL at each commit; checkpoints sync the WAL before copying it and the
//! database after, in both modes). The difference is who waits: with FULL the writer holds its
//! connection through the flush, so the next batch cannot start; here the connection is free as
//! soon as the frames are written, and one flush covers every commit made before it began.
//!
//! A failed flush poisons the store: after an `fsync` error the kernel may have dropped the dirty
//! pages and a later `fsync` can report success for data that never reached the disk, so no later
//! write is confirmed either; the operator restarts alertgate (SQLite then recovers from the WAL
//! that is on disk).

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{Result, StoreError};

pub(crate) struct WalFlush {
    wal: PathBuf,
    db: PathBuf,
    state: Mutex<State>,
    /// Held by the one thread flushing; `true` once the directory entry of the WAL is synced.
    flushing: Mutex<bool>,
}

#[derive(Default)]
struct State {
    /// Sequence number of the last commit whose frames are written.
    committed: u64,
    /// Every commit up to this one is on disk.
    durable: u64,
    failed: Option<String>,
}

impl WalFlush {
    pub(crate) fn new(db: &Path) -> Self {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        Self {
            wal: PathBuf::from(wal),
            db: db.to_path_buf(),
            state: Mutex::new(State::default()),
            flushing: Mutex::new(false),
        }
    }

    /// Note a commit whose `write()`s have returned; call before releasing the writer connection.
    /// Returns the number to wait for.
    pub(crate) fn committed(&self) -> u64 {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.committed += 1;
        s.committed
    }

    /// Block until commit `seq` is on disk, flushing if no flush that began after it has finished.
    pub(crate) fn wait_durable(&self, seq: u64) -> Result<()> {
        if self.check(seq)? {
            return Ok(());
        }
        let mut dir_synced = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        // Whoever held the lock before may have flushed past `seq` already.
        if self.check(seq)? {
            return Ok(());
        }
        let upto = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .committed;
        let flushed = self.flush(&mut dir_synced);
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match flushed {
            Ok(()) => {
                s.durable = s.durable.max(upto);
                Ok(())
            }
            Err(e) => {
                let why = format!(
                    "the database could not be flushed to disk ({e}); nothing more is accepted until alertgate restarts"
                );
                tracing::error!("{why}");
                s.failed = Some(why.clone());
                Err(StoreError::Unavailable(why))
            }
        }
    }

    /// `Ok(true)` when `seq` is durable; an error once a flush has failed.
    fn check(&self, seq: u64) -> Result<bool> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = &s.failed {
            return Err(StoreError::Unavailable(why.clone()));
        }
        Ok(s.durable >= seq)
    }

    fn flush(&self, dir_synced: &mut bool) -> std::io::Result<()> {
        // Opened each time: SQLite may truncate the WAL after a checkpoint, and a handle kept
        // across the file's deletion (when the last connection closes) would flush nothing.
        match OpenOptions::new().write(true).open(&self.wal) {
            Ok(wal) => wal.sync_data()?,
            // No WAL: the last checkpoint moved everything into the database file and removed
            // it, so the database file is what must be on disk.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                OpenOptions::new().write(true).open(&self.db)?.sync_data()?;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if !*dir_synced {
            // The WAL's directory entry, once: a file that is on disk but not in its directory
            // would be lost with the machine.
            if let Some(dir) = self.wal.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
            *dir_synced = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_flush_covers_every_commit_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("a.db");
        std::fs::write(&db, b"").expect("db");
        std::fs::write(dir.path().join("a.db-wal"), b"frames").expect("wal");
        let f = WalFlush::new(&db);
        let (a, b) = (f.committed(), f.committed());
        f.wait_durable(a).expect("flushed");
        // The flush for `a` began after `b` was written, so it covered `b` too.
        assert!(f.check(b).expect("not failed"));
        let c = f.committed();
        assert!(!f.check(c).expect("not failed"));
        f.wait_durable(c).expect("flushed");
        assert!(f.check(c).expect("not failed"));
    }

    #[test]
    fn a_failed_flush_refuses_every_later_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Neither the WAL nor the database exists: the flush cannot open anything.
        let f = WalFlush::new(&dir.path().join("missing.db"));
        let a = f.committed();
        assert!(matches!(f.wait_durable(a), Err(StoreError::Unavailable(_))));
        let b = f.committed();
        let err = f.wait_durable(b).expect_err("poisoned");
        assert!(err.to_string().contains("restarts"), "{err}");
    }
}
