//! The HTTP router's fuzz corpus (`fuzz/corpus/router/`), replayed with
//! mutations on every test run: the cargo-fuzz target `router` explores
//! further, but its instrumented build of the whole server is too slow for
//! CI, so this keeps the same checks honest there. Each input goes through the
//! router in process over a real SQLite store and tantivy index: no panic, no
//! 5xx, and every acknowledged put reads back byte for byte through its
//! `ccr:` reference (`cairn_tests::router_input`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::http::StatusCode;
use cairn_tests::router_input::{Outcome, exercise, router_in};

/// Mutated inputs per seed.
const MUTANTS_PER_SEED: usize = 500;
/// The body limit of the router under test (a layer of the router).
const BODY_LIMIT: usize = 1024 * 1024;

/// Fragments that have broken parsers elsewhere, inserted at random places.
const HOSTILE: &[&[u8]] = &[
    b"\xff\xfe",
    b"\x00",
    b"\r\n",
    b"\n\n",
    b"{\"content\":",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"{ a { a { a { a { a { a { a { a {",
    b"%00",
    b"%ff%fe",
    b"..%2f..%2f",
    b"\ncontent-type: application/json",
    b"\ncontent-type: text/plain",
    b"\naccept: application/octet-stream",
    b"\nx-cairn-ttl-seconds: -1",
    b"\nauthorization: Bearer a.b.c",
    b"?view=full&version=0",
    b"&max_tokens=18446744073709551616",
    b"&lines=9-1",
    b"\"\\ud800\"",
    b"ccr:",
    b"1e999",
];

/// xorshift64*: the same mutants on every run, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// One to three mutations of `seed`, some borrowing from `other`.
fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let at = at.min(data.len() - 1);
                data[at] = rng.next() as u8;
            }
            1 => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            2 => {
                let fragment = HOSTILE[rng.below(HOSTILE.len())];
                data.splice(at..at, fragment.iter().copied());
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            4 => {
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/router");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            let data = std::fs::read(&path).unwrap_or_else(|error| panic!("{name}: {error}"));
            (name, data)
        })
        .collect();
    seeds.sort();
    seeds
}

/// Inputs the corpus cannot hold compactly: a body over the limit, nesting
/// far deeper than any parser should follow, invalid UTF-8 as JSON content.
fn generated() -> Vec<(&'static str, Vec<u8>, Refusal)> {
    let mut oversize = b"PUT /v1/contexts/big\ncontent-type: text/plain\n\n".to_vec();
    oversize.resize(oversize.len() + BODY_LIMIT + 1, b'x');
    let mut deep = b"POST /v1/compress\ncontent-type: application/json\n\n".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    let mut deep_graphql =
        b"POST /graphql\ncontent-type: application/json\n\n{\"query\":\"".to_vec();
    deep_graphql.extend(std::iter::repeat_n(b'{', 50_000));
    deep_graphql.extend_from_slice(b"\"}");
    let invalid_utf8 =
        b"PUT /v1/contexts/u\ncontent-type: application/json\n\n{\"content\":\"\xc3\x28\"}"
            .to_vec();
    vec![
        (
            "oversize",
            oversize,
            Refusal::Status(StatusCode::PAYLOAD_TOO_LARGE),
        ),
        ("deep-json", deep, Refusal::Status(StatusCode::BAD_REQUEST)),
        ("deep-graphql", deep_graphql, Refusal::GraphQl),
        (
            "invalid-utf8-json",
            invalid_utf8,
            Refusal::Status(StatusCode::BAD_REQUEST),
        ),
    ]
}

/// How a generated input must be refused.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Status(StatusCode),
    /// GraphQL answers a query it refuses with 200, no data and its errors.
    GraphQl,
}

#[tokio::test]
async fn the_router_answers_every_mutant_of_its_fuzz_corpus_without_a_5xx_and_loses_no_put() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let router = router_in(dir.path(), BODY_LIMIT)
        .await
        .expect("the store and the index open");
    let seeds = corpus();
    assert!(seeds.len() >= 10, "the corpus has {} seeds", seeds.len());

    let mut failures = Vec::new();
    let mut round_trips = 0;
    let mut statuses = BTreeSet::new();
    let mut requests = 0;
    // The seeds first: every one is a request, and each put seed round trips.
    for (name, data) in &seeds {
        match exercise(&router, data).await {
            Ok(Outcome::NotARequest) => failures.push(format!("seed {name} is not a request")),
            Ok(Outcome::RoundTripped) => round_trips += 1,
            Ok(Outcome::Answered(status, _)) => {
                if name.starts_with("put-") {
                    failures.push(format!("seed {name} was not stored: {status}"));
                }
                statuses.insert(status.as_u16());
            }
            Err(failure) => failures.push(format!("seed {name}: {failure}")),
        }
    }
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut mutants = 0;
    for (index, (name, seed)) in seeds.iter().enumerate() {
        let other = &seeds[(index + 1 + rng.below(seeds.len() - 1)) % seeds.len()].1;
        for round in 0..MUTANTS_PER_SEED {
            let data = mutate(seed, other, &mut rng);
            mutants += 1;
            match exercise(&router, &data).await {
                Ok(Outcome::NotARequest) => {}
                Ok(Outcome::RoundTripped) => {
                    requests += 1;
                    round_trips += 1;
                }
                Ok(Outcome::Answered(status, _)) => {
                    requests += 1;
                    statuses.insert(status.as_u16());
                }
                Err(failure) => failures.push(format!(
                    "mutant {round} of {name} ({:?}): {failure}",
                    String::from_utf8_lossy(&data[..data.len().min(200)])
                )),
            }
        }
    }
    for (name, data, refusal) in generated() {
        match (exercise(&router, &data).await, refusal) {
            (Ok(Outcome::Answered(status, _)), Refusal::Status(expected)) if status == expected => {
                statuses.insert(status.as_u16());
            }
            (Ok(Outcome::Answered(StatusCode::OK, body)), Refusal::GraphQl)
                if refused_graphql(&body) => {}
            (Ok(outcome), _) => failures.push(format!(
                "{name}: not refused as {refusal:?}: {}",
                match outcome {
                    Outcome::Answered(status, body) =>
                        format!("{status} {}", String::from_utf8_lossy(&body)),
                    other => format!("{other:?}"),
                }
            )),
            (Err(failure), _) => failures.push(format!("{name}: {failure}")),
        }
    }
    eprintln!(
        "{} seeds, {mutants} mutants ({requests} of them requests), {round_trips} puts read back; statuses {statuses:?}",
        seeds.len()
    );

    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Not vacuous: most mutants reached the router, puts were stored and read
    // back, and the answers ran from success through the refusals.
    assert!(
        requests * 2 > mutants,
        "only {requests} of {mutants} mutants were requests"
    );
    assert!(round_trips >= 3 + 10, "{round_trips} puts round-tripped");
    for status in [
        StatusCode::OK,
        StatusCode::BAD_REQUEST,
        StatusCode::NOT_FOUND,
        StatusCode::PAYLOAD_TOO_LARGE,
    ] {
        assert!(
            statuses.contains(&status.as_u16()),
            "no {status} among {statuses:?}"
        );
    }
}

/// A GraphQL answer with no data and an error carrying a code.
fn refused_graphql(body: &[u8]) -> bool {
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    answer["data"].is_null()
        && answer["errors"][0]["extensions"]["code"]
            .as_str()
            .is_some_and(|code| !code.is_empty())
}
