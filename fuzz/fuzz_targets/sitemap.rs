//! Fuzz target: the sitemap reader (`prewarm::sources::sitemap::read`) on arbitrary bytes.
//!
//! Takes the fuzzer's bytes; the first byte picks the file name (`.xml`, `.xml.gz`, `.txt`, `robots.txt`), the
//! rest is the file, written to a scratch folder (the reader works on a `Location`, not on bytes). It must never
//! panic, never read past the limits, and never reach the network (local children only; `url` children of a
//! local index resolve to files next to it or are refused).

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prewarm::config::{InputLimits, Location};

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // An index child with an absolute URL and no file next to it would be fetched: send every request to a
        // closed loopback port (the HTTP client honours the proxy variables), so the fuzzer never reaches a host.
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            // SAFETY: set once, before the first read, while libFuzzer runs the target on one thread.
            unsafe { std::env::set_var(var, "http://127.0.0.1:9") };
        }
        for var in ["NO_PROXY", "no_proxy"] {
            // SAFETY: as above.
            unsafe { std::env::remove_var(var) };
        }
        tempfile::tempdir().expect("scratch folder")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = match pick % 4 {
        0 => "sitemap.xml",
        1 => "sitemap.xml.gz",
        2 => "sitemap.txt",
        _ => "robots.txt",
    };
    let path = scratch().path().join(name);
    if std::fs::write(&path, body).is_err() {
        return;
    }
    let limits = InputLimits {
        max_sitemap_depth: 3,
        max_decompressed_bytes: 1 << 20,
        max_url_len: 2000,
        max_fetch_bytes: 1 << 20,
    };
    // Remote children would be fetched: keep the timeout tiny (there is no network in the fuzz job anyway).
    if let Ok(s) =
        prewarm::sources::sitemap::read(&Location::Path(path), &limits, Duration::from_millis(50))
    {
        for e in s.entries() {
            if let Some(p) = e.priority {
                assert!((0.0..=1.0).contains(&p), "priority {p} out of range");
            }
        }
    }
});
