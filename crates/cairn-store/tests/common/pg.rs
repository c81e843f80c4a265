//! A PostgreSQL database of its own for one test: created on the server at
//! 127.0.0.1:5432 (user `postgres`, trust auth, or `CAIRN_TEST_POSTGRES` to
//! name another server's admin URL), dropped when the guard goes.
//!
//! Where no PostgreSQL answers, the test says so loudly and is skipped, unless
//! `CI=true`: then it fails. Shared by the store's tests and the end-to-end
//! tests (`#[path]`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection as _;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for this test; dropped (with its connections) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn admin_url() -> String {
    std::env::var("CAIRN_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

impl TestDatabase {
    /// A fresh, empty database, or `None` (after a loud message) when no
    /// PostgreSQL is reachable outside CI. Under `CI=true` that panics.
    pub async fn create() -> Option<TestDatabase> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let admin_url = admin_url();
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) => {
                cairn_core::skip::cannot_run(
                    "the PostgreSQL tests",
                    &format!("no PostgreSQL at {admin_url} ({error}; set CAIRN_TEST_POSTGRES)"),
                );
                return None;
            }
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let name = format!(
            "cairn_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
        ))
        .execute(&mut admin)
        .await
        .expect("create the test database");
        let _ = admin.close().await;
        let url = match admin_url.rfind('/') {
            Some(slash) => format!("{}/{name}", &admin_url[..slash]),
            None => panic!("CAIRN_TEST_POSTGRES must end in /DATABASE: {admin_url}"),
        };
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// Where the test database is.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // A runtime of its own: drop may run inside (or outside) the test's.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "could not drop the test database {}: {dropped:?}",
                self.name
            );
        }
    }
}
