//! The `cairn` binary: a shim over [`cairn_server::cli`].

/// mimalloc, not glibc's malloc: under a steady load glibc's per-thread
/// arenas keep growing the heap (the soak in BENCHMARKS.md), mimalloc gives
/// freed pages back. Transparent huge pages are off for the process (below,
/// and mimalloc is built with `no_thp`): with them, the kernel's khugepaged
/// refilled, a 2 MiB range at a time, the pages mimalloc had returned (the
/// idle server's RSS grew by 50 MiB in two minutes). The library (and so the
/// in-process test servers) keeps the system allocator; this is the binary's
/// choice.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Before any thread starts; the flag covers the whole process.
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: cannot turn transparent huge pages off ({error}): memory may grow");
    }
    cairn_server::cli::main()
}
