//! The behaviour suite's backends: every test in `behaviour.rs` and
//! `sessions.rs` runs once on SQLite and once on PostgreSQL.

#![allow(dead_code, unused_macros)]

pub mod pg;

use std::sync::Arc;

use cairn_core::ContentHash;
use cairn_store::{
    ContextWrite, Encoding, NewBlob, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore,
    Store, StoredView,
};
use cairn_types::{ContextKey, TenantId};

/// `content` as a new blob, stored as is, with no stored view.
pub fn blob(content: &[u8]) -> NewBlob {
    NewBlob {
        hash: ContentHash::of(content),
        bytes_original: content.len() as u64,
        content_type: "text/plain".into(),
        tokens_original: 1,
        tokens_compressed: 1,
        encoding: Encoding::Identity,
        data: content.to_vec(),
        view: StoredView {
            engine: 0,
            rendered: None,
        },
    }
}

/// A put of `content` under `key` for `tenant`, its blob new, created at 1,000 ms.
pub fn write(tenant: &str, key: &str, content: &[u8], expires_at: Option<i64>) -> ContextWrite {
    ContextWrite {
        tenant: TenantId::new(tenant),
        key: ContextKey::parse(key).expect("valid key"),
        hash: ContentHash::of(content),
        blob: Some(blob(content)),
        agent: None,
        session: None,
        metadata: None,
        created_at: 1_000,
        expires_at,
    }
}

/// A store and what keeps its database alive.
pub struct Backend {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _database: Option<pg::TestDatabase>,
}

impl Backend {
    pub async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("cairn.db")))
            .await
            .expect("the store opens");
        Backend {
            store: Arc::new(store),
            _dir: Some(dir),
            _database: None,
        }
    }

    /// `None` when no PostgreSQL is reachable (and not in CI).
    pub async fn postgres() -> Option<Backend> {
        let database = pg::TestDatabase::create().await?;
        let store = PostgresStore::open(&PostgresOptions::new(database.url()))
            .await
            .expect("the store opens");
        Some(Backend {
            store: Arc::new(store),
            _dir: None,
            _database: Some(database),
        })
    }

    pub async fn close(self) {
        self.store.close().await;
    }
}

/// For each named `async fn(Arc<dyn Store>)`, a module with two tests:
/// `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    let backend = crate::common::Backend::sqlite().await;
                    super::$name(backend.store.clone()).await;
                    backend.close().await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(backend) = crate::common::Backend::postgres().await else {
                        return;
                    };
                    super::$name(backend.store.clone()).await;
                    backend.close().await;
                }
            }
        )*
    };
}
