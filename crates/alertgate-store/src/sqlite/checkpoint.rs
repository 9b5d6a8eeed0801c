//! WAL checkpoints, mostly off the write path.
//!
//! By default SQLite checkpoints on the connection that commits, right after a commit that leaves
//! 1,000 or more frames in the WAL (`wal_autocheckpoint`), before the commit returns: on alertgate
//! that is the writer. Small group commits write many frames (each touches a leaf page of every
//! table and index it writes; a purge adds its own), so under sustained intake the writer stops
//! several times a second to copy the WAL's pages into the database file and sync both files,
//! and the requests of that batch, and of the next, wait.
//!
//! Instead, every connection runs with `wal_autocheckpoint = 0`, and one thread with its own
//! connection checkpoints, every [`CheckpointSettings::tick`] in which something was committed:
//! - a `PASSIVE` checkpoint, which copies and syncs what it can without waiting for (or
//!   blocking) the writer or readers. Under sustained intake it never quite finishes — batches
//!   commit while it copies — and the WAL only starts over from its beginning when a write
//!   transaction begins with every frame copied, so on its own it would let the WAL grow;
//! - so when the WAL holds [`CheckpointSettings::restart_frames`] or more, the same again while
//!   holding the writer's connection (between two intake batches, after the first was
//!   answered). It copies only what was committed since the first pass, but still syncs the WAL
//!   and the database file, which intake waits for — once per `restart_frames` frames instead of
//!   once per 1,000. The writer's next transaction then starts the WAL over, which keeps the file
//!   at about `restart_frames` plus one tick of writes;
//! - when nothing was committed for [`CheckpointSettings::idle_after`], a `TRUNCATE` checkpoint
//!   (also between batches), which empties the WAL file;
//! - when the WAL nevertheless holds more than [`CheckpointSettings::max_wal_frames`] (a reader
//!   that keeps an old snapshot keeps a checkpoint from finishing), a `RESTART` checkpoint, which
//!   waits a little for that reader.
//!
//! A `PASSIVE` pass that does not copy the whole WAL leaves the pages it copied unsynced in the
//! database file (SQLite syncs the file only when a checkpoint completes); the pass that then
//! completes while holding the writer would flush all of them, and intake would wait for it
//! (under a purge, with 40 MiB of copied pages, 20–30 ms). So after each unlocked pass this
//! thread syncs the database file itself, unlocked, and the held pass syncs only what it copied.
//!
//! The checkpoints that hold the writer use this thread's connection with a short busy timeout:
//! they give up rather than hold intake while a reader finishes. A checkpoint that fails (the
//! disk is full, an I/O error) is logged once and retried at the next tick; commits are not
//! affected by it beyond the WAL growing meanwhile.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::Result;

/// When the checkpoint thread works (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct CheckpointSettings {
    /// Short: a pass syncs the WAL and the database file, and many small syncs delay intake's
    /// own (the writer's WAL flush) less than a few big ones (README, "The embedded database's
    /// WAL": p99 at half the peak rate 15 ms with 250 ms, 6 ms with 25 ms).
    pub tick: Duration,
    pub restart_frames: i64,
    pub idle_after: Duration,
    pub max_wal_frames: i64,
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(25),
            // 32 MiB of 4 KiB pages.
            restart_frames: 8_192,
            idle_after: Duration::from_secs(1),
            // 128 MiB.
            max_wal_frames: 32_768,
        }
    }
}

type Stop = Arc<(Mutex<bool>, Condvar)>;

/// The running checkpoint thread; dropping it stops the thread.
pub(crate) struct Checkpointer {
    stop: Stop,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (flag, wake) = &*self.stop;
        if let Ok(mut stopped) = flag.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start checkpointing the database at `path` (already open in WAL mode), whose intake writes go
/// through `writer`.
pub(crate) fn start(
    path: &Path,
    writer: Arc<Mutex<super::Writer>>,
    settings: CheckpointSettings,
) -> Result<Checkpointer> {
    let conn = Connection::open(path)?;
    // Only TRUNCATE and RESTART wait (for readers), and they do so holding the writer: they
    // should give up quickly and try again later.
    conn.busy_timeout(Duration::from_millis(20))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;")?;
    // Synced after each unlocked pass (see the module docs).
    let file = DatabaseFile {
        file: std::fs::File::open(path)
            .map_err(|e| crate::StoreError::Unavailable(format!("{}: {e}", path.display())))?,
        path: path.to_path_buf(),
    };
    let stop: Stop = Arc::new((Mutex::new(false), Condvar::new()));
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("alertgate-checkpoint".into())
            .spawn(move || run(conn, file, writer, settings, stop))
            .map_err(|e| crate::StoreError::Other(format!("starting the checkpointer: {e}")))?
    };
    Ok(Checkpointer {
        stop,
        thread: Some(thread),
    })
}

/// What a `PRAGMA wal_checkpoint(…)` reported.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// A TRUNCATE or RESTART could not get the locks it waits for.
    busy: bool,
    /// Frames in the WAL.
    log: i64,
    /// Frames copied into the database, in total.
    checkpointed: i64,
}

fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Outcome> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok(Outcome {
            busy: r.get::<_, i64>(0)? != 0,
            log: r.get(1)?,
            checkpointed: r.get(2)?,
        })
    })
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// The database file, for syncing what a pass copied into it.
struct DatabaseFile {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl DatabaseFile {
    /// Flush what a checkpoint copied into the file to the disk (see the module docs).
    fn sync(&self) -> rusqlite::Result<()> {
        self.file.sync_data().map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_FSYNC),
                Some(format!("syncing {}: {e}", self.path.display())),
            )
        })
    }
}

fn run(
    conn: Connection,
    file: DatabaseFile,
    writer: Arc<Mutex<super::Writer>>,
    settings: CheckpointSettings,
    stop: Stop,
) {
    // Hold the writer's connection: no intake batch commits meanwhile.
    let between_batches = || {
        writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    let mut seen = data_version(&conn).ok();
    let mut last_change = Instant::now();
    // Whether the WAL may hold something a TRUNCATE would remove.
    let mut dirty = true;
    let mut failing = false;
    // Frames the last pass had copied (a new WAL starts again from 0).
    let mut copied = 0;
    loop {
        {
            let (flag, wake) = &*stop;
            let Ok(stopped) = flag.lock() else { return };
            let Ok((stopped, _)) = wake.wait_timeout_while(stopped, settings.tick, |s| !*s) else {
                return;
            };
            if *stopped {
                return;
            }
        }
        let result = (|| -> rusqlite::Result<()> {
            let version = data_version(&conn)?;
            if seen != Some(version) {
                seen = Some(version);
                last_change = Instant::now();
                dirty = true;
                let started = Instant::now();
                let first = checkpoint(&conn, "PASSIVE")?;
                if first.checkpointed != copied && first.checkpointed > 0 {
                    file.sync()?;
                }
                copied = first.checkpointed;
                tracing::trace!(
                    frames = first.log,
                    copied = first.checkpointed,
                    took_us = started.elapsed().as_micros() as u64,
                    "passive checkpoint"
                );
                if first.log > settings.max_wal_frames {
                    let _writer = between_batches();
                    let restart = checkpoint(&conn, "RESTART")?;
                    tracing::warn!(
                        frames = first.log,
                        copied = first.checkpointed,
                        completed = !restart.busy,
                        "the WAL outgrew its bound (a long read?); forced a RESTART checkpoint"
                    );
                } else if first.log >= settings.restart_frames {
                    let _writer = between_batches();
                    let held = Instant::now();
                    let second = checkpoint(&conn, "PASSIVE")?;
                    tracing::debug!(
                        frames = first.log,
                        copied = first.checkpointed,
                        then = second.log - first.log,
                        held_us = held.elapsed().as_micros() as u64,
                        "checkpoint caught up between batches"
                    );
                }
            } else if dirty && last_change.elapsed() >= settings.idle_after {
                let _writer = between_batches();
                let truncate = checkpoint(&conn, "TRUNCATE")?;
                dirty = truncate.busy || truncate.log > 0;
            }
            Ok(())
        })();
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("WAL checkpoints succeed again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying (is the disk full?)");
            }
            Err(_) => {}
        }
    }
}
