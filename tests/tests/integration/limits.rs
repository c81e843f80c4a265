//! The limits every server needs, against the real server over raw TCP: a
//! client trickling its headers is cut off, requests past the concurrency
//! cap are shed with 503 and Retry-After (probes still answer), and a request
//! that takes too long gets a 503 saying so. Each leaves the server serving.

use std::time::{Duration, Instant};

use cairn_tests::TestServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection and sends `head` (no more), as a slow client would.
pub(crate) async fn stalled(server: &TestServer, head: &str) -> anyhow::Result<TcpStream> {
    let address = server.url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(address).await?;
    stream.write_all(head.as_bytes()).await?;
    Ok(stream)
}

/// A PUT whose body never finishes arriving: it holds a request slot.
const STALLED_PUT: &str =
    "PUT /v1/contexts/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\npartial";

/// Reads what the server sends until it closes or `within` passes.
pub(crate) async fn read_all(stream: &mut TcpStream, within: Duration) -> anyhow::Result<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(read)) => {
                received.extend_from_slice(&buffer[..read]);
                if received.windows(4).any(|window| window == b"\r\n\r\n")
                    && String::from_utf8_lossy(&received).contains("\"error\"")
                {
                    break;
                }
            }
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Ok(Err(error)) => return Err(error.into()),
        }
    }
    Ok(String::from_utf8_lossy(&received).into_owned())
}

async fn stats_status(server: &TestServer) -> anyhow::Result<u16> {
    Ok(reqwest::get(format!("{}/v1/stats", server.url()))
        .await?
        .status()
        .as_u16())
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(|config| config.server.header_read_timeout_seconds = 1).await?;
    let started = Instant::now();
    let mut slow = stalled(
        &server,
        "GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
    )
    .await?;
    let received = read_all(&mut slow, Duration::from_secs(10)).await?;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "the connection stayed open {waited:?}"
    );
    assert!(!received.contains("200 OK"), "{received}");
    assert_eq!(stats_status(&server).await?, 200);
    server.stop().await
}

#[tokio::test]
async fn requests_past_the_cap_are_shed_at_once_and_probes_still_answer() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.server.max_concurrent_requests = 2).await?;
    let first = stalled(&server, STALLED_PUT).await?;
    let second = stalled(&server, STALLED_PUT).await?;
    // Both are inside their handlers, reading their bodies, once a third is shed.
    let started = Instant::now();
    let shed = loop {
        let response = reqwest::get(format!("{}/v1/stats", server.url())).await?;
        if response.status().as_u16() == 503 {
            break response;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never shed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = serde_json::from_slice(&shed.bytes().await?)?;
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("limit of 2 requests")),
        "{body}"
    );
    let probe = reqwest::get(format!("{}/healthz", server.url())).await?;
    assert_eq!(probe.status().as_u16(), 200);
    // Slots free up when the slow clients go away.
    drop((first, second));
    let started = Instant::now();
    while stats_status(&server).await? != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "slots never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await
}

#[tokio::test]
async fn a_request_that_takes_too_long_gets_a_503_that_says_so() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.server.request_timeout_seconds = 1).await?;
    let started = Instant::now();
    let mut slow = stalled(&server, STALLED_PUT).await?;
    let received = read_all(&mut slow, Duration::from_secs(10)).await?;
    assert!(received.starts_with("HTTP/1.1 503"), "{received}");
    assert!(received.contains("did not finish within 1 s"), "{received}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing was stored from the half-sent body.
    let missing = reqwest::get(format!("{}/v1/contexts/slow", server.url())).await?;
    assert_eq!(missing.status().as_u16(), 404);
    server.stop().await
}
