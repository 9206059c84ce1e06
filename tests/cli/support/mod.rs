//! Shared helpers: the command builder, fixture paths, the fake CDN.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;

pub use prewarm::fake_cdn::{FakeCdn, FakeConfig};

/// Fake credentials the fake CDN is started with (never real ones).
pub const SECRET_ID: &str = "AKIDprewarmTESTfakeSecretId000000000";
/// The fake SecretKey: no test output may ever contain it.
pub const SECRET_KEY: &str = "prewarm-TEST-secret-key-0123456789abcdef";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture path.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// `prewarm` with a cleared environment, run in `cwd`.
pub fn prewarm(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("prewarm").expect("binary built");
    cmd.env_clear().current_dir(cwd);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// `prewarm` pointed at a fake CDN, with its credentials.
pub fn prewarm_at(cwd: &Path, fake: &FakeCdn) -> Command {
    let mut cmd = prewarm(cwd);
    cmd.env("PREWARM_ENDPOINT", fake.endpoint())
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY);
    cmd
}

/// A fake CDN config with the test credentials, for `api`.
pub fn fake_config(api: prewarm::config::Api) -> FakeConfig {
    FakeConfig {
        api,
        secret_id: SECRET_ID.into(),
        secret_key: SECRET_KEY.into(),
        domains: vec!["www.example.com".into(), "static.example.com".into()],
        ..FakeConfig::default()
    }
}

/// Writes a prewarm.toml into `dir`.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("prewarm.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

/// Output as UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A site folder of `n` pages under `dir/public`, plus a config pushing it through `api` with fast retries.
pub fn site(dir: &Path, n: usize, api: &str, extra: &str) {
    let public = dir.join("public");
    std::fs::create_dir_all(&public).expect("mkdir");
    for i in 0..n {
        std::fs::write(
            public.join(format!("page-{i:04}.html")),
            format!("<p>page {i}</p>"),
        )
        .expect("write page");
    }
    write_config(
        dir,
        &format!(
            "[site]\ndomains = [\"https://www.example.com\"]\n\n[[source]]\nkind = \"dir\"\nroot = \"public\"\n\
             base_url = \"https://www.example.com/\"\n\n[cdn]\napi = \"{api}\"\n\n[push]\nbase_backoff = \"10ms\"\n\
             max_backoff = \"50ms\"\ntimeout = \"5s\"\n{extra}"
        ),
    );
}

/// Parses stdout as one JSON object.
pub fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(&out.stdout)))
}

/// Asserts the test SecretKey appears nowhere in an output.
pub fn assert_no_secret(out: &std::process::Output) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !text(bytes).contains(SECRET_KEY),
            "the SecretKey leaked into {name}:\n{}",
            text(bytes)
        );
    }
}

/// Serves the files of `dir` on 127.0.0.1 (one request per connection); counts requests.
pub fn serve_dir(dir: PathBuf) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).is_err() || l == "\r\n" || l.is_empty() {
                    break;
                }
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = std::fs::read(dir.join(&path));
            let _ = match body {
                Ok(b) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    );
                    stream.write_all(&b)
                }
                Err(_) => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
        }
    });
    (base, hits)
}

/// Like [`site`], but with the client `timeout` chosen by the caller (`extra` goes at the end of `[push]`).
pub fn site_timeout(dir: &Path, n: usize, api: &str, timeout: &str, extra: &str) {
    site(dir, n, api, "");
    let cfg = dir.join("prewarm.toml");
    let text = std::fs::read_to_string(&cfg).expect("read config");
    let text = text.replace(
        "timeout = \"5s\"\n",
        &format!("timeout = \"{timeout}\"\n{extra}"),
    );
    std::fs::write(&cfg, text).expect("write config");
}

/// The page URLs [`site`] writes, in order.
pub fn page_urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://www.example.com/page-{i:04}.html"))
        .collect()
}

/// Every URL the fake accepted, with how often.
pub fn counts(fake: &FakeCdn) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for u in fake.accepted_urls() {
        *m.entry(u).or_insert(0) += 1;
    }
    m
}

/// The state file of a [`site`] folder.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(".prewarm").join("state.json")
}

/// Loads the state of a [`site`] folder the way prewarm does; panics (fails the test) when it is not valid.
pub fn load_state(dir: &Path) -> prewarm::state::State {
    let p = state_path(dir);
    prewarm::state::load_read_only(&p)
        .unwrap_or_else(|e| panic!("the state file {} is not valid: {e}", p.display()))
}

/// Asserts, URL by URL, that each of `urls` was accepted by the fake exactly once or (never accepted) is still in
/// the state's backlog, that the state records as pushed exactly what the fake accepted, and that the fake
/// accepted nothing else. Returns how many are in the backlog.
pub fn assert_accounted(fake: &FakeCdn, dir: &Path, urls: &[String], name: &str) -> usize {
    let state = load_state(dir);
    let backlog: std::collections::BTreeSet<String> =
        state.backlog().iter().map(|b| b.url.clone()).collect();
    let c = counts(fake);
    for u in c.keys() {
        assert!(
            urls.contains(u),
            "{name}: the fake accepted {u}, which was never planned"
        );
    }
    let mut in_backlog = 0;
    for u in urls {
        match c.get(u).copied().unwrap_or(0) {
            0 => {
                assert!(
                    backlog.contains(u),
                    "{name}: {u} was neither accepted nor kept in the backlog (lost)"
                );
                assert!(
                    state.fingerprint(u).is_none(),
                    "{name}: {u} is recorded as pushed but the fake never accepted it"
                );
                in_backlog += 1;
            }
            1 => {
                assert!(
                    !backlog.contains(u),
                    "{name}: {u} was accepted but is still in the backlog (would be pushed twice)"
                );
                assert!(
                    state.fingerprint(u).is_some(),
                    "{name}: {u} was accepted but the state does not record it"
                );
            }
            n => panic!("{name}: {u} was accepted {n} times"),
        }
    }
    in_backlog
}

/// A loopback endpoint where nothing listens (bound, then released).
pub fn dead_endpoint(path: &str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}{path}")
}

/// Polls `cond` every 10 ms until it holds or `deadline` passes; returns whether it held.
pub fn wait_until(deadline: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + deadline;
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cond()
}
