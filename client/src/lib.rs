//! `cairn-client`: the Rust SDK for a Cairn server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cairn_client::ClientError> {
//! use cairn_client::SharedContext;
//!
//! let ctx = SharedContext::connect("http://127.0.0.1:8787")?.with_agent("researcher");
//! let receipt = ctx.put("search/results", "480 rows of tool output ...").await?;
//! let view = ctx.get("search/results").await?; // the compressed view, with markers
//! let original = ctx.get_full("search/results").await?; // byte for byte
//! let same = ctx.retrieve(&receipt.reference).await?; // by `ccr:` reference
//! # Ok(()) }
//! ```
//!
//! API boundary: depends on `cairn-types` only (plus an HTTP client), so the
//! wire types are the server's own. Every failure is a [`ClientError`]; nothing
//! panics. Connection failures are retried with exponential backoff.

mod error;

use std::time::Duration;

use bytes::Bytes;
use cairn_types::{
    Briefing, CompressRequest, CompressResponse, ContextKey, ContextList, ContextSummary,
    ContextView, Deleted, ErrorBody, ImportReport, PutReceipt, PutRequest, Retrieved,
    SearchResults, SessionDetail, Stats, View,
};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;

pub use cairn_types as types;
pub use error::ClientError;

/// How to read a context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// Compressed (default) or full.
    pub view: View,
    /// Keep everything matching this query in the view.
    pub query: Option<String>,
    /// Cap the view at this many tokens.
    pub max_tokens: Option<u64>,
    /// Read an older version.
    pub version: Option<i64>,
}

/// Everything a put can carry besides key and content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutOptions {
    /// Overrides the client's agent for this put.
    pub agent: Option<String>,
    pub session: Option<String>,
    pub ttl: Option<Duration>,
    /// A JSON object stored with the version.
    pub metadata: Option<serde_json::Value>,
}

/// Which keys [`SharedContext::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub prefix: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A search: the query and its filters ([`SharedContext::search`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchOptions {
    /// Words, `"phrases"`, `field:value`, `AND`/`OR`/`-word`.
    pub query: String,
    pub agent: Option<String>,
    pub project: Option<String>,
    pub session: Option<String>,
    /// `message` or `context`.
    pub kind: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    pub limit: Option<usize>,
}

/// A briefing: the project and who is asking ([`SharedContext::briefing`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BriefingOptions {
    /// The project folder (a repository root, or a working directory).
    pub project: String,
    /// The agent being briefed: its own sessions are left out.
    pub agent: Option<String>,
    /// Budget in o200k tokens (the server's default, 1500, when `None`).
    pub max_tokens: Option<u32>,
    /// A session to leave out (the one starting).
    pub session: Option<String>,
    /// The project's normalised git remote (`github.com/acme/shop`): other
    /// clones of it count as the project too.
    pub repository: Option<String>,
}

/// Where a session file comes from ([`SharedContext::import_session_from`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// `claude`, `codex` or `gemini`; detected from the content when `None`.
    pub agent: Option<String>,
    /// The file's path on the agent's machine: it names subagents and
    /// sessions without an id. The server never opens it.
    pub path: Option<String>,
    /// The project folder the file belongs to (Gemini CLI's chats do not say).
    pub project: Option<String>,
    /// The normalised git remote of the repository the session ran in, and
    /// the folder of that clone (both, or neither).
    pub repository: Option<String>,
    pub root: Option<String>,
}

/// Retry policy for connection failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 5,
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// A handle on a Cairn server's shared store. Cheap to clone; clones share
/// one connection pool.
#[derive(Debug, Clone)]
pub struct SharedContext {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    agent: Option<String>,
    session: Option<String>,
    retry: Retry,
}

impl SharedContext {
    /// A client for the server at `url` (for example `http://127.0.0.1:8787`).
    /// Nothing is sent until the first call.
    pub fn connect(url: &str) -> Result<SharedContext, ClientError> {
        // The URL is checked before the HTTP client (and its TLS) is built.
        check_url(url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(ClientError::Http)?;
        SharedContext::connect_with(url, http)
    }

    /// A client for the server at `url` that sends its requests with
    /// `http`: its timeouts, proxies and TLS settings (a hook that must not
    /// wait uses short timeouts and no certificate store).
    pub fn connect_with(url: &str, http: reqwest::Client) -> Result<SharedContext, ClientError> {
        check_url(url)?;
        Ok(SharedContext {
            http,
            base: url.trim_end_matches('/').to_owned(),
            token: None,
            agent: None,
            session: None,
            retry: Retry::default(),
        })
    }

    /// Sends `token` as a bearer token with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> SharedContext {
        self.token = Some(token.into());
        self
    }

    /// Records `agent` on every put (unless a put names another).
    pub fn with_agent(mut self, agent: impl Into<String>) -> SharedContext {
        self.agent = Some(agent.into());
        self
    }

    /// Records `session` on every put (unless a put names another).
    pub fn with_session(mut self, session: impl Into<String>) -> SharedContext {
        self.session = Some(session.into());
        self
    }

    pub fn with_retry(mut self, retry: Retry) -> SharedContext {
        self.retry = retry;
        self
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Stores `content` as the next version of `key`.
    pub async fn put(
        &self,
        key: &str,
        content: impl Into<Bytes>,
    ) -> Result<PutReceipt, ClientError> {
        self.put_with(key, content, PutOptions::default()).await
    }

    /// Stores `content` under `key` with agent, session, TTL or metadata.
    pub async fn put_with(
        &self,
        key: &str,
        content: impl Into<Bytes>,
        options: PutOptions,
    ) -> Result<PutReceipt, ClientError> {
        let content = content.into();
        let agent = options.agent.or_else(|| self.agent.clone());
        let session = options.session.or_else(|| self.session.clone());
        let url = self.context_url(key)?;
        // Text with metadata travels in the JSON form; everything else raw, so
        // binary content needs no encoding.
        let json_body = match (options.metadata, std::str::from_utf8(&content)) {
            (Some(metadata), Ok(text)) => Some(Bytes::from(
                serde_json::to_vec(&PutRequest {
                    content: text.to_owned(),
                    agent: agent.clone(),
                    session: session.clone(),
                    ttl_seconds: options.ttl.map(|ttl| ttl.as_secs()),
                    metadata: Some(metadata),
                })
                .map_err(|error| ClientError::Protocol(error.to_string()))?,
            )),
            (Some(_), Err(_)) => {
                return Err(ClientError::InvalidInput(
                    "metadata can only travel with UTF-8 content".to_owned(),
                ));
            }
            (None, _) => None,
        };
        let response = self
            .send(|| {
                let mut request = self.request(Method::PUT, &url);
                if let Some(body) = &json_body {
                    return request
                        .header(CONTENT_TYPE, "application/json")
                        .body(body.clone());
                }
                request = request.header(CONTENT_TYPE, "application/octet-stream");
                // Raw bytes, so names need not be ASCII; the server reads UTF-8.
                for (name, value) in [("x-cairn-agent", &agent), ("x-cairn-session", &session)] {
                    if let Some(value) = value
                        && let Ok(value) = HeaderValue::from_bytes(value.as_bytes())
                    {
                        request = request.header(name, value);
                    }
                }
                if let Some(ttl) = options.ttl {
                    request = request.header("x-cairn-ttl-seconds", ttl.as_secs());
                }
                request.body(content.clone())
            })
            .await?;
        json(response).await
    }

    /// The compressed view of the latest version of `key`.
    pub async fn get(&self, key: &str) -> Result<ContextView, ClientError> {
        self.get_with(key, GetOptions::default()).await
    }

    /// The original of the latest version of `key`, byte for byte.
    pub async fn get_full(&self, key: &str) -> Result<Bytes, ClientError> {
        let url = self.context_url(key)?;
        let response = self
            .send(|| {
                self.request(Method::GET, &url)
                    .query(&[("view", "full")])
                    .header(ACCEPT, "application/octet-stream")
            })
            .await?;
        bytes(response).await
    }

    /// A view of `key` as `options` say.
    pub async fn get_with(
        &self,
        key: &str,
        options: GetOptions,
    ) -> Result<ContextView, ClientError> {
        let url = self.context_url(key)?;
        let mut query: Vec<(&str, String)> = vec![("view", options.view.as_str().to_owned())];
        if let Some(text) = &options.query {
            query.push(("query", text.clone()));
        }
        if let Some(max_tokens) = options.max_tokens {
            query.push(("max_tokens", max_tokens.to_string()));
        }
        if let Some(version) = options.version {
            query.push(("version", version.to_string()));
        }
        let response = self
            .send(|| self.request(Method::GET, &url).query(&query))
            .await?;
        json(response).await
    }

    /// The original a `ccr:` reference names, byte for byte.
    pub async fn retrieve(&self, reference: &str) -> Result<Bytes, ClientError> {
        let url = format!("{}/v1/ccr/{}", self.base, encode_path_segment(reference));
        let response = self
            .send(|| {
                self.request(Method::GET, &url)
                    .header(ACCEPT, "application/octet-stream")
            })
            .await?;
        bytes(response).await
    }

    /// The original a `ccr:` reference names, with its facts, as JSON.
    pub async fn retrieve_info(&self, reference: &str) -> Result<Retrieved, ClientError> {
        let url = format!("{}/v1/ccr/{}", self.base, encode_path_segment(reference));
        let response = self.send(|| self.request(Method::GET, &url)).await?;
        json(response).await
    }

    /// Lines `start..=end` (1-based) of the original a reference names, or
    /// those items of a JSON array: what a view's marker left out.
    pub async fn retrieve_lines(
        &self,
        reference: &str,
        start: u64,
        end: u64,
    ) -> Result<Retrieved, ClientError> {
        let url = format!("{}/v1/ccr/{}", self.base, encode_path_segment(reference));
        let lines = format!("{start}-{end}");
        let response = self
            .send(|| self.request(Method::GET, &url).query(&[("lines", &lines)]))
            .await?;
        json(response).await
    }

    /// The lines (or JSON array items) of an original that match `query`,
    /// each with its position.
    pub async fn retrieve_matching(
        &self,
        reference: &str,
        query: &str,
    ) -> Result<Retrieved, ClientError> {
        let url = format!("{}/v1/ccr/{}", self.base, encode_path_segment(reference));
        let response = self
            .send(|| self.request(Method::GET, &url).query(&[("query", query)]))
            .await?;
        json(response).await
    }

    /// One page of live keys.
    pub async fn list(&self, options: &ListOptions) -> Result<ContextList, ClientError> {
        let url = format!("{}/v1/contexts", self.base);
        let mut query = present(&[
            ("prefix", &options.prefix),
            ("agent", &options.agent),
            ("session", &options.session),
            ("cursor", &options.cursor),
        ]);
        if let Some(limit) = options.limit {
            query.push(("limit", limit.to_string()));
        }
        let response = self
            .send(|| self.request(Method::GET, &url).query(&query))
            .await?;
        json(response).await
    }

    /// Every live key starting with `prefix`, following the pages.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<ContextSummary>, ClientError> {
        let mut options = ListOptions {
            prefix: Some(prefix.to_owned()).filter(|prefix| !prefix.is_empty()),
            limit: Some(1000),
            ..ListOptions::default()
        };
        let mut keys = Vec::new();
        loop {
            let page = self.list(&options).await?;
            keys.extend(page.items);
            match page.next_cursor {
                Some(cursor) => options.cursor = Some(cursor),
                None => return Ok(keys),
            }
        }
    }

    /// Deletes every version of `key`.
    pub async fn delete(&self, key: &str) -> Result<Deleted, ClientError> {
        let url = self.context_url(key)?;
        let response = self.send(|| self.request(Method::DELETE, &url)).await?;
        json(response).await
    }

    /// Searches imported sessions and contexts.
    pub async fn search(&self, options: &SearchOptions) -> Result<SearchResults, ClientError> {
        let url = format!("{}/v1/search", self.base);
        let mut query = present(&[
            ("agent", &options.agent),
            ("project", &options.project),
            ("session", &options.session),
            ("kind", &options.kind),
            ("since", &options.since),
            ("until", &options.until),
        ]);
        query.push(("q", options.query.clone()));
        if let Some(limit) = options.limit {
            query.push(("limit", limit.to_string()));
        }
        let response = self
            .send(|| self.request(Method::GET, &url).query(&query))
            .await?;
        json(response).await
    }

    /// Imports one session file (Claude Code, Codex CLI or Gemini CLI; the
    /// agent is detected when `agent` is `None`).
    pub async fn import_session(
        &self,
        content: impl Into<Bytes>,
        agent: Option<&str>,
    ) -> Result<ImportReport, ClientError> {
        let options = ImportOptions {
            agent: agent.map(str::to_owned),
            ..ImportOptions::default()
        };
        self.import_session_from(content, &options).await
    }

    /// Imports one session file, saying where it comes from. `content` may
    /// be zstd-compressed.
    pub async fn import_session_from(
        &self,
        content: impl Into<Bytes>,
        options: &ImportOptions,
    ) -> Result<ImportReport, ClientError> {
        let url = format!("{}/v1/sessions/import", self.base);
        let content: Bytes = content.into();
        let query = present(&[
            ("agent", &options.agent),
            ("path", &options.path),
            ("project", &options.project),
            ("repository", &options.repository),
            ("root", &options.root),
        ]);
        let response = self
            .send(|| {
                self.request(Method::POST, &url)
                    .query(&query)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(content.clone())
            })
            .await?;
        json(response).await
    }

    /// What the other agents did recently in a project, within a budget.
    pub async fn briefing(&self, options: &BriefingOptions) -> Result<Briefing, ClientError> {
        let url = format!("{}/v1/briefing", self.base);
        let mut query = present(&[
            ("agent", &options.agent),
            ("session", &options.session),
            ("repository", &options.repository),
        ]);
        query.push(("project", options.project.clone()));
        if let Some(max_tokens) = options.max_tokens {
            query.push(("max_tokens", max_tokens.to_string()));
        }
        let response = self
            .send(|| self.request(Method::GET, &url).query(&query))
            .await?;
        json(response).await
    }

    /// A session and its first messages (tool outputs as compressed views).
    pub async fn session(&self, id: &str) -> Result<SessionDetail, ClientError> {
        let url = format!(
            "{}/v1/sessions/{}",
            self.base,
            id.split('/')
                .map(encode_path_segment)
                .collect::<Vec<_>>()
                .join("/")
        );
        let response = self.send(|| self.request(Method::GET, &url)).await?;
        json(response).await
    }

    /// Compresses without storing under a key: one text (`content`, with an
    /// optional `query`, `max_tokens` and `kind`), or the `messages` of an
    /// OpenAI Chat or Anthropic Messages request, whose tool results are
    /// compressed. The original of every cut is kept, so its markers resolve
    /// with [`SharedContext::retrieve`].
    pub async fn compress(
        &self,
        request: &CompressRequest,
    ) -> Result<CompressResponse, ClientError> {
        let url = format!("{}/v1/compress", self.base);
        let body = Bytes::from(
            serde_json::to_vec(request)
                .map_err(|error| ClientError::Protocol(error.to_string()))?,
        );
        let response = self
            .send(|| {
                self.request(Method::POST, &url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        json(response).await
    }

    /// Counts, bytes and tokens saved.
    pub async fn stats(&self) -> Result<Stats, ClientError> {
        let url = format!("{}/v1/stats", self.base);
        let response = self.send(|| self.request(Method::GET, &url)).await?;
        json(response).await
    }

    /// The URL of `key`, refusing keys the server would refuse (some, like
    /// `..`, an HTTP client would silently rewrite instead).
    fn context_url(&self, key: &str) -> Result<String, ClientError> {
        let key = ContextKey::parse(key)?;
        Ok(format!(
            "{}/v1/contexts/{}",
            self.base,
            encode_path_segment(key.as_str())
        ))
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        request
    }

    /// Sends the request `build` makes, retrying connection failures (the
    /// request never reached the server, so retrying cannot duplicate a put).
    async fn send(
        &self,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            match build().send().await {
                Ok(response) => return Ok(response),
                Err(error) if error.is_connect() && attempt < self.retry.attempts => {
                    tracing::debug!(attempt, ?backoff, "cannot connect; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                    attempt += 1;
                }
                Err(error) if error.is_connect() => {
                    return Err(ClientError::Connect {
                        url: self.base.clone(),
                        source: error,
                    });
                }
                Err(error) => return Err(ClientError::Http(error)),
            }
        }
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.bytes().await.map_err(ClientError::Http)?;
    Err(match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(error) => ClientError::Api {
            status: status.as_u16(),
            code: error.error.code,
            message: error.error.message,
        },
        Err(_) => ClientError::Protocol(format!(
            "HTTP {status} without an error body: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    })
}

async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let body = check(response)
        .await?
        .bytes()
        .await
        .map_err(ClientError::Http)?;
    serde_json::from_slice(&body)
        .map_err(|error| ClientError::Protocol(format!("unexpected response body: {error}")))
}

async fn bytes(response: reqwest::Response) -> Result<Bytes, ClientError> {
    check(response)
        .await?
        .bytes()
        .await
        .map_err(ClientError::Http)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, slashes
/// included, so a key travels as one path segment whatever it contains.
fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The query parameters that are set, as name and value.
/// Refuses a URL that is not `http(s)://HOST[:PORT]…`.
fn check_url(url: &str) -> Result<(), ClientError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| ClientError::InvalidUrl(format!("{url}: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ClientError::InvalidUrl(format!(
            "{url}: expected http://HOST[:PORT]"
        )));
    }
    Ok(())
}

fn present<'a>(parameters: &[(&'a str, &Option<String>)]) -> Vec<(&'a str, String)> {
    parameters
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|value| (*name, value.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_travel_as_one_segment() {
        assert_eq!(
            encode_path_segment("tool/grep 42?x#y%"),
            "tool%2Fgrep%2042%3Fx%23y%25"
        );
        assert_eq!(encode_path_segment("ccr:0a"), "ccr%3A0a");
        assert_eq!(encode_path_segment("日"), "%E6%97%A5");
    }

    #[test]
    fn bad_urls_are_refused_up_front() {
        assert!(matches!(
            SharedContext::connect("nope"),
            Err(ClientError::InvalidUrl(_))
        ));
        assert!(matches!(
            SharedContext::connect("ftp://h"),
            Err(ClientError::InvalidUrl(_))
        ));
        assert!(SharedContext::connect("http://127.0.0.1:8787/").is_ok());
    }
}
