//! Secrets: the SecretKey (and the session token) never appear in any output or file, whatever the subcommand,
//! format, failure or log level; secrets in prewarm.toml are refused; plain http is refused but for loopback;
//! TLS certificates are always verified.

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use prewarm::config::Api;

use crate::support::{
    FakeCdn, SECRET_ID, SECRET_KEY, dead_endpoint, fake_config, prewarm, prewarm_at, site, text,
    wait_until,
};

/// A fake session token: as secret as the key.
const TOKEN: &str = "prewarm-TEST-session-token-fedcba9876543210";

/// Asserts neither the key nor the token is in `bytes`.
fn assert_clean(bytes: &[u8], what: &str) {
    let s = String::from_utf8_lossy(bytes);
    for secret in [SECRET_KEY, TOKEN] {
        assert!(!s.contains(secret), "a secret leaked into {what}:\n{s}");
    }
}

/// Every file under `dir`, checked with [`assert_clean`]; returns how many were checked.
fn assert_tree_clean(dir: &Path) -> usize {
    let mut n = 0;
    for e in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        if e.file_type().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            assert_clean(&bytes, &e.path().display().to_string());
            n += 1;
        }
    }
    n
}

#[test]
fn no_subcommand_format_or_failure_prints_the_secret_key() {
    for (api, name) in [(Api::V3, "v3"), (Api::V2, "v2")] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        site(d, 45, name, "max_attempts = 2\n");
        let mut cfg = fake_config(api);
        cfg.token = Some(TOKEN.into());
        let fake = FakeCdn::start(cfg).unwrap();
        let summary = d.join("summary.md");
        let gh_out = d.join("github_output.txt");
        let mut runs = 0;
        let mut check = |args: &[&str], tweak: &dyn Fn(&mut assert_cmd::Command), stdin: &str| {
            let mut cmd = prewarm_at(d, &fake);
            cmd.env("TENCENTCLOUD_TOKEN", TOKEN)
                .env("RUST_BACKTRACE", "1")
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("GITHUB_OUTPUT", &gh_out)
                .args(args)
                .write_stdin(stdin);
            tweak(&mut cmd);
            let out = cmd.output().unwrap();
            let what = format!("{name} {args:?}");
            assert_clean(&out.stdout, &format!("stdout of {what}"));
            assert_clean(&out.stderr, &format!("stderr of {what}"));
            assert!(
                !text(&out.stderr).contains("panicked"),
                "{what}: {}",
                text(&out.stderr)
            );
            runs += 1;
            out.status.code()
        };
        let none = |_: &mut assert_cmd::Command| {};
        let touch = |i: usize| {
            std::fs::write(d.join(format!("public/page-{i:04}.html")), format!("v{i}")).unwrap();
        };
        for format in ["text", "json", "github"] {
            assert_eq!(
                check(&["--dry-run", "--format", format], &none, ""),
                Some(0)
            );
            assert_eq!(check(&["urls", "--format", format], &none, ""), Some(0));
        }
        // Real pushes in every format, each with something new to push, and a manifest.
        let mut i = 0;
        for format in ["text", "json", "github"] {
            touch(i);
            i += 1;
            let code = check(
                &[
                    "--format",
                    format,
                    "--write-manifest",
                    "manifest.json",
                    "-v",
                ],
                &none,
                "",
            );
            assert_eq!(code, Some(0), "{name} {format}");
        }
        for format in ["text", "json", "github"] {
            assert_eq!(check(&["status", "--format", format], &none, ""), Some(0));
        }
        assert!(check(&["status", "--tasks", "--format", "json"], &none, "").is_some());
        assert_eq!(check(&["baseline", "--format", "json"], &none, ""), Some(0));
        assert_eq!(check(&["baseline"], &none, ""), Some(0));
        // Everything a debug log can say, with the HTTP stack's own logs on.
        touch(i);
        i += 1;
        let trace = |c: &mut assert_cmd::Command| {
            c.env("RUST_LOG", "trace");
        };
        assert_eq!(check(&["-vv"], &trace, ""), Some(0));
        // Failure paths: 5xx storm, the endpoint down, the key refused, credentials revoked, bad input.
        for (faults, want) in [("503", 1), ("html200", 1), ("auth", 1)] {
            fake.set_faults(faults).unwrap();
            touch(i);
            i += 1;
            for format in ["text", "json", "github"] {
                let code = check(&["--format", format, "-vv"], &trace, "");
                assert_eq!(code, Some(want), "{name} {faults} {format}");
            }
        }
        fake.set_faults("").unwrap();
        let down = dead_endpoint("/");
        let down_env = |c: &mut assert_cmd::Command| {
            c.env("PREWARM_ENDPOINT", &down);
        };
        assert_eq!(check(&["--format", "github"], &down_env, ""), Some(1));
        let wrong_key = |c: &mut assert_cmd::Command| {
            c.env("TENCENTCLOUD_SECRET_KEY", format!("{SECRET_KEY}-but-wrong"));
        };
        for format in ["text", "json", "github"] {
            // The wrong key contains the real one: neither may be printed.
            assert_eq!(check(&["--format", format], &wrong_key, ""), Some(1));
        }
        let no_id = |c: &mut assert_cmd::Command| {
            c.env_remove("TENCENTCLOUD_SECRET_ID");
        };
        assert_eq!(check(&["--format", "github"], &no_id, ""), Some(2));
        assert_eq!(check(&["--max-urls", "x"], &none, ""), Some(2));
        assert_eq!(check(&["--sitemap", "missing.xml"], &none, ""), Some(2));
        let changed = [
            "--changed",
            "-",
            "--base-url",
            "https://www.example.com/",
            "--format",
            "json",
        ];
        assert!(matches!(
            check(&changed, &none, "page-0001.html\n../x\n"),
            Some(0 | 2)
        ));
        assert_eq!(
            check(
                &["hook", "post-receive"],
                &none,
                "0000 1111 refs/heads/main\n"
            ),
            Some(2)
        );
        assert!(check(&["hook", "install"], &none, "").is_some());
        assert_eq!(check(&["completions", "bash"], &none, ""), Some(0));
        assert_eq!(check(&["fake-cdn", "--help"], &none, ""), Some(0));
        assert_eq!(check(&["--help"], &none, ""), Some(0));
        assert_eq!(check(&["--version"], &none, ""), Some(0));
        let sub = d.join("init");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(check(&["init", "init/prewarm.toml"], &none, ""), Some(0));
        // Revoked credentials (the fake stays revoked), then damaged state (it stays damaged).
        fake.set_faults("revoke@1").unwrap();
        touch(i);
        for format in ["text", "json", "github"] {
            assert_eq!(check(&["--format", format, "-vv"], &trace, ""), Some(1));
        }
        // Damaged state, last (it stays damaged).
        std::fs::write(
            d.join(".prewarm/state.json"),
            b"{\"format\":\"prewarm-state\",",
        )
        .unwrap();
        assert_eq!(check(&["--format", "github"], &none, ""), Some(2));
        assert!(runs > 40, "{runs}");
        // Nothing written anywhere holds a secret: state, journal, manifest, summaries, outputs.
        assert!(d.join("manifest.json").exists() && summary.exists() && gh_out.exists());
        assert!(assert_tree_clean(d) > 45);
    }
}

#[test]
fn a_panic_path_with_backtraces_on_prints_no_secret() {
    // `prewarm urls | head -1`: stdout closes early. Whatever happens (an error or a panic with a backtrace),
    // stderr must not hold the key.
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 3000, "v3", "");
    let bin = assert_cmd::cargo::cargo_bin("prewarm");
    let mut child = StdCommand::new(bin)
        .env_clear()
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "full")
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .env("TENCENTCLOUD_TOKEN", TOKEN)
        .args(["urls", "--max-urls", "3000", "--all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the first line
    let out = child.wait_with_output().unwrap();
    assert_clean(&out.stderr, "stderr after a closed stdout");
    assert_ne!(
        out.status.code(),
        Some(101),
        "a closed stdout is not a panic: {}",
        text(&out.stderr)
    );
}

#[test]
fn a_secret_in_prewarm_toml_is_refused_pointing_to_the_environment() {
    for (key, var) in [
        ("secret_key", "TENCENTCLOUD_SECRET_KEY"),
        ("secret_id", "TENCENTCLOUD_SECRET_ID"),
    ] {
        for format in ["text", "json", "github"] {
            let dir = tempfile::tempdir().unwrap();
            site(dir.path(), 3, "v3", "");
            let cfg = dir.path().join("prewarm.toml");
            let body = std::fs::read_to_string(&cfg)
                .unwrap()
                .replace("[cdn]\n", &format!("[cdn]\n{key} = \"{SECRET_KEY}\"\n"));
            std::fs::write(&cfg, body).unwrap();
            let fake = FakeCdn::start(fake_config(Api::V3)).unwrap();
            let out = prewarm_at(dir.path(), &fake)
                .args(["--format", format])
                .output()
                .unwrap();
            let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert_eq!(out.status.code(), Some(2), "{key} {format}: {all}");
            assert!(all.contains(var), "{key} {format}: points to {var}: {all}");
            assert!(all.contains("prewarm.toml:"), "{key} {format}: {all}");
            assert_clean(all.as_bytes(), &format!("{key} {format} output"));
            assert_eq!(fake.calls("PushUrlsCache"), 0);
            // Also under --dry-run, which needs no credentials at all.
            let out = prewarm(dir.path()).arg("--dry-run").output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{key} dry run");
            assert_clean(&out.stderr, "dry-run stderr");
        }
    }
}

#[test]
fn plain_http_endpoints_are_refused_except_loopback() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 3, "v3", "");
    let fake = FakeCdn::start(fake_config(Api::V3)).unwrap();
    for endpoint in [
        "http://cdn.tencentcloudapi.com/",
        "http://10.0.0.1/",
        "http://192.168.1.1:8080/",
        "http://127.0.0.1.invalid/",
        "http://localhost.invalid/",
        "http://[fe80::1]/",
        "ftp://127.0.0.1/",
        "http://user:pass@127.0.0.1/",
    ] {
        for how in ["env", "config"] {
            let mut cmd = prewarm_at(dir.path(), &fake);
            match how {
                "env" => {
                    cmd.env("PREWARM_ENDPOINT", endpoint);
                }
                _ => {
                    let cfg = dir.path().join("alt.toml");
                    let body = std::fs::read_to_string(dir.path().join("prewarm.toml"))
                        .unwrap()
                        .replace("[cdn]\n", &format!("[cdn]\nendpoint = \"{endpoint}\"\n"));
                    std::fs::write(&cfg, body).unwrap();
                    cmd.env_remove("PREWARM_ENDPOINT")
                        .args(["--config", "alt.toml"]);
                }
            }
            let out = cmd.output().unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{endpoint} ({how}): {err}");
            assert!(err.contains("cdn.endpoint"), "{endpoint} ({how}): {err}");
            assert!(
                !err.contains("pass@"),
                "{endpoint}: the password is not echoed: {err}"
            );
        }
    }
    assert_eq!(fake.calls("PushUrlsCache"), 0);
    // Loopback over http is fine: 127.0.0.1 (the fake) and localhost.
    let out = prewarm_at(dir.path(), &fake).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fake.accepted_urls().len(), 3);
    std::fs::write(dir.path().join("public/page-0000.html"), "new").unwrap();
    let localhost = fake.endpoint().replace("127.0.0.1", "localhost");
    let out = prewarm_at(dir.path(), &fake)
        .env("PREWARM_ENDPOINT", &localhost)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{localhost}: {}",
        text(&out.stderr)
    );
}

/// A self-signed certificate for 127.0.0.1, served by `openssl s_server`.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_server(dir: &Path) -> Option<TlsServer> {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let made = StdCommand::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !made.success() {
        return None;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = StdCommand::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = TlsServer { child, port };
    let up = wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    up.then_some(server)
}

#[test]
fn tls_certificates_are_always_verified() {
    // Static half: nothing in src/ turns verification off.
    for e in walkdir::WalkDir::new(crate::support::root().join("src"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
    {
        let src = std::fs::read_to_string(e.path()).unwrap();
        for bad in [
            "danger_accept_invalid",
            "accept_invalid_hostnames",
            "dangerous()",
        ] {
            assert!(!src.contains(bad), "{} contains {bad}", e.path().display());
        }
    }
    // Live half: a self-signed HTTPS endpoint on loopback is refused, with a message about the certificate.
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = tls_server(dir.path()) else {
        panic!("openssl is needed for this test (it is on the build machine)");
    };
    site(dir.path(), 3, "v3", "max_attempts = 1\n");
    let fake = FakeCdn::start(fake_config(Api::V3)).unwrap(); // for the credentials only
    for host in ["127.0.0.1", "localhost"] {
        let out = prewarm_at(dir.path(), &fake)
            .env(
                "PREWARM_ENDPOINT",
                format!("https://{host}:{}/", server.port),
            )
            .args(["--format", "json"])
            .output()
            .unwrap();
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr)).to_lowercase();
        assert_eq!(out.status.code(), Some(1), "{host}: {all}");
        assert!(all.contains("certificate"), "{host}: says why: {all}");
        assert_clean(all.as_bytes(), "tls output");
    }
}

#[test]
fn a_token_with_a_line_break_is_refused_without_being_printed() {
    for (api, name) in [(Api::V3, "v3"), (Api::V2, "v2")] {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 3, name, "max_attempts = 1\n");
        let mut cfg = fake_config(api);
        let evil = format!("{TOKEN}\r\nX-Injected: 1");
        cfg.token = Some(evil.clone());
        let fake = FakeCdn::start(cfg).unwrap();
        let out = prewarm_at(dir.path(), &fake)
            .env("TENCENTCLOUD_TOKEN", &evil)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_clean(&out.stdout, &format!("{name} stdout"));
        assert_clean(&out.stderr, &format!("{name} stderr"));
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{}",
            text(&out.stderr)
        );
        // No token holds a line break (v3 would put it in a header, v2 in a form field): refused at start,
        // exit 2, naming the variable, before anything is sent.
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("TENCENTCLOUD_TOKEN"),
            "{name}: {}",
            text(&out.stderr)
        );
        assert!(fake.accepted_urls().is_empty(), "{name}");
    }
}

#[test]
fn secret_values_under_other_keys_are_refused_without_echoing_them() {
    for (table, key, value) in [
        ("[cdn]", "token", TOKEN),
        ("[cdn]", "secret", SECRET_KEY),
        ("[cdn]", "SecretKey", SECRET_KEY),
        ("[push]", "secret_key", SECRET_KEY),
        ("[cdn]", "secret_key_env", SECRET_KEY),
        ("[cdn]", "secret_key", "multi\nline"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 3, "v3", "");
        let cfg = dir.path().join("prewarm.toml");
        let body = std::fs::read_to_string(&cfg).unwrap();
        let line = format!("{key} = {value:?}\n");
        let body = if body.contains(&format!("{table}\n")) {
            body.replace(&format!("{table}\n"), &format!("{table}\n{line}"))
        } else {
            format!("{body}\n{table}\n{line}")
        };
        std::fs::write(&cfg, body).unwrap();
        let fake = FakeCdn::start(fake_config(Api::V3)).unwrap();
        for format in ["text", "github"] {
            let out = prewarm_at(dir.path(), &fake)
                .args(["--format", format])
                .output()
                .unwrap();
            let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert_eq!(out.status.code(), Some(2), "{table} {key} {format}: {all}");
            assert!(
                all.contains("prewarm.toml:"),
                "{key}: names the file and line: {all}"
            );
            assert_clean(all.as_bytes(), &format!("{table} {key} {format}"));
            assert!(!all.contains("multi"), "{key}: {all}");
        }
        assert_eq!(fake.calls("PushUrlsCache"), 0);
    }
}
