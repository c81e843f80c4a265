//! Tokens: missing, forged, `alg: none`, HS/RS confusion, expired, another
//! audience, not valid yet, critical extensions, weak keys, too few scopes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cairn_auth::{Scope, SigningKey, TokenRequest};
use cairn_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn every_route_refuses_a_missing_or_bad_token_with_401() -> anyhow::Result<()> {
    // Hundreds of bad tokens from one address: past the failed-auth budget
    // they would get 429 (guessing.rs tests that), so no budget here.
    let server = TestServer::start_with(|config| {
        config.auth.jwt_secret = Some(SECRET.to_owned());
        config.server.auth_failures_per_minute = 0;
    })
    .await?;
    let rsa_private = jsonwebtoken::EncodingKey::from_rsa_pem(&read_key("rsa-private.pem"))?;
    let in_an_hour = now() + 3600;
    let bad_tokens = [
        ("forged with another secret", {
            let key =
                jsonwebtoken::EncodingKey::from_secret(b"another-secret-that-is-long-enough-000");
            crafted(
                jsonwebtoken::Algorithm::HS256,
                &key,
                &claims("cairn", in_an_hour),
            )
        }),
        ("alg none", {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(claims("cairn", in_an_hour).to_string());
            format!("{header}.{payload}.")
        }),
        (
            "RS256 where HS256 is configured",
            crafted(
                jsonwebtoken::Algorithm::RS256,
                &rsa_private,
                &claims("cairn", in_an_hour),
            ),
        ),
        ("expired", {
            let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
            crafted(
                jsonwebtoken::Algorithm::HS256,
                &key,
                &claims("cairn", now() - 600),
            )
        }),
        ("wrong audience", {
            let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
            crafted(
                jsonwebtoken::Algorithm::HS256,
                &key,
                &claims("someone-else", in_an_hour),
            )
        }),
        ("not a JWT", "hello".to_owned()),
    ];
    for (name, path) in ROUTES {
        let (status, body) = call(&server, method(name), path, None, Some("x")).await?;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{name} {path} without a token"
        );
        assert_eq!(
            body["error"]["code"], "unauthorized",
            "{name} {path}: {body}"
        );
        for (what, bad) in &bad_tokens {
            let (status, body) = call(&server, method(name), path, Some(bad), Some("x")).await?;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} {path}: {what}");
            assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
        }
    }
    // The reasons are told, and the scheme is named.
    let response = reqwest::Client::new()
        .get(format!("{}/v1/stats", server.url()))
        .bearer_auth(&bad_tokens[3].1)
        .send()
        .await?;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"cairn\""
    );
    let body: Value = serde_json::from_slice(&response.bytes().await?)?;
    assert_eq!(body["error"]["message"], "invalid token: expired");
    // Probes stay open, for load balancers.
    let (status, _) = call(&server, Method::GET, "/healthz", None, None).await?;
    assert_eq!(status, StatusCode::OK);
    // And a good token works.
    let good = token("agent-a", "a", &[Scope::Read]);
    let (status, _) = call(&server, Method::GET, "/v1/stats", Some(&good), None).await?;
    assert_eq!(status, StatusCode::OK);
    server.stop().await
}

#[tokio::test]
async fn public_key_tokens_work_and_hs_rs_confusion_does_not() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| {
        config.auth.jwt_public_key_files =
            vec![key_file("rsa-public.pem"), key_file("ed25519-public.pem")];
    })
    .await?;
    let in_an_hour = now() + 3600;
    for private in ["rsa-private.pem", "ed25519-private.pem"] {
        let key = SigningKey::private_key(&read_key(private), private)?;
        let token = key.issue(&TokenRequest {
            sub: "agent-a".into(),
            tenant: "a".into(),
            scopes: [Scope::Read].into_iter().collect(),
            ttl_seconds: 600,
        })?;
        let (status, body) = call(&server, Method::GET, "/v1/stats", Some(&token), None).await?;
        assert_eq!(status, StatusCode::OK, "{private}: {body}");
    }
    // The classic confusion: HS256 "signed" with the public key's bytes.
    let public_as_secret = jsonwebtoken::EncodingKey::from_secret(&read_key("rsa-public.pem"));
    let confused = crafted(
        jsonwebtoken::Algorithm::HS256,
        &public_as_secret,
        &claims("cairn", in_an_hour),
    );
    let (status, body) = call(&server, Method::GET, "/v1/stats", Some(&confused), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        body["error"]["message"],
        "invalid token: the algorithm HS256 is not accepted here"
    );
    server.stop().await
}

#[tokio::test]
async fn a_read_only_token_cannot_write() -> anyhow::Result<()> {
    let server = hs256_server().await?;
    let reader = token("reader", "a", &[Scope::Read]);
    for (name, path) in [
        ("PUT", "/v1/contexts/some/key"),
        ("DELETE", "/v1/contexts/some/key"),
        ("POST", "/v1/sessions/import"),
        ("POST", "/v1/compress"),
    ] {
        let (status, body) = call(&server, method(name), path, Some(&reader), Some("x")).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name} {path}");
        assert_eq!(body["error"]["code"], "forbidden");
        assert_eq!(
            body["error"]["message"],
            "the token lacks the `write` scope"
        );
    }
    // A write-only token cannot read.
    let writer = token("writer", "a", &[Scope::Write]);
    let (status, _) = call(&server, Method::GET, "/v1/contexts", Some(&writer), None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &server,
        Method::PUT,
        "/v1/contexts/k",
        Some(&writer),
        Some("x"),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    server.stop().await
}

#[tokio::test]
async fn the_agent_recorded_on_a_put_is_the_tokens_subject() -> anyhow::Result<()> {
    let server = hs256_server().await?;
    let token = token("agent-a", "a", &[Scope::Read, Scope::Write]);
    let response = reqwest::Client::new()
        .put(format!("{}/v1/contexts/who", server.url()))
        .bearer_auth(&token)
        .header("x-cairn-agent", "mallory")
        .body("written by agent-a")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = call(&server, Method::GET, "/v1/contexts/who", Some(&token), None).await?;
    assert_eq!(body["agent"], "agent-a", "{body}");
    server.stop().await
}

/// Tokens the server must refuse though their signature is good: not valid
/// yet (`nbf` in the future), or naming a critical header extension it
/// does not understand; and a public key too small to trust.
#[tokio::test]
async fn premature_tokens_critical_extensions_and_weak_rsa_keys_are_refused() -> anyhow::Result<()>
{
    use base64::Engine as _;
    let server = hs256_server().await?;
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let mut early = claims("cairn", now() + 3600);
    early["nbf"] = json!(now() + 1800);
    let premature = crafted(jsonwebtoken::Algorithm::HS256, &key, &early);
    let header = URL_SAFE_NO_PAD
        .encode(br#"{"alg":"HS256","typ":"JWT","crit":["x-unknown"],"x-unknown":1}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims("cairn", now() + 3600).to_string());
    let message = format!("{header}.{payload}");
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)?;
    let critical = format!("{message}.{signature}");
    for (name, token) in [("nbf in the future", premature), ("crit", critical)] {
        let (status, body) = call(&server, Method::GET, "/v1/stats", Some(&token), None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    }
    // The same claims without either are accepted (the test is sound).
    let fine = crafted(
        jsonwebtoken::Algorithm::HS256,
        &key,
        &claims("cairn", now() + 3600),
    );
    let (status, _) = call(&server, Method::GET, "/v1/stats", Some(&fine), None).await?;
    assert_eq!(status, StatusCode::OK);
    server.stop().await?;

    let weak = cairn_auth::Authenticator::off()
        .with_public_key(&read_key("rsa-1024-public.pem"), "rsa-1024-public.pem");
    let Err(error) = weak else {
        panic!("a 1024-bit RSA key was accepted");
    };
    assert!(error.to_string().contains("1024-bit"), "{error}");
    assert!(
        cairn_auth::Authenticator::off()
            .with_public_key(&read_key("rsa-public.pem"), "rsa-public.pem")
            .is_ok()
    );
    Ok(())
}
