//! The `cairn` binary as a user runs it: `serve` as a child process on a
//! loopback port, the client commands against it, `--help`, bad settings,
//! `kill -9` under write load, and a corrupt database file.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_client::SharedContext;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

fn cairn(args: &[&str]) -> Output {
    Command::new(CAIRN)
        .args(args)
        .env("CAIRN_LOG", "warn")
        .env_remove("CAIRN_URL")
        .env_remove("CAIRN_TOKEN")
        .env_remove("CAIRN_JWT_SECRET")
        .output()
        .expect("cairn runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `cairn serve` over `data_dir` on a free loopback port.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        Server::start_with_env(data_dir, &[])
    }

    /// [`Server::start`] with extra environment variables.
    fn start_with_env(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CAIRN)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .env("CAIRN_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cairn serve starts");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cairn serve did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Stops the server as Ctrl-C would (it checkpoints the database on the
    /// way out) and waits for it.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGINT is delivered");
        let exit = self.child.wait().expect("the stopped server is reaped");
        assert!(exit.success(), "cairn serve stopped with {exit}");
    }

    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the killed server is reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn help_is_complete_for_every_command() {
    let top = cairn(&["--help"]);
    assert!(top.status.success());
    for command in [
        "serve", "put", "get", "stats", "gc", "compress", "import", "search", "reindex", "token",
        "brief", "hooks", "hook",
    ] {
        assert!(
            stdout(&top).contains(command),
            "top-level help lists {command}"
        );
        let help = cairn(&[command, "--help"]);
        assert!(help.status.success(), "{command} --help");
        assert!(
            stdout(&help).contains("Usage: cairn"),
            "{command}: {}",
            stdout(&help)
        );
    }
    let serve = stdout(&cairn(&["serve", "--help"]));
    for flag in [
        "--bind",
        "--data-dir",
        "--config",
        "--body-limit-bytes",
        "CAIRN_DATA_DIR",
        "--jwt-secret-file",
        "CAIRN_JWT_SECRET",
        "--jwt-public-key",
        "--cors-origin",
    ] {
        assert!(serve.contains(flag), "serve --help mentions {flag}");
    }
    let get = stdout(&cairn(&["get", "--help"]));
    for flag in ["--full", "--query", "--max-tokens", "--version", "--url"] {
        assert!(get.contains(flag), "get --help mentions {flag}");
    }
    let import = stdout(&cairn(&["import", "--help"]));
    for flag in [
        "claude",
        "codex",
        "gemini",
        "all",
        "--path",
        "--watch",
        "--data-dir",
    ] {
        assert!(import.contains(flag), "import --help mentions {flag}");
    }
    let search = stdout(&cairn(&["search", "--help"]));
    for flag in [
        "--agent",
        "--project",
        "--since",
        "--until",
        "--limit",
        "--json",
        "--url",
    ] {
        assert!(search.contains(flag), "search --help mentions {flag}");
    }
    assert!(cairn(&["--version"]).status.success());
}

#[test]
fn import_from_an_agent_folder_then_search_and_reindex() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sessions");
    let codex = format!("{fixtures}/codex");
    let output = cairn(&["import", "codex", "--path", &codex, "--data-dir", data_dir]);
    assert!(output.status.success(), "{}", stderr(&output));
    let totals: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON totals");
    assert_eq!(totals["files"], 3, "{totals}");
    // The rollout's 82, then turn-1's 4 and turn-2's 4 new ones (same session).
    assert_eq!(totals["messages"], 90, "{totals}");
    let again = cairn(&["import", "codex", "--path", &codex, "--data-dir", data_dir]);
    let totals: serde_json::Value = serde_json::from_str(&stdout(&again)).expect("JSON totals");
    assert_eq!(
        totals["messages"], 0,
        "importing again adds nothing: {totals}"
    );

    let reindex = cairn(&["reindex", "--data-dir", data_dir]);
    assert!(reindex.status.success(), "{}", stderr(&reindex));
    let indexed: serde_json::Value = serde_json::from_str(&stdout(&reindex)).expect("JSON");
    assert_eq!(indexed["messages_indexed"], 90, "{indexed}");

    // A server over the same data directory finds them.
    let server = Server::start(data.path());
    let url = server.url.clone();
    let found = cairn(&["search", "exec_command", "--url", &url, "--json"]);
    assert!(found.status.success(), "{}", stderr(&found));
    let results: serde_json::Value = serde_json::from_str(&stdout(&found)).expect("JSON");
    assert!(results["total"].as_u64() > Some(0), "{results}");
    let text = cairn(&["search", "explain", "--url", &url, "--agent", "codex"]);
    assert!(stdout(&text).contains("matches"), "{}", stdout(&text));
    // While the server holds the index, reindex refuses clearly.
    let busy = cairn(&["reindex", "--data-dir", data_dir]);
    assert!(!busy.status.success());
    assert!(stderr(&busy).contains("search index"), "{}", stderr(&busy));
    let bad = cairn(&["search", "exec_command AND", "--url", &url]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("invalid query"), "{}", stderr(&bad));
    drop(server);
    let missing = cairn(&[
        "import",
        "claude",
        "--path",
        "/nonexistent/folder",
        "--data-dir",
        data_dir,
    ]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("does not exist"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn put_get_stats_and_gc_from_the_shell() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path());
    let file = data.path().join("output.bin");
    let binary: Vec<u8> = (0..=255u8).rev().cycle().take(3000).collect();
    std::fs::write(&file, &binary).expect("write the file");

    let put = cairn(&[
        "put",
        "shell/bin",
        file.to_str().expect("utf-8"),
        "--url",
        &server.url,
        "--agent",
        "sh",
    ]);
    assert!(put.status.success(), "{}", stderr(&put));
    let receipt: serde_json::Value = serde_json::from_str(&stdout(&put)).expect("a JSON receipt");
    assert_eq!(receipt["version"], 1);
    assert_eq!(receipt["bytes"], 3000);

    let full = cairn(&["get", "shell/bin", "--full", "--url", &server.url]);
    assert!(full.status.success(), "{}", stderr(&full));
    assert_eq!(
        full.stdout, binary,
        "--full prints the original byte for byte"
    );
    let stub = cairn(&["get", "shell/bin", "--url", &server.url]);
    assert!(
        stdout(&stub).contains(receipt["ref"].as_str().expect("a ref")),
        "{}",
        stdout(&stub)
    );

    let expiring = cairn(&[
        "put",
        "shell/expiring",
        file.to_str().expect("utf-8"),
        "--url",
        &server.url,
        "--ttl",
        "1s",
    ]);
    assert!(expiring.status.success(), "{}", stderr(&expiring));
    let mut piped = Command::new(CAIRN)
        .args([
            "put",
            "shell/text",
            "-",
            "--url",
            &server.url,
            "--ttl",
            "1h",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cairn put runs");
    use std::io::Write as _;
    piped
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"from a pipe\n")
        .expect("write");
    let piped = piped.wait_with_output().expect("cairn put finishes");
    assert!(piped.status.success());
    assert!(stdout(&piped).contains("expires_at"), "{}", stdout(&piped));
    let text = cairn(&["get", "shell/text", "--url", &server.url]);
    assert_eq!(stdout(&text), "from a pipe\n");
    let json = cairn(&["get", "shell/text", "--json", "--url", &server.url]);
    let view: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON view");
    assert_eq!(view["view"], "compressed");

    let missing = cairn(&["get", "nope", "--url", &server.url]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("not_found"),
        "{}",
        stderr(&missing)
    );
    assert!(!stderr(&missing).contains("panicked"));

    std::thread::sleep(Duration::from_millis(1100));
    let stats = cairn(&["stats", "--url", &server.url]);
    let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).expect("JSON stats");
    assert_eq!(
        stats["contexts"], 2,
        "the expired key is not counted: {stats}"
    );
    assert_eq!(stats["versions"], 3);

    drop(server);
    let gc = cairn(&["gc", "--data-dir", data.path().to_str().expect("utf-8")]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    let report: serde_json::Value = serde_json::from_str(&stdout(&gc)).expect("a JSON report");
    assert_eq!(report["expired_versions"], 1, "{report}");
    // The expired key shared its bytes with shell/bin, so no blob goes.
    assert_eq!(report["deleted_blobs"], 0, "{report}");
    let server = Server::start(data.path());
    let gone = cairn(&["get", "shell/expiring", "--url", &server.url]);
    assert!(stderr(&gone).contains("not_found"), "{}", stderr(&gone));
    let kept = cairn(&["get", "shell/bin", "--full", "--url", &server.url]);
    assert_eq!(kept.stdout, binary);
}

#[test]
fn bad_settings_and_unreachable_servers_get_clear_errors() {
    let public = cairn(&["serve", "--bind", "0.0.0.0:0"]);
    assert!(!public.status.success());
    assert!(
        stderr(&public).contains("without authentication"),
        "{}",
        stderr(&public)
    );

    let level = cairn(&["serve", "--bind", "127.0.0.1:0", "--zstd-level", "99"]);
    assert!(stderr(&level).contains("zstd_level"), "{}", stderr(&level));

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("cairn.toml");
    std::fs::write(&config, "[server]\nbnid = \"x\"\n").expect("write config");
    let typo = cairn(&["serve", "--config", config.to_str().expect("utf-8")]);
    assert!(stderr(&typo).contains("bnid"), "{}", stderr(&typo));

    let unreachable = cairn(&["stats", "--url", "http://127.0.0.1:9"]);
    assert!(
        stderr(&unreachable).contains("cannot reach the Cairn server"),
        "{}",
        stderr(&unreachable)
    );
    let bad_url = cairn(&["stats", "--url", "not a url"]);
    assert!(
        stderr(&bad_url).contains("invalid server URL"),
        "{}",
        stderr(&bad_url)
    );
}

#[test]
fn a_corrupt_database_file_is_a_clear_error_not_a_panic() {
    let data = tempfile::tempdir().expect("temp dir");
    std::fs::write(data.path().join("cairn.db"), vec![0x5a; 8192]).expect("write garbage");
    let message = serve_refused(data.path());
    assert!(
        message.contains("corrupt") || message.contains("not a database"),
        "{message}"
    );
}

#[test]
fn a_truncated_database_file_is_a_clear_error_not_a_panic() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let ctx = SharedContext::connect(&server.url).expect("valid URL");
        for put in 0..200u64 {
            // Text that compresses badly, so the file spans many pages.
            let content: String = (0..800)
                .map(|i| {
                    format!(
                        "{:x}",
                        (put * 1_000 + i).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    )
                })
                .collect();
            ctx.put(&format!("big/{put}"), content)
                .await
                .expect("a put");
        }
    });
    server.stop();
    let db = data.path().join("cairn.db");
    let size = std::fs::metadata(&db).expect("the database file").len();
    assert!(size > 1 << 20, "the database holds {size} bytes");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .and_then(|file| file.set_len(size / 2))
        .expect("truncate");
    for extra in ["cairn.db-wal", "cairn.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(extra));
    }
    let message = serve_refused(data.path());
    assert!(
        message.contains("the database is corrupt") && message.contains("cairn.db"),
        "{message}"
    );
}

/// Runs `cairn serve` over `data_dir`, which must refuse to start without a
/// panic: what it printed on stderr.
fn serve_refused(data_dir: &Path) -> String {
    let serve = cairn(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().expect("utf-8"),
    ]);
    let message = stderr(&serve);
    assert!(!serve.status.success(), "cairn serve started: {message}");
    assert!(!message.contains("panicked"), "{message}");
    message
}

/// A log of `lines` lines that the default view cuts, distinct per writer and put.
fn crash_log(writer: usize, put: usize) -> String {
    (0..120)
        .map(|line| {
            let level = if line % 40 == 7 { "ERROR" } else { "INFO" };
            format!(
                "2026-12-05T01:{:02}:{:02}Z {level} writer {writer} put {put} step {line}\n",
                line / 60,
                line % 60
            )
        })
        .collect()
}

/// Puts under load are acknowledged with their default views pending
/// (`render_views_after_put`), then the server is killed: every acknowledged
/// put is readable after the restart, the database held views still pending
/// at the kill, and the restarted server renders every one of them.
#[test]
fn every_acknowledged_put_survives_kill_9_under_write_load() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with_env(data.path(), &[("CAIRN_RENDER_VIEWS_AFTER_PUT", "true")]);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let acknowledged = runtime.block_on(async {
        let mut writers = Vec::new();
        for writer in 0..8 {
            let ctx = SharedContext::connect(&server.url).expect("valid URL");
            writers.push(tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for put in 0.. {
                    let key = format!("crash/{}", put % 5);
                    let content = crash_log(writer, put);
                    match ctx.put(&key, content.clone()).await {
                        Ok(receipt) => {
                            acknowledged.push((key, receipt.version, content, receipt.view_pending))
                        }
                        Err(_) => break,
                    }
                }
                acknowledged
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill_9();
        let mut acknowledged = Vec::new();
        for writer in writers {
            acknowledged.extend(writer.await.expect("a writer task"));
        }
        acknowledged
    });
    assert!(
        acknowledged.len() > 50,
        "only {} puts before the kill",
        acknowledged.len()
    );
    assert!(
        acknowledged.iter().all(|(.., pending)| *pending),
        "every receipt says its view is pending"
    );

    // What the killed server left: originals whose views it had not rendered.
    let mut config = cairn_server::Config::default();
    config.storage.data_dir = data.path().to_path_buf();
    let left_pending = runtime.block_on(async {
        let store = cairn_server::open_store(&config)
            .await
            .expect("the store opens");
        let pending = store
            .pending_views(10_000, i64::MAX)
            .await
            .expect("pending views");
        store.close().await;
        pending.len()
    });
    assert!(
        left_pending > 0,
        "the kill left no view pending; the test proves nothing"
    );

    let server = Server::start(data.path());
    runtime.block_on(async {
        let ctx = SharedContext::connect(&server.url).expect("valid URL");
        for (key, version, content, _) in &acknowledged {
            let options = cairn_client::GetOptions {
                version: Some(*version),
                view: cairn_types::View::Full,
                ..Default::default()
            };
            let view = ctx
                .get_with(key, options)
                .await
                .expect("an acknowledged put survives");
            assert_eq!(&view.content, content, "{key} version {version}");
        }
        // The restarted server renders what was pending, by itself.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stats = ctx.stats().await.expect("stats");
            if stats.views_pending == 0 {
                assert!(stats.tokens_compressed < stats.tokens_original, "{stats:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {left_pending} views still pending after 60 s",
                stats.views_pending
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // And a GET serves the stored view, cut and marked.
        let (key, version, content, _) = &acknowledged[0];
        let options = cairn_client::GetOptions {
            version: Some(*version),
            ..Default::default()
        };
        let view = ctx.get_with(key, options).await.expect("the default view");
        assert!(view.content.len() < content.len(), "{key}: the view cuts");
        assert!(!view.markers.is_empty(), "{key}: its cuts are marked");
    });
}

#[test]
fn compress_works_locally_without_a_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("build.log");
    let mut log = String::new();
    for i in 0..3000 {
        log.push_str(&format!(
            "2026-11-21T04:00:00Z INFO compiling crate-{i} v0.{i}.0\n"
        ));
        if i == 1234 {
            log.push_str("2026-11-21T04:00:00Z INFO compiling needle-crate v9.9.9\n");
        }
    }
    std::fs::write(&file, &log).expect("write");
    let path = file.to_str().expect("utf-8");

    let output = cairn(&["compress", path, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(report["kind"], "log");
    let (before, after) = (
        report["tokens_before"].as_u64(),
        report["tokens_after"].as_u64(),
    );
    assert!(
        after
            .zip(before)
            .is_some_and(|(after, before)| after * 10 < before),
        "{report}"
    );
    let reference = report["ref"].as_str().expect("a ref");
    assert!(report["markers"][0]["ref"] == reference, "{report}");

    let queried = cairn(&[
        "compress",
        path,
        "--query",
        "which version of needle-crate?",
    ]);
    assert!(
        stdout(&queried).contains("needle-crate v9.9.9"),
        "{}",
        stdout(&queried)
    );
    assert!(
        stderr(&queried).contains("tokens"),
        "stats go to standard error"
    );

    let bad = cairn(&["compress", path, "--kind", "spreadsheet"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unknown kind"), "{}", stderr(&bad));
}

#[test]
fn import_watch_follows_a_folder_as_files_appear_and_grow() {
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().expect("temp dir");
    let watched = tempfile::tempdir().expect("temp dir");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sessions/codex");
    let mut child = Command::new(CAIRN)
        .args(["import", "codex", "--watch", "--path"])
        .arg(watched.path())
        .arg("--data-dir")
        .arg(data.path())
        .env("CAIRN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cairn import --watch starts");
    // Rounds arrive on a thread, so a round that never comes fails the test
    // instead of hanging it.
    let stdout = child.stdout.take().expect("stdout");
    let (rounds, arriving) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if rounds.send(line).is_err() {
                return;
            }
        }
    });
    let mut next_round = || -> serde_json::Value {
        let line = arriving.recv_timeout(Duration::from_secs(30));
        let Ok(line) = line else {
            let _ = child.kill();
            panic!("no import round within 30 s");
        };
        serde_json::from_str(&line).expect("one JSON object per round")
    };
    let session = watched
        .path()
        .join("rollout-2026-05-12T10-00-00-watched.jsonl");
    std::fs::copy(format!("{fixtures}/turn-1.jsonl"), &session).expect("copy");
    let first = next_round();
    assert_eq!(
        (first["files"].as_u64(), first["messages"].as_u64()),
        (Some(1), Some(4)),
        "{first}"
    );
    // The session grows: only its new records are added.
    std::fs::copy(format!("{fixtures}/turn-2.jsonl"), &session).expect("copy");
    let grown = next_round();
    assert_eq!(grown["messages"].as_u64(), Some(4), "{grown}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn token_issue_makes_tokens_that_a_server_with_auth_accepts() {
    let secret = "a-secret-for-the-cli-test-0123456789abcdef";
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with_env(data.path(), &[("CAIRN_JWT_SECRET", secret)]);
    let issue = |args: &[&str]| {
        Command::new(CAIRN)
            .args(["token", "issue"])
            .args(args)
            .env("CAIRN_JWT_SECRET", secret)
            .output()
            .expect("cairn runs")
    };
    let issued = issue(&[
        "--sub",
        "ci-agent",
        "--tenant",
        "team",
        "--scopes",
        "read,write",
        "--ttl",
        "1h",
    ]);
    assert!(issued.status.success(), "{}", stderr(&issued));
    let token = stdout(&issued).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    let refused = cairn(&["stats", "--url", &server.url]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("bearer token"),
        "{}",
        stderr(&refused)
    );
    let file = data.path().join("note.txt");
    std::fs::write(&file, "a note from ci").expect("write");
    let put = cairn(&[
        "put",
        "ci/note",
        file.to_str().expect("utf-8"),
        "--url",
        &server.url,
        "--token",
        &token,
    ]);
    assert!(put.status.success(), "{}", stderr(&put));
    let get = Command::new(CAIRN)
        .args(["get", "ci/note", "--full", "--url", &server.url])
        .env("CAIRN_TOKEN", &token)
        .output()
        .expect("cairn runs");
    assert_eq!(stdout(&get), "a note from ci");

    let unknown = issue(&["--sub", "a", "--tenant", "t", "--scopes", "read,root"]);
    assert!(
        stderr(&unknown).contains("unknown scope `root`"),
        "{}",
        stderr(&unknown)
    );
    let no_key = cairn(&["token", "issue", "--sub", "a", "--tenant", "t"]);
    assert!(!no_key.status.success());
    assert!(
        stderr(&no_key).contains("no signing key"),
        "{}",
        stderr(&no_key)
    );
    // In a folder of its own: a refused secret leaves no data directory in
    // the working directory (it used to create ./cairn-data first).
    let cwd = tempfile::tempdir().expect("a temporary directory");
    let short = Command::new(CAIRN)
        .args(["serve", "--bind", "0.0.0.0:0"])
        .current_dir(cwd.path())
        .env_remove("CAIRN_DATA_DIR")
        .env("CAIRN_JWT_SECRET", "too-short")
        .output()
        .expect("cairn runs");
    assert!(!short.status.success());
    assert!(stderr(&short).contains("at least 32"), "{}", stderr(&short));
    assert!(
        !cwd.path().join("cairn-data").exists(),
        "a refused start created no data directory"
    );
    // Set but blank (a template's `CAIRN_JWT_SECRET=`, a missing secret
    // rendered empty) is refused too: it used to turn auth off silently,
    // and then any token was accepted.
    for blank in ["", "   "] {
        let open = Command::new(CAIRN)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .current_dir(cwd.path())
            .env_remove("CAIRN_DATA_DIR")
            .env("CAIRN_JWT_SECRET", blank)
            .output()
            .expect("cairn runs");
        assert!(!open.status.success(), "a blank secret started the server");
        assert!(stderr(&open).contains("set but empty"), "{}", stderr(&open));
    }
}

/// With auth on, a hook sends with the token its variable holds when it
/// runs; the token is never written into the agent's settings, and a hook
/// without it is refused, says so, and still exits 0.
#[test]
fn hooks_carry_the_token_from_the_environment_and_never_write_it() {
    let secret = "a-secret-for-the-hook-test-0123456789abcdef";
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with_env(data.path(), &[("CAIRN_JWT_SECRET", secret)]);
    let issued = Command::new(CAIRN)
        .args([
            "token",
            "issue",
            "--sub",
            "claude",
            "--tenant",
            "team",
            "--scopes",
            "read,write",
        ])
        .env("CAIRN_JWT_SECRET", secret)
        .output()
        .expect("cairn runs");
    let token = stdout(&issued).trim().to_owned();
    let home = tempfile::tempdir().expect("a home");
    let installed = Command::new(CAIRN)
        .args([
            "hooks",
            "install",
            "claude",
            "--url",
            &server.url,
            "--token-env",
            "TEAM_TOKEN",
        ])
        .env("HOME", home.path())
        .env_remove("CLAUDE_CONFIG_DIR")
        .env("TEAM_TOKEN", &token)
        .output()
        .expect("cairn runs");
    assert!(installed.status.success(), "{}", stderr(&installed));
    let settings =
        std::fs::read_to_string(home.path().join(".claude/settings.json")).expect("settings");
    assert!(
        settings.contains("hook claude --url") && settings.contains("--token-env TEAM_TOKEN"),
        "{settings}"
    );
    assert!(
        !settings.contains(&token),
        "the token was written: {settings}"
    );

    let transcript = home.path().join("session.jsonl");
    std::fs::write(
        &transcript,
        serde_json::json!({"type": "user", "uuid": "u1", "parentUuid": null, "sessionId": "s-auth",
            "cwd": "/work/guarded", "timestamp": "2026-12-04T10:00:01.000Z",
            "message": {"role": "user", "content": "rotate the gizmo keys"}})
        .to_string()
            + "\n",
    )
    .expect("a transcript");
    let event = serde_json::json!({"hook_event_name": "Stop", "session_id": "s-auth",
        "cwd": "/work/guarded", "transcript_path": transcript})
    .to_string();
    let hook = |token: Option<&str>| {
        let mut command = Command::new(CAIRN);
        command
            .args([
                "hook",
                "claude",
                "--url",
                &server.url,
                "--token-env",
                "TEAM_TOKEN",
            ])
            .env("HOME", home.path())
            .env_remove("TEAM_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(token) = token {
            command.env("TEAM_TOKEN", token);
        }
        let mut child = command.spawn().expect("cairn hook runs");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), event.as_bytes())
            .expect("the event");
        child.wait_with_output().expect("cairn hook ends")
    };
    let refused = hook(None);
    assert!(refused.status.success(), "a hook always exits 0");
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));
    let sent = hook(Some(&token));
    assert!(
        sent.status.success() && stderr(&sent).is_empty(),
        "{}",
        stderr(&sent)
    );
    let brief = Command::new(CAIRN)
        .args([
            "brief",
            "--project",
            "/work/guarded",
            "--agent",
            "codex",
            "--url",
            &server.url,
        ])
        .env("CAIRN_TOKEN", &token)
        .output()
        .expect("cairn runs");
    assert!(brief.status.success(), "{}", stderr(&brief));
    assert!(
        stdout(&brief).contains("Task: rotate the gizmo keys"),
        "{}",
        stdout(&brief)
    );
}

/// The line `cairn serve` logs once it is serving (on any free port), with
/// `env` set.
fn serving_line(data_dir: &Path, env: &[(&str, &str)]) -> String {
    use std::io::BufRead as _;
    let mut child = Command::new(CAIRN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("CAIRN_LOG", "info")
        .env_remove("MIMALLOC_PURGE_DELAY")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cairn serve starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let line = std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.contains("cairn is serving"));
    let _ = child.kill();
    let _ = child.wait();
    line.expect("cairn serve logs that it is serving")
}

#[test]
fn the_server_returns_freed_memory_at_once_unless_told_otherwise() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let default = serving_line(dir.path(), &[]);
    assert!(
        default.contains("mimalloc, freed memory returned at once"),
        "{default}"
    );
    // mimalloc read this into the option main.rs sets, so the option number
    // main.rs uses is the purge delay's, and an operator's choice stands.
    let chosen = serving_line(dir.path(), &[("MIMALLOC_PURGE_DELAY", "250")]);
    assert!(
        chosen.contains("mimalloc, freed memory returned after 250 ms"),
        "{chosen}"
    );
}

/// The binary's allocator turns transparent huge pages off for the process
/// (mimalloc's `no_thp`): with them on, khugepaged refilled the ranges
/// mimalloc had given back and an idle server's RSS grew (BENCHMARKS.md).
#[cfg(target_os = "linux")]
#[test]
fn the_server_runs_with_transparent_huge_pages_off() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = Server::start(dir.path());
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("the server's /proc status");
    let thp = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .expect("/proc/PID/status has THP_enabled (Linux 5.0 and later)");
    assert_eq!(thp.trim(), "0", "{status}");
}
