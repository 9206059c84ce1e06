//! The `prewarm` binary: parse flags, call the library, map errors to exit codes.

// A million-URL sitemap means millions of small allocations; glibc's allocator showed up at ~15% in perf.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    prewarm::cli::main()
}
