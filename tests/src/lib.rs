//! Helpers for the end-to-end tests: a real `cairn serve` on a loopback port
//! with its own temporary data directory, and a client pointed at it.

pub mod browser;
pub mod router_input;

use std::path::{Path, PathBuf};

use cairn_client::SharedContext;
use cairn_server::{Config, RunningServer};

/// A server under test. Dropping it stops nothing gracefully: call
/// [`TestServer::stop`] or [`TestServer::restart`].
#[derive(Debug)]
pub struct TestServer {
    server: RunningServer,
    config: Config,
    _data: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 over a fresh data directory.
    pub async fn start() -> anyhow::Result<TestServer> {
        TestServer::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the test configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<TestServer> {
        let data = tempfile::tempdir()?;
        let mut config = test_config(data.path());
        adjust(&mut config);
        let server = RunningServer::start(config.clone()).await?;
        Ok(TestServer {
            server,
            config,
            _data: Some(data),
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.storage.data_dir
    }

    /// A client of this server.
    pub fn client(&self) -> SharedContext {
        SharedContext::connect(&self.url()).expect("the test server's URL is valid")
    }

    /// A client that records `agent` on its puts.
    pub fn agent(&self, agent: &str) -> SharedContext {
        self.client().with_agent(agent)
    }

    /// Stops the server gracefully and starts a new one over the same data
    /// directory (on a new port).
    pub async fn restart(self) -> anyhow::Result<TestServer> {
        self.restart_with(|| {}).await
    }

    /// [`TestServer::restart`], running `between` while the server is down.
    pub async fn restart_with(self, between: impl FnOnce()) -> anyhow::Result<TestServer> {
        let TestServer {
            server,
            mut config,
            _data,
        } = self;
        server.stop().await?;
        between();
        config.server.bind = "127.0.0.1:0".parse()?;
        let server = RunningServer::start(config.clone()).await?;
        Ok(TestServer {
            server,
            config,
            _data,
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.server.stop().await
    }
}

/// The configuration tests run with: loopback port 0, `data_dir`, no periodic gc.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".parse().expect("valid address");
    config.storage.data_dir = PathBuf::from(data_dir);
    config.storage.gc_interval_seconds = 0;
    config
}
