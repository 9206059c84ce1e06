//! `prewarm fake-cdn` as a subprocess, the way a user tries a config or a CI pipeline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{site, text};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `prewarm fake-cdn ARGS --port 0` and returns it with the endpoint it printed.
fn start(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("prewarm"))
        .arg("fake-cdn")
        .args(args)
        .args([
            "--port",
            "0",
            "--secret-id",
            "AKIDcliFake",
            "--secret-key",
            "cli-fake-key",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("fake-cdn: listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    (Killed(child), endpoint)
}

#[test]
fn the_fake_cdn_subcommand_serves_both_apis_with_the_common_flags() {
    // v2 with --per-day 3: the batch of 5 is refused whole (quota), so the fake's quota flag took effect.
    for (api, per_day, expect_pushed) in [("v3", "1000", 5), ("v2", "3", 0)] {
        let (_fake, endpoint) = start(&["--api", api, "--per-day", per_day]);
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        assert_eq!(
            endpoint.ends_with("/v2/index.php"),
            api == "v2",
            "{endpoint}"
        );
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 5, api, "");
        let out = crate::support::prewarm(dir.path())
            .env("PREWARM_ENDPOINT", &endpoint)
            .env("TENCENTCLOUD_SECRET_ID", "AKIDcliFake")
            .env("TENCENTCLOUD_SECRET_KEY", "cli-fake-key")
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{api}: {}", text(&out.stderr));
        let v = crate::support::json(&out);
        let pushed: usize = v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["urls"].as_array().unwrap().len())
            .sum();
        assert_eq!(pushed, expect_pushed, "{api}: {v}");
        assert_eq!(
            v["deferred"].as_array().unwrap().len(),
            5 - expect_pushed,
            "{api}"
        );
        // The admin endpoint agrees.
        let base = endpoint
            .trim_end_matches("/v2/index.php")
            .trim_end_matches('/');
        let accepted: serde_json::Value = serde_json::from_str(
            &reqwest::blocking::get(format!("{base}/__fake/accepted"))
                .unwrap()
                .text()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(accepted.as_array().unwrap().len(), expect_pushed, "{api}");
    }
}
