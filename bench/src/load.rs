//! The reliability harness: `load` (many writers on overlapping keys, then
//! every acknowledged version read back and the version numbers checked for
//! gaps and duplicates) and `soak` (a steady rate of puts and reads for
//! minutes, sampling throughput, latency and the server's RSS). Both drive a
//! release `cairn serve` child process over loopback and are bounded in
//! count and time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use tokio::sync::Mutex;

use crate::{Rng, ServerProcess, payload};

#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// The `cairn` binary [default: `cairn` beside this binary].
    #[arg(long)]
    server: Option<PathBuf>,
    /// Concurrent writers.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), default_value_t = 16)]
    writers: u64,
    /// Puts per writer.
    #[arg(long, default_value_t = 1000)]
    puts: u64,
    /// Keys the writers share (fewer keys: more writers on each).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), default_value_t = 50)]
    keys: u64,
    /// Size of each put in bytes.
    #[arg(long, default_value_t = 2048)]
    payload_bytes: usize,
    /// Run the server on this PostgreSQL database (`postgres://…`, empty)
    /// instead of SQLite in a temporary data directory.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
}

/// What one writer saw acknowledged: (key, version, writer, put).
type Acks = Vec<(u64, i64, u64, u64)>;

fn load_content(writer: u64, put: u64, size: usize) -> String {
    let mut content = format!("writer {writer} put {put}\n");
    content.push_str(&payload(writer * 1_000_003 + put, size));
    content
}

pub(crate) async fn load(args: &LoadArgs) -> anyhow::Result<()> {
    let server = ServerProcess::start_on(&binary(&args.server)?, args.database.as_deref()).await?;
    let url = server.url.clone();
    let http = crate::http_client(args.writers as usize)?;
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..args.writers {
        let (http, url, errors) = (http.clone(), url.clone(), errors.clone());
        let (puts, keys, size) = (args.puts, args.keys, args.payload_bytes);
        writers.push(tokio::spawn(async move {
            let mut rng = Rng(writer.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut acks: Acks = Vec::new();
            let mut latencies = Vec::new();
            for put in 0..puts {
                let key = rng.below(keys);
                let sent = Instant::now();
                let response = http
                    .put(format!("{url}/v1/contexts/load/{key}"))
                    .body(load_content(writer, put, size))
                    .send()
                    .await;
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                let outcome = match response {
                    Ok(response) if response.status().is_success() => {
                        let bytes = response.bytes().await.unwrap_or_default();
                        let body: serde_json::Value =
                            serde_json::from_slice(&bytes).unwrap_or_default();
                        body["version"]
                            .as_i64()
                            .ok_or_else(|| format!("no version in {body}"))
                    }
                    Ok(response) => Err(format!("HTTP {}", response.status())),
                    Err(error) => Err(error.to_string()),
                };
                match outcome {
                    Ok(version) => acks.push((key, version, writer, put)),
                    Err(error) => errors.lock().await.push(error),
                }
            }
            (acks, latencies)
        }));
    }
    let mut acks = Vec::new();
    let mut latencies = Vec::new();
    for writer in writers {
        let (writer_acks, writer_latencies) = writer.await?;
        acks.extend(writer_acks);
        latencies.extend(writer_latencies);
    }
    let seconds = started.elapsed().as_secs_f64();
    let write_errors = errors.lock().await.clone();

    // Version numbers per key: exactly 1..=n, each acknowledged once.
    let mut by_key: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for (key, version, _, _) in &acks {
        by_key.entry(*key).or_default().push(*version);
    }
    let mut duplicates = 0u64;
    let mut gaps = 0u64;
    for versions in by_key.values_mut() {
        versions.sort_unstable();
        let before = versions.len();
        versions.dedup();
        duplicates += (before - versions.len()) as u64;
        gaps += versions
            .iter()
            .enumerate()
            .filter(|(index, version)| **version != *index as i64 + 1)
            .count() as u64;
    }

    // Every acknowledged version reads back as exactly what was put: as many
    // concurrent readers as there were writers, timed like the puts.
    let acks = Arc::new(acks);
    let started = Instant::now();
    let mut readers = Vec::new();
    for reader in 0..args.writers {
        let (http, url, acks) = (http.clone(), url.clone(), acks.clone());
        let (step, size) = (args.writers as usize, args.payload_bytes);
        readers.push(tokio::spawn(async move {
            let mut lost = Vec::new();
            let mut latencies = Vec::new();
            for (key, version, writer, put) in acks.iter().skip(reader as usize).step_by(step) {
                let sent = Instant::now();
                let response = http
                    .get(format!(
                        "{url}/v1/contexts/load/{key}?view=full&version={version}"
                    ))
                    .header("accept", "application/octet-stream")
                    .send()
                    .await;
                let expected = load_content(*writer, *put, size);
                let ok = match response {
                    Ok(response) if response.status().is_success() => response
                        .bytes()
                        .await
                        .is_ok_and(|body| body == expected.as_bytes()),
                    _ => false,
                };
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                if !ok {
                    lost.push(format!("load/{key} version {version}"));
                }
            }
            (lost, latencies)
        }));
    }
    let mut lost = Vec::new();
    let mut read_latencies = Vec::new();
    for reader in readers {
        let (reader_lost, reader_latencies) = reader.await?;
        lost.extend(reader_lost);
        read_latencies.extend(reader_latencies);
    }
    let read_seconds = started.elapsed().as_secs_f64();
    let percentile = |latencies: &mut Vec<f64>, p: f64| {
        latencies.sort_by(f64::total_cmp);
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "| backend | writers × puts | keys | acknowledged | errors | lost | duplicate versions | version gaps | puts/s | put p50 ms | put p99 ms | gets/s | get p50 ms | get p99 ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} × {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |",
        if args.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        args.writers,
        args.puts,
        args.keys,
        acks.len(),
        write_errors.len(),
        lost.len(),
        duplicates,
        gaps,
        acks.len() as f64 / seconds,
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
        read_latencies.len() as f64 / read_seconds,
        percentile(&mut read_latencies, 0.5),
        percentile(&mut read_latencies, 0.99),
    );
    if !write_errors.is_empty() || !lost.is_empty() || duplicates > 0 || gaps > 0 {
        bail!(
            "load failed: errors {:?}, lost {:?}",
            write_errors.iter().take(5).collect::<Vec<_>>(),
            lost.iter().take(5).collect::<Vec<_>>()
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// The `cairn` binary [default: `cairn` beside this binary].
    #[arg(long)]
    server: Option<PathBuf>,
    /// How long to run, in minutes (more than 0, at most a week).
    #[arg(long, value_parser = minutes, default_value_t = 10.0)]
    minutes: f64,
    /// Puts per second (each with distinct content).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), default_value_t = 100)]
    puts_per_second: u64,
    /// Reads per put (views of keys already written).
    #[arg(long, default_value_t = 4)]
    reads_per_put: u64,
    /// Keys the puts rotate over.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), default_value_t = 2000)]
    keys: u64,
    /// Seconds between samples.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), default_value_t = 60)]
    sample_seconds: u64,
    /// Size of each put in bytes.
    #[arg(long, default_value_t = 4096)]
    payload_bytes: usize,
}

fn minutes(text: &str) -> Result<f64, String> {
    let minutes: f64 = text.parse().map_err(|error| format!("{error}"))?;
    if minutes.is_finite() && minutes > 0.0 && minutes <= 7.0 * 24.0 * 60.0 {
        Ok(minutes)
    } else {
        Err("must be more than 0 and at most a week (10080)".to_owned())
    }
}

#[derive(Debug, Default)]
struct Window {
    done: u64,
    errors: u64,
    /// What the first failure of the window was (a status or a transport error).
    first_error: Option<String>,
    latencies: Vec<f64>,
}

pub(crate) async fn soak(args: &SoakArgs) -> anyhow::Result<()> {
    let server = ServerProcess::start(&binary(&args.server)?).await?;
    let url = server.url.clone();
    let http = crate::http_client(64)?;
    let window = Arc::new(Mutex::new(Window::default()));
    // Keys with an acknowledged put: only those are read (a read racing the
    // first put of its key would be a 404 of the harness's making).
    let written: Arc<Vec<std::sync::atomic::AtomicBool>> = Arc::new(
        (0..args.keys)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect(),
    );
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    // Both at least 1: their parsers say so.
    let sample = Duration::from_secs(args.sample_seconds);
    let tick = Duration::from_secs_f64(1.0 / args.puts_per_second as f64);
    let started = Instant::now();
    let mut next_sample = started + sample;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut rows = Vec::new();
    let mut put = 0u64;
    let mut skipped = 0u64;
    println!(
        "| minute | ops/s | errors | p50 ms | p99 ms | server RSS MiB | of it anonymous MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    while started.elapsed() < total {
        ticker.tick().await;
        // One put and its reads, unless the server is so far behind that
        // every slot is taken (counted, not queued without bound).
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let (http, url, task_window, written) =
            (http.clone(), url.clone(), window.clone(), written.clone());
        let (key, reads, size, keys) = (
            put % args.keys,
            args.reads_per_put,
            args.payload_bytes,
            args.keys,
        );
        let seed = put;
        put += 1;
        tokio::spawn(async move {
            let _permit = permit;
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let record = |outcome: Result<reqwest::Response, reqwest::Error>,
                          started: Instant,
                          window: &mut Window| {
                window.done += 1;
                window.latencies.push(started.elapsed().as_secs_f64() * 1e3);
                let failure = match outcome {
                    Ok(response) if response.status().is_success() => return true,
                    Ok(response) => response.status().to_string(),
                    Err(error) => error.to_string(),
                };
                window.errors += 1;
                window.first_error.get_or_insert(failure);
                false
            };
            let sent = Instant::now();
            let outcome = http
                .put(format!("{url}/v1/contexts/soak/{key}"))
                .body(payload(seed, size))
                .send()
                .await;
            if record(outcome, sent, &mut *task_window.lock().await) {
                written[key as usize].store(true, std::sync::atomic::Ordering::Release);
            }
            for _ in 0..reads {
                let read_key = rng.below(seed.clamp(1, keys));
                if !written[read_key as usize].load(std::sync::atomic::Ordering::Acquire) {
                    continue;
                }
                let sent = Instant::now();
                let outcome = http
                    .get(format!("{url}/v1/contexts/soak/{read_key}"))
                    .send()
                    .await;
                record(outcome, sent, &mut *task_window.lock().await);
            }
        });
        if Instant::now() >= next_sample {
            let mut taken = std::mem::take(&mut *window.lock().await);
            taken.latencies.sort_by(f64::total_cmp);
            let percentile = |p: f64| {
                taken
                    .latencies
                    .get(
                        ((taken.latencies.len() as f64 * p) as usize)
                            .min(taken.latencies.len().saturating_sub(1)),
                    )
                    .copied()
                    .unwrap_or(0.0)
            };
            let row = SoakRow {
                minute: started.elapsed().as_secs_f64() / 60.0,
                ops_per_second: taken.done as f64 / sample.as_secs_f64(),
                errors: taken.errors,
                rss_mib: server.rss_kib().unwrap_or(0) as f64 / 1024.0,
                anon_mib: server.rss_anon_kib().unwrap_or(0) as f64 / 1024.0,
            };
            println!(
                "| {:.1} | {:.0} | {} | {:.2} | {:.2} | {:.1} | {:.1} |",
                row.minute,
                row.ops_per_second,
                row.errors,
                percentile(0.5),
                percentile(0.99),
                row.rss_mib,
                row.anon_mib
            );
            if let Some(failure) = taken.first_error {
                eprintln!("minute {:.1}: first failure {failure}", row.minute);
            }
            rows.push(row);
            next_sample += sample;
        }
    }
    let errors: u64 = rows.iter().map(|row| row.errors).sum();
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let peak = rows.iter().map(|row| row.rss_mib).fold(0.0, f64::max);
        // The trend over the second half (after the caches filled): flat is a
        // slope near zero. Anonymous memory is the heap; the rest of RSS is
        // mapped files, which grow with the index the soak keeps writing.
        let half = &rows[rows.len() / 2..];
        println!(
            "\nthroughput {:.0} → {:.0} ops/s; RSS {:.1} → {:.1} MiB (peak {:.1}), second half {:+.2} MiB/minute; \
             anonymous {:.1} → {:.1} MiB, second half {:+.2} MiB/minute; {errors} errors; {skipped} ticks skipped (all 64 slots busy)",
            first.ops_per_second,
            last.ops_per_second,
            first.rss_mib,
            last.rss_mib,
            peak,
            slope(half, |row| row.rss_mib),
            first.anon_mib,
            last.anon_mib,
            slope(half, |row| row.anon_mib),
        );
    }
    if errors > 0 {
        bail!("{errors} requests failed during the soak");
    }
    Ok(())
}

/// One sample of the soak.
#[derive(Debug)]
struct SoakRow {
    minute: f64,
    ops_per_second: f64,
    errors: u64,
    rss_mib: f64,
    anon_mib: f64,
}

/// The least-squares slope of `value` against the minute, in MiB a minute.
fn slope(rows: &[SoakRow], value: impl Fn(&SoakRow) -> f64) -> f64 {
    let n = rows.len() as f64;
    let mean_t = rows.iter().map(|row| row.minute).sum::<f64>() / n;
    let mean_v = rows.iter().map(&value).sum::<f64>() / n;
    let spread: f64 = rows.iter().map(|row| (row.minute - mean_t).powi(2)).sum();
    if spread > 0.0 {
        rows.iter()
            .map(|row| (row.minute - mean_t) * (value(row) - mean_v))
            .sum::<f64>()
            / spread
    } else {
        0.0
    }
}

fn binary(server: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    crate::server_binary(server.as_ref())
}

#[derive(Debug, Args)]
pub(crate) struct MemoryArgs {
    /// The `cairn` binary [default: `cairn` beside this binary].
    #[arg(long)]
    server: Option<PathBuf>,
    /// Contexts to store (distinct keys, distinct content).
    #[arg(long, default_value_t = 100_000)]
    contexts: u64,
    /// Size of each context in bytes.
    #[arg(long, default_value_t = 4096)]
    payload_bytes: usize,
    /// Views read after the puts (random keys).
    #[arg(long, default_value_t = 20_000)]
    reads: u64,
    /// Concurrent clients.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), default_value_t = 16)]
    clients: u64,
    /// Seconds to sample the idle server after the reads (a row every 10 s):
    /// the indexer catches up meanwhile (about 40 s at 100,000 contexts).
    #[arg(long, default_value_t = 90)]
    idle_seconds: u64,
}

/// The server's memory with many contexts stored (SPEC §8: 100,000 contexts,
/// ML off, at most 200 MB RSS): RSS after the puts, after reading views, and
/// after the server settled (indexer caught up, idle).
pub(crate) async fn memory(args: &MemoryArgs) -> anyhow::Result<()> {
    let server = ServerProcess::start(&binary(&args.server)?).await?;
    let http = crate::http_client(args.clients as usize)?;
    let rss = |server: &ServerProcess| {
        format!(
            "{:.1} | {:.1} | {:.1} | {}",
            server.rss_kib().unwrap_or(0) as f64 / 1024.0,
            server.rss_anon_kib().unwrap_or(0) as f64 / 1024.0,
            server.peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
            server.threads().unwrap_or(0)
        )
    };
    println!(
        "| stage | contexts | seconds | server RSS MiB | of which anonymous MiB | peak RSS MiB | threads |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!("| started | 0 | 0 | {} |", rss(&server));
    let started = Instant::now();
    // VmHWM says how high the RSS went, not what it was made of: sample the
    // anonymous and file-backed parts often enough to catch their peaks.
    let peaks = Arc::new(std::sync::Mutex::new(Peaks::default()));
    let _sampler = server
        .pid()
        .map(|pid| {
            let peaks = peaks.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(100));
                loop {
                    every.tick().await;
                    let (Some(anon), Some(file)) = (
                        crate::status_number(pid, "RssAnon:"),
                        crate::status_number(pid, "RssFile:"),
                    ) else {
                        continue;
                    };
                    let at = started.elapsed().as_secs_f64();
                    let mut peaks = peaks.lock().expect("the sampler does not panic");
                    if anon > peaks.anon_kib {
                        (peaks.anon_kib, peaks.anon_file_kib, peaks.anon_at) = (anon, file, at);
                    }
                    peaks.file_kib = peaks.file_kib.max(file);
                }
            })
            .abort_handle()
        })
        .map(AbortOnDrop);
    let failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let run = |reading: bool| {
        let mut clients = Vec::new();
        for client in 0..args.clients {
            let (http, url, failures) = (http.clone(), server.url.clone(), failures.clone());
            let (contexts, size, reads, stride) =
                (args.contexts, args.payload_bytes, args.reads, args.clients);
            clients.push(tokio::spawn(async move {
                let mut rng = Rng(client.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
                let count = if reading { reads / stride } else { contexts };
                let mut i = if reading { 0 } else { client };
                while i < count {
                    let request = if reading {
                        http.get(format!("{url}/v1/contexts/mem/{}", rng.below(contexts)))
                    } else {
                        http.put(format!("{url}/v1/contexts/mem/{i}"))
                            .body(payload(i, size))
                    };
                    let ok = request
                        .send()
                        .await
                        .is_ok_and(|response| response.status().is_success());
                    if !ok {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    i += if reading { 1 } else { stride };
                }
            }));
        }
        clients
    };
    for client in run(false) {
        client.await?;
    }
    println!(
        "| puts done | {} | {:.0} | {} |",
        args.contexts,
        started.elapsed().as_secs_f64(),
        rss(&server)
    );
    for client in run(true) {
        client.await?;
    }
    println!(
        "| {} views read | {} | {:.0} | {} |",
        args.reads,
        args.contexts,
        started.elapsed().as_secs_f64(),
        rss(&server)
    );
    let mut idle = 0;
    while idle < args.idle_seconds {
        let step = (args.idle_seconds - idle).min(10);
        tokio::time::sleep(Duration::from_secs(step)).await;
        idle += step;
        println!(
            "| idle {idle} s | {} | {:.0} | {} |",
            args.contexts,
            started.elapsed().as_secs_f64(),
            rss(&server)
        );
    }
    let peaks = peaks.lock().expect("the sampler does not panic");
    if peaks.anon_kib > 0 {
        println!(
            "\npeak anonymous {:.1} MiB at {:.0} s (file-backed {:.1} MiB then); peak file-backed {:.1} MiB (sampled every 100 ms)",
            peaks.anon_kib as f64 / 1024.0,
            peaks.anon_at,
            peaks.anon_file_kib as f64 / 1024.0,
            peaks.file_kib as f64 / 1024.0,
        );
    }
    let failed = failures.load(std::sync::atomic::Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} requests failed");
    }
    Ok(())
}

/// Stops a background task when dropped (on every way out of a function).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The highest anonymous and file-backed RSS the memory benchmark saw.
#[derive(Debug, Default)]
struct Peaks {
    anon_kib: u64,
    /// The file-backed RSS when the anonymous part peaked.
    anon_file_kib: u64,
    /// Seconds into the run when the anonymous part peaked.
    anon_at: f64,
    file_kib: u64,
}

#[cfg(test)]
mod tests {
    use super::{SoakRow, slope};

    fn rows(values: &[(f64, f64)]) -> Vec<SoakRow> {
        values
            .iter()
            .map(|&(minute, rss_mib)| SoakRow {
                minute,
                ops_per_second: 500.0,
                errors: 0,
                rss_mib,
                anon_mib: 100.0,
            })
            .collect()
    }

    #[test]
    fn the_slope_is_the_least_squares_trend_in_mib_a_minute() {
        let rising = rows(&[(5.0, 200.0), (6.0, 203.0), (7.0, 206.0), (8.0, 209.0)]);
        assert!((slope(&rising, |row| row.rss_mib) - 3.0).abs() < 1e-9);
        // A flat series, noisy around its level, has a slope near zero.
        let flat = rows(&[(5.0, 200.0), (6.0, 202.0), (7.0, 198.0), (8.0, 200.0)]);
        assert!(slope(&flat, |row| row.rss_mib).abs() < 1.0);
        assert_eq!(slope(&flat, |row| row.anon_mib), 0.0);
        // One sample has no trend (and no division by zero).
        assert_eq!(slope(&rows(&[(1.0, 50.0)]), |row| row.rss_mib), 0.0);
    }
}
