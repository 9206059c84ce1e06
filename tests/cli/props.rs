//! Property tests (proptest) over the functions the fuzz targets drive: the sitemap reader, the changed-list
//! reader and URL mapper, URL admission, and the v2 / v3 response parsers. They run in the normal suite with a
//! modest number of cases; `fuzz/` runs the same entry points for longer. A crash found by either becomes a
//! named regression case at the bottom.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use prewarm::config::{Area, InputLimits, Location, Mapping, defaults};
use prewarm::push::{tencent_v2, tencent_v3};
use prewarm::sources::{changed, sitemap, statcache::StatCache};
use prewarm::url::{Domains, FileMapper};

fn limits() -> InputLimits {
    InputLimits {
        max_sitemap_depth: defaults::MAX_SITEMAP_DEPTH,
        max_decompressed_bytes: 1 << 20,
        max_url_len: 2000,
        max_fetch_bytes: 1 << 20,
    }
}

/// Reads `bytes` as a sitemap file named `name` in a fresh temp folder.
fn read_sitemap(
    name: &str,
    bytes: &[u8],
) -> (tempfile::TempDir, prewarm::Result<sitemap::Sitemaps>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    let r = sitemap::read(&Location::Path(path), &limits(), Duration::from_secs(1));
    (dir, r)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A build root with `a.html` and `sub/b.html`, and `outside.html` next to it.
fn root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("public");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a.html"), "a").unwrap();
    std::fs::write(root.join("sub/b.html"), "b").unwrap();
    std::fs::write(dir.path().join("outside.html"), "outside").unwrap();
    (dir, root)
}

fn mapping(root: &Path) -> Mapping {
    Mapping {
        root: root.to_path_buf(),
        base_url: "https://www.example.com/".into(),
        include: Vec::new(),
        exclude: Vec::new(),
        pretty_urls: true,
        hidden: false,
    }
}

/// Pieces a changed list is made of: names inside and outside the root, separators and odd bytes.
fn list_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"a.html".to_vec()),
        Just(b"sub/b.html".to_vec()),
        Just(b"./sub/../a.html".to_vec()),
        Just(b"../outside.html".to_vec()),
        Just(b"sub/../../outside.html".to_vec()),
        Just(b"/etc/passwd".to_vec()),
        Just(b"\"caf\\303\\251.html\"".to_vec()),
        Just(b"\"\\".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"..".to_vec()),
        Just(b"/".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

/// v2-shaped bodies, sometimes cut or garbled.
fn v2_body() -> impl Strategy<Value = String> {
    let data = prop_oneof![
        Just("null".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        any::<i64>().prop_map(|n| format!("[{{\"task_id\":{n},\"date\":\"2024-01-01\"}}]")),
        ".{0,12}".prop_map(|s| format!("{{\"task_id\":{:?},\"count\":3}}", s)),
        ".{0,12}".prop_map(|s| format!("{:?}", s)),
    ];
    let whole = (any::<i64>(), ".{0,40}", ".{0,20}", data).prop_map(|(code, msg, desc, data)| {
        format!("{{\"code\":{code},\"message\":{msg:?},\"codeDesc\":{desc:?},\"data\":{data}}}")
    });
    (whole, any::<usize>(), ".{0,300}").prop_map(|(body, cut, junk)| match cut % 4 {
        0 => body.chars().take(cut % (body.len() + 1)).collect(),
        1 => junk,
        _ => body,
    })
}

/// v3-shaped bodies, sometimes cut or garbled.
fn v3_body() -> impl Strategy<Value = String> {
    let inner = prop_oneof![
        ".{0,20}".prop_map(|t| format!("\"TaskId\":{t:?},\"RequestId\":\"r\"")),
        any::<i64>().prop_map(|t| format!("\"TaskId\":{t}")),
        (".{0,30}", ".{0,30}")
            .prop_map(|(c, m)| format!("\"Error\":{{\"Code\":{c:?},\"Message\":{m:?}}}")),
        Just(
            "\"Error\":{\"Code\":\"LimitExceeded.CdnPushExceedDayLimit\",\"Message\":\"x\"}"
                .to_string()
        ),
        Just("\"Error\":null".to_string()),
        (any::<u64>(), any::<u64>(), any::<u64>(), ".{0,10}").prop_map(|(b, t, a, area)| format!(
            "\"UrlPush\":[{{\"Batch\":{b},\"Total\":{t},\"Available\":{a},\"Area\":{area:?}}}]"
        )),
        (".{0,40}", ".{0,10}").prop_map(|(u, s)| format!(
            "\"PushLogs\":[{{\"Url\":{u:?},\"Status\":{s:?},\"TaskId\":\"1\"}}],\"TotalCount\":1"
        )),
    ];
    (inner, any::<usize>(), ".{0,300}").prop_map(|(inner, cut, junk)| {
        let body = format!("{{\"Response\":{{{inner}}}}}");
        match cut % 4 {
            0 => body.chars().take(cut % (body.len() + 1)).collect(),
            1 => junk,
            _ => body,
        }
    })
}

fn area() -> impl Strategy<Value = Area> {
    prop_oneof![
        Just(Area::Mainland),
        Just(Area::Overseas),
        Just(Area::Global)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Any bytes: the reader returns (entries or an error naming the file), never panics.
    #[test]
    fn sitemap_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1500), gz in any::<bool>()) {
        let (name, bytes) = if gz {
            // A gzip header in front: the decompressor's error paths.
            let mut b = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
            b.extend(bytes);
            ("s.xml.gz", b)
        } else {
            ("s.xml", bytes)
        };
        let (_dir, r) = read_sitemap(name, &bytes);
        if let Err(e) = r {
            prop_assert!(e.to_string().contains(name), "{e}");
        }
    }

    /// XML-shaped noise (tags, entities, DTDs, CDATA): never panics, never expands anything. The only absolute URL
    /// in the pieces is a closed loopback port, so an index child that gets fetched goes nowhere.
    #[test]
    fn sitemap_reader_on_xml_noise(parts in proptest::collection::vec(prop_oneof![
        Just("<?xml version=\"1.0\"?>"), Just("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"),
        Just("</urlset>"), Just("<sitemapindex>"), Just("</sitemapindex>"), Just("<sitemap>"), Just("</sitemap>"),
        Just("<url>"), Just("</url>"), Just("<loc>"), Just("</loc>"), Just("<lastmod>"), Just("</lastmod>"),
        Just("<priority>"), Just("</priority>"), Just("0.5"), Just("2024-02-30T25:61:00+08:00"),
        Just("http://127.0.0.1:9/x"), Just("&amp;"), Just("&lol;"), Just("&#x10FFFF;"), Just("&#0;"),
        Just("<!DOCTYPE urlset [<!ENTITY lol \"LOL&#88;\">]>"), Just("<![CDATA["), Just("]]>"),
        Just("<!--"), Just("-->"), Just("<"), Just(">"), Just("\"" ), Just("self.xml"), Just("/etc/passwd"),
    ], 0..40)) {
        let doc: String = parts.concat();
        let (_dir, r) = read_sitemap("self.xml", doc.as_bytes());
        if let Ok(s) = r {
            for e in s.entries() {
                // `LOLX` exists only as the expansion of `&lol;` (the DTD spells it `LOL&#88;`).
                prop_assert!(!e.loc.contains("LOLX"), "an entity was expanded: {:?}", e.loc);
            }
        }
    }

    /// A well-formed urlset of arbitrary (escaped) paths reads back exactly, in order.
    #[test]
    fn sitemap_round_trip(paths in proptest::collection::vec("[a-zA-Z0-9 _<>&'\"/é日?=#%.-]{0,24}", 0..30)) {
        let mut doc = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
        for p in &paths {
            doc.push_str(&format!("<url><loc>https://www.example.com/{}</loc></url>\n", xml_escape(p)));
        }
        doc.push_str("</urlset>\n");
        let (_dir, r) = read_sitemap("rt.xml", doc.as_bytes());
        let s = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got: Vec<String> = s.chunks.into_iter().flatten().map(|e| e.loc).collect();
        let want: Vec<String> = paths
            .iter()
            .map(|p| format!("https://www.example.com/{p}").trim().to_string())
            .collect();
        prop_assert_eq!(got, want);
    }

    /// A changed list never yields a URL for a file outside the root, whatever its bytes.
    #[test]
    fn changed_list_stays_inside_the_root(pieces in proptest::collection::vec(list_piece(), 0..24)) {
        let (_dir, root) = root();
        let bytes = pieces.concat();
        let mut cache = StatCache::in_memory();
        match changed::read_bytes(&bytes, "changed.txt", &mapping(&root), &mut cache) {
            Ok(out) => {
                for a in &out.assets {
                    prop_assert!(
                        a.url == "https://www.example.com/a.html" || a.url == "https://www.example.com/sub/b.html",
                        "{} from {:?}", a.url, String::from_utf8_lossy(&bytes)
                    );
                }
                for u in &out.removed_urls {
                    prop_assert!(u.starts_with("https://www.example.com/"), "{u}");
                    // Lexically inside the root (`sub/x/../../outside.html` is the root's `outside.html`, which
                    // does not exist, so it is "removed"): fine. The escape property is the assets check above.
                    prop_assert!(!u.contains("/../") && !u.contains("/./"), "{u}");
                }
            }
            Err(e) => prop_assert!(e.to_string().contains("changed.txt") || e.to_string().contains("public"), "{e}"),
        }
    }

    /// Mapping a relative path: never panics; a URL is always under the base and never for `..`.
    #[test]
    fn file_mapper_stays_under_the_base(segs in proptest::collection::vec(prop_oneof![
        Just("..".to_string()), Just(".".to_string()), Just("index.html".to_string()), Just(".hidden".to_string()),
        "[^/\0]{1,12}",
    ], 0..6), pretty in any::<bool>()) {
        let mut m = mapping(Path::new("/nonexistent"));
        m.pretty_urls = pretty;
        let mapper = FileMapper::new(&m).unwrap();
        let rel: PathBuf = segs.iter().collect();
        if let Ok(url) = mapper.map(&rel) {
            prop_assert!(url.starts_with("https://www.example.com/"), "{url}");
            prop_assert!(!segs.iter().any(|s| s == ".."), "{rel:?} -> {url}");
            prop_assert!(url.is_ascii() && !url.contains(' '), "{url}");
        }
    }

    /// Admission: never panics; what it admits is ASCII, bounded, allowed and admitted again unchanged.
    #[test]
    fn admit_is_bounded_and_idempotent(raw in prop_oneof![
        ".{0,80}",
        "(https?|ftp|javascript|data|file)://[a-zA-Z0-9.ü@:\\[\\]-]{0,20}(/[^#]{0,30})?(#.{0,5})?",
        "https://www\\.example\\.com/.{0,3000}",
    ]) {
        let domains = Domains::new(&["https://www.example.com".into(), "http://bücher.example:8080".into()], 2000).unwrap();
        if let Ok(u) = domains.admit(&raw) {
            prop_assert!(u.is_ascii(), "{u}");
            prop_assert!(u.len() <= 2000);
            prop_assert!(!u.contains('#') && !u.contains(' '), "{u}");
            prop_assert!(
                u.starts_with("https://www.example.com/") || u.starts_with("http://xn--bcher-kva.example:8080/"),
                "{u}"
            );
            prop_assert_eq!(domains.admit(&u), Ok(u.clone()));
        }
    }

    /// v2 replies: never panics, whatever the status and body.
    #[test]
    fn v2_parse_response_never_panics(status in 100u16..600, body in v2_body()) {
        let _ = tencent_v2::parse_response(status, &body);
    }

    /// v3 replies: never panics; a parsed `Response` feeds every reader without panicking.
    #[test]
    fn v3_parsers_never_panic(status in 100u16..600, body in v3_body(), area in area()) {
        if let Ok(r) = tencent_v3::parse_reply(status, &body, area) {
            let _ = tencent_v3::parse_submitted(&r);
            let _ = tencent_v3::parse_quota(&r, area);
            let _ = tencent_v3::parse_tasks(&r);
        }
    }

    /// Arbitrary text as a reply body for both APIs (the snippet code cuts it for messages).
    #[test]
    fn parsers_on_arbitrary_text(status in 100u16..600, body in "\\PC{0,400}") {
        let _ = tencent_v2::parse_response(status, &body);
        let _ = tencent_v3::parse_reply(status, &body, Area::Overseas);
    }
}

// Regression cases: inputs a fuzz target or a property once found (none crashed so far); kept as named tests.

#[test]
fn regression_multibyte_body_cut_for_the_error_snippet() {
    // A non-JSON body whose snippet boundary falls inside a multi-byte character.
    let body = "é".repeat(400);
    for status in [200, 404] {
        let e = tencent_v2::parse_response(status, &body).unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
        let e = tencent_v3::parse_reply(status, &body, Area::Global).unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
    }
}

#[test]
fn regression_empty_and_bom_only_inputs() {
    let (_dir, r) = read_sitemap("empty.xml", b"");
    assert!(r.is_ok_and(|s| s.is_empty()));
    let (_dir, root) = root();
    let out = changed::read_bytes(
        b"\xEF\xBB\xBF",
        "bom.txt",
        &mapping(&root),
        &mut StatCache::in_memory(),
    )
    .unwrap();
    assert!(out.assets.is_empty());
}
