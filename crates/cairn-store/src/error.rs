//! Storage errors.

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is out of space; nothing was written.
    #[error("the database is full")]
    Full,
    /// A write failed for a reason shared by every put of its batch.
    #[error("the write failed: {0}")]
    Write(String),
    /// The database file is not a database, or a row does not decode.
    #[error("the database is corrupt: {0}")]
    Corrupt(String),
    /// The blob a put referenced by hash alone is gone (collected meanwhile).
    #[error("the blob {0} is not stored")]
    BlobMissing(String),
    /// The database cannot be opened or reached.
    #[error("cannot open the database at {path}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    /// The store was closed; nothing was written.
    #[error("the store is closed")]
    Closed,
    #[error("cannot run the database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &error {
            // SQLITE_FULL (13) and SQLITE_CORRUPT (11) / SQLITE_NOTADB (26), with
            // extended codes in the high bits.
            let primary = db
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .map(|c| c & 0xff);
            match primary {
                Some(13) => return StoreError::Full,
                Some(11 | 26) => return StoreError::Corrupt(db.message().to_owned()),
                _ => {}
            }
        }
        StoreError::Database(error)
    }
}
