//! The one way a test that needs what this machine lacks (PostgreSQL,
//! Chromium, the ML models, root) says so: a banner on standard error that
//! no one can miss, and the test passes; under `CI=true`, where everything
//! is installed, a panic.

/// Reports that `what` cannot run because of `missing` (with how to get
/// it), and returns; panics under `CI=true`.
pub fn cannot_run(what: &str, missing: &str) {
    let message = format!("{what} cannot run: {missing}");
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{message} (CI=true: everything a test needs is installed there)");
    }
    let bar = "!".repeat(78);
    eprintln!("\n{bar}\n!!! SKIPPED: {message}\n{bar}\n");
}
