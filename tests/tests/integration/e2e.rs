//! End-to-end tests: the real server on 127.0.0.1:0 with a temporary data
//! directory, driven through `cairn-client` (and raw HTTP where the point is
//! what goes over the wire).

use std::time::Duration;

use cairn_client::{ClientError, GetOptions, ListOptions, PutOptions};
use cairn_tests::TestServer;
use cairn_types::{ContentEncoding, ErrorBody, ErrorCode, View};

fn api_code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(error) => error
            .code()
            .unwrap_or_else(|| panic!("expected a coded error: {error:?}")),
        Ok(value) => panic!("expected an error, got {value:?}"),
    }
}

async fn count_rows(server: &TestServer, table: &str) -> anyhow::Result<i64> {
    let url = format!(
        "sqlite://{}?mode=ro",
        server.data_dir().join("cairn.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await?;
    let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(count)
}

#[tokio::test]
async fn same_bytes_from_two_agents_share_one_hash_one_ref_and_one_blob() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let output = "tool output shared by two agents\n".repeat(100);
    let a = server.agent("agent-a").put("a/out", output.clone()).await?;
    let b = server.agent("agent-b").put("b/out", output.clone()).await?;
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.reference, b.reference);
    assert_eq!(a.reference, format!("ccr:{}", &a.hash[..24]));
    assert!(!a.deduplicated && b.deduplicated);
    assert_eq!(count_rows(&server, "blobs").await?, 1);
    assert_eq!(count_rows(&server, "contexts").await?, 2);

    let stats = server.client().stats().await?;
    assert_eq!((stats.contexts, stats.versions, stats.blobs), (2, 2, 1));
    assert_eq!(stats.bytes_original, 2 * output.len() as u64);
    assert_eq!(stats.bytes_unique, output.len() as u64);
    assert!(
        stats.bytes_stored < stats.bytes_unique,
        "zstd at rest: {stats:?}"
    );
    assert!(stats.dedup_ratio > 2.0, "{stats:?}");

    let view = server.client().get("b/out").await?;
    assert_eq!(view.agent.as_deref(), Some("agent-b"));
    assert_eq!(view.hash, a.hash);
    server.stop().await
}

#[tokio::test]
async fn every_acknowledged_put_and_version_survives_a_restart() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.agent("writer");
    let mut receipts = Vec::new();
    for version in 1..=3 {
        receipts.push(
            ctx.put("log/build", format!("build log, attempt {version}"))
                .await?,
        );
    }
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    ctx.put("bin/blob", binary.clone()).await?;
    assert_eq!(
        receipts.iter().map(|r| r.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    let server = server.restart().await?;
    let ctx = server.client();
    for (index, receipt) in receipts.iter().enumerate() {
        let options = GetOptions {
            version: Some(receipt.version),
            ..GetOptions::default()
        };
        let view = ctx.get_with("log/build", options).await?;
        assert_eq!(view.content, format!("build log, attempt {}", index + 1));
        assert_eq!(view.hash, receipt.hash);
    }
    assert_eq!(ctx.get("log/build").await?.version, 3);
    assert_eq!(ctx.get_full("bin/blob").await?.as_ref(), binary.as_slice());
    assert_eq!(ctx.stats().await?.versions, 4);
    server.stop().await
}

#[tokio::test]
async fn binary_content_round_trips_byte_for_byte() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    let binary: Vec<u8> = vec![0xff, 0xfe, 0x00, 0x01, 0x80, b'\n', 0xc3, 0x28];
    let receipt = ctx.put("bin", binary.clone()).await?;
    assert_eq!(receipt.content_type, "application/octet-stream");
    assert_eq!(ctx.get_full("bin").await?.as_ref(), binary.as_slice());
    assert_eq!(
        ctx.retrieve(&receipt.reference).await?.as_ref(),
        binary.as_slice()
    );

    // The compressed view of binary is a one-line stub that names the original.
    let view = ctx.get("bin").await?;
    assert_eq!(view.encoding, ContentEncoding::Utf8);
    assert!(
        view.content.contains(&receipt.reference),
        "{}",
        view.content
    );
    assert_eq!(view.markers.len(), 1);
    assert_eq!(view.markers[0].reference, receipt.reference);

    // The JSON full view carries binary as base64.
    let full = ctx
        .get_with(
            "bin",
            GetOptions {
                view: View::Full,
                ..GetOptions::default()
            },
        )
        .await?;
    assert_eq!(full.encoding, ContentEncoding::Base64);
    let info = ctx.retrieve_info(&receipt.reference).await?;
    assert_eq!(info.encoding, ContentEncoding::Base64);
    assert_eq!(info.bytes, binary.len() as u64);
    server.stop().await
}

#[tokio::test]
async fn missing_keys_and_refs_are_404_with_the_error_shape() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    assert_eq!(api_code(ctx.get("nope").await), ErrorCode::NotFound);
    assert_eq!(api_code(ctx.get_full("nope").await), ErrorCode::NotFound);
    assert_eq!(api_code(ctx.delete("nope").await), ErrorCode::NotFound);
    assert_eq!(
        api_code(ctx.retrieve("ccr:0123456789abcdef01234567").await),
        ErrorCode::NotFound
    );
    assert_eq!(
        api_code(ctx.retrieve("ccr:NOT-A-REF").await),
        ErrorCode::InvalidRef
    );
    ctx.put("k", "v").await?;
    let old = GetOptions {
        version: Some(7),
        ..GetOptions::default()
    };
    assert_eq!(api_code(ctx.get_with("k", old).await), ErrorCode::NotFound);

    let response = reqwest::get(format!("{}/v1/contexts/nope", server.url())).await?;
    assert_eq!(response.status().as_u16(), 404);
    let body: ErrorBody = serde_json::from_slice(&response.bytes().await?)?;
    assert_eq!(body.error.code, ErrorCode::NotFound);
    assert!(
        body.error.message.contains("nope"),
        "{}",
        body.error.message
    );
    server.stop().await
}

#[tokio::test]
async fn expired_keys_answer_410_until_gc_removes_them() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    let options = PutOptions {
        ttl: Some(Duration::from_secs(1)),
        ..PutOptions::default()
    };
    let receipt = ctx.put_with("short-lived", "gone soon", options).await?;
    assert!(receipt.expires_at.is_some());
    ctx.put("kept", "stays").await?;
    assert_eq!(ctx.get("short-lived").await?.content, "gone soon");
    tokio::time::sleep(Duration::from_millis(1100)).await;

    assert_eq!(api_code(ctx.get("short-lived").await), ErrorCode::Expired);
    let response = reqwest::get(format!("{}/v1/contexts/short-lived", server.url())).await?;
    assert_eq!(response.status().as_u16(), 410);
    let listed = ctx.keys("").await?;
    assert_eq!(
        listed.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );

    // gc (here through the CLI's code path: the store opened beside the server).
    let store = cairn_server::open_store(&cairn_tests::test_config(server.data_dir())).await?;
    let report = store.gc(cairn_service::now_millis()).await?;
    store.close().await;
    assert_eq!((report.expired_versions, report.deleted_blobs), (1, 1));
    assert_eq!(api_code(ctx.get("short-lived").await), ErrorCode::NotFound);
    assert_eq!(
        api_code(ctx.retrieve(&receipt.reference).await),
        ErrorCode::NotFound
    );
    assert_eq!(ctx.get("kept").await?.content, "stays");
    server.stop().await
}

#[tokio::test]
async fn a_default_ttl_applies_to_puts_that_name_none_and_an_explicit_one_wins()
-> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.storage.default_ttl_seconds = 1).await?;
    let ctx = server.client();
    let defaulted = ctx.put("defaulted", "v").await?;
    let explicit = PutOptions {
        ttl: Some(Duration::from_secs(3600)),
        ..PutOptions::default()
    };
    let kept = ctx.put_with("explicit", "v", explicit).await?;
    let (Some(short), Some(long)) = (&defaulted.expires_at, &kept.expires_at) else {
        panic!("both expire: {defaulted:?} {kept:?}");
    };
    assert!(short < long, "{short} < {long}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(api_code(ctx.get("defaulted").await), ErrorCode::Expired);
    assert_eq!(ctx.get("explicit").await?.content, "v");
    server.stop().await
}

#[tokio::test]
async fn ttls_beyond_a_century_and_over_long_queries_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let http = reqwest::Client::new();
    let response = http
        .put(format!("{}/v1/contexts/far", server.url()))
        .header("x-cairn-ttl-seconds", "300000000000")
        .body("x")
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 400);
    let body: ErrorBody = serde_json::from_slice(&response.bytes().await?)?;
    assert!(
        body.error.message.contains("100 years"),
        "{}",
        body.error.message
    );
    assert_eq!(
        api_code(server.client().get("far").await),
        ErrorCode::NotFound
    );

    server.client().put("q", "text").await?;
    let long = GetOptions {
        query: Some("x".repeat(5000)),
        ..GetOptions::default()
    };
    assert_eq!(
        api_code(server.client().get_with("q", long).await),
        ErrorCode::InvalidRequest
    );
    server.stop().await
}

#[tokio::test]
async fn agent_and_session_names_need_not_be_ascii() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server
        .client()
        .with_agent("Jürgen's agent")
        .with_session("セッション");
    ctx.put("unicode-labels", vec![0xffu8, 0x00]).await?;
    let view = ctx.get("unicode-labels").await?;
    assert_eq!(view.agent.as_deref(), Some("Jürgen's agent"));
    assert_eq!(view.session.as_deref(), Some("セッション"));
    server.stop().await
}

#[tokio::test]
async fn gc_removes_a_key_whose_latest_version_expired_and_never_resurrects_older_ones()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    ctx.put("layered", "permanent first version").await?;
    let short = PutOptions {
        ttl: Some(Duration::from_secs(1)),
        ..PutOptions::default()
    };
    ctx.put_with("layered", "short-lived second version", short)
        .await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(api_code(ctx.get("layered").await), ErrorCode::Expired);

    let store = cairn_server::open_store(&cairn_tests::test_config(server.data_dir())).await?;
    let report = store.gc(cairn_service::now_millis()).await?;
    store.close().await;
    assert_eq!(report.expired_versions, 2, "{report:?}");
    assert_eq!(api_code(ctx.get("layered").await), ErrorCode::NotFound);
    let first = GetOptions {
        version: Some(1),
        ..GetOptions::default()
    };
    assert_eq!(
        api_code(ctx.get_with("layered", first).await),
        ErrorCode::NotFound
    );
    assert_eq!(ctx.put("layered", "third").await?.version, 3);
    server.stop().await
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_stores_nothing() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.server.body_limit_bytes = 1024).await?;
    let ctx = server.client();
    assert_eq!(
        api_code(ctx.put("big", vec![b'x'; 2048]).await),
        ErrorCode::PayloadTooLarge
    );
    let response = reqwest::Client::new()
        .put(format!("{}/v1/contexts/big", server.url()))
        .body(vec![b'x'; 4096])
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 413);
    let body: ErrorBody = serde_json::from_slice(&response.bytes().await?)?;
    assert!(
        body.error.message.contains("1024"),
        "{}",
        body.error.message
    );
    ctx.put("small", vec![b'x'; 1024]).await?;
    assert_eq!(ctx.stats().await?.versions, 1);
    server.stop().await
}

#[tokio::test]
async fn empty_over_long_and_control_keys_are_400_with_a_clear_message() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let http = reqwest::Client::new();
    let long = "k".repeat(513);
    for (path, expected) in [
        ("/v1/contexts/".to_owned(), "the key is empty"),
        (
            format!("/v1/contexts/{long}"),
            "the key is 513 bytes long; the limit is 512",
        ),
        ("/v1/contexts/a%0Ab".to_owned(), "control character"),
        ("/v1/contexts/..".to_owned(), "reserved"),
    ] {
        let response = http
            .put(format!("{}{path}", server.url()))
            .body("x")
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: ErrorBody = serde_json::from_slice(&response.bytes().await?)?;
        if path.ends_with("..") {
            // An HTTP client normalises `..` away before sending; ours reaches
            // the server as /v1/ and is no route at all.
            assert!(status == 400 || status == 404, "{path}: {status}");
            continue;
        }
        assert_eq!(status, 400, "{path}");
        assert_eq!(body.error.code, ErrorCode::InvalidKey, "{path}");
        assert!(
            body.error.message.contains(expected),
            "{path}: {}",
            body.error.message
        );
    }
    assert_eq!(
        api_code(server.client().put("..", "x").await),
        ErrorCode::InvalidKey
    );
    assert_eq!(
        api_code(server.client().put(&long, "x").await),
        ErrorCode::InvalidKey
    );
    server.stop().await
}

#[tokio::test]
async fn keys_with_slashes_spaces_and_unicode_round_trip() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    for key in [
        "tool/grep/42",
        "with space?and#hash",
        "日本語/キー",
        "a//b/",
        "100%",
    ] {
        ctx.put(key, key.as_bytes().to_vec()).await?;
        assert_eq!(ctx.get(key).await?.content, key, "{key}");
        assert_eq!(ctx.get(key).await?.key, key);
    }
    let tools = ctx.keys("tool/").await?;
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].key, "tool/grep/42");
    server.stop().await
}

#[tokio::test]
async fn the_json_form_carries_agent_session_ttl_and_metadata() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let http = reqwest::Client::new();
    let response = http
        .put(format!("{}/v1/contexts/json-form", server.url()))
        .header("content-type", "application/json")
        .body(r#"{"content":"[1,2,3]","agent":"planner","session":"s1","ttl_seconds":3600,"metadata":{"tool":"ls"}}"#)
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    let view = server.client().get("json-form").await?;
    assert_eq!(view.content, "[1,2,3]");
    assert_eq!(view.content_type, "application/json");
    assert_eq!(view.agent.as_deref(), Some("planner"));
    assert_eq!(view.session.as_deref(), Some("s1"));
    assert_eq!(view.metadata, Some(serde_json::json!({"tool": "ls"})));
    assert!(view.expires_at.is_some());

    // Raw bodies take agent and session from headers.
    http.put(format!("{}/v1/contexts/raw-form", server.url()))
        .header("x-cairn-agent", "coder")
        .header("x-cairn-session", "s2")
        .body("raw text")
        .send()
        .await?
        .error_for_status()?;
    let listed = server
        .client()
        .list(&ListOptions {
            session: Some("s2".into()),
            ..ListOptions::default()
        })
        .await?;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].agent.as_deref(), Some("coder"));

    for (body, code) in [
        (r#"{"content": 1}"#, ErrorCode::InvalidJson),
        (r#"{"content": "x", "unknown": 1}"#, ErrorCode::InvalidJson),
        ("{not json", ErrorCode::InvalidJson),
        (
            r#"{"content": "x", "metadata": [1]}"#,
            ErrorCode::InvalidRequest,
        ),
        (
            r#"{"content": "x", "ttl_seconds": 0}"#,
            ErrorCode::InvalidRequest,
        ),
        (
            &format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            ErrorCode::InvalidJson,
        ),
    ] {
        let response = http
            .put(format!("{}/v1/contexts/bad", server.url()))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 400, "{body:.40}");
        let error: ErrorBody = serde_json::from_slice(&response.bytes().await?)?;
        assert_eq!(
            error.error.code, code,
            "{body:.40}: {}",
            error.error.message
        );
    }
    assert_eq!(
        api_code(server.client().get("bad").await),
        ErrorCode::NotFound
    );
    server.stop().await
}

#[tokio::test]
async fn accept_text_plain_returns_the_bare_view_with_facts_in_headers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let receipt = server.client().put("plain", "just the text").await?;
    let response = reqwest::Client::new()
        .get(format!("{}/v1/contexts/plain", server.url()))
        .header("accept", "text/plain")
        .send()
        .await?;
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        response.headers()["x-cairn-ref"],
        receipt.reference.as_str()
    );
    assert_eq!(response.headers()["x-cairn-version"], "1");
    assert_eq!(response.text().await?, "just the text");
    server.stop().await
}

#[tokio::test]
async fn listing_is_cursor_paginated_in_key_order_with_latest_versions() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    for index in 0..25 {
        ctx.put(&format!("page/{index:02}"), format!("item {index}"))
            .await?;
    }
    ctx.put("page/03", "item 3, second version").await?;
    ctx.put("other", "not in the prefix").await?;

    let mut seen = Vec::new();
    let mut options = ListOptions {
        prefix: Some("page/".into()),
        limit: Some(10),
        ..ListOptions::default()
    };
    loop {
        let page = ctx.list(&options).await?;
        assert!(page.items.len() <= 10);
        seen.extend(page.items);
        match page.next_cursor {
            Some(cursor) => options.cursor = Some(cursor),
            None => break,
        }
    }
    let keys: Vec<_> = seen.iter().map(|item| item.key.clone()).collect();
    let expected: Vec<_> = (0..25).map(|index| format!("page/{index:02}")).collect();
    assert_eq!(keys, expected);
    assert_eq!(seen[3].version, 2);
    assert_eq!(ctx.keys("").await?.len(), 26);

    let bad_cursor = ListOptions {
        cursor: Some("!!".into()),
        ..ListOptions::default()
    };
    assert_eq!(
        api_code(ctx.list(&bad_cursor).await),
        ErrorCode::InvalidRequest
    );
    let bad_limit = ListOptions {
        limit: Some(0),
        ..ListOptions::default()
    };
    assert_eq!(
        api_code(ctx.list(&bad_limit).await),
        ErrorCode::InvalidRequest
    );
    server.stop().await
}

#[tokio::test]
async fn delete_removes_every_version_and_the_blob_nothing_else_references() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    let only = ctx.put("doomed", "unique content").await?;
    ctx.put("doomed", "shared content").await?;
    let shared = ctx.put("keeper", "shared content").await?;
    let deleted = ctx.delete("doomed").await?;
    assert_eq!(deleted.versions, 2);
    assert_eq!(api_code(ctx.get("doomed").await), ErrorCode::NotFound);
    assert_eq!(
        api_code(ctx.retrieve(&only.reference).await),
        ErrorCode::NotFound
    );
    assert_eq!(
        ctx.retrieve(&shared.reference).await?.as_ref(),
        b"shared content"
    );
    assert_eq!(count_rows(&server, "blobs").await?, 1);
    // Version numbers are never reused: a put after delete goes on from 2.
    assert_eq!(ctx.put("doomed", "again").await?.version, 3);
    server.stop().await
}

#[tokio::test]
async fn concurrent_puts_to_one_key_number_every_version_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut writers = Vec::new();
    for writer in 0..8 {
        let ctx = server.agent(&format!("writer-{writer}"));
        writers.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for put in 0..25 {
                let receipt = ctx.put("contended", format!("{writer}/{put}")).await?;
                versions.push(receipt.version);
            }
            Ok::<_, ClientError>(versions)
        }));
    }
    let mut versions = Vec::new();
    for writer in writers {
        versions.extend(writer.await??);
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=200).collect::<Vec<_>>());
    assert_eq!(server.client().get("contended").await?.version, 200);
    server.stop().await
}

#[tokio::test]
async fn unknown_routes_methods_and_parameters_get_the_error_shape() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let http = reqwest::Client::new();
    for (method, path, status, code) in [
        ("GET", "/v2/nothing", 404, ErrorCode::NotFound),
        ("POST", "/v1/contexts/k", 405, ErrorCode::MethodNotAllowed),
        (
            "GET",
            "/v1/contexts/k?view=sideways",
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "GET",
            "/v1/contexts/k?bogus=1",
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "GET",
            "/v1/contexts/k?max_tokens=0",
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "GET",
            "/v1/contexts?limit=5000",
            400,
            ErrorCode::InvalidRequest,
        ),
    ] {
        let response = http
            .request(method.parse()?, format!("{}{path}", server.url()))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let body: ErrorBody = serde_json::from_slice(&response.bytes().await?)?;
        assert_eq!(body.error.code, code, "{method} {path}");
    }
    // Every list refuses a page size outside its bounds, the same way.
    for path in [
        "/v1/contexts",
        "/v1/sessions",
        "/v1/sessions/some-session",
        "/v1/search",
    ] {
        for limit in ["0", "5000", "2147483648"] {
            let response = http
                .get(format!("{}{path}?limit={limit}", server.url()))
                .send()
                .await?;
            assert_eq!(response.status().as_u16(), 400, "{path}?limit={limit}");
            let body: ErrorBody = serde_json::from_slice(&response.bytes().await?)?;
            assert_eq!(body.error.code, ErrorCode::InvalidRequest);
            assert!(
                body.error.message.contains("limit must be between 1 and"),
                "{path}?limit={limit}: {}",
                body.error.message
            );
        }
    }
    server.stop().await
}

#[tokio::test]
async fn health_readiness_and_the_openapi_document_answer() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for path in ["/healthz", "/readyz"] {
        let response = reqwest::get(format!("{}{path}", server.url())).await?;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
        assert_eq!(body["status"], "ok");
    }
    let response = reqwest::get(format!("{}/v1/openapi.json", server.url())).await?;
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
    assert_eq!(document["info"]["title"], "Cairn");
    assert!(document["paths"]["/v1/contexts/{key}"]["put"].is_object());
    server.stop().await
}

#[tokio::test]
async fn json_answers_end_with_one_newline_so_curl_output_ends_its_line() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let http = reqwest::Client::new();
    let url = server.url();
    let answers = [
        http.put(format!("{url}/v1/contexts/lined"))
            .body("a line\n"),
        http.get(format!("{url}/v1/contexts/lined")),
        http.get(format!("{url}/v1/stats")),
        http.get(format!("{url}/v1/contexts/missing")),
        http.get(format!("{url}/v1/no-such-route")),
        http.post(format!("{url}/graphql"))
            .header("content-type", "application/json")
            .body(r#"{"query":"{ stats { contexts } }"}"#),
    ];
    for request in answers {
        let response = request.send().await?;
        let status = response.status();
        let length = response.content_length();
        let body = response.bytes().await?;
        assert!(
            body.ends_with(b"}\n"),
            "{status}: {:?}",
            String::from_utf8_lossy(&body)
        );
        assert!(!body.ends_with(b"\n\n"), "one newline");
        assert!(
            length.is_none_or(|length| length == body.len() as u64),
            "Content-Length counts it"
        );
        serde_json::from_slice::<serde_json::Value>(&body)?;
    }
    // Bare bytes are not JSON and stay as they were put.
    let bare = http
        .get(format!("{url}/v1/contexts/lined?view=full"))
        .header("accept", "application/octet-stream")
        .send()
        .await?
        .bytes()
        .await?;
    assert_eq!(&bare[..], b"a line\n");
    server.stop().await
}

#[tokio::test]
async fn the_client_retries_until_the_server_is_up_then_gives_a_typed_error() -> anyhow::Result<()>
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    let ctx = cairn_client::SharedContext::connect(&format!("http://{addr}"))?.with_retry(
        cairn_client::Retry {
            attempts: 3,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        },
    );
    let error = ctx.stats().await.expect_err("nothing listens");
    assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
    Ok(())
}

#[tokio::test]
async fn reads_see_every_acknowledged_write_while_readers_hammer_the_key() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    ctx.put("hot", "version 1").await?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (ctx, stop) = (server.client(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut last = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let view = ctx.get("hot").await?;
                assert!(
                    view.version >= last,
                    "versions never go backwards for one reader"
                );
                assert_eq!(view.content, format!("version {}", view.version));
                last = view.version;
            }
            Ok::<_, ClientError>(last)
        }));
    }
    for version in 2..=60 {
        let receipt = ctx.put("hot", format!("version {version}")).await?;
        assert_eq!(receipt.version, version);
        let view = ctx.get("hot").await?;
        assert_eq!(
            view.version, version,
            "a read after an acknowledged put sees it"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let last = reader.await??;
        assert!(last >= 1, "every reader read");
    }
    ctx.delete("hot").await?;
    assert_eq!(api_code(ctx.get("hot").await), ErrorCode::NotFound);
    assert_eq!(ctx.put("hot", "version 61").await?.version, 61);
    assert_eq!(ctx.get("hot").await?.content, "version 61");
    server.stop().await
}

/// The first `(rows A-B)` or `(lines A-B)` range a marker names.
fn marker_range(summary: &str) -> Option<(u64, u64)> {
    let start = summary
        .find("(rows ")
        .map(|at| at + 6)
        .or_else(|| summary.find("(lines ").map(|at| at + 7))?;
    let rest = &summary[start..];
    let (a, rest) = rest.split_once('-')?;
    let b = rest.split(')').next()?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn table(rows: usize) -> String {
    let items: Vec<String> = (0..rows)
        .map(|id| {
            let status = if id % 50 == 7 { "retry" } else { "ok" };
            format!(
                r#"{{"id": {id}, "service": "svc-{}", "status": "{status}", "latency_ms": {}}}"#,
                id % 7,
                20 + (id * 37) % 180
            )
        })
        .collect();
    format!("[\n  {}\n]\n", items.join(",\n  "))
}

#[tokio::test]
async fn compressed_views_mark_every_cut_and_each_marker_retrieves_the_original()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    let original = table(500);
    let receipt = ctx.put("rows", original.clone()).await?;
    assert!(
        receipt.tokens_compressed * 10 < receipt.tokens_original,
        "{receipt:?}"
    );

    let view = ctx.get("rows").await?;
    assert_eq!(view.view, View::Compressed);
    assert!(!view.markers.is_empty());
    assert_eq!(view.tokens, receipt.tokens_compressed);
    for marker in &view.markers {
        assert_eq!(marker.reference, receipt.reference);
        assert!(view.content.contains(&format!(
            "[cairn: {} — {}]",
            marker.summary, marker.reference
        )));
        assert_eq!(
            ctx.retrieve(&marker.reference).await?.as_ref(),
            original.as_bytes()
        );
        // The range a marker names fetches exactly the rows it left out.
        let (start, end) = marker_range(&marker.summary).expect("a row range");
        let part = ctx.retrieve_lines(&marker.reference, start, end).await?;
        assert_eq!(
            part.content.lines().count() as u64,
            end - start + 1,
            "{}",
            marker.summary
        );
        assert_eq!(part.total, Some(500));
        assert!(
            !view
                .content
                .contains(part.content.lines().next().unwrap_or("-")),
            "omitted rows are not in the view"
        );
    }
    // Same original, same options: the same bytes, under any key.
    ctx.put("rows-again", original.clone()).await?;
    assert_eq!(ctx.get("rows-again").await?.content, view.content);
    assert_eq!(ctx.get_full("rows").await?.as_ref(), original.as_bytes());
    server.stop().await
}

#[tokio::test]
async fn query_aware_views_keep_every_needle_and_budgets_cap_the_rest() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ctx = server.client();
    let mut log = String::new();
    for i in 0..2000 {
        log.push_str(&format!(
            "2026-11-21T04:{:02}:{:02}Z INFO worker-{} request {i} handled in {}ms\n",
            (i / 60) % 60,
            i % 60,
            i % 8,
            i % 97
        ));
    }
    log.push_str("2026-11-21T05:00:00Z INFO payment gateway answered with code PX-4471\n");
    for i in 2000..4000 {
        log.push_str(&format!(
            "2026-11-21T05:{:02}:{:02}Z INFO worker-{} request {i} handled in {}ms\n",
            (i / 60) % 60,
            i % 60,
            i % 8,
            i % 97
        ));
    }
    ctx.put("big-log", log.clone()).await?;
    let ask = |query: &str, max_tokens: Option<u64>| GetOptions {
        query: Some(query.to_owned()),
        max_tokens,
        ..GetOptions::default()
    };
    let default = ctx.get("big-log").await?;
    assert!(
        default.content.contains("code PX-4471"),
        "a one-of-a-kind line is kept by default"
    );
    assert!(
        !default.content.contains(" request 3137 handled"),
        "a line like the rest is cut"
    );
    let answered = ctx
        .get_with("big-log", ask("how long did request 3137 take?", None))
        .await?;
    assert!(
        answered.content.contains(" request 3137 handled in "),
        "{}",
        answered.content
    );
    let answered = ctx
        .get_with(
            "big-log",
            ask("what code did the payment gateway answer with?", None),
        )
        .await?;
    assert!(
        answered.content.contains("code PX-4471"),
        "{}",
        answered.content
    );
    let tight = ctx
        .get_with("big-log", ask("payment gateway code", Some(200)))
        .await?;
    assert!(tight.content.contains("code PX-4471"));
    assert!(
        tight.tokens <= 260,
        "{} tokens: {}",
        tight.tokens,
        tight.content
    );

    let budget = GetOptions {
        max_tokens: Some(300),
        ..GetOptions::default()
    };
    let capped = ctx.get_with("big-log", budget).await?;
    assert!(capped.tokens <= 360, "{} tokens", capped.tokens);

    let reference = default.reference.clone();
    let found = ctx.retrieve_matching(&reference, "PX-4471").await?;
    let matches = found.matches.expect("matches");
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].position, 2001);
    assert!(matches[0].text.contains("PX-4471"));

    let http = reqwest::Client::new();
    for bad in [
        "lines=0-3",
        "lines=9-2",
        "lines=x",
        "lines=1-2&query=a",
        "query=the",
    ] {
        let response = http
            .get(format!("{}/v1/ccr/{reference}?{bad}", server.url()))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 400, "{bad}");
    }
    server.stop().await
}

async fn post_compress(
    server: &TestServer,
    body: serde_json::Value,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/compress", server.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, serde_json::from_slice(&response.bytes().await?)?))
}

#[tokio::test]
async fn stateless_compress_stores_the_original_of_every_cut() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let original = table(300);
    let (status, body) = post_compress(
        &server,
        serde_json::json!({"content": original, "query": "id 123"}),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "json_rows");
    assert!(
        body["tokens_after"].as_u64() < body["tokens_before"].as_u64().map(|t| t / 5),
        "{body}"
    );
    assert!(
        body["content"].as_str().expect("content").contains("[123,"),
        "the queried row is kept"
    );
    let markers = body["markers"].as_array().expect("markers");
    assert!(!markers.is_empty());
    for marker in markers {
        let reference = marker["ref"].as_str().expect("a ref");
        assert_eq!(
            server.client().retrieve(reference).await?.as_ref(),
            original.as_bytes()
        );
    }
    // Nothing under a key: compressing stores no context.
    assert_eq!(server.client().stats().await?.contexts, 0);

    for (bad, code) in [
        (serde_json::json!({}), "invalid_request"),
        (
            serde_json::json!({"content": "x", "messages": []}),
            "invalid_request",
        ),
        (
            serde_json::json!({"content": "x", "kind": "spreadsheet"}),
            "invalid_request",
        ),
        (
            serde_json::json!({"content": "x", "max_tokens": 0}),
            "invalid_request",
        ),
        (serde_json::json!({"content": 5}), "invalid_json"),
        (
            serde_json::json!({"messages": [], "query": "q"}),
            "invalid_request",
        ),
        (
            serde_json::json!({"messages": ["not an object"]}),
            "invalid_request",
        ),
    ] {
        let (status, body) = post_compress(&server, bad.clone()).await?;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], code, "{bad}: {body}");
    }
    server.stop().await
}

#[tokio::test]
async fn compressing_messages_keeps_everything_but_tool_results_and_is_stable_as_turns_are_added()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut log = String::new();
    for i in 0..3000 {
        log.push_str(&format!(
            "2026-11-21T04:00:00Z INFO job {i} finished with status ok\n"
        ));
        if i == 2222 {
            log.push_str("2026-11-21T04:00:00Z INFO job 2222 finished with status quarantined\n");
        }
    }
    let system = "You are a careful assistant. ".repeat(40);
    let mut openai = serde_json::json!([
        {"role": "system", "content": system},
        {"role": "user", "content": "Which job was quarantined?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "read_log", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": log},
    ]);
    let (status, first) = post_compress(&server, serde_json::json!({"messages": openai})).await?;
    assert_eq!(status, 200, "{first}");
    let compressed = &first["messages"];
    assert_eq!(
        compressed[0]["content"], system,
        "the system prompt is untouched"
    );
    assert_eq!(
        compressed[2], openai[2],
        "assistant tool calls are untouched"
    );
    let tool = compressed[3]["content"].as_str().expect("tool content");
    assert!(
        tool.contains("job 2222 finished with status quarantined"),
        "the needle is kept"
    );
    assert!(
        first["tokens_after"].as_u64() < first["tokens_before"].as_u64().map(|t| t / 5),
        "{}",
        first["tokens_after"]
    );
    for marker in first["markers"].as_array().expect("markers") {
        let reference = marker["ref"].as_str().expect("a ref");
        assert_eq!(
            server.client().retrieve(reference).await?.as_ref(),
            log.as_bytes()
        );
    }

    // One more turn: everything before it compresses to the same bytes.
    if let Some(list) = openai.as_array_mut() {
        list.push(serde_json::json!({"role": "assistant", "content": "Job 2222."}));
        list.push(serde_json::json!({"role": "user", "content": "And which finished first?"}));
    }
    let (_, second) = post_compress(&server, serde_json::json!({"messages": openai})).await?;
    assert_eq!(
        second["messages"][3], first["messages"][3],
        "earlier tool results are byte-stable"
    );

    // Anthropic shape: tool results are blocks of a user message.
    let anthropic = serde_json::json!([
        {"role": "user", "content": [{"type": "text", "text": "Which job was quarantined?"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read_log", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": log}]}]},
    ]);
    let (status, body) = post_compress(&server, serde_json::json!({"messages": anthropic})).await?;
    assert_eq!(status, 200, "{body}");
    let text = body["messages"][2]["content"][0]["content"][0]["text"]
        .as_str()
        .expect("text");
    assert!(text.contains("status quarantined") && text.len() * 5 < log.len());
    assert_eq!(body["messages"][1], anthropic[1]);
    server.stop().await
}

#[tokio::test]
async fn the_default_view_is_stored_with_its_blob_and_served_after_a_restart() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let receipt = server.client().put("stored-view", table(400)).await?;
    let before = server.client().get("stored-view").await?;
    let server = server.restart().await?;
    let after = server.client().get("stored-view").await?;
    assert_eq!(after.content, before.content);
    assert_eq!(after.markers, before.markers);
    assert_eq!(after.tokens, receipt.tokens_compressed);

    let store = cairn_server::open_store(&cairn_tests::test_config(server.data_dir())).await?;
    let hash = cairn_core::ContentHash::from_hex(&receipt.hash)?;
    let stored = store
        .default_view(&cairn_types::TenantId::local(), &hash)
        .await?
        .expect("stored");
    store.close().await;
    assert_eq!(stored.view.engine, cairn_compress::ENGINE_VERSION);
    assert_eq!(stored.tokens_compressed, receipt.tokens_compressed);
    assert!(
        stored.view.rendered.is_some(),
        "a view that cuts is stored rendered"
    );
    server.stop().await
}

#[tokio::test]
async fn the_client_compresses_text_and_conversations_and_their_cuts_resolve() -> anyhow::Result<()>
{
    use cairn_client::types::CompressRequest;

    let server = TestServer::start().await?;
    let client = server.client();
    let mut log: String = (0..400)
        .map(|i| format!("INFO request {i} handled in 12 ms\n"))
        .collect();
    log.push_str("ERROR upstream timed out after 30 s\n");

    let text = client
        .compress(&CompressRequest {
            content: Some(log.clone()),
            query: Some("timed out".into()),
            ..CompressRequest::default()
        })
        .await?;
    let view = text.content.as_deref().unwrap_or_default();
    assert!(view.contains("ERROR upstream timed out"), "{view}");
    assert!(text.tokens_after < text.tokens_before / 2, "{text:?}");
    let marker = text.markers.first().expect("a cut, marked");
    assert_eq!(
        &client.retrieve(&marker.reference).await?[..],
        log.as_bytes()
    );

    let messages = vec![
        serde_json::json!({"role": "user", "content": "why did it time out?"}),
        serde_json::json!({"role": "tool", "tool_call_id": "c1", "content": log}),
    ];
    let chat = client
        .compress(&CompressRequest {
            messages: Some(messages.clone()),
            ..CompressRequest::default()
        })
        .await?;
    let compressed = chat.messages.expect("the messages come back");
    assert_eq!(compressed[0], messages[0], "a user turn is never rewritten");
    let tool = compressed[1]["content"].as_str().unwrap_or_default();
    assert!(
        tool.len() < log.len() / 2 && tool.contains("ccr:"),
        "{tool}"
    );
    server.stop().await
}
