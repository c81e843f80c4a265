//! Cairn's wire types: the JSON bodies of the REST API, the id newtypes that
//! cross the wire, and the one error-code catalogue every surface speaks.
//!
//! API boundary: this crate is what `cairn-client` depends on, so it must not
//! depend on any other Cairn crate, on an async runtime or on I/O.

mod error;
mod ids;
mod wire;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use ids::{ContextKey, InvalidKey, MAX_KEY_BYTES, TenantId};
pub use wire::{
    Activity, Briefing, BriefingFailure, BriefingItem, BriefingSession, CompressRequest,
    CompressResponse, ContentEncoding, ContextActivity, ContextList, ContextSummary, ContextView,
    Deleted, Health, ImportLineError, ImportReport, Marker, Match, ProviderTraffic, ProxyStats,
    PutReceipt, PutRequest, Retrieved, SearchHit, SearchResults, SessionActivity, SessionDetail,
    SessionList, SessionMessage, SessionSummary, Stats, View,
};
