//! The `cairn` binary: a shim over [`cairn_server::cli`].

fn main() -> std::process::ExitCode {
    cairn_server::cli::main()
}
