//! Guessing tokens: failed authentications are budgeted per client address
//! (`server.auth_failures_per_minute`). Past the budget the address is
//! answered 429 with `Retry-After` on every surface, before its token is
//! looked at, so a right guess does not get in faster either; another
//! address, and an address that never failed, are not slowed.

use std::net::{IpAddr, Ipv4Addr};

use cairn_auth::Scope;
use cairn_tests::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

use super::{SECRET, token};

/// A client whose connections come from `address` (any of 127/8 reaches
/// a server on 127.0.0.1).
fn client_from(address: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .build()
        .expect("a client")
}

async fn server(budget: u32) -> anyhow::Result<TestServer> {
    TestServer::start_with(|config| {
        config.auth.jwt_secret = Some(SECRET.to_owned());
        config.server.auth_failures_per_minute = budget;
    })
    .await
}

#[tokio::test]
async fn two_thousand_bad_tokens_are_cut_off_at_the_budget() -> anyhow::Result<()> {
    let server = server(30).await?;
    let url = server.url();
    let attacker = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let good = token("guesser", "acme", &[Scope::Read, Scope::Write]);
    let (mut unauthorized, mut limited) = (0, 0);
    let mut retry_after = None;
    for guess in 0..2000 {
        let response = attacker
            .get(format!("{url}/v1/contexts"))
            .bearer_auth(format!("guess-{guess}"))
            .send()
            .await?;
        match response.status() {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse::<u64>().ok());
                let body: Value = serde_json::from_slice(&response.bytes().await?)?;
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
            }
            other => panic!("a bad token got {other}"),
        }
    }
    // The budget, and perhaps a token refilled while the loop ran.
    assert!(
        (30..=40).contains(&unauthorized),
        "{unauthorized} bad tokens were looked at"
    );
    assert_eq!(limited, 2000 - unauthorized);
    let retry_after = retry_after.expect("429 says when to retry");
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");

    // The right token from the blocked address waits too: a guess that
    // happens to be right is not told so sooner.
    let right = attacker
        .get(format!("{url}/v1/contexts"))
        .bearer_auth(&good)
        .send()
        .await?;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);

    // Every surface shares the budget: GraphQL, MCP and the proxy.
    for (method, path) in [
        (reqwest::Method::POST, "/graphql"),
        (reqwest::Method::POST, "/mcp"),
        (reqwest::Method::POST, "/v1/messages"),
    ] {
        let response = attacker
            .request(method, format!("{url}{path}"))
            .bearer_auth("guess")
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    }

    // Another address is served, with its own budget.
    let other = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let served = other
        .get(format!("{url}/v1/contexts"))
        .bearer_auth(&good)
        .send()
        .await?;
    assert_eq!(served.status(), StatusCode::OK);
    let bad = other
        .get(format!("{url}/v1/contexts"))
        .bearer_auth("guess")
        .send()
        .await?;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

    // Probes answer whatever the address did.
    let health = attacker.get(format!("{url}/healthz")).send().await?;
    assert_eq!(health.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn the_budget_refills_and_good_tokens_never_spend_it() -> anyhow::Result<()> {
    // 120 a minute: one back every half second.
    let server = server(120).await?;
    let url = server.url();
    let client = client_from(Ipv4Addr::new(127, 0, 0, 3));
    let good = token("guesser", "acme", &[Scope::Read]);
    for _ in 0..500 {
        let response = client
            .get(format!("{url}/v1/contexts"))
            .bearer_auth(&good)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A token without the scope is 403, not a failed authentication.
    for _ in 0..200 {
        let response = client
            .put(format!("{url}/v1/contexts/k"))
            .bearer_auth(&good)
            .body("v")
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let mut refused_at = None;
    for attempt in 0..200 {
        let status = client
            .get(format!("{url}/v1/contexts"))
            .bearer_auth("guess")
            .send()
            .await?
            .status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(attempt);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let refused_at = refused_at.expect("the budget ran out");
    assert!(refused_at >= 120, "refused after {refused_at} failures");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = client
        .get(format!("{url}/v1/contexts"))
        .bearer_auth(&good)
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::OK, "the budget refilled");
    Ok(())
}

#[tokio::test]
async fn a_zero_budget_is_no_limit() -> anyhow::Result<()> {
    let server = server(0).await?;
    let url = server.url();
    let client = reqwest::Client::new();
    for guess in 0..300 {
        let status = client
            .get(format!("{url}/v1/contexts"))
            .bearer_auth(format!("guess-{guess}"))
            .send()
            .await?
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    Ok(())
}
