//! `schema/openapi.json` and `schema/cairn.graphql` are generated from the
//! code; these tests fail when they drift. To accept a change to the
//! contract, regenerate them with
//! `CAIRN_BLESS=1 cargo nextest run -p cairn-api --test schema` and commit them.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/openapi.json");
    let generated = cairn_api::openapi_json();
    if std::env::var_os("CAIRN_BLESS").is_some() {
        std::fs::write(&path, generated).expect("schema/openapi.json is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/openapi.json is out of date with the code; regenerate it with \
         `CAIRN_BLESS=1 cargo nextest run -p cairn-api --test schema` and commit it"
    );
}

#[test]
fn committed_graphql_schema_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/cairn.graphql");
    let generated = cairn_api::graphql_sdl();
    if std::env::var_os("CAIRN_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("schema/cairn.graphql is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/cairn.graphql is out of date with the code; regenerate it with \
         `CAIRN_BLESS=1 cargo nextest run -p cairn-api --test schema` and commit it"
    );
}

#[test]
fn the_graphql_schema_has_every_root_field_of_the_spec() {
    let sdl = cairn_api::graphql_sdl();
    for field in [
        "context(",
        "contexts(",
        "ccr(",
        "search(",
        "sessions(",
        "session(",
        "stats:",
        "put(",
        "delete(",
        "compress(",
        "importSession(",
        "contextPut(",
    ] {
        assert!(sdl.contains(field), "{field} is in the schema");
    }
}

#[test]
fn every_operation_but_the_probes_documents_the_auth_failures() {
    let document: serde_json::Value =
        serde_json::from_str(cairn_api::openapi_json()).expect("valid JSON");
    let paths = document["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            let responses = &operation["responses"];
            let probe = path == "/healthz" || path == "/readyz";
            for status in ["401", "403", "429"] {
                assert_eq!(
                    responses[status].is_object(),
                    !probe,
                    "{method} {path}: {status}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 14, "{checked} operations");
}

#[test]
fn the_document_names_every_route_and_the_error_catalogue() {
    let document: serde_json::Value =
        serde_json::from_str(cairn_api::openapi_json()).expect("valid JSON");
    for path in [
        "/v1/contexts/{key}",
        "/v1/contexts",
        "/v1/ccr/{reference}",
        "/v1/stats",
        "/healthz",
        "/readyz",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    let codes = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode lists its values");
    for code in cairn_types::ErrorCode::ALL {
        assert!(
            codes.iter().any(|listed| listed == code.as_str()),
            "{code} is documented"
        );
    }
}
