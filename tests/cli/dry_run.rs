//! `--dry-run`, `urls` and the readers end to end on the fixtures: exact URL lists, JSON, errors with locations.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::support::{fixture, json, prewarm, root, text};

/// The sample site's plan, in submission order: /blog/ first (a `[[priority]]` rule), then the sitemap's
/// `<priority>`, newest `<lastmod>`, URL.
const SITE_PLAN: [&str; 13] = [
    "https://www.example.com/blog/",
    "https://www.example.com/blog/caf%C3%A9/",
    "https://www.example.com/blog/post/",
    "https://www.example.com/",
    "https://www.example.com/about.html",
    "https://www.example.com/404.html",
    "https://www.example.com/css/site.css",
    "https://www.example.com/docs/",
    "https://www.example.com/docs/getting%20started.html",
    "https://www.example.com/img/logo.png",
    "https://www.example.com/js/app.js",
    "https://www.example.com/search?q=a&b=c",
    "https://www.example.com/sitemap.xml",
];

fn embedded(dir: &Path) -> assert_cmd::Command {
    let mut cmd = prewarm(dir);
    cmd.arg("--config")
        .arg(root().join("prewarm.toml"))
        .arg("--state")
        .arg(dir.join("state.json"));
    cmd
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|u| u.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn the_embedded_config_plans_the_sample_site() {
    let dir = tempfile::tempdir().unwrap();
    let out = embedded(dir.path())
        .args(["--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(strings(&v["urls"]), SITE_PLAN);
    assert_eq!(v["batches"].as_array().unwrap().len(), 1);
    assert_eq!(strings(&v["batches"][0]), SITE_PLAN);
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["tasks"], serde_json::json!([]));
    assert_eq!(v["deferred"], serde_json::json!([]));
    assert_eq!(v["rejected"], serde_json::json!([]));
    assert_eq!(
        v["skipped"],
        serde_json::json!({"unchanged": 0, "foreign_domain": 1, "invalid_url": 0, "excluded": 3,
                           "missing_file": 0, "outside_root": 0})
    );
    assert_eq!(v["quota"]["per_day"], 1000);
    assert_eq!(v["quota"]["left_today"], 1000);
    assert_eq!(v["errors"], serde_json::json!([]));
    // A dry run writes no state.
    assert!(!dir.path().join("state.json").exists());
}

#[test]
fn urls_prints_the_plan_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = embedded(dir.path()).arg("urls").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), SITE_PLAN);
}

#[test]
fn the_text_plan_lists_batches_and_quota() {
    let dir = tempfile::tempdir().unwrap();
    let out = embedded(dir.path()).arg("--dry-run").output().unwrap();
    let t = text(&out.stdout);
    assert!(t.starts_with("dry run: nothing pushed"), "{t}");
    assert!(
        t.contains(
            "plan: 13 URLs in 1 batch\nbatch 1 (13 URLs):\n  https://www.example.com/blog/\n"
        ),
        "{t}"
    );
    assert!(t.contains("quota: 0 of 1000 used on CDN day"), "{t}");
}

#[test]
fn the_quota_defers_what_does_not_fit_and_batches_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prewarm.toml"),
        format!(
            "[site]\ndomains = [\"https://www.example.com\"]\n[[source]]\nkind = \"dir\"\nroot = {:?}\n\
             exclude = [\"**/*.map\"]\n[quota]\nper_request = 4\nper_day = 10\nreserve = 1\n",
            fixture("site").display().to_string()
        ),
    )
    .unwrap();
    let out = prewarm(dir.path())
        .args(["--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    let sizes: Vec<usize> = v["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![4, 4, 1], "9 of per_day 10 minus reserve 1");
    assert_eq!(v["deferred"].as_array().unwrap().len(), 3);
    assert_eq!(v["quota"]["left_today"], 9);
}

#[test]
fn an_index_with_a_gzipped_child() {
    let dir = tempfile::tempdir().unwrap();
    let out = embedded(dir.path())
        .arg("--sitemap")
        .arg(fixture("sitemaps/index.xml"))
        .arg("urls")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().collect::<Vec<_>>(),
        [
            "https://www.example.com/pages-1/a.html",
            "https://www.example.com/nested/e.html",
            "https://www.example.com/pages-1/b.html",
            "https://www.example.com/pages-2/c.html",
            "https://www.example.com/pages-2/d.html",
        ]
    );
}

#[test]
fn a_changed_list_maps_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let out = embedded(dir.path())
        .arg("--changed")
        .arg(fixture("changed/changed.txt"))
        .arg("--dir")
        .arg(fixture("site"))
        .args([
            "--base-url",
            "https://www.example.com/",
            "--dry-run",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(
        strings(&v["urls"]),
        [
            "https://www.example.com/blog/caf%C3%A9/",
            "https://www.example.com/blog/post/",
            "https://www.example.com/",
            "https://www.example.com/css/site.css",
            "https://www.example.com/js/app.js.map",
        ]
    );
    assert_eq!(v["skipped"]["outside_root"], 1);
    assert_eq!(v["skipped"]["missing_file"], 1);
    assert!(
        text(&out.stderr).contains("\"../outside.html\" is outside"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn every_malformed_fixture_exits_2_with_its_location() {
    for (file, at) in [
        ("malformed-entity.xml", ":3:38: undefined entity &nbsp;"),
        ("malformed-garbage.xml", ":4:10: "),
        ("malformed-mismatched.xml", ":4:44: "),
        ("malformed-not-xml.xml", ":2:1: root element <html>"),
        ("malformed-truncated.xml", ":7:25: unexpected end of file"),
        ("billion-laughs.xml", ":15:37: undefined entity &lol9;"),
        ("external-entity.xml", ":6:37: undefined entity &xxe;"),
        ("deep-0.xml", "nesting deeper than 5"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = embedded(dir.path())
            .arg("--sitemap")
            .arg(fixture(&format!("sitemaps/{file}")))
            .arg("--dry-run")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(
            err.contains(&format!("{file}{at}")) || (at.starts_with("nesting") && err.contains(at)),
            "{file}: {err}"
        );
        assert!(out.stdout.is_empty(), "{file}: no plan printed");
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
}

#[test]
fn github_format_annotates_input_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = embedded(dir.path())
        .arg("--sitemap")
        .arg(fixture("sitemaps/malformed-truncated.xml"))
        .args(["--dry-run", "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let o = text(&out.stdout);
    assert!(o.starts_with("::error file="), "{o}");
    assert!(o.contains("malformed-truncated.xml,line=7,col=25::"), "{o}");
}

#[test]
fn a_remote_index_fetches_its_children_one_of_them_gzipped() {
    let (base, hits) = crate::support::serve_dir(fixture("sitemaps"));
    let dir = tempfile::tempdir().unwrap();
    let out = embedded(dir.path())
        .args(["--sitemap", &format!("{base}/index.xml"), "urls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let local = embedded(dir.path())
        .arg("--sitemap")
        .arg(fixture("sitemaps/index.xml"))
        .arg("urls")
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout),
        text(&local.stdout),
        "remote and local read the same"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "the index and its three children"
    );
    // A remote 404 is a clear error, exit 2.
    let out = embedded(dir.path())
        .args(["--sitemap", &format!("{base}/missing.xml"), "urls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.xml") && text(&out.stderr).contains("404"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_dry_run_opens_no_connection_and_needs_no_credentials() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}/", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    for api in ["v2", "v3"] {
        let out = embedded(dir.path())
            .env("PREWARM_ENDPOINT", &endpoint)
            .args(["--api", api, "--dry-run"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert!(listener.accept().is_err(), "nobody connected");
}
