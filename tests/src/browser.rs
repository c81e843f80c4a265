//! A real Chromium, headless, driven over the DevTools protocol: open a
//! page, run a script in it, read what the browser logged (Content Security
//! Policy violations, script errors). `scripts/install-browser.sh` installs
//! it; without one the tests that need it say so loudly and pass, except
//! under `CI=true`, where they fail.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long one page may take to load, or one script to finish.
const WAIT: Duration = Duration::from_secs(30);

/// A headless Chromium with one tab. Dropping it kills the browser.
pub struct Browser {
    _child: tokio::process::Child,
    _profile: tempfile::TempDir,
    tab: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Every event the tab has sent, in order (`Log.entryAdded`,
    /// `Runtime.exceptionThrown`, `Page.loadEventFired`, …).
    pub events: Vec<Value>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// The browser to run: `$CAIRN_CHROMIUM`, else `chromium` or
/// `chromium-browser` on PATH.
fn chromium() -> Option<std::path::PathBuf> {
    let candidates = std::env::var_os("CAIRN_CHROMIUM")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(["chromium", "chromium-browser"].map(std::path::PathBuf::from));
    for candidate in candidates {
        let found = if candidate.components().count() > 1 {
            candidate.is_file().then_some(candidate)
        } else {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(&candidate))
                    .find(|file| file.is_file())
            })
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

impl Browser {
    /// Starts Chromium with `host_rules` (`--host-resolver-rules`, so test
    /// names resolve to loopback and nothing else resolves at all), or
    /// returns `None` after saying loudly that there is no browser (a
    /// failure under `CI=true`).
    pub async fn launch(host_rules: &str) -> anyhow::Result<Option<Browser>> {
        let Some(program) = chromium() else {
            cairn_core::skip::cannot_run(
                "the browser tests",
                "no Chromium (run scripts/install-browser.sh or set CAIRN_CHROMIUM)",
            );
            return Ok(None);
        };
        let profile = tempfile::tempdir()?;
        let mut child = tokio::process::Command::new(&program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.path().display()),
                &format!("--host-resolver-rules={host_rules}"),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stderr = child.stderr.take().context("chromium's stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let endpoint = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            bail!("chromium exited before it listened for DevTools")
        })
        .await
        .context("chromium did not start in time")??;
        // Keep draining its log, or it blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let port = endpoint
            .strip_prefix("ws://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .context("the DevTools address")?;
        let targets: Value = serde_json::from_slice(
            &reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
                .await?
                .bytes()
                .await?,
        )?;
        let page = targets
            .as_array()
            .and_then(|targets| targets.iter().find(|target| target["type"] == "page"))
            .and_then(|target| target["webSocketDebuggerUrl"].as_str())
            .context("chromium has no page")?
            .to_owned();
        let (tab, _) = tokio_tungstenite::connect_async(&page).await?;
        let mut browser = Browser {
            _child: child,
            _profile: profile,
            tab,
            next_id: 0,
            events: Vec::new(),
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({})).await?;
        }
        Ok(Some(browser))
    }

    /// Sends one DevTools command and waits for its answer, keeping the
    /// events that arrive meanwhile.
    pub async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({"id": id, "method": method, "params": params});
        self.tab.send(Message::text(command.to_string())).await?;
        loop {
            let message = tokio::time::timeout(WAIT, self.tab.next())
                .await
                .with_context(|| format!("no answer to {method}"))?
                .context("chromium closed DevTools")??;
            let Message::Text(text) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(&text)?;
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    bail!("{method}: {error}");
                }
                return Ok(message["result"].clone());
            }
            self.events.push(message);
        }
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn open(&mut self, url: &str) -> anyhow::Result<()> {
        let before = self.events.len();
        let navigated = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = navigated.get("errorText") {
            bail!("{url}: {error}");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.events[before..]
            .iter()
            .any(|event| event["method"] == "Page.loadEventFired")
        {
            if tokio::time::Instant::now() > deadline {
                bail!("{url} did not load in time");
            }
            // A cheap command, so events arrive while we wait.
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.call("Runtime.evaluate", json!({"expression": "1"}))
                .await?;
        }
        Ok(())
    }

    /// Runs `script` in the page (awaiting it if it is a promise) and
    /// returns its value as JSON.
    pub async fn eval(&mut self, script: &str) -> anyhow::Result<Value> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": script, "awaitPromise": true, "returnByValue": true}),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("the script threw: {exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Waits until `condition` (a script) is true in the page.
    pub async fn wait_for(&mut self, condition: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.eval(condition).await? == Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("still not true after {WAIT:?}: {condition}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the browser logged as errors and warnings, and the scripts'
    /// uncaught exceptions, as text.
    pub fn complaints(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|event| match event["method"].as_str() {
                Some("Log.entryAdded") => {
                    let entry = &event["params"]["entry"];
                    matches!(entry["level"].as_str(), Some("error" | "warning")).then(|| {
                        format!(
                            "{} ({}): {}",
                            entry["source"].as_str().unwrap_or(""),
                            entry["url"].as_str().unwrap_or(""),
                            entry["text"].as_str().unwrap_or("")
                        )
                    })
                }
                Some("Runtime.exceptionThrown") => Some(format!(
                    "exception: {}",
                    event["params"]["exceptionDetails"]
                )),
                _ => None,
            })
            .collect()
    }
}
