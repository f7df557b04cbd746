//! The inbox store: tenants, contacts, threads and messages on SQLite (default) or PostgreSQL.
//!
//! Both engines share one set of queries through sqlx's `Any` driver: the schemas mirror each
//! other (times as unix milliseconds, flags as 0/1 integers) and only full-text search and
//! transaction start differ by engine.

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
mod settings;
mod stats;
mod tenants;
mod threads;

use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Transaction};

use crate::domain::{Role, UnknownVariant};

pub use corrections::{CorrectedMessage, LabelCorrection};
pub use counts::ThreadCounts;
pub use cursor::CursorError;
pub use drafts::NewDraft;
pub use ingest::{InboundMessage, IngestQueue, Ingested};
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
    /// SQLite's one write lock, taken in this process before the database's. Two of our
    /// writers (the ingest queue and the triage worker) meeting at SQLite's lock would wait in
    /// its busy handler, which sleeps 1, 2, 5, 10 ... 100 ms between tries; here the second
    /// wakes the moment the first commits.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine)
            .finish()
    }
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
        let pool = AnyPoolOptions::new()
            .max_connections(match engine {
                Engine::Sqlite => 8,
                Engine::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            // A SQLite connection lives in this process and cannot drop away; pinging it before
            // each use cost every query one more round trip to the connection's thread.
            .test_before_acquire(engine == Engine::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // WAL lets readers run beside the single writer; FULL sync makes an
                        // acknowledged ingest survive power loss, and group commit pays for it.
                        // 16 MiB of page cache per connection (the default is 2) keeps the
                        // inbox indexes of a 1M-message store in memory.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                             PRAGMA cache_size = -16384;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
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
        Ok(Store {
            pool,
            engine,
            compacting: Arc::default(),
            keys: Arc::default(),
            pages: Arc::default(),
            writer: Arc::default(),
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

    /// Starts a write transaction. On SQLite this process's writers queue on `writer`, and the
    /// database's lock is taken up front (`IMMEDIATE`) so that a writer of another process
    /// waits on the busy timeout instead of failing on lock upgrade.
    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let (tx, writer) = match self.engine {
            Engine::Sqlite => {
                let writer = self.writer.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                (tx, Some(writer))
            }
            Engine::Postgres => (self.pool.begin().await?, None),
        };
        Ok(WriteTx {
            tx,
            finished: Finished(self.pages.clone()),
            _writer: writer,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// A write transaction. However it ends (committed, rolled back, or dropped on an error or a
/// cancelled request), the inbox pages cached so far stop being served.
pub(crate) struct WriteTx {
    tx: Transaction<'static, sqlx::Any>,
    finished: Finished,
    /// Held until the transaction has ended (fields drop in order).
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        let WriteTx {
            tx,
            finished,
            _writer,
        } = self;
        tx.commit().await?;
        // only now, so a page read before the commit became visible is stale
        drop(finished);
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Invalidates the cached pages when dropped.
struct Finished(Arc<page_cache::PageCache>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.invalidate();
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
