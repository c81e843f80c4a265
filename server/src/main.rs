//! The `cairn` binary: a shim over [`cairn_server::cli`].

/// mimalloc, not glibc's malloc: under a steady load glibc's per-thread
/// arenas keep growing the heap (the soak in BENCHMARKS.md), mimalloc gives
/// freed pages back. The library (and so the in-process test servers) keeps
/// the system allocator; this is the binary's choice.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cairn_server::cli::main()
}
