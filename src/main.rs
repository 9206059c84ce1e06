//! The `prewarm` binary: parse flags, call the library, map errors to exit codes.

fn main() -> std::process::ExitCode {
    prewarm::cli::main()
}
