//! The fault matrix: the built binary against a fake CDN that fails in every way the issue lists (5xx bursts,
//! timeouts, resets, truncated and HTML bodies, throttling, the quota or the credentials running out mid-run, the
//! endpoint down), plus a seeded 20%-failure soak, SIGKILL and rerun, two runs at once, and damaged state.
//!
//! Every test checks, URL by URL against the fake's record, that each URL was accepted exactly once or is still in
//! the backlog, and that the state file is valid afterwards ([`assert_accounted`]).

use std::process::Stdio;
use std::time::Duration;

use prewarm::config::Api;

use crate::support::{
    FakeCdn, FakeConfig, assert_accounted, assert_no_secret, counts, dead_endpoint, fake_config,
    json, page_urls, prewarm_at, site, site_timeout, state_path, text, wait_until,
};

const BOTH: [(Api, &str); 2] = [(Api::V2, "v2"), (Api::V3, "v3")];

fn start(cfg: FakeConfig) -> FakeCdn {
    FakeCdn::start(cfg).expect("fake CDN starts")
}

fn push_action(api: Api) -> &'static str {
    if api == Api::V2 {
        "CdnOverseaPushser"
    } else {
        "PushUrlsCache"
    }
}

/// Runs one push with `faults` against a fresh fake and site of `n` pages; returns the output, fake and folder.
fn faulted_run(
    api: Api,
    name: &str,
    n: usize,
    faults: &str,
    push_extra: &str,
) -> (std::process::Output, FakeCdn, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    site_timeout(dir.path(), n, name, "500ms", push_extra);
    let mut cfg = fake_config(api);
    cfg.faults = faults.into();
    let fake = start(cfg);
    let out = prewarm_at(dir.path(), &fake)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_no_secret(&out);
    (out, fake, dir)
}

/// Asserts a run that recovered from its faults: exit 0, all `n` URLs accepted once, nothing left over.
fn assert_recovered(
    out: &std::process::Output,
    fake: &FakeCdn,
    dir: &std::path::Path,
    n: usize,
    name: &str,
) {
    assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
    let left = assert_accounted(fake, dir, &page_urls(n), name);
    assert_eq!(left, 0, "{name}: everything lands after the retries");
    assert_eq!(counts(fake).len(), n, "{name}");
    let v = json(out);
    assert!(v["errors"].as_array().unwrap().is_empty(), "{name}: {v}");
}

/// Asserts a run that gave up: exit 1, a message naming the trouble, every URL accepted once or in the backlog.
fn assert_gave_up(
    out: &std::process::Output,
    fake: &FakeCdn,
    dir: &std::path::Path,
    n: usize,
    name: &str,
    words: &[&str],
) -> usize {
    assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
    let errors = json(out)["errors"].to_string().to_lowercase();
    assert!(
        words.iter().any(|w| errors.contains(w)),
        "{name}: a clear message mentioning one of {words:?}:\n{errors}"
    );
    let left = assert_accounted(fake, dir, &page_urls(n), name);
    assert!(left > 0, "{name}: something must be left for the next run");
    left
}

#[test]
fn bursts_of_500_502_503_within_the_retries_land_everything_once() {
    for (api, name) in BOTH {
        let (out, fake, dir) = faulted_run(
            api,
            name,
            45,
            "500@1-2,502@3,503@4,503:empty@6,500@8-9",
            "max_attempts = 6\n",
        );
        assert_recovered(&out, &fake, dir.path(), 45, name);
        assert!(
            fake.calls(push_action(api)) >= 3 + 7,
            "{name}: the faults were hit"
        );
    }
}

#[test]
fn a_5xx_storm_past_the_retries_exits_1_and_keeps_the_backlog() {
    for (api, name) in BOTH {
        // The first batch lands; from the second call on every call is a 503.
        let (out, fake, dir) = faulted_run(api, name, 45, "503@2-", "max_attempts = 3\n");
        let left = assert_gave_up(
            &out,
            &fake,
            dir.path(),
            45,
            name,
            &["gave up after 3 attempt(s): transient failure: http 503"],
        );
        assert_eq!(left, 25, "{name}: the first batch of 20 landed");
        // The backlog goes out on the next run, once the CDN is back.
        fake.set_faults("").unwrap();
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_recovered(&out, &fake, dir.path(), 45, name);
    }
}

#[test]
fn timeouts_are_retried_without_double_pushing() {
    for (api, name) in BOTH {
        // The fake holds the first two calls for 2 s and never answers; the client gives up after 500 ms.
        let (out, fake, dir) = faulted_run(api, name, 25, "timeout:2000@1-2", "max_attempts = 4\n");
        assert_recovered(&out, &fake, dir.path(), 25, name);
    }
}

#[test]
fn resets_and_dropped_connections_are_retried() {
    for (api, name) in BOTH {
        let (out, fake, dir) = faulted_run(
            api,
            name,
            45,
            "reset@1-2,drop@3,reset@5",
            "max_attempts = 5\n",
        );
        assert_recovered(&out, &fake, dir.path(), 45, name);
    }
}

#[test]
fn truncated_and_html_200_bodies_are_retried() {
    for (api, name) in BOTH {
        let (out, fake, dir) = faulted_run(
            api,
            name,
            45,
            "truncated@1,html200@2,truncated@4,html200@5-6",
            "max_attempts = 5\n",
        );
        assert_recovered(&out, &fake, dir.path(), 45, name);
    }
}

#[test]
fn html_200_forever_exits_1_with_a_clear_message() {
    for (api, name) in BOTH {
        let (out, fake, dir) = faulted_run(api, name, 5, "html200", "max_attempts = 2\n");
        assert_gave_up(&out, &fake, dir.path(), 5, name, &["the reply is not json"]);
        assert!(fake.accepted_urls().is_empty());
    }
}

#[test]
fn rate_limit_answers_are_waited_out() {
    for (api, name) in BOTH {
        let (out, fake, dir) = faulted_run(
            api,
            name,
            45,
            "throttle@1-3,throttle@5",
            "max_attempts = 6\n",
        );
        assert_recovered(&out, &fake, dir.path(), 45, name);
    }
}

#[test]
fn the_quota_running_out_mid_run_defers_the_rest_in_the_state() {
    for (api, name) in BOTH {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 50, name, "");
        let mut cfg = fake_config(api);
        // Someone else spends the quota while we run: only the first 25 of the fake's 1000 are left for us.
        cfg.spent_overseas = 975;
        cfg.spent_mainland = 975;
        let fake = start(cfg);
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let left = assert_accounted(&fake, dir.path(), &page_urls(50), name);
        assert!(left >= 25, "{name}: at most 25 fit: {left} left");
        let v = json(&out);
        assert_eq!(v["deferred"].as_array().unwrap().len(), left, "{name}: {v}");
        // Next day: the backlog goes, nothing twice.
        fake.reset_day();
        let out = prewarm_at(dir.path(), &fake)
            .env("PREWARM_NOW", "2099-01-02T00:00:00Z")
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_recovered(&out, &fake, dir.path(), 50, name);
    }
}

#[test]
fn credentials_revoked_mid_run_stop_with_exit_1() {
    for (api, name) in BOTH {
        let (out, fake, dir) = faulted_run(api, name, 65, "revoke@3", "max_attempts = 4\n");
        let left = assert_gave_up(
            &out,
            &fake,
            dir.path(),
            65,
            name,
            &["authentication failed"],
        );
        assert_eq!(left, 25, "{name}: two batches landed before the revocation");
        assert_eq!(
            fake.calls(push_action(api)),
            3,
            "{name}: an auth failure is not retried"
        );
    }
}

#[test]
fn the_endpoint_down_for_the_whole_run_exits_1_and_keeps_everything() {
    for (api, name) in BOTH {
        let dir = tempfile::tempdir().unwrap();
        site_timeout(dir.path(), 30, name, "500ms", "max_attempts = 2\n");
        let fake = start(fake_config(api)); // only for the record: nothing may reach it
        let path = if api == Api::V2 { "/v2/index.php" } else { "/" };
        let out = prewarm_at(dir.path(), &fake)
            .env("PREWARM_ENDPOINT", dead_endpoint(path))
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_no_secret(&out);
        let left = assert_gave_up(&out, &fake, dir.path(), 30, name, &["cannot connect"]);
        assert_eq!(left, 30, "{name}");
        assert_eq!(fake.connections(), 0);
    }
}

#[test]
fn soak_1000_urls_through_20_percent_random_failures() {
    for (api, name) in BOTH {
        soak(api, name);
    }
}

fn soak(api: Api, name: &str) {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    site_timeout(dir.path(), 1000, name, "2s", "max_attempts = 6\n");
    let mut cfg = fake_config(api);
    cfg.faults = "random:0.2:seed=20261201".into();
    let fake = start(cfg);
    let urls = page_urls(1000);
    // A batch can exhaust its attempts (exit 1, the batch stays in the backlog); rerun until nothing is left.
    let mut runs = 0;
    loop {
        runs += 1;
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name} run {runs}: {}",
            text(&out.stderr)
        );
        let left = assert_accounted(&fake, dir.path(), &urls, &format!("{name} soak run {runs}"));
        if left == 0 {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            break;
        }
        assert!(runs < 5, "{name}: still {left} left after {runs} runs");
    }
    let c = counts(&fake);
    assert_eq!(c.len(), 1000, "{name}: nothing lost");
    assert!(
        c.values().all(|&n| n == 1),
        "{name}: nothing accepted twice"
    );
    assert!(
        fake.rejected().len() >= 5,
        "{name}: the faults were really injected: {}",
        fake.rejected().len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{name}: the soak took {:?}",
        started.elapsed()
    );
}

#[test]
fn sigkill_mid_push_then_rerun_pushes_each_url_once_but_the_batch_in_flight() {
    for (api, name) in BOTH {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 100, name, "");
        let mut cfg = fake_config(api);
        cfg.latency = Duration::from_millis(150);
        let fake = start(cfg);
        let bin = assert_cmd::cargo::cargo_bin("prewarm");
        let mut child = std::process::Command::new(bin)
            .env_clear()
            .current_dir(dir.path())
            .env("PREWARM_ENDPOINT", fake.endpoint())
            .env("TENCENTCLOUD_SECRET_ID", crate::support::SECRET_ID)
            .env("TENCENTCLOUD_SECRET_KEY", crate::support::SECRET_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = wait_until(Duration::from_secs(20), || fake.accepted_urls().len() >= 40);
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(started, "{name}: two batches landed before the kill");
        assert!(!status.success(), "{name}: killed");
        let before = fake.accepted_urls().len();
        assert!(
            before < 100,
            "{name}: the kill came mid-run ({before} accepted)"
        );
        // The state is valid after the kill, and a rerun finishes the job.
        crate::support::load_state(dir.path());
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let c = counts(&fake);
        assert_eq!(c.len(), 100, "{name}: every URL accepted");
        let twice: Vec<&String> = c.iter().filter(|(_, n)| **n > 1).map(|(u, _)| u).collect();
        assert!(
            twice.len() <= 20 && c.values().all(|&n| n <= 2),
            "{name}: only the batch in flight may go twice: {twice:?}"
        );
        let state = crate::support::load_state(dir.path());
        assert!(state.backlog().is_empty(), "{name}");
        assert_eq!(state.len(), 100, "{name}");
    }
}

#[test]
fn two_runs_started_together_never_push_a_url_twice() {
    for (api, name) in BOTH {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 60, name, "");
        let mut cfg = fake_config(api);
        cfg.latency = Duration::from_millis(50);
        let fake = start(cfg);
        let spawn = || {
            let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("prewarm"));
            cmd.env_clear()
                .current_dir(dir.path())
                .env("PREWARM_ENDPOINT", fake.endpoint())
                .env("TENCENTCLOUD_SECRET_ID", crate::support::SECRET_ID)
                .env("TENCENTCLOUD_SECRET_KEY", crate::support::SECRET_KEY)
                .args(["--format", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        };
        let a = spawn();
        let b = spawn();
        let a = a.wait_with_output().unwrap();
        let b = b.wait_with_output().unwrap();
        for (o, which) in [(&a, "first"), (&b, "second")] {
            assert!(
                matches!(o.status.code(), Some(0 | 2)),
                "{name}: {which} run: {}",
                text(&o.stderr)
            );
        }
        assert!(
            a.status.code() == Some(0) || b.status.code() == Some(0),
            "{name}: one of them runs"
        );
        let c = counts(&fake);
        assert_eq!(c.len(), 60, "{name}");
        assert!(c.values().all(|&n| n == 1), "{name}: {c:?}");
        assert_eq!(assert_accounted(&fake, dir.path(), &page_urls(60), name), 0);
    }
}

#[test]
fn truncated_or_garbage_state_exits_2_and_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 5, "v3", "");
    let fake = start(fake_config(Api::V3));
    let out = prewarm_at(dir.path(), &fake).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let good = std::fs::read(state_path(dir.path())).unwrap();
    assert!(good.len() > 20);
    let truncated = good[..good.len() / 2].to_vec();
    let garbage = b"\x00\xffnot json at all {{{".to_vec();
    for (damaged, what) in [(truncated, "truncated"), (garbage, "garbage")] {
        std::fs::write(state_path(dir.path()), &damaged).unwrap();
        // A changed page, so the run would push if it got that far.
        std::fs::write(dir.path().join("public/page-0001.html"), what).unwrap();
        for args in [&[][..], &["--dry-run"][..], &["status"][..]] {
            let out = prewarm_at(dir.path(), &fake).args(args).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{what} {args:?}: {}",
                text(&out.stderr)
            );
            let err = text(&out.stderr);
            assert!(
                err.contains("state.json"),
                "{what} {args:?}: the message names the file: {err}"
            );
            assert!(!err.contains("panicked"), "{what}: {err}");
            assert_eq!(
                std::fs::read(state_path(dir.path())).unwrap(),
                damaged,
                "{what} {args:?}: the file is left as it was"
            );
        }
        assert_eq!(fake.accepted_urls().len(), 5, "{what}: nothing more pushed");
    }
}

#[test]
fn a_second_run_that_cannot_get_the_lock_exits_2_and_pushes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 60, "v3", "");
    let cfg = dir.path().join("prewarm.toml");
    let body = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{body}\n[state]\nlock_timeout = \"200ms\"\n")).unwrap();
    let mut fc = fake_config(Api::V3);
    fc.latency = Duration::from_millis(300);
    let fake = start(fc);
    let first = std::process::Command::new(assert_cmd::cargo::cargo_bin("prewarm"))
        .env_clear()
        .current_dir(dir.path())
        .env("PREWARM_ENDPOINT", fake.endpoint())
        .env("TENCENTCLOUD_SECRET_ID", crate::support::SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", crate::support::SECRET_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || fake
        .calls("PushUrlsCache")
        >= 1));
    let calls_before = fake.calls("PushUrlsCache");
    let out = prewarm_at(dir.path(), &fake).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("state.json") && err.to_lowercase().contains("lock"),
        "{err}"
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(
        fake.calls("PushUrlsCache") <= calls_before + 3,
        "the second run pushed nothing"
    );
    assert_eq!(
        assert_accounted(&fake, dir.path(), &page_urls(60), "lock"),
        0
    );
    assert!(counts(&fake).values().all(|&n| n == 1));
}

#[test]
fn unusable_state_paths_and_clocks_exit_2_before_pushing() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 5, "v3", "");
    let fake = start(fake_config(Api::V3));
    std::fs::create_dir_all(dir.path().join("a-folder")).unwrap();
    std::fs::write(dir.path().join("a-file"), "x").unwrap();
    for (args, env, needle) in [
        (&["--state", "a-folder"][..], None, "a-folder"),
        (&["--state", "a-file/state.json"][..], None, "a-file"),
        (
            &[][..],
            Some(("PREWARM_NOW", "yesterday-ish")),
            "PREWARM_NOW",
        ),
    ] {
        let mut cmd = prewarm_at(dir.path(), &fake);
        cmd.args(args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(fake.calls("PushUrlsCache"), 0);
    assert!(
        std::fs::read_dir(dir.path().join("a-folder"))
            .unwrap()
            .next()
            .is_none()
    );
}
