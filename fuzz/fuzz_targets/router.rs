//! The HTTP API's router (`cairn_api::router`: REST and GraphQL behind the
//! limits, CORS and auth layers) on any request, in process, over a real
//! SQLite store and tantivy index in a temporary directory. No panic, no
//! 5xx, and every put the router acknowledges reads back through its `ccr:`
//! reference as the bytes that were sent.
//!
//! Inputs are requests in a plain form (`METHOD TARGET`, header lines, an
//! empty line, the body), read and checked by `tests/src/router_input.rs`,
//! which the nextest suite shares: it replays this target's corpus with
//! mutations on every run.
//!
//! The store lives for the whole run, so an input meets what earlier ones
//! stored: a crash's input alone may not reproduce it (rerun with the corpus).
//! Run it with its feature: `cargo +nightly fuzz run router --features router`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/src/router_input.rs"]
mod router_input;

/// Larger bodies are refused with 413 (the limit is a layer of the router).
const BODY_LIMIT: usize = 1024 * 1024;

struct App {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

static APP: LazyLock<App> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let router = runtime
        .block_on(router_input::router_in(dir.path(), BODY_LIMIT))
        .expect("the store and the index open");
    App {
        runtime,
        router,
        _dir: dir,
    }
});

fuzz_target!(|data: &[u8]| {
    let app = &*APP;
    if let Err(failure) = app
        .runtime
        .block_on(router_input::exercise(&app.router, data))
    {
        panic!("{failure}");
    }
});
