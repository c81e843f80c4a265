//! `cairn-server`: the composition root. It reads the configuration, picks
//! the concrete store, builds the service and the HTTP router, and serves them
//! until shutdown. `main.rs` is a shim over [`cli`].
//!
//! Architecture invariant: this is the only crate that reads configuration
//! files or the environment, knows concrete backends, or installs the tracing
//! subscriber.

pub mod cli;
pub mod config;
pub mod hooks;
mod http;
pub mod mcp;
pub mod sessions;
pub mod token;
pub mod wrap;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cairn_api::{ApiConfig, ApiState};
use cairn_service::{Cairn, ServiceConfig};
use cairn_store::{SqliteOptions, SqliteStore, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;

/// What the binary says about its allocator, for the serving log line.
static ALLOCATOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records the allocator the binary runs on (`main.rs` chooses it; the
/// library keeps the system's), which [`serve`] logs when it starts. Only
/// the first call counts.
pub fn note_allocator(description: String) {
    let _ = ALLOCATOR.set(description);
}

/// Opens the store the configuration names, PostgreSQL or SQLite (creating
/// the data directory, which holds the search index either way), and runs
/// its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let data_dir = &config.storage.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    config.check_database()?;
    if let Some(url) = &config.storage.database {
        let store =
            cairn_store::PostgresStore::open(&cairn_store::PostgresOptions::new(url)).await?;
        return Ok(Arc::new(store));
    }
    let options = SqliteOptions {
        sync_full: config.storage.fsync_every_commit,
        ..SqliteOptions::new(config.database_path())
    };
    let store = SqliteStore::open(&options).await?;
    Ok(Arc::new(store))
}

/// Opens (creating) the search index under the data directory.
pub fn open_search(config: &Config) -> anyhow::Result<Arc<cairn_service::SearchIndex>> {
    let dir = config.index_path();
    let index = cairn_service::SearchIndex::open(&dir).with_context(|| {
        format!(
            "cannot open the search index {} (another cairn process may hold it: \
             stop it, or use its API)",
            dir.display()
        )
    })?;
    if let Some(why) = index.started_over() {
        tracing::warn!(
            index = %dir.display(),
            %why,
            "the search index was damaged or of other fields: started over, to be rebuilt from the database"
        );
    }
    Ok(Arc::new(index))
}

/// Loads local ML from the configured models directory. Without one, or
/// when it fails to load (the error says which file and why), the server
/// runs on BM25 alone: one log line says so.
pub async fn load_ml(config: &Config) -> Option<Arc<cairn_service::Ml>> {
    let Some(dir) = config.ml.models_dir.clone() else {
        tracing::info!("ML is off (no models directory): search and views use BM25 alone");
        return None;
    };
    let name = config.ml.embedder.clone();
    let loaded = tokio::task::spawn_blocking(move || cairn_ml::Embedder::load(&dir, &name)).await;
    match loaded {
        Ok(Ok(embedder)) => {
            tracing::info!(
                model = embedder.model_id(),
                dim = embedder.dim(),
                "ML is on: semantic search with the local embedder"
            );
            Some(Arc::new(
                cairn_service::Ml::new(embedder).with_rerank(config.ml.rerank),
            ))
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "ML is off: the models cannot be loaded; search and views use BM25 alone");
            None
        }
        Err(error) => {
            tracing::error!(%error, "ML is off: loading the models failed; search and views use BM25 alone");
            None
        }
    }
}

/// The service over `store`, as the configuration sets it up.
pub fn service(config: &Config, store: Arc<dyn Store>) -> Cairn {
    Cairn::new(
        store,
        ServiceConfig {
            default_ttl: config.default_ttl(),
            zstd_level: config.storage.zstd_level,
            cache_bytes: config.storage.cache_mib.saturating_mul(1024 * 1024),
            retention: std::time::Duration::from_secs(config.storage.compress_retention_seconds),
            views_after_put: config.storage.render_views_after_put,
        },
    )
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting, drains requests in flight and closes the store.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    // Before the store: a bad secret or key creates no data directory.
    let auth = config.auth.authenticator()?;
    let store = open_store(&config).await?;
    serve_store(config, auth, store, listener, shutdown).await
}

/// [`serve`] over an authenticator and a store already made.
async fn serve_store(
    config: Config,
    auth: cairn_auth::Authenticator,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !auth.is_enabled() {
        tracing::info!("auth is off: every caller is the local tenant (loopback only)");
    }
    let search = open_search(&config)?;
    let mut cairn = service(&config, store.clone()).with_search(search.clone());
    if let Some(ml) = load_ml(&config).await {
        cairn = cairn.with_ml(ml);
    }
    let indexer = tokio::spawn(cairn.clone().run_indexer());
    let embedder = tokio::spawn(cairn.clone().run_embedder());
    let renderer = tokio::spawn(cairn.clone().run_view_renderer());
    let state = ApiState {
        cairn: cairn.clone(),
        config: ApiConfig {
            body_limit: config.server.body_limit_bytes,
            cors_allowed_origins: config.server.cors_allowed_origins.clone(),
            max_concurrent_requests: config.server.max_concurrent_requests,
            request_timeout: Duration::from_secs(config.server.request_timeout_seconds),
            allowed_hosts: config.server.allowed_hosts.clone(),
            // Beyond loopback, where auth is required, the token protects;
            // the names a network reaches the server by are not known here.
            any_host: !config.server.bind.ip().is_loopback(),
            long_routes: cairn_proxy::LONG_ROUTES
                .iter()
                .map(|route| (*route).to_owned())
                .collect(),
            auth_failures_per_minute: config.server.auth_failures_per_minute,
        },
        auth: Arc::new(auth),
    };
    let mcp_shutdown = tokio_util::sync::CancellationToken::new();
    let mcp = mcp_router(&config, &state, mcp_shutdown.clone());
    let gc = spawn_periodic_gc(cairn, config.storage.gc_interval_seconds);
    let proxy = proxy_router(&config, &state)?;
    // Every route first, then the shared layers once (guard, CORS, limits,
    // span): MCP and the proxy get what REST and GraphQL get.
    let app = cairn_api::layered(
        cairn_api::routes(state.clone()).merge(mcp).merge(proxy),
        &state,
    );
    tracing::info!(
        address = %listener.local_addr()?,
        data_dir = %config.storage.data_dir.display(),
        allocator = ALLOCATOR.get().map_or("the system's", String::as_str),
        "cairn is serving"
    );
    http::serve(
        listener,
        app,
        Duration::from_secs(config.server.header_read_timeout_seconds),
        async move {
            shutdown.await;
            // MCP clients keep event streams open; end them, or draining
            // would wait for the clients to leave.
            mcp_shutdown.cancel();
        },
    )
    .await;
    if let Some(gc) = gc {
        gc.abort();
    }
    indexer.abort();
    let _ = indexer.await;
    embedder.abort();
    let _ = embedder.await;
    // Views still pending stay marked in the database: the next start
    // renders them.
    renderer.abort();
    let _ = renderer.await;
    // Whatever still holds the service (a connection winding down) must not
    // keep the index's lock from the next process.
    search.close();
    store.close().await;
    tracing::info!("cairn stopped");
    Ok(())
}

/// The MCP endpoint: streamable HTTP at `/mcp`, behind the same
/// authentication as the REST API (a missing or bad token gets 401 before
/// MCP sees the request; each tool checks its scope).
fn mcp_router(
    config: &Config,
    state: &ApiState,
    shutdown: tokio_util::sync::CancellationToken,
) -> axum::Router {
    let options = cairn_mcp::HttpOptions {
        // The site guard in front of every route checks Host (the names
        // configured included); rmcp's own check knows loopback names only.
        any_host: true,
        body_limit: Some(config.server.body_limit_bytes),
        allowed_origins: config.server.cors_allowed_origins.clone(),
        shutdown,
    };
    axum::Router::new()
        .route_service(
            "/mcp",
            cairn_mcp::http_service(state.cairn.clone(), options),
        )
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(McpGate::new(state.auth.clone(), MCP_SESSIONS)),
            authenticate_mcp,
        ))
}

/// The LLM proxy's routes. They authenticate themselves: `Authorization`
/// there is the provider's key, and a Cairn token comes in `x-cairn-token`.
fn proxy_router(config: &Config, state: &ApiState) -> anyhow::Result<axum::Router> {
    let proxy = cairn_proxy::ProxyState::new(
        state.cairn.clone(),
        state.auth.clone(),
        cairn_proxy::ProxyConfig {
            anthropic_upstream: config.proxy.anthropic_upstream.clone(),
            openai_upstream: config.proxy.openai_upstream.clone(),
            gemini_upstream: config.proxy.gemini_upstream.clone(),
            upstream_timeout: Duration::from_secs_f64(config.proxy.upstream_timeout_seconds),
            max_retrieve_rounds: config.proxy.max_retrieve_rounds,
            body_limit: config.server.body_limit_bytes,
            briefing_tokens: (config.proxy.briefing == crate::config::ProxyBriefing::FirstTurn)
                .then_some(config.proxy.briefing_tokens),
        },
    )
    .context("cannot build the proxy's HTTP client")?;
    Ok(cairn_proxy::router(proxy))
}

/// MCP sessions remembered with their tenant (about 100 bytes each).
const MCP_SESSIONS: usize = 64 * 1024;

/// The MCP endpoint's door: who calls, and which tenant opened each MCP
/// session, so one tenant cannot use or end another's (`Mcp-Session-Id`).
struct McpGate {
    auth: Arc<cairn_auth::Authenticator>,
    owners: quick_cache::sync::Cache<String, cairn_types::TenantId>,
}

impl McpGate {
    fn new(auth: Arc<cairn_auth::Authenticator>, sessions: usize) -> McpGate {
        McpGate {
            auth,
            owners: quick_cache::sync::Cache::new(sessions),
        }
    }
}

/// Leaves the request's [`cairn_auth::Principal`] in its extensions, or answers
/// 401/403 in the API's error shape. A request naming an MCP session
/// another tenant opened, or one whose owner the gate does not know (never
/// opened here, or forgotten past [`MCP_SESSIONS`]), is answered like one
/// naming no session at all (404); the client starts a new session.
async fn authenticate_mcp(
    axum::extract::State(gate): axum::extract::State<Arc<McpGate>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use cairn_api::auth::{auth_error_response, principal_from_headers};
    const SESSION: &str = "mcp-session-id";
    match principal_from_headers(&gate.auth, request.headers()) {
        Ok(Some(principal)) => {
            let named = request
                .headers()
                .get(SESSION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            if let Some(named) = &named
                && gate
                    .owners
                    .get(named)
                    .is_none_or(|owner| owner != principal.tenant)
            {
                return (
                    axum::http::StatusCode::NOT_FOUND,
                    "Not Found: Session not found",
                )
                    .into_response();
            }
            let tenant = principal.tenant.clone();
            let ending = request.method() == axum::http::Method::DELETE;
            request.extensions_mut().insert(principal);
            let response = next.run(request).await;
            if let Some(opened) = response
                .headers()
                .get(SESSION)
                .and_then(|value| value.to_str().ok())
            {
                gate.owners.insert(opened.to_owned(), tenant);
            }
            if ending
                && response.status().is_success()
                && let Some(named) = named
            {
                gate.owners.remove(&named);
            }
            response
        }
        Ok(None) => auth_error_response(cairn_auth::AuthError::MissingToken),
        Err(error) => {
            tracing::debug!(%error, "mcp request refused");
            auth_error_response(error)
        }
    }
}

fn spawn_periodic_gc(cairn: Cairn, interval_seconds: u64) -> Option<JoinHandle<()>> {
    if interval_seconds == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(interval_seconds));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match cairn.gc().await {
                Ok(report) => tracing::info!(
                    expired_versions = report.expired_versions,
                    deleted_blobs = report.deleted_blobs,
                    bytes_freed = report.bytes_freed,
                    "periodic gc"
                ),
                Err(error) => tracing::warn!(%error, "periodic gc failed"),
            }
        }
    }))
}

/// A server running in this process, for tests and examples.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Binds `config.server.bind` (port 0 picks a free one) and serves in the
    /// background.
    pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
        config.validate()?;
        let listener = TcpListener::bind(config.server.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.bind))?;
        let addr = listener.local_addr()?;
        // Before returning, so bad auth settings or a bad data directory fail
        // here; auth first, so they create no data directory.
        let auth = config.auth.authenticator()?;
        let store = open_store(&config).await?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_store(config, auth, store, listener, async move {
            let _ = stopped.await;
        }));
        Ok(RunningServer {
            addr,
            shutdown: Some(shutdown),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts down gracefully and waits until the store is closed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.task).await.context("the server task panicked")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse as _;
    use cairn_auth::{Scope, Scopes, SigningKey, TokenRequest};
    use tower::ServiceExt as _;

    const SECRET: &[u8] = b"an mcp gate test secret, long enough";

    fn token(tenant: &str) -> String {
        SigningKey::secret(SECRET)
            .expect("a key")
            .issue(&TokenRequest {
                sub: format!("{tenant}-agent"),
                tenant: tenant.to_owned(),
                scopes: [Scope::Read, Scope::Write].into_iter().collect::<Scopes>(),
                ttl_seconds: 600,
            })
            .expect("a token")
    }

    /// The gate in front of a stand-in for MCP that opens a session on
    /// every request naming none, and serves any session named.
    fn gated(sessions: usize) -> axum::Router {
        let auth = cairn_auth::Authenticator::off()
            .with_secret(SECRET)
            .expect("the secret is long enough");
        let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        axum::Router::new()
            .route(
                "/mcp",
                axum::routing::post(move |headers: axum::http::HeaderMap| {
                    let opened = opened.clone();
                    async move {
                        if headers.contains_key("mcp-session-id") {
                            return ([("x-served", "yes".to_owned())], "").into_response();
                        }
                        let n = opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        ([("mcp-session-id", format!("session-{n}"))], "").into_response()
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(McpGate::new(Arc::new(auth), sessions)),
                authenticate_mcp,
            ))
    }

    async fn post(app: &axum::Router, token: &str, session: Option<&str>) -> u16 {
        let mut request =
            axum::http::Request::post("/mcp").header("authorization", format!("Bearer {token}"));
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let request = request.body(axum::body::Body::empty()).expect("a request");
        app.clone()
            .oneshot(request)
            .await
            .expect("infallible")
            .status()
            .as_u16()
    }

    /// A session the gate has forgotten (more were opened than it holds)
    /// is not anybody's to use: another tenant naming it gets 404, as for
    /// one that never existed. Before, a forgotten session had no owner
    /// and was served to any tenant.
    #[tokio::test]
    async fn a_forgotten_session_is_nobodys() {
        let app = gated(4);
        let (a, b) = (token("a"), token("b"));
        for _ in 0..64 {
            assert_eq!(post(&app, &a, None).await, 200);
        }
        let mut kept = 0;
        for n in 0..64 {
            let session = format!("session-{n}");
            assert_eq!(
                post(&app, &b, Some(&session)).await,
                404,
                "tenant b used {session}"
            );
            if post(&app, &a, Some(&session)).await == 200 {
                kept += 1;
            }
        }
        assert!(kept >= 1, "the owner keeps the sessions the gate holds");
        assert_eq!(post(&app, &a, Some("never-opened")).await, 404);
    }
}
