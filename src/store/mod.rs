//! The inbox store: tenants, contacts, threads and messages on SQLite (default) or PostgreSQL.
//!
//! Both engines share one set of queries through sqlx's `Any` driver: the schemas mirror each
//! other (times as unix milliseconds, flags as 0/1 integers) and only full-text search and
//! transaction start differ by engine.

mod classifications;
mod corrections;
mod counts;
mod cursor;
mod drafts;
mod follow_ups;
pub mod ingest;
mod key_cache;
mod messages;
mod page_cache;
mod placeholders;
mod rows;
mod search;
mod search_upkeep;
mod settings;
mod stats;
mod tenants;
mod threads;
mod wal_sync;

use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Transaction};

use crate::domain::{Role, UnknownVariant};
use wal_sync::WalSync;

pub use corrections::{CorrectedMessage, LabelCorrection};
pub use counts::ThreadCounts;
pub use cursor::CursorError;
pub use drafts::NewDraft;
pub use ingest::{InboundMessage, IngestLoad, IngestQueue, Ingested};
pub use messages::{Classified, MessagePage, OutboundMessage};
pub use settings::PromptVersion;
pub use stats::ResponseTimes;
pub use threads::{NewCustomer, ThreadFilter, ThreadPage, ThreadQuery};

/// Which database sits behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The tenant and role an API key resolves to; every store call is scoped by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Cursor(#[from] CursorError),
    #[error("unsupported database url `{0}`: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("the ingest queue has shut down")]
    Closed,
    #[error(transparent)]
    Sync(#[from] SyncFailed),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether PostgreSQL failed the transaction to break a deadlock (40P01) or a
    /// serialization conflict (40001): nothing was wrong with it, and run again it will
    /// usually pass.
    pub fn is_lock_conflict(&self) -> bool {
        matches!(self.database_code().as_deref(), Some("40P01" | "40001"))
    }

    /// A lock conflict, or a row referenced that a concurrent transaction deleted (23503): what
    /// a write that raced a merge of threads fails with.
    pub fn is_merge_race(&self) -> bool {
        self.is_lock_conflict() || self.database_code().as_deref() == Some("23503")
    }

    fn database_code(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            StoreError::Database(e) => e.as_database_error().and_then(|d| d.code()),
            _ => None,
        }
    }
}

impl From<UnknownVariant> for StoreError {
    fn from(e: UnknownVariant) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // PostgreSQL's text cannot hold the NUL character, which SQLite's and JSON's can: a
        // value with one is the caller's to fix (22021 for a bound text, 22P05 for one inside
        // JSON), not a failure of the database.
        let code = e.as_database_error().and_then(|d| d.code());
        if matches!(code.as_deref(), Some("22021" | "22P05")) {
            return StoreError::Invalid(
                "text must not contain the NUL character (\\u0000)".to_string(),
            );
        }
        StoreError::Database(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// A connection pool plus the engine it talks to.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    /// A compaction of the header counts is running (see `counts`); one at a time is plenty.
    compacting: Arc<AtomicBool>,
    keys: Arc<key_cache::KeyCache>,
    pages: Arc<page_cache::PageCache>,
    /// SQLite's one connection for writes, which every write transaction of this process
    /// queues for (`None` on PostgreSQL). Queued here, two of our writers (the ingest queue and
    /// the triage worker) no longer meet at SQLite's lock, where the second slept in its busy
    /// handler (1, 2, 5, 10 ... 100 ms between tries): it wakes the moment the first commits.
    /// And one connection keeps its page cache: SQLite drops a connection's cache when it
    /// finds the database changed by another, so writers drawn from the readers' pool read
    /// back from the file, at every commit, the index pages they were about to change.
    writer: Option<Arc<tokio::sync::Mutex<Writer>>>,
    /// PostgreSQL's connections for searches, which plan every statement once (`None` on
    /// SQLite). Planning a search for its parameters took 2-4 ms, ten times what running it
    /// takes for most searches, and the server never switched to its generic plan by itself
    /// (it prices that plan above the custom ones). The query's shape already fixes the plan:
    /// how far its walk over the message index goes is decided at run time. Set once on
    /// each of these connections, the setting costs a search nothing; set per search (`SET
    /// LOCAL` in a transaction of its own) it cost three round trips, and two concurrent
    /// searches answered 15 % fewer requests a second (BENCHMARKS.md, session 28). Every
    /// other statement, on the main pool, is planned as before.
    searches: Option<AnyPool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine)
            .finish()
    }
}

/// How every SQLite connection is set up. WAL lets readers run beside the single writer; FULL
/// sync makes an acknowledged ingest survive power loss, and group commit pays for it. 16 MiB
/// of page cache per connection (the default is 2) keeps the inbox indexes of a 1M-message
/// store in memory.
///
/// The database file is also read through a memory map (up to SQLite's 2 GiB cap, past which
/// it reads as before): each page a query touches is then the operating system's cached page,
/// not a copy of it into SQLite's cache. Search, which touches a few hundred index pages a
/// query, answered a third more requests at 1M messages for it (BENCHMARKS.md, session 27).
/// The map holds no data of its own: the pages are the file cache's, and the WAL (the newest
/// commits) is read as before. The price: a disk error while reading the file ends the
/// process (a signal) rather than failing the one query; acknowledged writes stay on
/// disk either way.
const SQLITE_SETUP: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384; \
     PRAGMA mmap_size = 2147418112;";

/// How SQLite's write connection differs, where its WAL is synced by its writers:
/// - `synchronous = NORMAL`: its `COMMIT` writes the WAL without waiting for the disk;
/// - a checkpoint after 10,000 pages of WAL (40 MB), not 1,000: the checkpoint runs on the
///   writer, within the `COMMIT` that crossed the mark, and copies each page once however
///   many commits rewrote it (the inbox's index pages are rewritten by most of them);
/// - statement journals in memory: each multi-row `INSERT` that may fail halfway keeps one,
///   and they were 4 % of the writer's time in a temporary file.
///
/// Measured together on 32 concurrent ingests (session 26): 3.2-3.8k msg/s without the last
/// two, 4.0-4.4k with them.
const WRITER_SETUP: &str =
    "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 10000; PRAGMA temp_store = MEMORY;";

/// Sets SQLite's write connection to leave its commits' WAL sync to its writers
/// ([`wal_sync`]), where the database is in WAL mode in a file; `None` (and each `COMMIT`
/// syncing as it finishes) otherwise.
async fn sync_after_commit(conn: &mut AnyConnection) -> Result<Option<Arc<WalSync>>, StoreError> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut *conn)
            .await?;
    if !mode.eq_ignore_ascii_case("wal") || file.is_empty() {
        return Ok(None);
    }
    conn.execute(WRITER_SETUP).await?;
    Ok(Some(Arc::new(WalSync::new(&file))))
}

/// How each of PostgreSQL's search connections is set up (`Store::searches`).
const POSTGRES_SEARCH_SETUP: &str = "SET plan_cache_mode = force_generic_plan";

/// How a pool of up to `connections` connects, each connection set up by `setup`.
fn pool_options(engine: Engine, connections: u32, setup: Option<&'static str>) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        // A SQLite connection lives in this process and cannot drop away; pinging it before
        // each use cost every query one more round trip to the connection's thread.
        .test_before_acquire(engine == Engine::Postgres)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if let Some(setup) = setup {
                    conn.execute(setup).await?;
                }
                Ok(())
            })
        })
}

impl Store {
    /// Connects and applies pending migrations. `sqlite://` URLs create the file if missing.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let url = match engine {
            Engine::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match engine {
            Engine::Sqlite => pool_options(engine, 8, Some(SQLITE_SETUP)),
            Engine::Postgres => pool_options(engine, 16, None),
        }
        .connect_with(options.clone())
        .await?;
        match engine {
            Engine::Sqlite => {
                sqlx::migrate!("migrations/sqlite").run(&pool).await?;
                let started = std::time::Instant::now();
                let indexed = search::index_stored_messages(&pool).await?;
                if indexed > 0 {
                    tracing::info!(
                        messages = indexed,
                        seconds = started.elapsed().as_secs_f64(),
                        "indexed the stored messages for search"
                    );
                }
            }
            Engine::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        let writer = match engine {
            Engine::Sqlite => {
                let mut conn = AnyConnection::connect_with(&options).await?;
                conn.execute(SQLITE_SETUP).await?;
                let wal = sync_after_commit(&mut conn).await?;
                Some(Arc::new(tokio::sync::Mutex::new(Writer {
                    conn,
                    abandoned: false,
                    wal,
                })))
            }
            Engine::Postgres => None,
        };
        // connected on the first search: the pool above has already reached the server
        let searches = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(
                pool_options(engine, 4, Some(POSTGRES_SEARCH_SETUP)).connect_lazy_with(options),
            ),
        };
        Ok(Store {
            pool,
            engine,
            compacting: Arc::default(),
            keys: Arc::default(),
            pages: Arc::default(),
            writer,
            searches,
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Checks the database answers; backs `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Starts a write transaction. On SQLite it runs on the `writer` connection, and the
    /// database's lock is taken up front (`IMMEDIATE`) so that a writer of another process
    /// waits on the busy timeout instead of failing on lock upgrade.
    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let mut tx = self.begin_write_unsent().await?;
        if let Some(begin) = tx.take_begin() {
            tx.execute(begin).await?;
        }
        Ok(tx)
    }

    /// [`Store::begin_write`] with its `BEGIN` left to the caller on SQLite, to send ahead of
    /// its first statement in the same round trip ([`WriteTx::take_begin`]).
    async fn begin_write_unsent(&self) -> Result<WriteTx, StoreError> {
        let conn = match &self.writer {
            Some(writer) => {
                if self.pool.is_closed() {
                    return Err(StoreError::Closed);
                }
                let mut writer = writer.clone().lock_owned().await;
                writer.end_abandoned().await;
                WriteConn::Sqlite(SqliteWrite {
                    writer,
                    begun: false,
                    committed: false,
                })
            }
            None => WriteConn::Pooled(self.pool.begin().await?),
        };
        Ok(WriteTx {
            conn,
            finished: Finished(Some(self.pages.clone())),
        })
    }

    /// Writes that each commit by themselves, on PostgreSQL, for a writer whose whole write is
    /// one statement: the `BEGIN` and `COMMIT` round trips of a transaction would be two of
    /// its five. They run on the connection `kept` from the writer's last write, if any:
    /// taking one from the pool checks it with one more round trip. `None` on SQLite, whose
    /// writes share one connection and go through [`Store::begin_write_unsent`].
    async fn autocommit_writes(
        &self,
        kept: &mut KeptConnection,
    ) -> Result<Option<WriteTx>, StoreError> {
        if self.writer.is_some() {
            return Ok(None);
        }
        let conn = match kept.0.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(Some(WriteTx {
            conn: WriteConn::Autocommit(conn),
            finished: Finished(Some(self.pages.clone())),
        }))
    }

    /// Connections of the main pool handed out and not yet given back (the ingest writer
    /// keeps one on PostgreSQL while ingests come: [`KeptConnection`]).
    pub fn connections_in_use(&self) -> usize {
        (self.pool.size() as usize).saturating_sub(self.pool.num_idle())
    }

    pub async fn close(&self) {
        if let Some(searches) = &self.searches {
            searches.close().await;
        }
        self.pool.close().await;
    }

    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// The connection a writer keeps between its writes ([`Store::autocommit_writes`]). It goes
/// back to the pool when a write fails, so a broken one is not used again, and when the writer
/// has had nothing to write for a while ([`KeptConnection::give_back`]).
#[derive(Default)]
pub(crate) struct KeptConnection(Option<PoolConnection<sqlx::Any>>);

impl KeptConnection {
    pub(crate) fn is_held(&self) -> bool {
        self.0.is_some()
    }

    /// Returns the connection to the pool.
    pub(crate) fn give_back(&mut self) {
        self.0 = None;
    }
}

/// A write transaction. However it ends (committed, rolled back, or dropped on an error or a
/// cancelled request), the inbox pages cached so far stop being served.
pub(crate) struct WriteTx {
    conn: WriteConn,
    finished: Finished,
}

enum WriteConn {
    Pooled(Transaction<'static, sqlx::Any>),
    /// No transaction: each statement commits as it ends ([`Store::autocommit_writes`]).
    Autocommit(PoolConnection<sqlx::Any>),
    Sqlite(SqliteWrite),
}

/// SQLite's write connection.
struct Writer {
    conn: AnyConnection,
    /// A transaction was dropped uncommitted and may still be open.
    abandoned: bool,
    /// Syncs the commits to disk after the write lock is let go; `None` where each `COMMIT`
    /// syncs itself.
    wal: Option<Arc<WalSync>>,
}

impl Writer {
    async fn end_abandoned(&mut self) {
        if self.abandoned {
            // Fails, harmlessly, when SQLite has already ended the transaction (or it never
            // began). Should it fail otherwise, the next `BEGIN` fails and says why.
            if let Err(e) = self.conn.execute("ROLLBACK").await {
                tracing::debug!(error = %e, "no abandoned write to roll back");
            }
            self.abandoned = false;
        }
    }
}

/// A transaction on SQLite's write connection, begun by hand: sqlx's `Transaction` wants a
/// connection it owns or borrows, not one behind a lock. Rolled back if dropped uncommitted.
struct SqliteWrite {
    writer: tokio::sync::OwnedMutexGuard<Writer>,
    /// Its `BEGIN` was handed out to be sent (`WriteTx::take_begin`).
    begun: bool,
    committed: bool,
}

impl Drop for SqliteWrite {
    fn drop(&mut self) {
        if self.committed || !self.begun {
            return;
        }
        // The next writer rolls it back before it begins; until one comes, a task does, so
        // that the database's lock is not kept from other processes.
        self.writer.abandoned = true;
        let writer = Arc::clone(tokio::sync::OwnedMutexGuard::mutex(&self.writer));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { writer.lock().await.end_abandoned().await });
        }
    }
}

impl WriteTx {
    /// The statement that begins this transaction, the first time it is asked for if it was
    /// begun by [`Store::begin_write_unsent`]; the caller sends it before anything else.
    pub(crate) fn take_begin(&mut self) -> Option<&'static str> {
        match &mut self.conn {
            WriteConn::Sqlite(write) if !write.begun => {
                write.begun = true;
                Some("BEGIN IMMEDIATE")
            }
            _ => None,
        }
    }

    /// Marks a transaction whose writes no page of the inbox can show (merging the search
    /// index's segments): the cached pages stay current through it.
    pub(crate) fn shows_no_change(&mut self) {
        self.finished.0 = None;
    }

    /// Commits, and returns once the commit is on disk.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        if let Some(begin) = self.take_begin() {
            self.execute(begin).await?;
        }
        if let WriteConn::Sqlite(write) = &mut self.conn {
            write.writer.conn.execute("COMMIT").await?;
        }
        let durable = match self.conn {
            WriteConn::Pooled(tx) => {
                tx.commit().await?;
                drop(self.finished);
                Durable::done()
            }
            WriteConn::Autocommit(_) => {
                drop(self.finished);
                Durable::done()
            }
            WriteConn::Sqlite(_) => self.committed(),
        };
        Ok(durable.wait().await?)
    }

    /// [`WriteTx::commit`], keeping the connection of writes that committed themselves
    /// ([`Store::autocommit_writes`]) for the writer's next.
    pub(crate) async fn commit_keeping(self, kept: &mut KeptConnection) -> Result<(), StoreError> {
        match self.conn {
            WriteConn::Autocommit(conn) => {
                drop(self.finished);
                kept.0 = Some(conn);
                Ok(())
            }
            _ => self.commit().await,
        }
    }

    /// The statement that commits a SQLite transaction, for a caller to send as the last of
    /// its own; [`WriteTx::committed`] once it has succeeded. `None` on PostgreSQL, whose
    /// transactions end with [`WriteTx::commit`].
    pub(crate) fn commit_statement(&self) -> Option<&'static str> {
        match self.conn {
            WriteConn::Sqlite(_) => Some("COMMIT"),
            WriteConn::Pooled(_) | WriteConn::Autocommit(_) => None,
        }
    }

    /// Ends a SQLite transaction whose [`WriteTx::commit_statement`] the caller has sent,
    /// and which succeeded: lets the write lock go, and says when the commit is on disk.
    pub(crate) fn committed(self) -> Durable {
        let WriteTx { conn, finished } = self;
        let mut durable = Durable(None);
        if let WriteConn::Sqlite(mut write) = conn {
            write.committed = true;
            // counted before the lock goes, so that the count keeps the commits' order
            if let Some(wal) = &write.writer.wal {
                durable = Durable(Some((Arc::clone(wal), wal.committed())));
            }
        }
        // only now, so a page read before the commit became visible is stale
        drop(finished);
        durable
    }
}

/// A commit that may not be on disk yet; nothing it wrote is acknowledged before [`wait`]
/// returns.
///
/// [`wait`]: Durable::wait
#[must_use = "a commit is acknowledged only once it is durable"]
pub(crate) struct Durable(Option<(Arc<WalSync>, wal_sync::Ticket)>);

impl Durable {
    /// A commit already on disk.
    pub(crate) fn done() -> Self {
        Durable(None)
    }

    pub(crate) async fn wait(self) -> Result<(), SyncFailed> {
        match self.0 {
            Some((wal, ticket)) => wal
                .durable(ticket)
                .await
                .map_err(|e| SyncFailed(Arc::new(e))),
            None => Ok(()),
        }
    }
}

/// A sync of the WAL failed: the commits it was to cover are in the database but were not
/// acknowledged. Shared by every caller of the batch it failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a commit could not be synced to disk: {0}")]
pub struct SyncFailed(Arc<std::io::Error>);

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &Self::Target {
        match &self.conn {
            WriteConn::Pooled(tx) => tx,
            WriteConn::Autocommit(conn) => conn,
            WriteConn::Sqlite(write) => &write.writer.conn,
        }
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match &mut self.conn {
            WriteConn::Pooled(tx) => tx,
            WriteConn::Autocommit(conn) => conn,
            WriteConn::Sqlite(write) => &mut write.writer.conn,
        }
    }
}

/// Invalidates the cached pages when dropped, unless the transaction changes nothing a page
/// shows ([`WriteTx::shows_no_change`]).
struct Finished(Option<Arc<page_cache::PageCache>>);

impl Drop for Finished {
    fn drop(&mut self) {
        if let Some(pages) = &self.0 {
            pages.invalidate();
        }
    }
}

/// Current time in the store's unit.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// New opaque, time-ordered id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on a runtime of its own against a new SQLite store in a file.
    pub(super) fn on_a_new_store<F: std::future::Future<Output = ()>>(
        test: impl FnOnce(Store) -> F,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("inbox.db").display());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = Store::connect(&url).await.unwrap();
            test(store).await;
        });
    }

    /// A write dropped before its commit (a failed batch, a cancelled request) leaves nothing
    /// behind and holds nothing up: neither this store's next write nor another connection's.
    #[test]
    fn an_abandoned_write_is_rolled_back() {
        on_a_new_store(|store| async move {
            let insert = |id: &'static str| {
                sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, 0)")
                    .bind(id)
            };
            let mut tx = store.begin_write().await.unwrap();
            insert("dropped").execute(&mut *tx).await.unwrap();
            drop(tx);
            // another connection gets the database's lock once the rollback is through
            insert("other").execute(&store.pool).await.unwrap();

            // begun in the same trip as the first statement, then dropped
            let mut tx = store.begin_write_unsent().await.unwrap();
            let begin = tx.take_begin().unwrap();
            tx.execute(
                format!("{begin}; INSERT INTO tenants (id, name, created_at) VALUES ('half', 'half', 0)").as_str(),
            )
            .await
            .unwrap();
            drop(tx);

            // committed by a statement of the caller's own
            let mut tx = store.begin_write_unsent().await.unwrap();
            let (begin, commit) = (tx.take_begin().unwrap(), tx.commit_statement().unwrap());
            tx.execute(
                format!("{begin}; INSERT INTO tenants (id, name, created_at) VALUES ('sent', 'sent', 0); {commit}")
                    .as_str(),
            )
            .await
            .unwrap();
            tx.committed().wait().await.unwrap();

            let mut tx = store.begin_write().await.unwrap();
            insert("next").execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();

            let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
                .fetch_all(&store.pool)
                .await
                .unwrap();
            assert_eq!(ids, ["next", "other", "sent"]);
        });
    }

    /// In WAL mode the write connection's `COMMIT` leaves the sync to the writer, which syncs
    /// before its commit returns.
    #[test]
    fn a_commit_returns_once_its_wal_is_synced() {
        on_a_new_store(|store| async move {
            let writer = store.writer.clone().unwrap();
            let (wal, synchronous) = {
                let mut writer = writer.lock().await;
                let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(&mut writer.conn)
                    .await
                    .unwrap();
                (writer.wal.clone().unwrap(), synchronous)
            };
            assert_eq!(synchronous, 1, "NORMAL");
            assert_eq!(wal.syncs(), 0);
            let mut tx = store.begin_write().await.unwrap();
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ('a', 'a', 0)")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(wal.syncs(), 1);
            // the readers' connections still sync their own commits, should one write
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(synchronous, 2, "FULL");
        });
    }
}
