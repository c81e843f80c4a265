//! Default views rendered after the put ([`Store::store_views`],
//! [`Store::pending_views`]) for both databases: their statements, one text
//! each (`$n` placeholders; SQLite reads them as `?n`).
//!
//! [`Store::store_views`]: crate::Store::store_views
//! [`Store::pending_views`]: crate::Store::pending_views

use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::RenderedDefault;

/// Fills in a blob's default view and its token count. A blob collected
/// meanwhile is no longer there to update, which is fine.
pub(crate) const STORE_VIEW_SQL: &str = "UPDATE blobs SET tokens_compressed = $1, \
     view_engine = $2, view_encoding = $3, view_data = $4, view_markers = $5 WHERE hash = $6";

/// The blobs whose default view is pending, oldest first; `{columns}` is the
/// backend's blob column list, `$1` the limit.
pub(crate) fn pending_sql(columns: &str) -> String {
    format!(
        "SELECT {columns}, b.encoding, b.data FROM blobs b WHERE b.view_engine = 0 \
         ORDER BY b.created_at LIMIT $1"
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
        .bind(i64::try_from(view.tokens_compressed).unwrap_or(i64::MAX))
        .bind(i64::from(view.view.engine))
        .bind(rendered.map(|view| view.encoding.as_str()))
        .bind(rendered.map(|view| view.data.as_slice()))
        .bind(rendered.map(|view| view.markers.as_str()))
        .bind(view.hash.to_hex())
}
