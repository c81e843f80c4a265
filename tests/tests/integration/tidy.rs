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

/// The directories of the workspace that hold its Rust sources.
const RUST_ROOTS: [&str; 6] = ["crates", "server", "client", "tests", "bench", "examples"];

/// Every `.rs` file under `dir`, sorted; build output, npm packages and
/// hidden directories are not sources.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("{} is readable: {error}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            if path.is_dir() {
                if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `path` relative to the workspace root, with `/` between its parts.
fn relative(path: &Path) -> String {
    let root = workspace_root();
    let relative = path.strip_prefix(&root).unwrap_or(path);
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every Rust source of the workspace, with its path from the root.
fn workspace_sources() -> Vec<(String, String)> {
    let root = workspace_root();
    RUST_ROOTS
        .iter()
        .flat_map(|dir| rust_files(&root.join(dir)))
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{} is readable: {error}", path.display()));
            (relative(&path), text)
        })
        .collect()
}

#[test]
fn no_test_is_ignored() {
    // Spelled in two halves, so this file does not find itself.
    let attribute = concat!("#[", "ignore");
    let sources = workspace_sources();
    assert!(sources.len() > 100, "the workspace's sources were found");
    for (path, text) in sources {
        assert!(
            !text.contains(attribute),
            "{path} ignores a test: a test that cannot run says so with \
             cairn_core::skip::cannot_run, and one that should not run is deleted"
        );
    }
}

#[test]
fn a_test_that_cannot_run_says_so_one_way() {
    // Reading `CI` or printing a skip banner is cairn_core::skip's job alone.
    let home = "crates/cairn-core/src/skip.rs";
    let spellings = [
        concat!("var(\"", "CI\")"),
        concat!("var_os(\"", "CI\")"),
        concat!("SKIP", "PED"),
    ];
    let sources = workspace_sources();
    assert!(
        sources
            .iter()
            .any(|(path, text)| path == home && text.contains(spellings[2])),
        "{home} prints the banner"
    );
    for (path, text) in sources.iter().filter(|(path, _)| path != home) {
        for spelling in spellings {
            assert!(
                !text.contains(spelling),
                "{path} has `{spelling}`: a test that cannot run calls \
                 cairn_core::skip::cannot_run"
            );
        }
    }
}

#[test]
fn every_test_bench_and_example_file_says_what_it_is() {
    let root = workspace_root();
    for dir in ["tests", "bench", "examples"] {
        let files = rust_files(&root.join(dir));
        assert!(!files.is_empty(), "{dir}/ holds Rust files");
        for path in files {
            let text = std::fs::read_to_string(&path).expect("a Rust file");
            assert!(
                text.starts_with("//!"),
                "{} opens with a //! comment saying what it is",
                relative(&path)
            );
        }
    }
}

#[test]
fn the_integration_tests_are_one_binary_and_every_module_runs() {
    let tests = workspace_root().join("tests/tests");
    for entry in std::fs::read_dir(&tests).expect("tests/tests/ is readable") {
        let path = entry.expect("a directory entry").path();
        assert!(
            path.file_name().is_some_and(|name| name == "integration"),
            "{} is beside tests/tests/integration/: the integration tests are one binary, \
             one module per surface in integration/main.rs",
            relative(&path)
        );
    }
    // A file no `mod` names is never compiled, so its tests never run.
    for path in rust_files(&tests.join("integration")) {
        let dir = path.parent().expect("a parent directory");
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("a name");
        // `dir/mod.rs` is module `dir`, declared beside `dir`.
        let (name, declaring_dir) = match stem {
            "main" if dir == tests.join("integration") => continue,
            "mod" => (
                dir.file_name()
                    .and_then(|name| name.to_str())
                    .expect("a name"),
                dir.parent().expect("a parent directory"),
            ),
            stem => (stem, dir),
        };
        let declaring = ["main.rs", "mod.rs"]
            .iter()
            .map(|file| declaring_dir.join(file))
            .find(|file| file.exists())
            .unwrap_or_else(|| panic!("{} has a main.rs or mod.rs", relative(declaring_dir)));
        let declarations = std::fs::read_to_string(&declaring).expect("a Rust file");
        assert!(
            declarations
                .lines()
                .any(|line| line.trim().trim_start_matches("pub ") == format!("mod {name};")),
            "{} is not a module: {} must say `mod {name};`",
            relative(&path),
            relative(&declaring)
        );
    }
}
