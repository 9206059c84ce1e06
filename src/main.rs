//! The `prewarm` binary: parse flags, call the library, map errors to exit codes.

// A million-URL sitemap means millions of small allocations; glibc's allocator showed up at ~15% in perf.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Freed memory goes back to the OS after 50 ms instead of mimalloc's default delay (1 s in v3): a
    // million-URL run frees big vectors between stages, and keeping them raised its peak RSS by a quarter
    // (~365 → ~270 MiB) without making it faster; 0 would re-fault memory a 50 ms run reuses (+10 ms on it). `mi_option_purge_delay` is 15 in mimalloc's option enum (v2 and
    // v3) but has no constant in the bindings: it is set only when it reads as a default (10 ms in v2, 1000 in
    // v3), so a mismatch, or a MIMALLOC_PURGE_DELAY the user set, leaves everything as it is.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    let user_set = std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
        || std::env::var_os("MIMALLOC_RESET_DELAY").is_some();
    // SAFETY: reading and storing an option's value; no other thread exists yet.
    unsafe {
        if !user_set
            && matches!(
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
                10 | 1000
            )
        {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 50);
        }
    }
    prewarm::cli::main()
}
