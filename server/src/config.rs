//! The one typed configuration tree, loaded once: defaults < `cairn.toml` <
//! `CAIRN_*` environment < flags. Validated after merging.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// Everything `cairn serve` needs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub proxy: ProxyConfig,
    pub ml: MlConfig,
}

/// The LLM proxy (`/v1/messages`, `/v1/chat/completions`, `/v1/responses`,
/// `/v1beta/models/…`): where each provider's requests go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Anthropic's base URL, without `/v1`.
    pub anthropic_upstream: String,
    /// OpenAI's base URL, without `/v1`.
    pub openai_upstream: String,
    /// Gemini's base URL, without `/v1beta`.
    pub gemini_upstream: String,
    /// How long an upstream may take to answer, or to send the next part of
    /// a stream, in seconds (then 504, or an error event).
    pub upstream_timeout_seconds: f64,
    /// Most `cairn_retrieve` calls answered in a row for one request.
    pub max_retrieve_rounds: u32,
    /// `first-turn`: a new conversation's first user turn starts with the
    /// briefing for its project (for clients without hooks); `off`.
    pub briefing: ProxyBriefing,
    /// The budget of that briefing, in tokens.
    pub briefing_tokens: u32,
}

/// Whether the proxy briefs new conversations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyBriefing {
    #[default]
    Off,
    FirstTurn,
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            anthropic_upstream: cairn_proxy::ANTHROPIC_UPSTREAM.to_owned(),
            openai_upstream: cairn_proxy::OPENAI_UPSTREAM.to_owned(),
            gemini_upstream: cairn_proxy::GEMINI_UPSTREAM.to_owned(),
            upstream_timeout_seconds: 600.0,
            max_retrieve_rounds: 4,
            briefing: ProxyBriefing::Off,
            briefing_tokens: cairn_service::DEFAULT_BRIEFING_TOKENS,
        }
    }
}

/// Local ML (docs/ml.md). Off unless a models directory is named.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlConfig {
    /// The models directory `scripts/install-models.sh` lays out. `None`:
    /// ML is off and search and views run on BM25 alone.
    pub models_dir: Option<PathBuf>,
    /// The sentence embedder: a subdirectory of the models directory
    /// holding `model.onnx` and `tokenizer.json`.
    pub embedder: String,
    /// Re-rank the top hits of a query in prose by meaning once the query's
    /// own words are masked (at most 8 short passages embedded per search).
    pub rerank: bool,
}

impl Default for MlConfig {
    fn default() -> MlConfig {
        MlConfig {
            models_dir: None,
            embedder: cairn_ml::DEFAULT_EMBEDDER.to_owned(),
            rerank: true,
        }
    }
}

/// Who may call. With none of these set, auth is off and only loopback
/// addresses may be bound.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A file holding the HS256 secret (at least 32 bytes; surrounding
    /// whitespace is ignored).
    pub jwt_secret_file: Option<PathBuf>,
    /// The HS256 secret itself; only from `CAIRN_JWT_SECRET`, never a file
    /// that might be committed.
    #[serde(skip)]
    pub jwt_secret: Option<String>,
    /// PEM public keys (RSA for RS256, Ed25519 for EdDSA) whose tokens are accepted.
    pub jwt_public_key_files: Vec<PathBuf>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret_file", &self.jwt_secret_file)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_public_key_files", &self.jwt_public_key_files)
            .finish()
    }
}

impl AuthConfig {
    pub fn is_configured(&self) -> bool {
        self.jwt_secret_file.is_some()
            || self.jwt_secret.is_some()
            || !self.jwt_public_key_files.is_empty()
    }

    /// Reads the key files and builds the authenticator; off when nothing
    /// is configured.
    pub fn authenticator(&self) -> anyhow::Result<cairn_auth::Authenticator> {
        let mut auth = cairn_auth::Authenticator::off();
        if let Some(secret) = &self.jwt_secret {
            if secret.trim().is_empty() {
                anyhow::bail!(
                    "CAIRN_JWT_SECRET is set but empty: set a secret of at least 32 bytes to \
                     turn auth on, or unset it to run without auth"
                );
            }
            auth = auth
                .with_secret(secret.trim().as_bytes())
                .context("CAIRN_JWT_SECRET cannot be used")?;
        }
        if let Some(path) = &self.jwt_secret_file {
            let secret = read_secret_file(path)?;
            auth = auth
                .with_secret(&secret)
                .with_context(|| format!("the JWT secret in {} cannot be used", path.display()))?;
        }
        for path in &self.jwt_public_key_files {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the public key {}", path.display()))?;
            auth = auth.with_public_key(&pem, &path.display().to_string())?;
        }
        Ok(auth)
    }
}

/// A secret file's bytes without surrounding whitespace (editors add a newline).
pub fn read_secret_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the JWT secret file {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.trim().as_bytes().to_vec())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Largest request body, in bytes (larger: 413).
    pub body_limit_bytes: usize,
    /// Browser origins allowed to call the API (CORS), exactly as the
    /// browser sends them (`https://app.example.com`). Empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// Host names the server answers to besides loopback ones (a name it is
    /// reached by behind a proxy or on a network). Empty: on loopback, only
    /// loopback names, so a DNS-rebinding page gets nothing; beyond
    /// loopback, any name.
    pub allowed_hosts: Vec<String>,
    /// Requests handled at once; more are answered 503 with Retry-After.
    pub max_concurrent_requests: usize,
    /// How long a request may take until its response starts, in seconds (503 after).
    pub request_timeout_seconds: u64,
    /// How long a client may take to send a request's headers, in seconds;
    /// then the connection is closed (slowloris).
    pub header_read_timeout_seconds: u64,
    /// Failed authentications (401) a client address may have a minute;
    /// past it the address gets 429 until its budget refills. 0: no limit.
    pub auth_failures_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where the SQLite database (and later the search index) live.
    pub data_dir: PathBuf,
    /// TTL for puts that name none; 0 keeps them forever.
    pub default_ttl_seconds: u64,
    /// How often expired and unreferenced data is collected; 0 never.
    pub gc_interval_seconds: u64,
    /// zstd level for blobs at rest (1-22).
    pub zstd_level: i32,
    /// Memory for decoded originals and rendered views, in MiB.
    pub cache_mib: u64,
    /// fsync every commit: survives power loss, not just `kill -9`.
    pub fsync_every_commit: bool,
    /// Leave every put's default view to the background renderer; off, a
    /// put renders it unless the server is busy.
    pub render_views_after_put: bool,
    /// How long the originals of `POST /v1/compress` cuts are kept, in seconds.
    pub compress_retention_seconds: u64,
    /// A PostgreSQL URL (`postgres://…`) to use instead of SQLite in
    /// `data_dir`; several nodes may share it. `None`: SQLite.
    pub database: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8787)),
            body_limit_bytes: 32 * 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_concurrent_requests: 1024,
            request_timeout_seconds: 120,
            header_read_timeout_seconds: 10,
            auth_failures_per_minute: 30,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> StorageConfig {
        StorageConfig {
            data_dir: PathBuf::from("./cairn-data"),
            default_ttl_seconds: 0,
            gc_interval_seconds: 3600,
            zstd_level: 3,
            cache_mib: cairn_service::DEFAULT_CACHE_BYTES / (1024 * 1024),
            fsync_every_commit: false,
            render_views_after_put: false,
            compress_retention_seconds: 30 * 24 * 3600,
            database: None,
        }
    }
}

/// The configuration file used when none is named: `./cairn.toml`, if present.
pub const DEFAULT_CONFIG_FILE: &str = "cairn.toml";

impl Config {
    /// Parses a configuration file's text.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    /// Reads `path`, or `./cairn.toml` when `path` is `None` and it exists,
    /// or the defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let (path, required) = match path {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::from_toml(&text)
                .with_context(|| format!("invalid configuration file {}", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(error) => Err(error)
                .with_context(|| format!("cannot read configuration file {}", path.display())),
        }
    }

    /// Checks the merged configuration; the message says what to change.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1..=22).contains(&self.storage.zstd_level) {
            bail!(
                "storage.zstd_level must be between 1 and 22, got {}",
                self.storage.zstd_level
            );
        }
        if self.storage.default_ttl_seconds > cairn_service::MAX_TTL_SECONDS {
            bail!(
                "storage.default_ttl_seconds must be at most {} (100 years), got {}",
                cairn_service::MAX_TTL_SECONDS,
                self.storage.default_ttl_seconds
            );
        }
        self.check_database()?;
        if self.storage.compress_retention_seconds == 0 {
            bail!("storage.compress_retention_seconds must be at least 1");
        }
        for (name, value) in [
            (
                "server.max_concurrent_requests",
                self.server.max_concurrent_requests as u64,
            ),
            (
                "server.request_timeout_seconds",
                self.server.request_timeout_seconds,
            ),
            (
                "server.header_read_timeout_seconds",
                self.server.header_read_timeout_seconds,
            ),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if self.server.body_limit_bytes == 0 {
            bail!("server.body_limit_bytes must be at least 1");
        }
        if !self.server.bind.ip().is_loopback() && !self.auth.is_configured() {
            bail!(
                "refusing to listen on {} without authentication. Configure JWT auth first: \
                 set CAIRN_JWT_SECRET (at least 32 bytes, for example from `openssl rand -hex 32`) \
                 or pass --jwt-secret-file FILE, or --jwt-public-key FILE for RS256/EdDSA tokens; \
                 then give each agent a token from `cairn token issue`. Or bind a loopback \
                 address such as 127.0.0.1:8787",
                self.server.bind
            );
        }
        for (name, url) in [
            ("proxy.anthropic_upstream", &self.proxy.anthropic_upstream),
            ("proxy.openai_upstream", &self.proxy.openai_upstream),
            ("proxy.gemini_upstream", &self.proxy.gemini_upstream),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("{name} must be an http:// or https:// URL, got {url:?}");
            }
        }
        let timeout = self.proxy.upstream_timeout_seconds;
        if timeout.is_nan() || timeout <= 0.0 || timeout > 86_400.0 {
            bail!("proxy.upstream_timeout_seconds must be above 0 and at most 86400");
        }
        let budget = self.proxy.briefing_tokens;
        if !(cairn_service::MIN_BRIEFING_TOKENS..=cairn_service::MAX_BRIEFING_TOKENS)
            .contains(&budget)
        {
            bail!(
                "proxy.briefing_tokens must be between {} and {}",
                cairn_service::MIN_BRIEFING_TOKENS,
                cairn_service::MAX_BRIEFING_TOKENS
            );
        }
        for origin in &self.server.cors_allowed_origins {
            if origin == "*" || !(origin.starts_with("http://") || origin.starts_with("https://")) {
                bail!(
                    "server.cors_allowed_origins must list origins such as \
                     \"https://app.example.com\", not {origin:?} (wildcards are not allowed)"
                );
            }
        }
        for host in &self.server.allowed_hosts {
            let valid = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
            if !valid {
                bail!(
                    "server.allowed_hosts must list host names such as \"cairn.internal\" \
                     (no scheme, port or wildcard), not {host:?}"
                );
            }
        }
        Ok(())
    }

    /// Checks `storage.database` names PostgreSQL (without echoing a password).
    pub fn check_database(&self) -> anyhow::Result<()> {
        if let Some(database) = &self.storage.database
            && !(database.starts_with("postgres://") || database.starts_with("postgresql://"))
        {
            bail!(
                "storage.database must be a PostgreSQL URL such as \
                 postgres://cairn:PASSWORD@db.internal:5432/cairn, got {:?} \
                 (leave it unset for SQLite in storage.data_dir)",
                database.split('@').next_back().unwrap_or_default()
            );
        }
        Ok(())
    }

    pub fn default_ttl(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.storage.default_ttl_seconds)).filter(|ttl| !ttl.is_zero())
    }

    pub fn database_path(&self) -> PathBuf {
        self.storage.data_dir.join("cairn.db")
    }

    /// The search index's folder (derived data: rebuilt when missing).
    pub fn index_path(&self) -> PathBuf {
        self.storage.data_dir.join("index")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_example_config_parses_and_matches_the_defaults() {
        let text = include_str!("../../cairn.example.toml");
        let config = Config::from_toml(text).expect("cairn.example.toml parses");
        assert_eq!(config, Config::default());
        config.validate().expect("the defaults are valid");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let error = Config::from_toml("[storage]\nzstd_levle = 3\n").expect_err("typo refused");
        assert!(format!("{error:#}").contains("zstd_levle"), "{error:#}");
    }

    #[test]
    fn a_public_bind_without_auth_refuses_to_start_and_says_why() {
        let mut config = Config::default();
        config.server.bind = "0.0.0.0:8787".parse().expect("valid address");
        let error = config.validate().expect_err("refused");
        assert!(
            error.to_string().contains("without authentication"),
            "{error}"
        );
    }

    #[test]
    fn a_database_that_is_not_postgresql_is_refused_without_its_password() {
        let mut config = Config::default();
        config.storage.database = Some("mysql://cairn:s3cret@db/cairn".into());
        let error = config.validate().expect_err("refused").to_string();
        assert!(error.contains("PostgreSQL URL"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        config.storage.database = Some("postgres://cairn:s3cret@db/cairn".into());
        config.validate().expect("a PostgreSQL URL is accepted");
        let parsed =
            Config::from_toml("[storage]\ndatabase = \"postgresql://db/cairn\"\n").expect("parses");
        assert_eq!(
            parsed.storage.database.as_deref(),
            Some("postgresql://db/cairn")
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let mut config = Config::default();
        config.storage.zstd_level = 40;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.storage.default_ttl_seconds = u64::MAX;
        assert!(
            config
                .validate()
                .expect_err("refused")
                .to_string()
                .contains("100 years")
        );
    }
}
