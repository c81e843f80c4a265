//! The SQLite backend: one file in WAL mode, a single writer connection (SQLite
//! serialises writers anyway; one connection avoids busy retries) and a small
//! pool of readers.
//!
//! Durability: `synchronous = NORMAL` in WAL mode survives a process crash
//! (`kill -9`) with every committed transaction; `FULL` also survives power
//! loss, at the price of an fsync per commit.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::StoreError;

mod writer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; created if missing.
    pub path: PathBuf,
    /// `true`: fsync every commit (survives power loss). `false`: survive
    /// process crashes only, which is what `kill -9` needs.
    pub sync_full: bool,
    /// Connections in the read pool.
    pub readers: u32,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> SqliteOptions {
        SqliteOptions {
            path: path.into(),
            sync_full: false,
            readers: 4,
        }
    }
}

/// The embedded default store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The single writer connection: puts reach it through `writer`, delete
    /// and gc directly (they are rare and serialise with the batches).
    write_pool: SqlitePool,
    readers: SqlitePool,
    writer: crate::writer::Writer,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and runs pending migrations.
    pub async fn open(options: &SqliteOptions) -> Result<SqliteStore, StoreError> {
        let open_error = |source| StoreError::Open {
            path: options.path.display().to_string(),
            source,
        };
        let connect = connect_options(&options.path, options.sync_full).map_err(open_error)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect.clone())
            .await
            .map_err(classify_open_error(&options.path))?;
        MIGRATOR.run(&writer).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(source) => {
                classify_open_error(&options.path)(source)
            }
            other => StoreError::Migrate(other),
        })?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect.read_only(true))
            .await
            .map_err(open_error)?;
        let writer_task = crate::writer::Writer::spawn(writer::SqliteBatches(writer.clone()), 1);
        Ok(SqliteStore {
            write_pool: writer,
            readers,
            writer: writer_task,
        })
    }
}

/// Starts a write transaction. IMMEDIATE takes the write lock up front, so a
/// transaction that reads before it writes never fails to upgrade when another
/// process (such as `cairn gc`) holds the lock; the busy timeout waits instead.
///
/// When a write fails with a full disk or an I/O error, SQLite rolls the
/// transaction back by itself; sqlx's own rollback then fails and leaves the
/// connection counting a transaction that is gone, so every later `BEGIN` is
/// refused. Such a connection is closed and replaced here, so the writer
/// recovers once there is room again.
pub(crate) async fn begin_write(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, StoreError> {
    match pool.begin_with("BEGIN IMMEDIATE").await {
        Err(sqlx::Error::InvalidSavePointStatement) => {
            tracing::warn!("replacing the write connection after a failed rollback");
            pool.acquire().await?.close().await?;
            Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
        }
        begun => Ok(begun?),
    }
}

fn connect_options(path: &Path, sync_full: bool) -> Result<SqliteConnectOptions, sqlx::Error> {
    let url = format!("sqlite://{}", path.display());
    Ok(SqliteConnectOptions::from_str(&url)?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if sync_full {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // 2 MiB of page cache per connection: the OS page cache is behind it,
        // and five connections at the 16 MiB some guides suggest cost 80 MiB
        // of RSS (SPEC §8 allows the whole server 200 MB).
        .pragma("cache_size", "-2000"))
}

/// A file that exists but is not a database (truncated, overwritten) gets a
/// clear "corrupt" error rather than a generic one.
fn classify_open_error(path: &Path) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |source| match StoreError::from(source) {
        StoreError::Database(source) => StoreError::Open {
            path: path.display().to_string(),
            source,
        },
        StoreError::Corrupt(message) => {
            StoreError::Corrupt(format!("{}: {message}", path.display()))
        }
        other => other,
    }
}

impl crate::backend::Backend for SqliteStore {
    type Db = Sqlite;
    /// SQLite's one writer never conflicts with itself.
    const ATTEMPTS: u32 = 1;

    fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    fn writer(&self) -> &crate::writer::Writer {
        &self.writer
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        begin_write(&self.write_pool).await
    }

    /// Nothing to take: the one write connection orders the feeds already.
    async fn lock_feed(_: &mut Transaction<'static, Sqlite>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing to take: `BEGIN IMMEDIATE` holds the database's write lock.
    async fn lock_key(
        _: &mut Transaction<'static, Sqlite>,
        _: &str,
        _: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
        self.write_pool.close().await;
    }

    fn shared(&self) -> bool {
        false
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

crate::backend::store_impl!(SqliteStore, Sqlite);
