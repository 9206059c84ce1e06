//! Pushing through the fake CDN, for both backends: batching, quota, credentials, faults, bisecting.

use std::collections::BTreeMap;

use prewarm::config::Api;

use crate::support::{
    FakeCdn, FakeConfig, SECRET_KEY, assert_no_secret, fake_config, json, prewarm_at, site, text,
};

const BOTH: [(Api, &str); 2] = [(Api::V2, "v2"), (Api::V3, "v3")];

fn start(cfg: FakeConfig) -> FakeCdn {
    FakeCdn::start(cfg).expect("fake CDN starts")
}

/// Every URL the fake accepted, with its count.
fn counts(fake: &FakeCdn) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for u in fake.accepted_urls() {
        *m.entry(u).or_insert(0) += 1;
    }
    m
}

fn page_urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://www.example.com/page-{i:04}.html"))
        .collect()
}

#[test]
fn forty_five_urls_go_out_as_20_20_5() {
    for (api, name) in BOTH {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 45, name, "");
        let fake = start(fake_config(api));
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert_no_secret(&out);
        let v = json(&out);
        let sizes: Vec<usize> = v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["urls"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![20, 20, 5], "{name}");
        let c = counts(&fake);
        assert_eq!(
            c.keys().cloned().collect::<Vec<_>>(),
            page_urls(45),
            "{name}: the fake recorded exactly the 45"
        );
        assert!(c.values().all(|&n| n == 1), "{name}: each exactly once");
        assert_eq!(v["quota"]["used_today"], 45, "{name}");
        assert!(v["deferred"].as_array().unwrap().is_empty());
        // A second run pushes nothing: nothing changed.
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let v = json(&out);
        assert!(v["urls"].as_array().unwrap().is_empty(), "{name}: {v}");
        assert_eq!(v["skipped"]["unchanged"], 45);
        assert_eq!(fake.accepted_urls().len(), 45);
    }
}

#[test]
fn quota_running_out_mid_run_defers_the_rest() {
    // v2 finds out only by pushing (a small daily quota); on v3 the plan fits DescribePushQuota's figure, so the
    // quota runs out because something else spends it after the plan was made (the fake's `exhaust` fault).
    for (api, name, per_day, faults, accepted_first) in [
        (Api::V2, "v2", 30, "", 20),
        (Api::V2, "v2 exhaust", 1000, "exhaust@2", 20),
        (Api::V3, "v3 exhaust", 1000, "exhaust@2", 20),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let wire = if api == Api::V2 { "v2" } else { "v3" };
        site(dir.path(), 45, wire, "");
        let mut cfg = fake_config(api);
        cfg.per_day = per_day;
        cfg.faults = faults.into();
        let fake = start(cfg);
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: quota is a warning, not a failure: {}",
            text(&out.stderr)
        );
        let v = json(&out);
        let accepted = fake.accepted_urls();
        let deferred: Vec<String> = v["deferred"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_string())
            .collect();
        assert_eq!(accepted.len(), accepted_first, "{name}");
        assert_eq!(
            accepted.len() + deferred.len(),
            45,
            "{name}: every URL accepted or deferred"
        );
        for u in &deferred {
            assert!(
                !accepted.contains(u),
                "{name}: {u} both accepted and deferred"
            );
        }
        assert!(
            v["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("quota")),
            "{name}: {v}"
        );
        // `status` shows the backlog.
        let st = prewarm_at(dir.path(), &fake)
            .args(["status", "--format", "json"])
            .output()
            .unwrap();
        assert_eq!(json(&st)["backlog"]["size"], 25, "{name}");
        // Next CDN day: the backlog goes out first, and nothing is pushed twice.
        fake.reset_day();
        fake.set_faults("").unwrap();
        let out = prewarm_at(dir.path(), &fake)
            .env("PREWARM_NOW", "2099-01-02T00:00:00Z")
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v = json(&out);
        let pushed: Vec<String> = v["urls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            pushed, deferred,
            "{name}: day two pushes exactly the backlog, in order"
        );
        let c = counts(&fake);
        assert_eq!(c.len(), 45, "{name}");
        assert!(c.values().all(|&n| n == 1), "{name}: {c:?}");
    }
}

#[test]
fn wrong_key_stops_with_exit_1_and_no_retry_storm() {
    for (api, name) in BOTH {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 45, name, "");
        let fake = start(fake_config(api));
        let out = prewarm_at(dir.path(), &fake)
            .env("TENCENTCLOUD_SECRET_KEY", "wrong-key-0000")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            all.to_lowercase().contains("auth"),
            "{name}: a clear message: {all}"
        );
        assert!(
            !all.contains("wrong-key-0000"),
            "{name}: the key is never printed"
        );
        let action = if api == Api::V2 {
            "CdnOverseaPushser"
        } else {
            "PushUrlsCache"
        };
        assert_eq!(fake.calls(action), 1, "{name}: one call, no retries");
        assert!(fake.accepted_urls().is_empty());
    }
}

#[test]
fn transient_faults_are_retried_and_every_url_lands_once() {
    for (api, name) in BOTH {
        let dir = tempfile::tempdir().unwrap();
        // Seven faults in a row on the first batch: within max_attempts = 8, so the batch lands.
        site(dir.path(), 45, name, "max_attempts = 8\n");
        let mut cfg = fake_config(api);
        cfg.faults = "500@1,502@2,drop@3,html200@4,truncated@5,reset@6,503@7".into();
        let fake = start(cfg);
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert_no_secret(&out);
        let c = counts(&fake);
        assert_eq!(
            c.keys().cloned().collect::<Vec<_>>(),
            page_urls(45),
            "{name}"
        );
        assert!(c.values().all(|&n| n == 1), "{name}: {c:?}");
    }
}

#[test]
fn one_bad_url_in_a_batch_of_20_is_rejected_alone() {
    for (api, name) in BOTH {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 20, name, "");
        let bad = "https://www.example.com/page-0007.html".to_string();
        let mut cfg = fake_config(api);
        cfg.bad_urls = vec![bad.clone()];
        let fake = start(cfg);
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let v = json(&out);
        let accepted = fake.accepted_urls();
        assert_eq!(accepted.len(), 19, "{name}: {}", text(&out.stderr));
        assert!(!accepted.contains(&bad));
        let rejected = v["rejected"].as_array().unwrap();
        assert_eq!(rejected.len(), 1, "{name}: {v}");
        assert_eq!(rejected[0]["url"], bad.as_str());
        assert!(!rejected[0]["reason"].as_str().unwrap().is_empty());
    }
}

#[test]
fn v2_both_response_shapes_and_task_id_types() {
    for (shape, numeric) in [
        (prewarm::fake_cdn::DataShape::Array, true),
        (prewarm::fake_cdn::DataShape::Object, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 3, "v2", "");
        let mut cfg = fake_config(Api::V2);
        cfg.data_shape = shape;
        cfg.numeric_task_id = numeric;
        let fake = start(cfg);
        let out = prewarm_at(dir.path(), &fake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v = json(&out);
        let tasks = v["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1);
        let id = tasks[0]["task_id"]
            .as_str()
            .expect("task ids are strings in the report");
        assert_eq!(fake.accepted()[0].task_id, id);
    }
}

#[test]
fn missing_credentials_exit_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 3, "v3", "");
    let fake = start(fake_config(Api::V3));
    let out = prewarm_at(dir.path(), &fake)
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("TENCENTCLOUD_SECRET_KEY"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fake.calls("PushUrlsCache"), 0);
    assert!(!text(&out.stderr).contains(SECRET_KEY));
}

#[test]
fn plain_http_is_refused_for_non_loopback_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 3, "v3", "");
    let fake = start(fake_config(Api::V3));
    let out = prewarm_at(dir.path(), &fake)
        .env("PREWARM_ENDPOINT", "http://cdn.example.com/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("http"), "{}", text(&out.stderr));
}

#[test]
fn wait_on_v2_warns_instead_of_polling() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 2, "v2", "");
    let fake = start(fake_config(Api::V2));
    let t0 = std::time::Instant::now();
    let out = prewarm_at(dir.path(), &fake)
        .args(["--wait", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("--wait needs API 3.0")),
        "{v}"
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(60),
        "no polling until the wait timeout"
    );
    let out = prewarm_at(dir.path(), &fake)
        .args(["status", "--tasks"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("needs API 3.0"));
}
