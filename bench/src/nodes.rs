//! `cairn-bench nodes`: 1, 2 and 3 `cairn serve` nodes on one PostgreSQL
//! database (SPEC §6), with the clients spread over them. For each node
//! count: puts and gets per second; with two nodes or more, how long a put
//! on one node takes to be read (at once) and found by search on another;
//! last, one node is killed with `kill -9` in the middle of a write load:
//! the clients of the other nodes must see no error, and every put any node
//! acknowledged must be readable afterwards.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use tokio::sync::Mutex;

use crate::{PhaseResult, ServerProcess, payload, percentile, run_phase, search_total};

#[derive(Debug, Args)]
pub(crate) struct NodesArgs {
    /// The PostgreSQL database the nodes share (`postgres://…`); it should
    /// be empty: every round writes keys of its own into it.
    #[arg(long, value_name = "URL")]
    database: String,
    /// The `cairn` binary [default: `cairn` beside this binary].
    #[arg(long)]
    server: Option<PathBuf>,
    /// The largest node count; every count from 1 up to it is measured.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=8), default_value_t = 3)]
    nodes: u64,
    /// Concurrent clients in all, spread evenly over the nodes.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Puts per node count.
    #[arg(long, default_value_t = 5000)]
    puts: u64,
    /// Gets per node count, uniform over that round's keys.
    #[arg(long, default_value_t = 20000)]
    gets: u64,
    /// Size of each put in bytes.
    #[arg(long, default_value_t = 10 * 1024)]
    payload_bytes: usize,
    /// Puts on one node timed to their read and search hit on another.
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// Stop any phase after this many seconds.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
}

/// One node count's figures.
#[derive(Debug, serde::Serialize)]
struct Round {
    nodes: u64,
    put: PhaseResult,
    get: PhaseResult,
    /// Puts whose first GET on another node, sent at once, did not find them.
    stale_reads: Option<usize>,
    /// Put on one node to its first search hit on another, in ms.
    search_p50_ms: Option<f64>,
    search_p99_ms: Option<f64>,
    /// How long the reading node's index took to catch up with everything
    /// in the database before the samples (it started empty).
    index_catch_up_s: Option<f64>,
}

/// The kill -9 round.
#[derive(Debug, serde::Serialize)]
struct Kill {
    nodes: u64,
    acknowledged: usize,
    /// Errors of the killed node's clients (expected once it is gone).
    errors_on_killed: u64,
    /// Errors of the other nodes' clients (must be none).
    errors_on_others: u64,
    /// Acknowledged puts not readable afterwards (must be none).
    lost: usize,
}

pub(crate) async fn nodes(args: &NodesArgs) -> anyhow::Result<()> {
    let binary = crate::server_binary(args.server.as_ref())?;
    let http = crate::http_client(args.clients)?;
    let mut rounds = Vec::new();
    for count in 1..=args.nodes {
        let nodes = start_nodes(&binary, &args.database, count).await?;
        rounds.push(round(args, &http, &nodes, count).await?);
    }
    let kill = if args.nodes >= 2 {
        let nodes = start_nodes(&binary, &args.database, args.nodes).await?;
        Some(kill_one(args, &http, nodes).await?)
    } else {
        None
    };
    print_table(args, &rounds, kill.as_ref());
    if let Some(kill) = &kill
        && (kill.errors_on_others > 0 || kill.lost > 0)
    {
        bail!(
            "killing a node cost the others {} errors and lost {} acknowledged puts",
            kill.errors_on_others,
            kill.lost
        );
    }
    Ok(())
}

async fn start_nodes(
    binary: &PathBuf,
    database: &str,
    count: u64,
) -> anyhow::Result<Vec<ServerProcess>> {
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(
            ServerProcess::start_on(binary, Some(database))
                .await
                .context("starting a node")?,
        );
    }
    Ok(nodes)
}

/// The URL of the node client `index` uses: clients round-robin over nodes.
fn node_of(urls: &[String], client_index: u64) -> &str {
    &urls[(client_index % urls.len() as u64) as usize]
}

async fn round(
    args: &NodesArgs,
    http: &reqwest::Client,
    nodes: &[ServerProcess],
    count: u64,
) -> anyhow::Result<Round> {
    let urls: Arc<Vec<String>> = Arc::new(nodes.iter().map(|node| node.url.clone()).collect());
    let max = Duration::from_secs(args.max_seconds);
    let size = args.payload_bytes;
    // A fresh prefix per round: the database is shared by every round.
    let prefix = format!("nodes{count}-{}", std::process::id());
    let put = {
        let (http, urls, prefix) = (http.clone(), urls.clone(), prefix.clone());
        run_phase("PUT", args.clients, args.puts, max, move |index| {
            let url = format!("{}/v1/contexts/{prefix}/{index}", node_of(&urls, index));
            let http = http.clone();
            let mut body = payload(index, size);
            body.push_str(&format!("put {index}\n"));
            async move {
                http.put(url)
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success())
            }
        })
        .await
    };
    let stored = put.requests.max(1);
    let get = {
        let (http, urls, prefix) = (http.clone(), urls.clone(), prefix.clone());
        run_phase("GET", args.clients, args.gets, max, move |index| {
            let key = index.wrapping_mul(2_654_435_761) % stored;
            let url = format!("{}/v1/contexts/{prefix}/{key}", node_of(&urls, index));
            let http = http.clone();
            async move {
                match http.get(url).send().await {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.is_ok()
                    }
                    _ => false,
                }
            }
        })
        .await
    };
    let (mut stale_reads, mut search_p50_ms, mut search_p99_ms) = (None, None, None);
    let mut index_catch_up_s = None;
    if count >= 2 {
        let measured = across(args, http, &urls[0], &urls[1], &prefix).await?;
        stale_reads = Some(measured.stale);
        search_p50_ms = Some(percentile(&measured.hits, 0.50));
        search_p99_ms = Some(percentile(&measured.hits, 0.99));
        index_catch_up_s = Some(measured.catch_up.as_secs_f64());
    }
    Ok(Round {
        nodes: count,
        put,
        get,
        stale_reads,
        search_p50_ms,
        search_p99_ms,
        index_catch_up_s,
    })
}

/// What [`across`] measured.
struct Across {
    /// Puts whose immediate read on the other node missed.
    stale: usize,
    /// Put-to-hit times, µs, sorted.
    hits: Vec<u32>,
    /// How long the reader's index took to catch up with the puts before.
    catch_up: Duration,
}

/// Puts on `writer`, each read at once on `reader` and then searched there
/// until found. First, the reader's index catches up with the round's puts
/// (a new node indexes everything already in the database).
async fn across(
    args: &NodesArgs,
    http: &reqwest::Client,
    writer: &str,
    reader: &str,
    prefix: &str,
) -> anyhow::Result<Across> {
    let started = Instant::now();
    let max = Duration::from_secs(args.max_seconds);
    put_and_find(
        http,
        writer,
        reader,
        &format!("{prefix}/across/warm"),
        "warm",
        max,
    )
    .await?;
    let catch_up = started.elapsed();
    let mut stale = 0;
    let mut hits = Vec::new();
    for sample in 0..args.samples {
        let key = format!("{prefix}/across/{sample}");
        let (read_at_once, took) =
            put_and_find(http, writer, reader, &key, &sample.to_string(), max).await?;
        if !read_at_once {
            stale += 1;
        }
        hits.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }
    hits.sort_unstable();
    Ok(Across {
        stale,
        hits,
        catch_up,
    })
}

/// Puts a unique word under `key` on `writer`, reads it at once on `reader`
/// and searches there until it is found: whether the read found it, and the
/// time from the put to the hit.
async fn put_and_find(
    http: &reqwest::Client,
    writer: &str,
    reader: &str,
    key: &str,
    tag: &str,
    within: Duration,
) -> anyhow::Result<(bool, Duration)> {
    let word = format!("zq{}x{tag}marker", std::process::id());
    let started = Instant::now();
    http.put(format!("{writer}/v1/contexts/{key}"))
        .body(format!("the {word} of sample {tag}\n"))
        .send()
        .await?
        .error_for_status()?;
    let read_at_once = http
        .get(format!("{reader}/v1/contexts/{key}?view=full"))
        .send()
        .await?
        .status()
        .is_success();
    loop {
        if search_total(http, reader, &word).await? > 0 {
            return Ok((read_at_once, started.elapsed()));
        }
        if started.elapsed() > within {
            bail!("a put on one node was not found on another within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Writes through every node, kills the first one a third of the way in,
/// then reads every acknowledged put back through the last.
async fn kill_one(
    args: &NodesArgs,
    http: &reqwest::Client,
    mut nodes: Vec<ServerProcess>,
) -> anyhow::Result<Kill> {
    let count = nodes.len() as u64;
    let urls: Arc<Vec<String>> = Arc::new(nodes.iter().map(|node| node.url.clone()).collect());
    let prefix = format!("kill-{}", std::process::id());
    let acknowledged = Arc::new(Mutex::new(Vec::<u64>::new()));
    let errors = Arc::new(Mutex::new((0u64, 0u64)));
    let load = {
        let (http, urls, prefix) = (http.clone(), urls.clone(), prefix.clone());
        let (acknowledged, errors) = (acknowledged.clone(), errors.clone());
        let size = args.payload_bytes;
        tokio::spawn(run_phase(
            "PUT",
            args.clients,
            args.puts,
            Duration::from_secs(args.max_seconds),
            move |index| {
                let on_first = index % urls.len() as u64 == 0;
                let url = format!("{}/v1/contexts/{prefix}/{index}", node_of(&urls, index));
                let (http, acknowledged, errors) =
                    (http.clone(), acknowledged.clone(), errors.clone());
                let body = payload(index, size);
                async move {
                    let ok = http
                        .put(url)
                        .body(body)
                        .send()
                        .await
                        .is_ok_and(|response| response.status().is_success());
                    if ok {
                        acknowledged.lock().await.push(index);
                    } else {
                        let mut errors = errors.lock().await;
                        if on_first {
                            errors.0 += 1;
                        } else {
                            errors.1 += 1;
                        }
                    }
                    ok
                }
            },
        ))
    };
    // A third of the puts, then the first node goes.
    while acknowledged.lock().await.len() < (args.puts / 3) as usize && !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes[0].child.start_kill()?;
    load.await?;
    let survivor = urls[urls.len() - 1].clone();
    let acknowledged = acknowledged.lock().await.clone();
    let mut lost = 0;
    for index in &acknowledged {
        let response = http
            .get(format!("{survivor}/v1/contexts/{prefix}/{index}?view=full"))
            .send()
            .await?;
        if !response.status().is_success() {
            lost += 1;
        }
    }
    let (errors_on_killed, errors_on_others) = *errors.lock().await;
    Ok(Kill {
        nodes: count,
        acknowledged: acknowledged.len(),
        errors_on_killed,
        errors_on_others,
        lost,
    })
}

fn print_table(args: &NodesArgs, rounds: &[Round], kill: Option<&Kill>) {
    println!(
        "{} clients spread over the nodes, {} byte payloads, {} puts and {} gets per node count, \
         one PostgreSQL database\n",
        args.clients, args.payload_bytes, args.puts, args.gets
    );
    println!(
        "| nodes | PUT/s (p99 ms) | GET/s (p99 ms) | errors | put → GET on another node | \
         put → search hit on another node p50 / p99 ms | new node's index caught up |"
    );
    println!("|---:|---:|---:|---:|---|---:|---:|");
    for round in rounds {
        let read = round.stale_reads.map_or("–".to_owned(), |stale| {
            format!("{} of {} at once", args.samples - stale, args.samples)
        });
        let search = match (round.search_p50_ms, round.search_p99_ms) {
            (Some(p50), Some(p99)) => format!("{p50:.0} / {p99:.0}"),
            _ => "–".to_owned(),
        };
        let catch_up = round
            .index_catch_up_s
            .map_or("–".to_owned(), |seconds| format!("{seconds:.1} s"));
        println!(
            "| {} | {:.0} ({:.1}) | {:.0} ({:.1}) | {} | {read} | {search} | {catch_up} |",
            round.nodes,
            round.put.per_second,
            round.put.p99_ms,
            round.get.per_second,
            round.get.p99_ms,
            round.put.errors + round.get.errors,
        );
    }
    if let Some(kill) = kill {
        println!(
            "\n`kill -9` of one of {} nodes a third of the way through {} puts: {} acknowledged, \
             {} lost; {} errors on the killed node's clients, {} on the others'.",
            kill.nodes,
            args.puts,
            kill.acknowledged,
            kill.lost,
            kill.errors_on_killed,
            kill.errors_on_others
        );
    }
}
