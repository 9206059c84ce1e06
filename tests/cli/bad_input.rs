//! The bad-input matrix, at the binary level: every hostile or broken input is run as a real push (a fake CDN
//! endpoint and credentials set), and each test checks the exit code, the message (lower-case, naming the file and
//! a position where there is one), that nothing panicked, and that the fake accepted nothing it should not have.

use std::io::Write;
use std::path::{Path, PathBuf};

use prewarm::config::Api;

use crate::support::{FakeCdn, fake_config, fixture, json, prewarm_at, text};

/// A fake CDN (v3) that also serves the IDN test host.
fn fake() -> FakeCdn {
    let mut cfg = fake_config(Api::V3);
    cfg.domains.push("xn--bcher-kva.example".into());
    FakeCdn::start(cfg).expect("fake CDN starts")
}

const PUSH: &str =
    "[push]\nbase_backoff = \"10ms\"\nmax_backoff = \"50ms\"\ntimeout = \"5s\"\nmax_attempts = 2\n";

/// Writes a prewarm.toml with one sitemap source at `sitemap` and `extra` tables.
fn sitemap_config(dir: &Path, sitemap: &Path, extra: &str) {
    crate::support::write_config(
        dir,
        &format!(
            "[site]\ndomains = [\"https://www.example.com\", \"https://bücher.example\"]\n\n[[source]]\n\
             kind = \"sitemap\"\npath = {:?}\n\n{PUSH}\n{extra}",
            sitemap.display().to_string()
        ),
    );
}

/// Runs a JSON push in `dir`.
fn run(dir: &Path, fake: &FakeCdn) -> std::process::Output {
    prewarm_at(dir, fake)
        .args(["--format", "json"])
        .output()
        .unwrap()
}

/// Exit 2, `needle` in stderr, no panic, and the fake saw no push at all.
fn assert_refused(out: &std::process::Output, fake: &FakeCdn, needle: &str, what: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(
        err.contains(needle),
        "{what}: expected {needle:?} in:\n{err}"
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(fake.calls("PushUrlsCache"), 0, "{what}: nothing pushed");
    assert!(fake.accepted_urls().is_empty(), "{what}");
}

/// Exit 0 and no panic; returns the JSON report.
fn assert_ok(out: &std::process::Output, what: &str) -> serde_json::Value {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    json(out)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

const GOOD_SITEMAP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n\
  <url><loc>https://www.example.com/a.html</loc><lastmod>2024-01-02</lastmod><priority>0.5</priority></url>\n\
  <url><loc>https://www.example.com/b&amp;c.html</loc></url>\n\
  <url><loc><![CDATA[https://www.example.com/d.html]]></loc></url>\n\
</urlset>\n";

#[test]
fn malformed_xml_cut_at_many_points_pushes_nothing() {
    // The whole document is fine; every cut inside the <urlset> element is an error with a position.
    let whole = GOOD_SITEMAP.as_bytes();
    let start = GOOD_SITEMAP.find("<urlset").unwrap() + 1;
    let end = GOOD_SITEMAP.rfind("</urlset>").unwrap() + "</urlset".len();
    let cuts: Vec<usize> = (start..end).step_by(13).chain([end - 1]).collect();
    assert!(cuts.len() > 15);
    let fake = fake();
    for cut in cuts {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cut.xml");
        std::fs::write(&file, &whole[..cut]).unwrap();
        sitemap_config(dir.path(), &file, "");
        let out = run(dir.path(), &fake);
        assert_refused(&out, &fake, "cut.xml:", &format!("cut at byte {cut}"));
    }
    // And the uncut document pushes its three URLs: the cuts above failed because of the cut.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("whole.xml");
    std::fs::write(&file, whole).unwrap();
    sitemap_config(dir.path(), &file, "");
    assert_ok(&run(dir.path(), &fake), "whole");
    assert_eq!(
        sorted(fake.accepted_urls()),
        [
            "https://www.example.com/a.html",
            "https://www.example.com/b&c.html",
            "https://www.example.com/d.html"
        ]
    );
}

#[test]
fn billion_laughs_is_not_expanded() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(dir.path(), &fixture("sitemaps/billion-laughs.xml"), "");
    let started = std::time::Instant::now();
    let out = run(dir.path(), &fake);
    assert_refused(
        &out,
        &fake,
        "billion-laughs.xml:15:37: undefined entity &lol9;",
        "billion laughs",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(out.stderr.len() < 4096, "nothing expanded into the message");
}

#[test]
fn external_entities_are_neither_fetched_nor_read() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, "TOP-SECRET-FILE-CONTENT").unwrap();
    let xml = std::fs::read_to_string(fixture("bad/external-entity-template.xml"))
        .unwrap()
        .replace("PORT", &port.to_string())
        .replace("SECRETFILE", &secret_file.display().to_string());
    let file = dir.path().join("xxe.xml");
    std::fs::write(&file, xml).unwrap();
    sitemap_config(dir.path(), &file, "");
    let out = run(dir.path(), &fake);
    assert_refused(&out, &fake, "xxe.xml:9:", "external entity");
    assert!(text(&out.stderr).contains("undefined entity &file;"));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("TOP-SECRET"), "the file was read: {all}");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the external entity was fetched"
    );
    // The fixture shipped with the repository, too.
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(dir.path(), &fixture("sitemaps/external-entity.xml"), "");
    let out = run(dir.path(), &fake);
    assert_refused(&out, &fake, "undefined entity &xxe;", "xxe fixture");
    assert!(!text(&out.stderr).contains("root:"), "/etc/passwd was read");
}

#[test]
fn a_gzip_bomb_is_capped_with_a_clear_error() {
    let fake = fake();
    let bomb = fixture("bad/bomb.xml.gz");
    assert!(std::fs::metadata(&bomb).unwrap().len() < 20_000);
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(
        dir.path(),
        &bomb,
        "[limits]\nmax_decompressed_bytes = \"1MiB\"\n",
    );
    let out = run(dir.path(), &fake);
    assert_refused(&out, &fake, "bomb.xml.gz", "gzip bomb");
    let err = text(&out.stderr).to_lowercase();
    assert!(
        err.contains("decompress") && err.contains("max_decompressed_bytes"),
        "the message says what was capped and which key raises it: {err}"
    );
    // Under a cap that fits, the same file is an ordinary sitemap: the error above was the cap.
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(
        dir.path(),
        &bomb,
        "[limits]\nmax_decompressed_bytes = \"16MiB\"\n",
    );
    assert_ok(&run(dir.path(), &fake), "under the cap");
    assert_eq!(fake.accepted_urls(), ["https://www.example.com/bomb.html"]);
}

#[test]
fn the_default_decompression_cap_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::prewarm(dir.path())
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let starter = std::fs::read_to_string(dir.path().join("prewarm.toml")).unwrap();
    assert!(
        starter.contains("max_decompressed_bytes = \"256MiB\""),
        "{starter}"
    );
}

#[test]
fn an_index_that_includes_itself_is_read_once() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(dir.path(), &fixture("sitemaps/self-index.xml"), "");
    let out = run(dir.path(), &fake);
    let v = assert_ok(&out, "self index");
    assert_eq!(
        sorted(fake.accepted_urls()),
        [
            "https://www.example.com/pages-1/a.html",
            "https://www.example.com/pages-1/b.html"
        ]
    );
    let warnings = format!("{}{}", v["warnings"], text(&out.stderr)).to_lowercase();
    assert!(warnings.contains("self-index.xml"), "{warnings}");
}

#[test]
fn an_index_nested_past_the_limit_is_refused() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(dir.path(), &fixture("sitemaps/deep-0.xml"), "");
    assert_refused(
        &run(dir.path(), &fake),
        &fake,
        "nesting deeper than 5",
        "depth 5",
    );
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(
        dir.path(),
        &fixture("sitemaps/deep-0.xml"),
        "[limits]\nmax_sitemap_depth = 2\n",
    );
    assert_refused(
        &run(dir.path(), &fake),
        &fake,
        "nesting deeper than 2",
        "depth 2",
    );
}

#[test]
fn a_60000_url_sitemap_is_read_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.xml");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    writeln!(
        f,
        "<?xml version=\"1.0\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
    )
    .unwrap();
    for i in 0..60_000 {
        writeln!(
            f,
            "<url><loc>https://www.example.com/p/{i}.html</loc></url>"
        )
        .unwrap();
    }
    writeln!(f, "</urlset>").unwrap();
    f.flush().unwrap();
    drop(f);
    sitemap_config(dir.path(), &file, "");
    let out = crate::support::prewarm(dir.path())
        .args(["--dry-run", "--format", "json"])
        .output()
        .unwrap();
    let v = assert_ok(&out, "60k");
    let planned = v["urls"].as_array().unwrap().len() + v["deferred"].as_array().unwrap().len();
    assert_eq!(planned, 60_000, "every URL read");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("50000") || warnings.contains("50,000"),
        "a warning about the protocol's limit: {warnings}"
    );
}

#[test]
fn javascript_ftp_data_and_relative_locs_are_never_pushed() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(dir.path(), &fixture("bad/schemes.xml"), "");
    let out = run(dir.path(), &fake);
    let v = assert_ok(&out, "schemes");
    assert_eq!(fake.accepted_urls(), ["https://www.example.com/good.html"]);
    let skipped = v["skipped"]["invalid_url"].as_u64().unwrap()
        + v["skipped"]["foreign_domain"].as_u64().unwrap();
    assert_eq!(skipped, 8, "every bad <loc> counted: {v}");
}

#[test]
fn idn_hosts_spaces_quotes_and_non_ascii_are_pushed_encoded() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    sitemap_config(dir.path(), &fixture("bad/odd-urls.xml"), "");
    let out = run(dir.path(), &fake);
    assert_ok(&out, "odd urls");
    let accepted = sorted(fake.accepted_urls());
    assert_eq!(
        accepted,
        sorted(
            [
                "https://xn--bcher-kva.example/katalog.html",
                "https://www.example.com/with%20space.html",
                "https://www.example.com/quote%22d.html",
                "https://www.example.com/it's.html",
                "https://www.example.com/caf%C3%A9/%C3%BC.html",
                "https://www.example.com/%E6%97%A5%E6%9C%AC%E8%AA%9E.html?q=%E6%9D%B1%E4%BA%AC",
                "https://www.example.com/%3Cscript%3E.html",
            ]
            .map(String::from)
            .to_vec()
        )
    );
    for u in &accepted {
        assert!(
            u.is_ascii() && !u.contains([' ', '"', '<', '>']),
            "{u} is not encoded"
        );
    }
}

#[test]
fn urls_over_the_length_limit_are_skipped() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let long = format!("https://www.example.com/{}.html", "a".repeat(2_100));
    let fits = format!("https://www.example.com/{}.html", "b".repeat(1_900));
    let file = dir.path().join("long.xml");
    std::fs::write(
        &file,
        format!(
            "<?xml version=\"1.0\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n\
             <url><loc>{long}</loc></url>\n<url><loc>{fits}</loc></url>\n</urlset>\n"
        ),
    )
    .unwrap();
    sitemap_config(dir.path(), &file, "");
    let out = run(dir.path(), &fake);
    let v = assert_ok(&out, "long");
    assert_eq!(fake.accepted_urls(), [fits]);
    assert_eq!(v["skipped"]["invalid_url"], 1, "{v}");
    // The reason, naming the file, is a debug line (`-vv`): a skip is counted, not a warning per URL.
    let dir2 = tempfile::tempdir().unwrap();
    sitemap_config(dir2.path(), &file, "");
    let out = prewarm_at(dir2.path(), &fake)
        .args(["--dry-run", "-vv"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("long.xml") && err.contains("longer than 2000"),
        "-vv says which URL was skipped and why: {err}"
    );
}

/// A `dir` config for `dir/public`.
fn dir_config(dir: &Path) -> PathBuf {
    let public = dir.join("public");
    std::fs::create_dir_all(&public).unwrap();
    crate::support::write_config(
        dir,
        &format!(
            "[site]\ndomains = [\"https://www.example.com\"]\n\n[[source]]\nkind = \"dir\"\nroot = \"public\"\n\
             base_url = \"https://www.example.com/\"\n\n{PUSH}"
        ),
    );
    public
}

#[test]
fn non_utf8_file_names_do_not_panic_and_push_nothing_broken() {
    use std::os::unix::ffi::OsStrExt;
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let public = dir_config(dir.path());
    std::fs::write(public.join("ok.html"), "ok").unwrap();
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.html");
    if std::fs::write(public.join(bad), "latin-1 name").is_err() {
        return; // a file system that refuses non-UTF-8 names cannot produce the case
    }
    let out = run(dir.path(), &fake);
    let v = assert_ok(&out, "non-utf8 names");
    let accepted = fake.accepted_urls();
    assert!(accepted.contains(&"https://www.example.com/ok.html".to_string()));
    for u in &accepted {
        assert!(u.is_ascii() && !u.contains('\u{fffd}'), "{u}");
    }
    assert!(accepted.len() <= 2, "{accepted:?}");
    if accepted.len() == 1 {
        let all = format!("{}{}", v["warnings"], text(&out.stderr));
        assert!(
            all.contains("utf-8") || all.contains("UTF-8"),
            "a skip says why: {all}"
        );
    }
}

#[test]
fn symlink_loops_and_symlinks_out_of_the_root_are_not_followed() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let public = dir_config(dir.path());
    std::fs::write(public.join("index.html"), "home").unwrap();
    std::fs::create_dir_all(public.join("sub")).unwrap();
    std::fs::write(public.join("sub/page.html"), "page").unwrap();
    std::os::unix::fs::symlink(&public, public.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink("..", public.join("sub/up")).unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("private.html"), "private").unwrap();
    std::os::unix::fs::symlink(&outside, public.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.join("private.html"), public.join("leak.html")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", public.join("passwd.html")).unwrap();
    let out = run(dir.path(), &fake);
    let v = assert_ok(&out, "symlinks");
    assert_eq!(
        sorted(fake.accepted_urls()),
        [
            "https://www.example.com/",
            "https://www.example.com/sub/page.html"
        ],
        "{v}"
    );
    assert!(
        v["skipped"]["outside_root"].as_u64().unwrap() >= 3,
        "out, leak.html and passwd.html counted outside the root: {v}"
    );
}

#[test]
fn changed_lists_with_dotdot_absolute_paths_and_nul_bytes() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("public");
    std::fs::create_dir_all(&public).unwrap();
    for f in ["a.html", "b.html", "c.html"] {
        std::fs::write(public.join(f), f).unwrap();
    }
    std::fs::write(dir.path().join("outside.html"), "outside").unwrap();
    let outside_abs = dir.path().join("outside.html").display().to_string();
    let inside_abs = public.join("c.html").display().to_string();
    let lists: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "newline list",
            format!("a.html\n../outside.html\n{outside_abs}\n/etc/passwd\nsub/../../outside.html\n{inside_abs}\n")
                .into_bytes(),
            true,
        ),
        (
            "nul list",
            format!("b.html\0../outside.html\0{outside_abs}\0/etc/passwd\0").into_bytes(),
            true,
        ),
        // NUL-separated: `a.html\nou` and `tside.html\n../outside.html` are two (missing) names.
        (
            "nul inside a name",
            b"a.html\nou\0tside.html\n../outside.html\0".to_vec(),
            false,
        ),
    ];
    for (what, bytes, escapes) in lists {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("changed.txt"), &bytes).unwrap();
        crate::support::write_config(
            d.path(),
            &format!(
                "[site]\ndomains = [\"https://www.example.com\"]\n\n[[source]]\nkind = \"changed\"\n\
                 file = \"changed.txt\"\nroot = {:?}\nbase_url = \"https://www.example.com/\"\n\n{PUSH}",
                public.display().to_string()
            ),
        );
        let out = run(d.path(), &fake);
        let err = text(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{what}: exit {:?}: {err}",
            out.status.code()
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
        if escapes && out.status.code() == Some(0) {
            let v = json(&out);
            assert!(
                v["skipped"]["outside_root"].as_u64().unwrap() >= 1,
                "{what}: {v}"
            );
        }
        for u in fake.accepted_urls() {
            assert!(
                !u.contains("outside") && !u.contains("passwd"),
                "{what}: pushed {u}"
            );
        }
    }
    let accepted = sorted(fake.accepted_urls());
    assert!(
        accepted.contains(&"https://www.example.com/a.html".to_string())
            && accepted.contains(&"https://www.example.com/b.html".to_string())
            && accepted.contains(&"https://www.example.com/c.html".to_string()),
        "the listed files inside the root went out: {accepted:?}"
    );
}

#[test]
fn an_empty_site_is_nothing_to_do() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    dir_config(dir.path());
    let out = run(dir.path(), &fake);
    let v = assert_ok(&out, "empty dir");
    assert!(v["urls"].as_array().unwrap().is_empty(), "{v}");
    // An empty sitemap file and an empty urlset, likewise.
    for (name, body) in [
        ("empty.txt", ""),
        (
            "empty.xml",
            "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"></urlset>",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, body).unwrap();
        sitemap_config(dir.path(), &file, "");
        let out = run(dir.path(), &fake);
        let v = assert_ok(&out, name);
        assert!(v["urls"].as_array().unwrap().is_empty(), "{name}: {v}");
    }
    assert_eq!(fake.calls("PushUrlsCache"), 0);
}

#[test]
fn unusable_configs_exit_2_naming_key_and_line_and_push_nothing() {
    let fake = fake();
    for (file, needle) in [
        ("invalid-key.toml", "prewarm.toml:5:"),
        ("invalid-type.toml", "prewarm.toml:5:"),
        ("negative-quota.toml", "prewarm.toml:5:"),
        ("zero-quota.toml", "prewarm.toml:5:"),
        ("unknown-kind.toml", "prewarm.toml:5:"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let body = std::fs::read_to_string(fixture(&format!("configs/{file}"))).unwrap();
        let public = dir.path().join("public");
        std::fs::create_dir_all(&public).unwrap();
        std::fs::write(public.join("index.html"), "x").unwrap();
        // A usable source after the broken part, so only the broken part can stop the run.
        let body = if file == "unknown-kind.toml" {
            body
        } else {
            format!(
                "{body}\n[[source]]\nkind = \"dir\"\nroot = \"public\"\nbase_url = \"https://www.example.com/\"\n"
            )
        };
        crate::support::write_config(dir.path(), &body);
        let out = run(dir.path(), &fake);
        assert_refused(&out, &fake, needle, file);
        let err = text(&out.stderr);
        let msg = err.split(needle).nth(1).unwrap_or_default();
        assert!(
            msg.chars().nth(1).is_some_and(|c| !c.is_uppercase()),
            "{file}: a lower-case message: {err}"
        );
    }
}

/// What the little origin server answers on a path.
#[derive(Clone)]
enum Reply {
    Ok(Vec<u8>),
    Status(u16),
    Redirect(String),
    /// Accept, read the request, never answer.
    Hang,
    /// 200 with a body of this many bytes and no Content-Length (the cap must stop it while streaming).
    Stream(usize),
}

/// A tiny HTTP/1.1 origin on 127.0.0.1 serving `routes` (path → reply), one connection at a time, each closed
/// after one answer. Returns its base URL.
fn origin(routes: Vec<(&'static str, Reply)>) -> String {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let routes = routes.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let reply = routes
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map_or(Reply::Status(404), |(_, r)| r.clone());
                let _ = match reply {
                    Reply::Ok(body) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| stream.write_all(&body)),
                    Reply::Status(code) => stream.write_all(
                        format!("HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    ),
                    Reply::Redirect(to) => stream.write_all(
                        format!(
                            "HTTP/1.1 301 Moved\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    ),
                    Reply::Hang => {
                        std::thread::sleep(std::time::Duration::from_secs(30));
                        Ok(())
                    }
                    Reply::Stream(n) => {
                        let mut r = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<urlset>");
                        let chunk = vec![b' '; 64 * 1024];
                        let mut sent = 0;
                        while r.is_ok() && sent < n {
                            r = stream.write_all(&chunk);
                            sent += chunk.len();
                        }
                        r
                    }
                };
            });
        }
    });
    base
}

/// A config whose one source is the sitemap at `url`.
fn remote_config(dir: &Path, url: &str, extra: &str) {
    crate::support::write_config(
        dir,
        &format!(
            "[site]\ndomains = [\"https://www.example.com\"]\n\n[[source]]\nkind = \"sitemap\"\nurl = {url:?}\n\n\
             [push]\nbase_backoff = \"10ms\"\nmax_backoff = \"50ms\"\ntimeout = \"1s\"\nmax_attempts = 2\n\n{extra}"
        ),
    );
}

#[test]
fn remote_sitemaps_that_misbehave_are_refused_with_the_url_named() {
    let bomb = std::fs::read(fixture("bad/bomb.xml.gz")).unwrap();
    let ok = GOOD_SITEMAP.as_bytes().to_vec();
    let base = origin(vec![
        ("/ok.xml", Reply::Ok(ok)),
        ("/bomb.xml.gz", Reply::Ok(bomb)),
        ("/huge.xml", Reply::Stream(4 << 20)),
        ("/hang.xml", Reply::Hang),
        ("/gone.xml", Reply::Status(404)),
        ("/oops.xml", Reply::Status(500)),
        ("/loop.xml", Reply::Redirect("/loop.xml".into())),
        ("/to-ftp.xml", Reply::Redirect("ftp://127.0.0.1/x".into())),
    ]);
    let limits = "[limits]\nmax_decompressed_bytes = \"1MiB\"\nmax_fetch_bytes = \"1MiB\"\n";
    let fake = fake();
    for (path, needle) in [
        ("/bomb.xml.gz", "max_decompressed_bytes"),
        ("/huge.xml", "1048576"),
        ("/hang.xml", "timed out"),
        ("/gone.xml", "404"),
        ("/oops.xml", "500"),
        ("/loop.xml", "redirect"),
        ("/to-ftp.xml", "to-ftp.xml"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        remote_config(dir.path(), &format!("{base}{path}"), limits);
        let started = std::time::Instant::now();
        let out = run(dir.path(), &fake);
        assert_refused(&out, &fake, needle, path);
        assert!(
            text(&out.stderr).contains(path),
            "{path}: the URL is named: {}",
            text(&out.stderr)
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{path}: bounded"
        );
    }
    // Credentials in a sitemap URL are refused and never echoed.
    let dir = tempfile::tempdir().unwrap();
    let with_password = base.replace("http://", "http://deploy:hunter2-sekrit@") + "/ok.xml";
    remote_config(dir.path(), &with_password, "");
    let out = run(dir.path(), &fake);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("hunter2-sekrit"),
        "{}",
        text(&out.stderr)
    );
    assert!(fake.accepted_urls().is_empty());
    // The same origin's good sitemap goes through: the refusals above were the faults.
    let dir = tempfile::tempdir().unwrap();
    remote_config(dir.path(), &format!("{base}/ok.xml"), limits);
    let out = run(dir.path(), &fake);
    assert_ok(&out, "ok.xml");
    assert_eq!(fake.accepted_urls().len(), 3);
}

#[test]
fn hostile_text_in_inputs_cannot_inject_github_workflow_commands() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inject.xml");
    std::fs::write(
        &file,
        "<?xml version=\"1.0\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n\
         <url><loc>https://www.example.com/a&#10;::error::injected-loc</loc></url>\n\
         <url><loc>javascript:x&#10;::error::injected-bad</loc></url>\n\
         <url><loc>https://www.example.com/b</loc><lastmod>soon&#10;::error::injected-lastmod</lastmod>\
         <priority>9&#13;&#10;::error::injected-priority</priority></url>\n\
         </urlset>\n",
    )
    .unwrap();
    sitemap_config(dir.path(), &file, "");
    let summary = dir.path().join("summary.md");
    let outputs = dir.path().join("outputs.txt");
    let out = prewarm_at(dir.path(), &fake)
        .args(["--format", "github", "-vv"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .output()
        .unwrap();
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    let all = format!(
        "{}\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        std::fs::read_to_string(&outputs).unwrap_or_default()
    );
    for line in all.lines() {
        assert!(
            !line.trim_start().starts_with("::error::injected"),
            "a workflow command was injected:\n{all}"
        );
    }
    for u in fake.accepted_urls() {
        // WHATWG drops the line break: `/a::error::…` is an ordinary path, on one line.
        assert!(!u.contains(['\n', '\r']), "{u}");
    }
}
