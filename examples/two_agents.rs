//! Two agents sharing context through Cairn.
//!
//! Agent A (a "researcher") runs a tool that returns 500 rows of JSON and puts
//! the output into Cairn. Agent B (a "writer") reads it back: first the view
//! meant for its context window, then the original, byte for byte, by the
//! `ccr:` reference A's receipt carried.
//!
//! ```text
//! cargo run -p cairn-examples --bin two_agents                 # embedded server
//! cargo run -p cairn-examples --bin two_agents -- http://127.0.0.1:8787
//! ```

use cairn_client::SharedContext;

/// What the tool of agent A returned: 500 rows of JSON.
fn tool_output() -> String {
    let rows: Vec<serde_json::Value> = (0..500)
        .map(|id| {
            serde_json::json!({
                "id": id,
                "service": format!("svc-{}", id % 7),
                "status": if id % 50 == 7 { "retry" } else { "ok" },
                "latency_ms": 20 + (id * 37) % 180,
            })
        })
        .collect();
    serde_json::to_string_pretty(&rows).expect("JSON values serialize")
}

async fn run(url: &str) -> anyhow::Result<()> {
    // Agent A stores its tool output.
    let researcher = SharedContext::connect(url)?.with_agent("researcher");
    let output = tool_output();
    let receipt = researcher
        .put("research/latency-table", output.clone())
        .await?;
    println!(
        "agent A put {} bytes as version {}: {} ({} tokens)",
        receipt.bytes, receipt.version, receipt.reference, receipt.tokens_original
    );

    // Agent B, with its own client, reads what A left.
    let writer = SharedContext::connect(url)?.with_agent("writer");
    let view = writer.get("research/latency-table").await?;
    println!(
        "agent B got the {} view: {} tokens of {} (written by {}), {} markers",
        view.view.as_str(),
        view.tokens,
        view.tokens_original,
        view.agent.as_deref().unwrap_or("unknown"),
        view.markers.len()
    );
    let original = writer.retrieve(&receipt.reference).await?;
    anyhow::ensure!(
        original == output.as_bytes(),
        "the original round-trips byte for byte"
    );
    println!(
        "agent B retrieved {} by reference: identical to what A put",
        receipt.reference
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(url) = std::env::args().nth(1) {
        return run(&url).await;
    }
    // No server named: start one in this process over a temporary directory.
    let data = tempfile::tempdir()?;
    let mut config = cairn_server::Config::default();
    config.server.bind = "127.0.0.1:0".parse()?;
    config.storage.data_dir = data.path().to_path_buf();
    let server = cairn_server::RunningServer::start(config).await?;
    let outcome = run(&server.url()).await;
    server.stop().await?;
    outcome
}
