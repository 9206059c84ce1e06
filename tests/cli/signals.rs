//! Signals: SIGINT / SIGTERM during a push (against a slowed fake CDN) stop after the batch in flight, write the
//! state and exit 130 / 143; a rerun then pushes the rest, each URL exactly once. A second signal ends the
//! process at once, and the state is still valid.

use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use prewarm::config::Api;

use crate::support::{
    FakeCdn, SECRET_ID, SECRET_KEY, assert_accounted, counts, fake_config, json, page_urls,
    prewarm_at, site, text, wait_until,
};

const N: usize = 200;

fn spawn(dir: &std::path::Path, fake: &FakeCdn) -> Child {
    StdCommand::new(assert_cmd::cargo::cargo_bin("prewarm"))
        .env_clear()
        .current_dir(dir)
        .env("PREWARM_ENDPOINT", fake.endpoint())
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .env("NO_COLOR", "1")
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn send(child: &Child, sig: &str) {
    let ok = StdCommand::new("kill")
        .args(["-s", sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -s {sig}");
}

/// Waits for the child with a deadline (never blindly): kills it and fails the test if it hangs.
fn wait_deadline(mut child: Child, deadline: Duration) -> std::process::Output {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "the run did not stop within {deadline:?}: {}",
        text(&out.stderr)
    );
}

/// A slowed fake: every call takes `ms` milliseconds.
fn slow_fake(api: Api, ms: u64) -> FakeCdn {
    let mut cfg = fake_config(api);
    cfg.latency = Duration::from_millis(ms);
    FakeCdn::start(cfg).unwrap()
}

#[test]
fn sigint_and_sigterm_stop_after_the_batch_in_flight_and_save_state() {
    for (sig, code, label) in [("INT", 130, "SIGINT"), ("TERM", 143, "SIGTERM")] {
        for (api, name) in [(Api::V2, "v2"), (Api::V3, "v3")] {
            let what = format!("{label} {name}");
            let dir = tempfile::tempdir().unwrap();
            site(dir.path(), N, name, "");
            let fake = slow_fake(api, 100);
            let child = spawn(dir.path(), &fake);
            assert!(
                wait_until(Duration::from_secs(20), || fake.accepted_urls().len() >= 20),
                "{what}: the push started"
            );
            send(&child, sig);
            let out = wait_deadline(child, Duration::from_secs(10));
            assert_eq!(
                out.status.code(),
                Some(code),
                "{what}: {}",
                text(&out.stderr)
            );
            assert!(
                text(&out.stderr).contains(&format!("interrupted by {label}")),
                "{what}: {}",
                text(&out.stderr)
            );
            // The report still comes out, and it agrees with the fake.
            let v = json(&out);
            let accepted = fake.accepted_urls();
            assert!(
                accepted.len() < N,
                "{what}: stopped early ({})",
                accepted.len()
            );
            assert_eq!(accepted.len() % 20, 0, "{what}: whole batches only");
            let reported: usize = v["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["urls"].as_array().unwrap().len())
                .sum();
            assert_eq!(reported, accepted.len(), "{what}: {v}");
            // The state holds exactly what the fake accepted, and the rest is in the backlog.
            let left = assert_accounted(&fake, dir.path(), &page_urls(N), &what);
            assert_eq!(left, N - accepted.len(), "{what}");
            // A rerun pushes the rest, nothing twice.
            let out = prewarm_at(dir.path(), &fake)
                .args(["--format", "json"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out.stderr));
            let c = counts(&fake);
            assert_eq!(c.len(), N, "{what}");
            assert!(c.values().all(|&n| n == 1), "{what}: nothing twice");
            assert_eq!(assert_accounted(&fake, dir.path(), &page_urls(N), &what), 0);
        }
    }
}

#[test]
fn a_second_signal_exits_at_once_and_the_state_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), N, "v3", "");
    // Slow enough that the batch in flight is still in flight when the second signal comes.
    let fake = slow_fake(Api::V3, 1500);
    let child = spawn(dir.path(), &fake);
    assert!(wait_until(Duration::from_secs(20), || fake
        .accepted_urls()
        .len()
        >= 20));
    send(&child, "INT");
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    send(&child, "INT");
    let out = wait_deadline(child, Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        t.elapsed() < Duration::from_millis(1400),
        "the second signal did not wait for the batch: {:?}",
        t.elapsed()
    );
    // Valid state; a rerun finishes with at most the batch in flight pushed twice.
    crate::support::load_state(dir.path());
    let fast = FakeCdn::start(fake_config(Api::V3)).unwrap();
    let out = prewarm_at(dir.path(), &fast)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut all = counts(&fake);
    for (u, n) in counts(&fast) {
        *all.entry(u).or_insert(0) += n;
    }
    assert_eq!(all.len(), N, "nothing lost");
    let twice = all.values().filter(|&&n| n > 1).count();
    assert!(
        twice <= 20 && all.values().all(|&n| n <= 2),
        "{twice} twice"
    );
}

/// Sends SIGINT while the run is in a long pause (`interval` between batches or a retry back-off) and checks it
/// stops at once: exit 130 within 3 s, the first batch accepted, the rest in the backlog.
fn signal_during_pause(what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fake_config(Api::V3);
    if what == "interval" {
        site(dir.path(), 60, "v3", "interval = \"8s\"\n");
    } else {
        site(dir.path(), 60, "v3", "max_attempts = 4\n");
        let path = dir.path().join("prewarm.toml");
        let body = std::fs::read_to_string(&path)
            .unwrap()
            .replace("base_backoff = \"10ms\"", "base_backoff = \"8s\"")
            .replace("max_backoff = \"50ms\"", "max_backoff = \"8s\"");
        std::fs::write(&path, body).unwrap();
        // The second batch keeps being throttled; a throttled retry waits at least base_backoff (8 s).
        cfg.faults = "throttle@2-".into();
    }
    let fake = FakeCdn::start(cfg).unwrap();
    let child = spawn(dir.path(), &fake);
    assert!(
        wait_until(Duration::from_secs(20), || {
            fake.accepted_urls().len() >= 20
                && (what == "interval" || fake.calls("PushUrlsCache") >= 2)
        }),
        "{what}: the pause began"
    );
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    send(&child, "INT");
    let out = wait_deadline(child, Duration::from_secs(30));
    let took = t.elapsed();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{what}: {}",
        text(&out.stderr)
    );
    assert_eq!(
        assert_accounted(&fake, dir.path(), &page_urls(60), what),
        40,
        "{what}: the first batch landed, the rest is in the backlog"
    );
    assert!(
        took < Duration::from_secs(3),
        "{what}: SIGINT took {took:?} to stop the run (the pause was slept out)"
    );
}

/// SIGINT during `[push] interval` stops the run promptly (the pause is not slept out first).
#[test]
fn a_signal_during_the_interval_pause_stops_promptly() {
    signal_during_pause("interval");
}

/// SIGINT during a retry back-off stops the run promptly.
#[test]
fn a_signal_during_a_retry_back_off_stops_promptly() {
    signal_during_pause("back-off");
}

/// SIGINT while `--wait` polls the tasks (its back-off grows to 10 s) stops promptly, with the pushed URLs saved.
#[test]
fn a_signal_while_waiting_for_tasks_stops_promptly() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 20, "v3", ""); // one task: one DescribePushTasks call per poll
    let mut cfg = fake_config(Api::V3);
    cfg.task_duration = Duration::from_secs(120);
    let fake = FakeCdn::start(cfg).unwrap();
    let child = StdCommand::new(assert_cmd::cargo::cargo_bin("prewarm"))
        .env_clear()
        .current_dir(dir.path())
        .env("PREWARM_ENDPOINT", fake.endpoint())
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .args(["--format", "json", "--wait", "--wait-timeout", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Polls at 0, 0.2, 0.6, 1.4, 3.0, 6.2 s: after the sixth the next pause is 6.4 s long.
    assert!(
        wait_until(Duration::from_secs(30), || fake.calls("DescribePushTasks")
            >= 6),
        "the run is polling ({} polls)",
        fake.calls("DescribePushTasks")
    );
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    send(&child, "INT");
    let out = wait_deadline(child, Duration::from_secs(30));
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert_eq!(
        assert_accounted(&fake, dir.path(), &page_urls(20), "wait"),
        0
    );
    assert!(
        took < Duration::from_secs(3),
        "SIGINT took {took:?} to stop the --wait polling (the poll pause was slept out)"
    );
}

#[test]
fn a_signal_while_waiting_for_another_runs_lock_stops_at_once() {
    // A deploy hook queued behind another run waits for the state lock (here up to a minute): Ctrl-C ends the
    // wait, exit 130, nothing pushed or written.
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 5, "v3", "\n[state]\nlock_timeout = \"60s\"\n");
    let fake = slow_fake(Api::V3, 0);
    let state_dir = dir.path().join(".prewarm");
    std::fs::create_dir_all(&state_dir).unwrap();
    let held = std::fs::File::create(state_dir.join("state.json.lock")).unwrap();
    held.lock().unwrap();
    let child = spawn(dir.path(), &fake);
    // Time to start and reach the wait (reading five files); the run can't get past the lock meanwhile.
    std::thread::sleep(Duration::from_millis(1500));
    send(&child, "INT");
    let out = wait_deadline(child, Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(fake.accepted_urls().is_empty());
    assert!(!state_dir.join("state.json").exists());
    drop(held);
}
