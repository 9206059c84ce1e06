//! API 3.0 specifics: the account's real quota, areas, task follow-through, EdgeOne and area errors.

use prewarm::config::Api;

use crate::support::{FakeCdn, fake_config, json, prewarm_at, site, text};

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn quota_spent_elsewhere_shrinks_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 45, "v3", "");
    let mut cfg = fake_config(Api::V3);
    cfg.spent_overseas = 990; // another tool spent most of today's overseas quota
    let fake = FakeCdn::start(cfg).unwrap();
    let out = prewarm_at(dir.path(), &fake)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(
        strings(&v["urls"]).len(),
        10,
        "the plan fits the 10 the API says are left: {v}"
    );
    assert_eq!(v["deferred"].as_array().unwrap().len(), 35);
    assert_eq!(
        fake.calls("PushUrlsCache"),
        1,
        "no call wasted on a quota error"
    );
    assert_eq!(fake.accepted_urls().len(), 10);
    // The report shows both figures: the API's and the local ledger's.
    assert_eq!(v["quota"]["api"]["available"], 10);
    assert_eq!(v["quota"]["api"]["area"], "overseas");
    assert_eq!(v["quota"]["used_today"], 10);
    assert_eq!(v["quota"]["per_day"], 1000);
    let t = prewarm_at(dir.path(), &fake)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(
        text(&t.stdout).contains("quota: 10 of 1000 used"),
        "{}",
        text(&t.stdout)
    );
}

#[test]
fn a_failing_quota_call_falls_back_to_the_local_ledger() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 5, "v3", "");
    let mut cfg = fake_config(Api::V3);
    cfg.deny_quota = true;
    let fake = FakeCdn::start(cfg).unwrap();
    let out = prewarm_at(dir.path(), &fake)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(
        fake.calls("DescribePushQuota"),
        1,
        "asked once, before planning"
    );
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("local ledger")),
        "a warning says the plan used the local ledger: {v}"
    );
    assert!(v["quota"].get("api").is_none());
    assert_eq!(fake.accepted_urls().len(), 5, "the push itself went ahead");
}

#[test]
fn global_spends_both_areas() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 5, "v3", "");
    let cfg_path = dir.path().join("prewarm.toml");
    let text_cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(
        &cfg_path,
        text_cfg.replace("api = \"v3\"", "api = \"v3\"\narea = \"global\""),
    )
    .unwrap();
    let mut cfg = fake_config(Api::V3);
    cfg.spent_mainland = 997; // mainland is the smaller: global can take 3
    let fake = FakeCdn::start(cfg).unwrap();
    let out = prewarm_at(dir.path(), &fake)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(
        v["quota"]["api"]["available"], 3,
        "global = the smaller of both areas: {v}"
    );
    assert_eq!(strings(&v["urls"]).len(), 3);
    assert_eq!(fake.quota_left("mainland"), 0);
    assert_eq!(
        fake.quota_left("overseas"),
        997,
        "global spent the overseas quota too"
    );
    assert!(fake.accepted().iter().all(|a| a.area == "global"));
}

#[test]
fn wait_follows_tasks_and_a_failed_url_returns_to_the_backlog() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 4, "v3", "");
    let failing = "https://www.example.com/page-0002.html".to_string();
    let invalid = "https://www.example.com/page-0003.html".to_string();
    let mut cfg = fake_config(Api::V3);
    cfg.task_duration = std::time::Duration::from_millis(300);
    cfg.fail_urls = vec![failing.clone()];
    cfg.invalid_urls = vec![invalid.clone()];
    cfg.capitalised_status = true; // the official example says "Done"
    let fake = FakeCdn::start(cfg).unwrap();
    let out = prewarm_at(dir.path(), &fake)
        .args(["--wait", "--wait-timeout", "20s", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    let outcomes = v["outcomes"].as_array().unwrap_or_else(|| panic!("{v}"));
    let status_of = |u: &str| {
        outcomes
            .iter()
            .find(|o| o["url"] == u)
            .map(|o| o["status"].as_str().unwrap().to_string())
    };
    assert_eq!(
        status_of("https://www.example.com/page-0000.html").as_deref(),
        Some("done"),
        "{v}"
    );
    assert_eq!(status_of(&failing).as_deref(), Some("fail"));
    assert_eq!(status_of(&invalid).as_deref(), Some("invalid"));
    assert_eq!(
        strings(&v["deferred"]),
        vec![failing.clone()],
        "the failed URL goes back to the backlog"
    );
    assert!(
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains(&invalid)),
        "origin error reported"
    );
    // The next run pushes the failed one again, first, and not the invalid one.
    let out = prewarm_at(dir.path(), &fake)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(strings(&json(&out)["urls"]), vec![failing]);
    // status --tasks asks the CDN about the latest tasks.
    let st = prewarm_at(dir.path(), &fake)
        .args(["status", "--tasks", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(0), "{}", text(&st.stderr));
    let sv = json(&st);
    assert!(!sv["progress"].as_array().unwrap().is_empty(), "{sv}");
    assert!(fake.calls("DescribePushTasks") >= 2);
}

#[test]
fn a_domain_not_in_the_area_is_rejected_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 3, "v3", "");
    let mut cfg = fake_config(Api::V3);
    cfg.not_in_area = vec![("www.example.com".into(), "overseas".into())];
    let fake = FakeCdn::start(cfg).unwrap();
    let out = prewarm_at(dir.path(), &fake)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3, "{v}");
    assert!(
        rejected[0]["reason"].as_str().unwrap().contains("area"),
        "{v}"
    );
    assert_eq!(
        fake.calls("PushUrlsCache"),
        1,
        "no bisecting a domain error"
    );
}
