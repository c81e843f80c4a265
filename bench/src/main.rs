//! `cairn-bench`: the benchmark harness behind BENCHMARKS.md.
//!
//! `cairn-bench http` starts the real `cairn serve` binary as a child process
//! on a loopback port with a fresh data directory, then drives it over HTTP
//! from this process (its own runtime, so client and server do not share
//! threads): concurrent PUTs of distinct payloads, then concurrent GETs of
//! the compressed views. Every loop is bounded in count and time.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

mod attacks;
mod briefing;
mod compression;
mod load;
mod ml;
mod nodes;
mod proxy;
mod search_eval;
mod sessions;
use clap::{Args, Parser, Subcommand};

/// Benchmarks of a real Cairn server over HTTP on loopback.
#[derive(Debug, Parser)]
#[command(name = "cairn-bench", max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// PUT and GET throughput and latency over HTTP with concurrent clients.
    Http(HttpArgs),
    /// Time each stage of a put on one core: hash, sniff, tokens, zstd.
    Stages(StagesArgs),
    /// Compression against headroom-ai on a corpus of real tool outputs.
    Compression(CompressionArgs),
    /// Session import throughput, indexing, and search latency over a
    /// million generated messages.
    Sessions(sessions::SessionsArgs),
    /// Many writers on overlapping keys; then every acknowledged version is
    /// read back and version numbers are checked for gaps and duplicates.
    Load(load::LoadArgs),
    /// 1, 2 and 3 `cairn serve` nodes on one PostgreSQL: puts and gets per
    /// second per node count, a put on one node read and found on another,
    /// and one node killed under write load.
    Nodes(nodes::NodesArgs),
    /// A steady rate of puts and reads for minutes: throughput, latency and
    /// the server's RSS, sampled.
    Soak(load::SoakArgs),
    /// The server's RSS with many contexts stored (100,000 by default), after
    /// the puts, after reads, and idle.
    Memory(load::MemoryArgs),
    /// The LLM proxy: overhead against calling a mock upstream directly, and
    /// tokens saved replaying real sessions as provider requests.
    Proxy(proxy::ProxyArgs),
    /// Local ML on the fixture sessions: a labelled query set with BM25
    /// alone and hybrid (hit@5, MRR, latency), and embedding throughput.
    Ml(ml::MlArgs),
    /// The release server attacked as the security suite attacks it, many
    /// times: cross-site and DNS-rebinding requests, a zstd bomb, GraphQL
    /// aliases; what each costs it.
    Attacks(attacks::AttacksArgs),
    /// Search quality against SQLite FTS5 on the fixture sessions: a
    /// lexical and a paraphrase query set (hit@1, hit@5, MRR, latency).
    SearchEval(search_eval::SearchEvalArgs),
    /// Briefing latency over a store of many sessions, and what each of
    /// Cairn's hooks costs an agent's turn (the server up and down).
    Briefing(briefing::BriefingArgs),
}

#[derive(Debug, Args)]
struct CompressionArgs {
    /// Folder of corpus cases (`bench/peer/build_corpus.py DIR` makes one).
    #[arg(long)]
    corpus: PathBuf,
    /// Python of a venv with headroom-ai (`scripts/install-peer.sh` makes one);
    /// without it only Cairn is measured.
    #[arg(long)]
    python: Option<PathBuf>,
    /// The peer worker script.
    #[arg(long, default_value = "bench/peer/headroom_worker.py")]
    worker: PathBuf,
    /// Print every case as JSON instead of the Markdown tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct StagesArgs {
    /// Size of each payload in bytes.
    #[arg(long, default_value_t = 10 * 1024)]
    payload_bytes: usize,
    /// Payloads to run each stage on.
    #[arg(long, default_value_t = 500)]
    payloads: u64,
}

/// Times puts straight into the store and through the service (no HTTP),
/// one after another, on a fresh SQLite database.
async fn store_stages(args: &StagesArgs) -> anyhow::Result<()> {
    use cairn_store::Store as _;
    let dir = tempfile::tempdir()?;
    let store = std::sync::Arc::new(
        cairn_store::SqliteStore::open(&cairn_store::SqliteOptions::new(dir.path().join("b.db")))
            .await?,
    );
    let tenant = cairn_types::TenantId::local();
    let payloads: Vec<bytes::Bytes> = (0..args.payloads)
        .map(|seed| bytes::Bytes::from(payload(seed + 1_000_000, args.payload_bytes)))
        .collect();
    let write = |index: usize,
                 content: &bytes::Bytes,
                 prefix: &str|
     -> anyhow::Result<cairn_store::ContextWrite> {
        let hash = cairn_core::ContentHash::of(content);
        Ok(cairn_store::ContextWrite {
            tenant: tenant.clone(),
            key: cairn_types::ContextKey::parse(format!("{prefix}/{index}"))?,
            hash,
            blob: Some(cairn_store::NewBlob {
                hash,
                bytes_original: content.len() as u64,
                content_type: "text/plain".to_owned(),
                tokens_original: 1,
                tokens_compressed: 1,
                encoding: cairn_store::Encoding::Identity,
                data: content[..content.len() / 3].to_vec(),
                view: cairn_store::StoredView {
                    engine: 0,
                    rendered: None,
                },
            }),
            agent: None,
            session: None,
            metadata: None,
            created_at: 0,
            expires_at: None,
        })
    };
    let started = Instant::now();
    for (index, content) in payloads.iter().enumerate() {
        store
            .put_context(write(index, content, "sequential")?)
            .await?;
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / payloads.len() as f64;
    println!(
        "| store put, one at a time (SQLite) | {micros:.1} | {:.0} |",
        1e6 / micros
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, content) in payloads.iter().enumerate() {
        let (store, write) = (store.clone(), write(index, content, "concurrent")?);
        tasks.push(tokio::spawn(async move { store.put_context(write).await }));
        if tasks.len() == 16 {
            for task in tasks.drain(..) {
                task.await??;
            }
        }
    }
    for task in tasks {
        task.await??;
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / payloads.len() as f64;
    println!(
        "| store put, 16 at a time (group commit) | {micros:.1} | {:.0} |",
        1e6 / micros
    );
    let cairn = cairn_service::Cairn::new(store, cairn_service::ServiceConfig::default());
    let started = Instant::now();
    for (index, content) in payloads.iter().enumerate() {
        let mut distinct = content.to_vec();
        distinct.extend_from_slice(b"service");
        let key = cairn_types::ContextKey::parse(format!("service/{index}"))?;
        let input = cairn_service::PutInput {
            content: distinct.into(),
            ..Default::default()
        };
        cairn.put(&tenant, &key, input).await?;
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / payloads.len() as f64;
    println!(
        "| service: whole put, sequential | {micros:.1} | {:.0} |",
        1e6 / micros
    );
    Ok(())
}

/// Times the CPU stages of a put, one payload after another on one thread.
fn stages(args: &StagesArgs) {
    let payloads: Vec<String> = (0..args.payloads)
        .map(|seed| payload(seed, args.payload_bytes))
        .collect();
    let time = |name: &str, stage: &dyn Fn(&[u8]) -> u64| {
        let started = Instant::now();
        let mut sink = 0u64;
        for payload in &payloads {
            sink = sink.wrapping_add(stage(payload.as_bytes()));
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / payloads.len() as f64;
        println!("| {name} | {micros:.1} | {:.0} |", 1e6 / micros);
        sink
    };
    println!(
        "{} byte payloads, {} of them, one thread\n",
        args.payload_bytes, args.payloads
    );
    println!("| stage | µs per payload | payloads per second |");
    println!("|---|---:|---:|");
    cairn_core::tokens::count("warm up the tokenizer");
    time("blake3 hash", &|bytes| {
        u64::from(cairn_core::ContentHash::of(bytes).as_bytes()[0])
    });
    time("sniff", &|bytes| {
        u64::from(cairn_core::sniff(bytes).is_binary())
    });
    time("o200k token count", &|bytes| {
        cairn_core::tokens::count_bytes(bytes)
    });
    let tiktoken = tiktoken_rs::o200k_base().expect("o200k");
    time("tiktoken-rs o200k (reference)", &|bytes| {
        tiktoken
            .encode_ordinary(std::str::from_utf8(bytes).unwrap_or(""))
            .len() as u64
    });
    for payload in payloads.iter().take(50) {
        assert_eq!(
            tiktoken.encode_ordinary(payload).len() as u64,
            cairn_core::tokens::count(payload)
        );
    }
    time("default view (compression engine)", &|bytes| {
        let hash = cairn_core::ContentHash::of(bytes);
        match cairn_compress::compress(bytes, &hash, &cairn_compress::Options::default()).view {
            cairn_core::RenderedView::Original => 0,
            cairn_core::RenderedView::Rendered { tokens, .. } => tokens,
        }
    });
    time("zstd level 3", &|bytes| {
        zstd::bulk::compress(bytes, 3).map_or(0, |out| out.len() as u64)
    });
}

#[derive(Debug, Args)]
struct HttpArgs {
    /// The `cairn` binary to benchmark [default: `cairn` beside this binary].
    #[arg(long, conflicts_with = "url")]
    server: Option<PathBuf>,
    /// Benchmark a server already running at this loopback URL instead of starting one.
    #[arg(long)]
    url: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Size of each PUT payload in bytes.
    #[arg(long, default_value_t = 10 * 1024)]
    payload_bytes: usize,
    /// PUTs in all (each a distinct payload).
    #[arg(long, default_value_t = 20_000)]
    puts: u64,
    /// GETs in all.
    #[arg(long, default_value_t = 100_000)]
    gets: u64,
    /// Spread the GETs over the first N keys put [default: every key].
    #[arg(long)]
    get_keys: Option<u64>,
    /// Stop a phase after this many seconds even if its count is not reached.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
    /// Print the results as JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
    /// The Redis the reference run of `redis-benchmark` (same clients and
    /// payload size, SET and GET) talks to, when it is on the PATH.
    #[arg(long, default_value_t = 6379)]
    redis_port: u16,
    /// Leave out the `redis-benchmark` reference run.
    #[arg(long)]
    no_redis: bool,
}

/// What `redis-benchmark` measured: requests per second and p99 ms.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct RedisFigure {
    per_second: f64,
    p99_ms: f64,
}

/// Runs `redis-benchmark` with the load of `args` (clients, payload size,
/// as many SETs as puts and GETs as gets) against the local Redis: the
/// loopback key-value round trip of this machine, measured in the same
/// run. `None` (and a note on standard error) when it cannot run.
fn redis_reference(args: &HttpArgs) -> Option<(RedisFigure, RedisFigure)> {
    if args.no_redis {
        return None;
    }
    let run = |test: &str, count: u64| -> Option<RedisFigure> {
        let output = std::process::Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &args.redis_port.to_string()])
            .args(["-c", &args.clients.to_string()])
            .args(["-d", &args.payload_bytes.to_string()])
            .args(["-n", &count.max(1000).to_string(), "-t", test, "--csv"])
            .stderr(Stdio::null())
            .output()
            .map_err(|error| eprintln!("redis-benchmark cannot run ({error}): no Redis reference"))
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",…
        let row = text
            .lines()
            .find(|line| line.starts_with(&format!("\"{}\"", test.to_uppercase())));
        let Some(row) = row else {
            eprintln!(
                "redis-benchmark gave no {test} figure (is Redis up on port {}?)",
                args.redis_port
            );
            return None;
        };
        let fields: Vec<f64> = row
            .split(',')
            .skip(1)
            .filter_map(|field| field.trim_matches('"').parse().ok())
            .collect();
        Some(RedisFigure {
            per_second: *fields.first()?,
            p99_ms: *fields.get(5)?,
        })
    };
    Some((run("set", args.puts)?, run("get", args.gets)?))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Compression(args) => {
            let peer = args
                .python
                .as_deref()
                .map(|python| (python, args.worker.as_path()));
            let results = compression::compare(&args.corpus, peer)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                compression::print_report(&results);
            }
            Ok(())
        }
        Command::Sessions(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(sessions::run(&args))
        }
        Command::Ml(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(ml::run(&args))
        }
        Command::SearchEval(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(search_eval::run(&args))
        }
        Command::Load(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(load::load(&args))
        }
        Command::Nodes(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(nodes::nodes(&args))
        }
        Command::Soak(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(load::soak(&args))
        }
        Command::Memory(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(load::memory(&args))
        }
        Command::Stages(args) => {
            stages(&args);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(store_stages(&args))
        }
        Command::Proxy(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(proxy::run(&args))
        }
        Command::Attacks(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(attacks::run(&args))
        }
        Command::Briefing(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(briefing::run(&args))
        }
        Command::Http(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(http(args))
        }
    }
}

/// The harness's HTTP client, keeping up to `idle` connections: they are
/// dropped after 5 s idle, below the server's 10 s keep-alive (its header
/// read timeout), so a connection the server is closing is never reused.
pub(crate) fn http_client(idle: usize) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(idle)
        .build()
}

/// A `cairn serve` child process, killed when dropped.
/// The `cairn` binary a benchmark starts: the one named, else the one
/// beside this program.
fn server_binary(named: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    match named {
        Some(path) => Ok(path.clone()),
        None => Ok(std::env::current_exe()?.with_file_name("cairn")),
    }
}

struct ServerProcess {
    child: tokio::process::Child,
    url: String,
    _data: tempfile::TempDir,
}

impl ServerProcess {
    async fn start(binary: &PathBuf) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_with(binary, None, &[]).await
    }

    /// [`ServerProcess::start`] with extra environment variables.
    async fn start_with_env(
        binary: &PathBuf,
        env: &[(&str, &str)],
    ) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_with(binary, None, env).await
    }

    /// A server on `database` (PostgreSQL) rather than SQLite in its data dir.
    async fn start_on(binary: &PathBuf, database: Option<&str>) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_with(binary, database, &[]).await
    }

    async fn start_with(
        binary: &PathBuf,
        database: Option<&str>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<ServerProcess> {
        let data = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = tokio::process::Command::new(binary);
        command.arg("serve");
        if let Some(database) = database {
            command.arg("--database").arg(database);
        }
        let child = command
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data.path())
            .env("CAIRN_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http.get(format!("{url}/readyz")).send().await
                && response.status().is_success()
            {
                return Ok(ServerProcess {
                    child,
                    url,
                    _data: data,
                });
            }
            if Instant::now() > deadline {
                bail!("the server did not become ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// User plus system CPU seconds the server has used so far.
    fn cpu_seconds(&self) -> Option<f64> {
        let pid = self.child.id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    fn rss_kib(&self) -> Option<u64> {
        self.status_number("VmRSS:")
    }

    /// The anonymous part of the RSS (heap and stacks), without the pages of
    /// files mapped into memory (tantivy's segments), which the kernel can
    /// drop and reread at will.
    fn rss_anon_kib(&self) -> Option<u64> {
        self.status_number("RssAnon:")
    }

    /// The highest RSS the server has had since it started.
    fn peak_rss_kib(&self) -> Option<u64> {
        self.status_number("VmHWM:")
    }

    /// How many threads the server runs now.
    fn threads(&self) -> Option<u64> {
        self.status_number("Threads:")
    }

    /// A number from the server's `/proc/PID/status` (kB for sizes).
    fn status_number(&self, field: &str) -> Option<u64> {
        status_number(self.child.id()?, field)
    }

    /// The server's process id, while it runs.
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// A number from `/proc/PID/status` (kB for sizes).
fn status_number(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A deterministic xorshift generator: the same payloads on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Skewed towards small values, like word frequencies.
    pub(crate) fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a * b / n.max(1)
    }
}

/// A tool-output-like payload of about `size` bytes: log lines with
/// timestamps, levels, ids and numbers, distinct for every `seed`.
fn payload(seed: u64, size: usize) -> String {
    const LEVELS: [&str; 4] = ["INFO", "INFO", "DEBUG", "WARN"];
    const WORDS: [&str; 8] = [
        "request", "handled", "cache", "miss", "upstream", "retry", "ok", "latency",
    ];
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out = String::with_capacity(size + 128);
    let mut line = 0u64;
    while out.len() < size {
        let value = rng.next();
        out.push_str(&format!(
            "2026-11-21T04:{:02}:{:02}.{:03}Z {} worker-{} {} {} id={:016x} ms={}\n",
            (line / 60) % 60,
            line % 60,
            value % 1000,
            LEVELS[(value % 4) as usize],
            value % 16,
            WORDS[((value >> 8) % 8) as usize],
            WORDS[((value >> 16) % 8) as usize],
            value,
            (value >> 32) % 5000,
        ));
        line += 1;
    }
    out.truncate(size);
    out
}

#[derive(Debug, serde::Serialize)]
struct PhaseResult {
    phase: &'static str,
    requests: u64,
    errors: u64,
    seconds: f64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Server CPU time per request, when the harness started the server.
    server_cpu_us: Option<f64>,
}

fn per_request_us(before: Option<f64>, after: Option<f64>, requests: u64) -> Option<f64> {
    Some((after? - before?) * 1e6 / requests.max(1) as f64)
}

fn percentile(sorted_micros: &[u32], fraction: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let index = ((sorted_micros.len() as f64 - 1.0) * fraction).round() as usize;
    f64::from(sorted_micros[index]) / 1000.0
}

/// Prints `done/total` on one line of a terminal while a phase runs.
fn spawn_progress(
    phase: &'static str,
    done: Arc<AtomicU64>,
    total: u64,
) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            let count = done.load(Ordering::Relaxed);
            let filled = (count * 30 / total.max(1)) as usize;
            eprint!(
                "\r{phase:>4} [{}{}] {count}/{total}",
                "#".repeat(filled),
                " ".repeat(30 - filled)
            );
            let _ = std::io::stderr().flush();
            if count >= total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }))
}

/// Runs `total` requests from `clients` concurrent tasks; `request(i)` makes
/// the i-th one and says whether it succeeded.
async fn run_phase<F, Fut>(
    phase: &'static str,
    clients: usize,
    total: u64,
    max: Duration,
    request: F,
) -> PhaseResult
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let progress = spawn_progress(phase, done.clone(), total);
    let started = Instant::now();
    let deadline = started + max;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (request, next, done, errors) =
            (request.clone(), next.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total || Instant::now() > deadline {
                    break;
                }
                let sent = Instant::now();
                if !request(index).await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                done.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(total, Ordering::Relaxed);
    if let Some(progress) = progress {
        let _ = progress.await;
        eprintln!();
    }
    latencies.sort_unstable();
    PhaseResult {
        phase,
        requests: latencies.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        seconds,
        per_second: latencies.len() as f64 / seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: percentile(&latencies, 1.0),
        server_cpu_us: None,
    }
}

/// What was left to render when the puts ended, and how long it took.
struct Drain {
    pending: u64,
    seconds: f64,
}

/// Waits until the server has no view pending (`views_pending` in
/// `/v1/stats`), at most `max`.
async fn drain_views(http: &reqwest::Client, url: &str, max: Duration) -> anyhow::Result<Drain> {
    let started = Instant::now();
    let mut first = None;
    loop {
        let body = http
            .get(format!("{url}/v1/stats"))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let stats: serde_json::Value = serde_json::from_slice(&body)?;
        let pending = stats["views_pending"].as_u64().unwrap_or(0);
        let first = *first.get_or_insert(pending);
        if pending == 0 || started.elapsed() > max {
            return Ok(Drain {
                pending: first,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        // Seldom: the stats are aggregates over every stored version.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How many hits `/v1/search` finds for `query`.
async fn search_total(http: &reqwest::Client, url: &str, query: &str) -> anyhow::Result<u64> {
    let body = http
        .get(format!("{url}/v1/search"))
        .query(&[("q", query), ("limit", "1")])
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let found: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(found["total"].as_u64().unwrap_or(0))
}

/// Waits until the search index has caught up with the puts: until the
/// phrase the last put ends with (`put <index>`) is found, at most `max`.
/// Returns the seconds waited. The GETs that follow then measure reads, not
/// reads beside an indexer still working through the puts.
async fn drain_index(
    http: &reqwest::Client,
    url: &str,
    last: u64,
    max: Duration,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    loop {
        if search_total(http, url, &format!("\"put {last}\"")).await? > 0 || started.elapsed() > max
        {
            return Ok(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn http(args: HttpArgs) -> anyhow::Result<()> {
    let binary = server_binary(args.server.as_ref())?;
    let server = match &args.url {
        Some(_) => None,
        None => Some(ServerProcess::start(&binary).await?),
    };
    let url = match (&args.url, &server) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(server)) => server.url.clone(),
        (None, None) => unreachable!("a server was started when no URL was given"),
    };
    let http = http_client(args.clients)?;
    let max = Duration::from_secs(args.max_seconds);

    let payloads: Arc<Vec<String>> = Arc::new(
        (0..args.puts.min(20_000))
            .map(|seed| payload(seed, args.payload_bytes))
            .collect(),
    );
    let cpu = |server: &Option<ServerProcess>| server.as_ref().and_then(ServerProcess::cpu_seconds);
    let cpu_before_put = cpu(&server);
    let mut put = {
        let (http, url, payloads) = (http.clone(), url.clone(), payloads.clone());
        run_phase("PUT", args.clients, args.puts, max, move |index| {
            let (http, url) = (http.clone(), url.clone());
            // Distinct bytes for every put: the payload pool plus the index.
            let mut body = payloads[(index % payloads.len() as u64) as usize].clone();
            body.push_str(&format!("\nput {index}\n"));
            async move {
                http.put(format!("{url}/v1/contexts/bench/{index}"))
                    .header("x-cairn-agent", "bench")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success())
            }
        })
        .await
    };
    put.server_cpu_us = per_request_us(cpu_before_put, cpu(&server), put.requests);
    // Views a busy server left pending render in the background: wait for
    // them, so their CPU counts against the puts and the GETs read stored views.
    let drain = drain_views(&http, &url, max).await?;
    let indexed_after = drain_index(&http, &url, put.requests.saturating_sub(1), max).await?;
    let cpu_after_put = cpu(&server);
    let put_cpu_with_views = per_request_us(cpu_before_put, cpu_after_put, put.requests);
    let stored = args.get_keys.unwrap_or(u64::MAX).min(put.requests).max(1);
    let mut get = {
        let (http, url) = (http.clone(), url.clone());
        run_phase("GET", args.clients, args.gets, max, move |index| {
            let (http, url) = (http.clone(), url.clone());
            let key = index.wrapping_mul(2_654_435_761) % stored;
            async move {
                match http
                    .get(format!("{url}/v1/contexts/bench/{key}"))
                    .send()
                    .await
                {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.is_ok()
                    }
                    _ => false,
                }
            }
        })
        .await
    };
    get.server_cpu_us = per_request_us(cpu_after_put, cpu(&server), get.requests);
    let rss_kib = server.as_ref().and_then(ServerProcess::rss_kib);
    let results = [put, get];
    let redis = redis_reference(&args);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "clients": args.clients,
                "payload_bytes": args.payload_bytes,
                "get_keys": stored,
                "server_rss_kib": rss_kib,
                "views_pending_after_puts": drain.pending,
                "views_drained_seconds": drain.seconds,
                "index_caught_up_seconds": indexed_after,
                "put_server_cpu_us_with_views": put_cpu_with_views,
                "phases": results,
                "redis": redis.map(|(set, get)| serde_json::json!({"set": set, "get": get})),
            }))?
        );
        return Ok(());
    }
    println!(
        "{} clients, {} byte payloads, GETs over {} keys, server RSS after the run: {} MiB\n",
        args.clients,
        args.payload_bytes,
        stored,
        rss_kib.map_or("?".to_owned(), |kib| format!("{:.0}", kib as f64 / 1024.0))
    );
    println!(
        "| phase | requests | errors | seconds | per second | p50 ms | p99 ms | max ms | server CPU µs/request |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for result in &results {
        println!(
            "| {} | {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            result.phase,
            result.requests,
            result.errors,
            result.seconds,
            result.per_second,
            result.p50_ms,
            result.p99_ms,
            result.max_ms,
            result
                .server_cpu_us
                .map_or("?".to_owned(), |us| format!("{us:.0}")),
        );
    }
    println!(
        "\nViews pending when the last PUT was acknowledged: {} (rendered in the background \
         {:.1} s later; the search index caught up {:.1} s after that); server CPU per PUT with \
         its view rendered and indexed: {} µs.",
        drain.pending,
        drain.seconds,
        indexed_after,
        put_cpu_with_views.map_or("?".to_owned(), |us| format!("{us:.0}"))
    );
    if let Some((set, get)) = redis {
        println!(
            "\nThe same load through `redis-benchmark` on this machine in the same run (the \
             ceiling of a loopback key-value round trip: Redis neither keeps the data durable \
             nor compresses it):\n"
        );
        println!("| | Cairn per second (p99 ms) | Redis per second (p99 ms) | Cairn / Redis |");
        println!("|---|---:|---:|---:|");
        for (name, cairn, redis) in [("PUT / SET", &results[0], set), ("GET", &results[1], get)] {
            println!(
                "| {name} | {:.0} ({:.2}) | {:.0} ({:.2}) | {:.1}% |",
                cairn.per_second,
                cairn.p99_ms,
                redis.per_second,
                redis.p99_ms,
                100.0 * cairn.per_second / redis.per_second.max(f64::MIN_POSITIVE)
            );
        }
    }
    Ok(())
}
