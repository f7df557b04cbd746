//! SQLite commits made durable after the write lock is let go.
//!
//! With `synchronous = FULL` every `COMMIT` waits for the WAL to reach the disk while it holds
//! the database's one write lock: at 32 concurrent ingests that fsync (1-1.3 ms for a batch's
//! ~300 KB) was a third of each batch's time on the lock, and the next batch could not start
//! until it was over. The write connection runs at `synchronous = NORMAL` instead, which
//! writes the WAL at `COMMIT` but leaves it in the OS's cache, and a writer syncs the WAL file
//! itself once it has let the lock go. Nothing is acknowledged before that sync: a commit's
//! caller waits for [`WalSync::durable`], as it waited for the `COMMIT` before. Meanwhile the
//! next transaction runs, and one sync covers every commit finished before it began.
//!
//! SQLite keeps the rest of the WAL's promises at `NORMAL`: a checkpoint syncs the WAL before
//! it copies pages into the database (and the database after), and the WAL's header is synced
//! when the file starts over. So a commit on disk in the WAL stays on disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The WAL of one SQLite database, and how far it is known to be on disk.
pub(crate) struct WalSync {
    path: PathBuf,
    /// Commits finished on the write connection, counted as they finish.
    committed: AtomicU64,
    /// All commits up to this count are on disk.
    synced: AtomicU64,
    /// One sync at a time: a caller that waited for another's sync is usually covered by it.
    syncing: tokio::sync::Mutex<()>,
    /// Syncs made, for the metrics and tests (commits per sync is how well they group).
    syncs: AtomicU64,
}

/// A finished commit's place in the count; [`WalSync::durable`] waits until it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

impl WalSync {
    /// For the database in file `database` (its WAL is `database-wal`).
    pub(crate) fn new(database: &str) -> Self {
        WalSync {
            path: PathBuf::from(format!("{database}-wal")),
            committed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            syncing: tokio::sync::Mutex::new(()),
            syncs: AtomicU64::new(0),
        }
    }

    /// Counts a commit that has just returned. Called by the writer while it still holds the
    /// write lock, so the count follows the order of the commits: a sync that begins after
    /// reading the count covers every commit counted so far.
    pub(crate) fn committed(&self) -> Ticket {
        Ticket(self.committed.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Returns once the commit of `ticket` is on disk, syncing the WAL if no sync that began
    /// after that commit has already.
    pub(crate) async fn durable(&self, ticket: Ticket) -> std::io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= ticket.0 {
            return Ok(());
        }
        let _turn = self.syncing.lock().await;
        if self.synced.load(Ordering::Acquire) >= ticket.0 {
            return Ok(());
        }
        let through = self.committed.load(Ordering::Acquire);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || sync_file(&path))
            .await
            .map_err(std::io::Error::other)??;
        self.synced.fetch_max(through, Ordering::AcqRel);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("parley_wal_syncs_total").increment(1);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

/// Flushes the file's data to disk. The file is opened afresh each time: SQLite deletes the
/// WAL when its last connection closes (after copying it all into the database and syncing
/// that), and a handle kept open would then sync a file no longer in use. A missing WAL has
/// nothing in it to sync, for the same reason.
fn sync_file(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::File::open(path) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// One sync covers every commit finished before it began; a commit finished after it
    /// needs one more.
    #[test]
    fn one_sync_covers_the_commits_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("inbox.db").display().to_string();
        std::fs::write(format!("{database}-wal"), b"frames").unwrap();
        let wal = WalSync::new(&database);
        runtime().block_on(async {
            let tickets: Vec<Ticket> = (0..3).map(|_| wal.committed()).collect();
            wal.durable(tickets[2]).await.unwrap();
            assert_eq!(wal.syncs(), 1);
            wal.durable(tickets[0]).await.unwrap();
            wal.durable(tickets[1]).await.unwrap();
            assert_eq!(wal.syncs(), 1);

            let later = wal.committed();
            assert!(later > tickets[2]);
            wal.durable(later).await.unwrap();
            assert_eq!(wal.syncs(), 2);
        });
    }

    /// Callers waiting together share syncs: never more syncs than waiters, and each returns.
    #[test]
    fn concurrent_waiters_share_a_sync() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("inbox.db").display().to_string();
        std::fs::write(format!("{database}-wal"), b"frames").unwrap();
        let wal = std::sync::Arc::new(WalSync::new(&database));
        runtime().block_on(async {
            let waits: Vec<_> = (0..8)
                .map(|_| {
                    let ticket = wal.committed();
                    let wal = wal.clone();
                    tokio::spawn(async move { wal.durable(ticket).await })
                })
                .collect();
            for wait in waits {
                wait.await.unwrap().unwrap();
            }
            // the first waiter's sync covers all eight: they were counted before it began
            assert_eq!(wal.syncs(), 1);
        });
    }

    #[test]
    fn a_missing_wal_has_nothing_to_sync() {
        let dir = tempfile::tempdir().unwrap();
        let wal = WalSync::new(&dir.path().join("gone.db").display().to_string());
        runtime().block_on(async {
            let ticket = wal.committed();
            wal.durable(ticket).await.unwrap();
        });
    }
}
