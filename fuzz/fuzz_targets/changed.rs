//! Fuzz target: the changed-list reader and the URL mapper / admission it feeds.
//!
//! Takes the fuzzer's bytes as (1) a changed list read by `prewarm::sources::changed::read_bytes` under a scratch
//! root holding `a.html` and `sub/b.html` (with `outside.html` next to the root), (2) a relative path for
//! `prewarm::url::FileMapper::map`, and (3) a raw URL for `prewarm::url::Domains::admit`. It must never panic, never
//! return an asset for a file outside the root, and never admit a URL it would not admit again unchanged.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prewarm::config::Mapping;
use prewarm::sources::statcache::StatCache;
use prewarm::url::{Domains, FileMapper};

struct Fixture {
    _dir: tempfile::TempDir,
    mapping: Mapping,
    mapper: FileMapper,
    domains: Domains,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("scratch folder");
        let root = dir.path().join("public");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("a.html"), "a").expect("write");
        std::fs::write(root.join("sub/b.html"), "b").expect("write");
        std::fs::write(dir.path().join("outside.html"), "outside").expect("write");
        let mapping = Mapping {
            root,
            base_url: "https://www.example.com/".into(),
            include: Vec::new(),
            exclude: vec!["**/*.map".into()],
            pretty_urls: true,
            hidden: false,
        };
        let mapper = FileMapper::new(&mapping).expect("mapper");
        let domains = Domains::new(&["https://www.example.com".into()], 2000).expect("domains");
        Fixture {
            _dir: dir,
            mapping,
            mapper,
            domains,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut cache = StatCache::in_memory();
    if let Ok(out) =
        prewarm::sources::changed::read_bytes(data, "changed.txt", &f.mapping, &mut cache)
    {
        for a in &out.assets {
            assert!(
                a.url == "https://www.example.com/a.html"
                    || a.url == "https://www.example.com/sub/b.html",
                "asset outside the listed files: {}",
                a.url
            );
        }
    }
    let text = String::from_utf8_lossy(data);
    let rel: PathBuf = Path::new(text.as_ref()).to_path_buf();
    if let Ok(url) = f.mapper.map(&rel) {
        assert!(url.starts_with("https://www.example.com/"), "{url}");
    }
    if let Ok(u) = f.domains.admit(&text) {
        assert!(u.is_ascii() && u.len() <= 2000, "{u}");
        assert_eq!(f.domains.admit(&u), Ok(u.clone()));
    }
});
