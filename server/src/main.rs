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

/// The environment variable mimalloc reads its purge delay from, in ms.
const PURGE_DELAY_VARIABLE: &str = "MIMALLOC_PURGE_DELAY";

/// `mi_option_purge_delay` in mimalloc's `mimalloc.h` (the 16th option, in
/// v2 and v3 alike); `libmimalloc-sys` names no constant for it. The test
/// `server/tests/cli.rs::the_server_returns_freed_memory_at_once_unless_told_otherwise`
/// checks that this is the option `MIMALLOC_PURGE_DELAY` sets.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Before any thread starts; the flag covers the whole process.
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: cannot turn transparent huge pages off ({error}): memory may grow");
    }
    let delay = purge_delay_ms();
    cairn_server::note_allocator(if delay == 0 {
        "mimalloc, freed memory returned at once".to_owned()
    } else {
        format!("mimalloc, freed memory returned after {delay} ms")
    });
    cairn_server::cli::main()
}

/// Has mimalloc return freed memory to the system at once, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise, and gives the delay in effect.
///
/// mimalloc's default delay (1 s) is not a second here: it purges only when
/// some thread allocates, so an idle server kept about 40 MiB it had freed
/// (BENCHMARKS.md, "Memory": with a 32 MiB cache, 100,000 contexts settle
/// at 208 MiB instead of 248), and under the soak's steady load purging at
/// once held the p99.
#[allow(unsafe_code)]
fn purge_delay_ms() -> std::ffi::c_long {
    if std::env::var_os(PURGE_DELAY_VARIABLE).is_none() {
        // SAFETY: `mi_option_set` stores a number in mimalloc's option table,
        // which mimalloc reads each time it schedules a purge. It is not
        // thread-safe: `main` calls this before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    // SAFETY: `mi_option_get` reads that table (any option number is
    // checked), still on the only thread.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
}
