//! The PostgreSQL backend: one database shared by any number of nodes.
//!
//! What changes from SQLite, and why:
//! - Version numbers are drawn in the database transaction, from the key's
//!   `key_versions` row (an upsert that adds to `last_version` and takes the
//!   row's lock), so concurrent puts from several nodes to one key get
//!   1, 2, 3… with no gap and no duplicate.
//! - Every transaction that appends to a feed (`context_feed`, `messages`)
//!   draws its sequence numbers under one transaction-scoped advisory lock,
//!   [`FEED_LOCK`], taken as its last step before commit. Numbers therefore
//!   become visible in order, and an indexer that has read up to N never
//!   misses a row numbered below N that was still to commit.
//! - The same transaction sends `NOTIFY cairn_feed`; every store listens
//!   ([`crate::Store::changes`]) so the other nodes' indexers wake at once.
//! - Other nodes write the same keys: [`crate::Store::shared`] is `true`,
//!   and the service does not trust a local cache of latest versions.
//!
//! Puts go through the group-commit writer ([`crate::writer`]), as in
//! SQLite: one transaction per batch, so the feed lock is held once per
//! batch. Everything else of [`crate::Store`] is shared with SQLite
//! ([`crate::backend`]).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, Postgres, Transaction};
use tokio::sync::watch;

use crate::StoreError;

mod writer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The advisory lock under which feed sequence numbers are drawn ("cairn").
pub(crate) const FEED_LOCK: i64 = 0x6361_6972_6e00_0001;

/// The channel every write notifies and every store listens on.
pub const FEED_CHANNEL: &str = "cairn_feed";

/// How often a transaction is tried (a deadlock or serialization failure
/// between nodes is worth another go).
const ATTEMPTS: u32 = 5;

/// How to open a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database`
    pub url: String,
    /// Connections in the pool.
    pub connections: u32,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            connections: 16,
        }
    }
}

/// The shared-database store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    writer: crate::writer::Writer,
    changes: watch::Receiver<u64>,
    listener: std::sync::Arc<tokio::task::JoinHandle<()>>,
}

impl PostgresStore {
    /// Connects, runs pending migrations (several nodes starting at once
    /// take turns: sqlx holds an advisory lock while it migrates) and starts
    /// listening for other nodes' writes.
    pub async fn open(options: &PostgresOptions) -> Result<PostgresStore, StoreError> {
        let shown = redacted(&options.url);
        let open_error = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let connect: PgConnectOptions = options.url.parse().map_err(open_error)?;
        // Notices such as "relation _sqlx_migrations already exists, skipping"
        // at every start are noise.
        let connect = connect.options([("client_min_messages", "warning")]);
        // One connection first: its error says why (refused, bad password),
        // where the pool would only say it timed out.
        PgConnection::connect_with(&connect)
            .await
            .map_err(open_error)?
            .close()
            .await
            .map_err(open_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect)
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        let mut listener = PgListener::connect_with(&pool).await.map_err(open_error)?;
        listener.listen(FEED_CHANNEL).await.map_err(open_error)?;
        let (notify, changes) = watch::channel(0u64);
        let listener = tokio::spawn(listen(listener, notify));
        let writer =
            crate::writer::Writer::spawn(writer::PostgresBatches(pool.clone()), writer::WORKERS);
        Ok(PostgresStore {
            pool,
            writer,
            changes,
            listener: std::sync::Arc::new(listener),
        })
    }
}

/// The URL with its password hidden, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Bumps `notify` for every notification on the feed channel, and once
/// after the connection was lost and restored (what was sent meanwhile is
/// lost, so listeners must look).
async fn listen(mut listener: PgListener, notify: watch::Sender<u64>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => {}
            // The connection dropped; the next call reconnects.
            Ok(None) => tracing::warn!("lost the database's change notifications; reconnecting"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for changes; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        notify.send_modify(|count| *count = count.wrapping_add(1));
        if notify.is_closed() {
            return;
        }
    }
}

/// Takes the feed lock (held to commit) and tells the listeners.
pub(crate) async fn lock_feed(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FEED_LOCK)
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(FEED_CHANNEL)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl crate::backend::Backend for PostgresStore {
    type Db = Postgres;
    const ATTEMPTS: u32 = ATTEMPTS;

    fn readers(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &crate::writer::Writer {
        &self.writer
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    async fn lock_feed(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
        lock_feed(tx).await
    }

    /// Locks the key's counter, as a put does.
    async fn lock_key(
        tx: &mut Transaction<'static, Postgres>,
        tenant: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 FROM key_versions WHERE tenant = $1 AND key = $2 FOR UPDATE")
            .bind(tenant)
            .bind(key)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.listener.abort();
        self.pool.close().await;
    }

    fn shared(&self) -> bool {
        true
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changes.clone())
    }
}

crate::backend::store_impl!(PostgresStore, Postgres);

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted("postgres://cairn:s3cret@db:5432/cairn"),
            "postgres://cairn:***@db:5432/cairn"
        );
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1/cairn"),
            "postgres://postgres@127.0.0.1/cairn"
        );
    }
}
