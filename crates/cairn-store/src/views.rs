//! Default views rendered after the put ([`Store::store_views`],
//! [`Store::pending_views`]) for both databases: their statements, one text
//! each (`$n` placeholders; SQLite reads them as `?n`).
//!
//! [`Store::store_views`]: crate::Store::store_views
//! [`Store::pending_views`]: crate::Store::pending_views

use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::RenderedDefault;
use crate::contexts::to_i64;

/// Fills in a blob's default view and its token count. A blob collected
/// meanwhile is no longer there to update, which is fine.
pub(crate) const STORE_VIEW_SQL: &str = "UPDATE blobs SET tokens_compressed = $1, \
     view_engine = $2, view_encoding = $3, view_data = $4, view_markers = $5 WHERE hash = $6";

/// How a blob insert meets a blob stored already: a put that rendered the
/// view fills in one another put left pending (so no tenant's stats or
/// receipts tell of another tenant's pending copy); otherwise nothing changes.
pub(crate) const BLOB_CONFLICT: &str = " ON CONFLICT (hash) DO UPDATE SET \
     tokens_compressed = excluded.tokens_compressed, view_engine = excluded.view_engine, \
     view_encoding = excluded.view_encoding, view_data = excluded.view_data, \
     view_markers = excluded.view_markers \
     WHERE blobs.view_engine = 0 AND excluded.view_engine <> 0";

/// The blobs whose default view is pending, oldest first; `{columns}` is the
/// backend's blob column list, `$1` the limit, `$2` the time they were
/// stored before.
pub(crate) fn pending_sql(columns: &str) -> String {
    format!(
        "SELECT {columns}, b.encoding, b.data FROM blobs b WHERE b.view_engine = 0 \
         AND b.created_at < $2 ORDER BY b.created_at LIMIT $1"
    )
}

/// Binds `view` to [`STORE_VIEW_SQL`].
pub(crate) fn bind_view<'q, DB: Database>(
    query: Query<'q, DB, DB::Arguments<'q>>,
    view: &'q RenderedDefault,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    i64: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
{
    let rendered = view.view.rendered.as_ref();
    query
        .bind(to_i64(view.tokens_compressed))
        .bind(i64::from(view.view.engine))
        .bind(rendered.map(|view| view.encoding.as_str()))
        .bind(rendered.map(|view| view.data.as_slice()))
        .bind(rendered.map(|view| view.markers.as_str()))
        .bind(view.hash.to_hex())
}
