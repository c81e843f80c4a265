//! Tidy checks: the architecture's rules that the compiler does not enforce.
//! See ARCHITECTURE.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// Every library crate, and the Cairn crates and third-party crates it depends on.
fn crates() -> Vec<(String, PathBuf, BTreeSet<String>)> {
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    dirs.extend(["server", "client"].map(|dir| root.join(dir)));
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("a manifest");
            let manifest: toml::Table = text.parse().expect("the manifest parses");
            let name = manifest["package"]["name"]
                .as_str()
                .expect("a package name")
                .to_owned();
            let dependencies = manifest
                .get("dependencies")
                .and_then(toml::Value::as_table)
                .map(|table| table.keys().cloned().collect())
                .unwrap_or_default();
            (name, dir, dependencies)
        })
        .collect()
}

/// Which Cairn crates each crate may depend on: types ← core ← store ←
/// service ← {api, mcp} ← server, and the client on types alone.
fn allowed(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "cairn-types" => &[],
        "cairn-core" => &["cairn-types"],
        "cairn-compress" => &["cairn-types", "cairn-core"],
        "cairn-store" => &["cairn-types", "cairn-core"],
        // Leaves: session parsing and the search index know nothing of ours.
        "cairn-sessions" => &[],
        "cairn-search" => &[],
        // Local ML: ONNX Runtime and tokenizers; knows nothing of ours.
        "cairn-ml" => &[],
        // Who is calling: tokens into principals; no HTTP, no storage.
        "cairn-auth" => &["cairn-types"],
        "cairn-service" => &[
            "cairn-types",
            "cairn-core",
            "cairn-compress",
            "cairn-store",
            "cairn-sessions",
            "cairn-search",
            "cairn-ml",
        ],
        "cairn-api" => &["cairn-types", "cairn-core", "cairn-auth", "cairn-service"],
        // A sibling of the API: MCP tools over the same verbs, never through REST.
        "cairn-mcp" => &["cairn-types", "cairn-core", "cairn-auth", "cairn-service"],
        // A sibling of the API: the LLM proxy over the same verbs.
        "cairn-proxy" => &["cairn-types", "cairn-core", "cairn-auth", "cairn-service"],
        "cairn-client" => &["cairn-types"],
        "cairn-server" => return None,
        other => panic!("{other} is a new crate: add its rule here and to ARCHITECTURE.md"),
    })
}

#[test]
fn dependencies_point_down_the_layers() {
    for (name, _, dependencies) in crates() {
        let Some(allowed) = allowed(&name) else {
            continue;
        };
        for dependency in dependencies.iter().filter(|d| d.starts_with("cairn-")) {
            assert!(
                allowed.contains(&dependency.as_str()),
                "{name} must not depend on {dependency}"
            );
        }
    }
}

#[test]
fn only_the_store_speaks_sql_and_only_the_server_reads_configuration() {
    for (name, _, dependencies) in crates() {
        if dependencies.contains("sqlx") {
            assert_eq!(
                name, "cairn-store",
                "{name} depends on sqlx: SQL lives in cairn-store"
            );
        }
        for config_crate in ["clap", "toml", "tracing-subscriber"] {
            if dependencies.contains(config_crate) {
                assert_eq!(name, "cairn-server", "{name} depends on {config_crate}");
            }
        }
    }
}

#[test]
fn every_crate_says_what_it_is() {
    for (name, dir, _) in crates() {
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).expect("a lib.rs");
        assert!(
            lib.starts_with("//!"),
            "{name}'s lib.rs opens with a //! comment"
        );
        let architecture = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md");
        assert!(
            architecture.contains(&format!("`{name}`")),
            "ARCHITECTURE.md describes {name}"
        );
    }
}
