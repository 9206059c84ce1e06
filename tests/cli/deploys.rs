//! Diff and durable state across deploys: only what changed is pushed; adoption; stateless CI manifests.

use std::path::Path;

use prewarm::config::Api;

use crate::support::{FakeCdn, fake_config, json, prewarm_at, site, text};

fn strings(v: &serde_json::Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

fn page(i: usize) -> String {
    format!("https://www.example.com/page-{i:04}.html")
}

fn run(dir: &Path, fake: &FakeCdn, extra: &[&str]) -> serde_json::Value {
    let out = prewarm_at(dir, fake)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    json(&out)
}

#[test]
fn two_deploys_push_exactly_what_changed_and_a_third_pushes_nothing() {
    for (api, name) in [(Api::V3, "v3"), (Api::V2, "v2")] {
        let dir = tempfile::tempdir().unwrap();
        site(dir.path(), 6, name, "");
        let fake = FakeCdn::start(fake_config(api)).unwrap();
        let first = run(dir.path(), &fake, &[]);
        assert_eq!(
            strings(&first["urls"]),
            (0..6).map(page).collect::<Vec<_>>(),
            "{name}"
        );

        // Deploy 2: an edit, an addition, a deletion and a rename.
        let public = dir.path().join("public");
        std::fs::write(public.join("page-0001.html"), "<p>edited</p>").unwrap();
        std::fs::write(public.join("new.html"), "<p>new</p>").unwrap();
        std::fs::remove_file(public.join("page-0002.html")).unwrap();
        std::fs::rename(public.join("page-0003.html"), public.join("renamed.html")).unwrap();
        // Same size and mtime tricks must not hide an edit: touch page-0004 without changing it.
        let p4 = public.join("page-0004.html");
        let body = std::fs::read(&p4).unwrap();
        std::fs::write(&p4, body).unwrap();
        let second = run(dir.path(), &fake, &[]);
        assert_eq!(
            strings(&second["urls"]),
            vec![
                "https://www.example.com/new.html".to_string(),
                page(1),
                "https://www.example.com/renamed.html".to_string()
            ],
            "{name}"
        );
        assert_eq!(second["skipped"]["unchanged"], 3, "{name}: pages 0, 4, 5");
        // Deleted and renamed-away URLs leave the state: 6 tracked, and page-0002 restored as it was is new again.
        let st = json(
            &prewarm_at(dir.path(), &fake)
                .args(["status", "--format", "json"])
                .output()
                .unwrap(),
        );
        assert_eq!(st["urls_tracked"], 6, "{name}: {st}");
        std::fs::write(public.join("page-0002.html"), "<p>page 2</p>").unwrap();
        let back = run(dir.path(), &fake, &["--dry-run"]);
        assert_eq!(strings(&back["urls"]), vec![page(2)], "{name}");
        std::fs::remove_file(public.join("page-0002.html")).unwrap();

        let third = run(dir.path(), &fake, &[]);
        assert!(
            third["urls"].as_array().unwrap().is_empty(),
            "{name}: {third}"
        );
        assert_eq!(
            fake.accepted_urls().len(),
            9,
            "{name}: 6 + 3, nothing twice"
        );
        // --all ignores the diff (the quota still applies).
        let all = run(dir.path(), &fake, &["--all", "--dry-run"]);
        assert_eq!(all["urls"].as_array().unwrap().len(), 6, "{name}");
    }
}

#[test]
fn baseline_adopts_a_live_site_without_pushing() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 8, "v3", "");
    let fake = FakeCdn::start(fake_config(Api::V3)).unwrap();
    let out = prewarm_at(dir.path(), &fake)
        .arg("baseline")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("recorded 8 URLs as warm"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(fake.calls("PushUrlsCache"), 0);
    assert!(
        run(dir.path(), &fake, &[])["urls"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    std::fs::write(dir.path().join("public/page-0005.html"), "changed").unwrap();
    assert_eq!(strings(&run(dir.path(), &fake, &[])["urls"]), vec![page(5)]);
    assert_eq!(fake.accepted_urls(), vec![page(5)]);
}

#[test]
fn stateless_ci_diffs_against_the_previous_deploys_manifest() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 5, "v3", "");
    let fake = FakeCdn::start(fake_config(Api::V3)).unwrap();
    let manifest = dir.path().join("public/.prewarm-manifest.json");
    // Deploy 1 ships its manifest with the site (a hidden file: not itself a URL).
    run(
        dir.path(),
        &fake,
        &["--write-manifest", "public/.prewarm-manifest.json"],
    );
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(m["format"], "prewarm-manifest");
    assert_eq!(m["urls"].as_object().unwrap().len(), 5);
    let previous = dir.path().join("previous.json");
    std::fs::copy(&manifest, &previous).unwrap();

    // Deploy 2 on a fresh runner: no state, only the previous manifest.
    std::fs::remove_dir_all(dir.path().join(".prewarm")).unwrap();
    std::fs::write(dir.path().join("public/page-0003.html"), "edited").unwrap();
    let v = run(dir.path(), &fake, &["--previous", "previous.json"]);
    assert_eq!(strings(&v["urls"]), vec![page(3)]);
    assert_eq!(v["skipped"]["unchanged"], 4);
    // The same, with the manifest fetched from the live site.
    std::fs::remove_dir_all(dir.path().join(".prewarm")).unwrap();
    let (base, hits) = crate::support::serve_dir(dir.path().to_path_buf());
    let v = run(
        dir.path(),
        &fake,
        &["--dry-run", "--previous", &format!("{base}/previous.json")],
    );
    assert_eq!(strings(&v["urls"]), vec![page(3)]);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A damaged previous manifest is an input error, before anything is pushed.
    std::fs::write(&previous, "{\"format\": \"something else\"}").unwrap();
    let out = prewarm_at(dir.path(), &fake)
        .args(["--previous", "previous.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("previous.json"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sitemap_lastmod_is_the_fingerprint_and_entries_without_one_go_once() {
    let dir = tempfile::tempdir().unwrap();
    let write = |lastmod_a: &str| {
        std::fs::write(
            dir.path().join("sitemap.xml"),
            format!(
                "<?xml version=\"1.0\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n\
                 <url><loc>https://www.example.com/a</loc><lastmod>{lastmod_a}</lastmod></url>\n\
                 <url><loc>https://www.example.com/b</loc></url>\n</urlset>\n"
            ),
        )
        .unwrap();
    };
    write("2024-01-01");
    crate::support::write_config(
        dir.path(),
        "[site]\ndomains = [\"https://www.example.com\"]\n[[source]]\nkind = \"sitemap\"\npath = \"sitemap.xml\"\n",
    );
    let fake = FakeCdn::start(fake_config(Api::V3)).unwrap();
    assert_eq!(
        strings(&run(dir.path(), &fake, &[])["urls"]),
        vec!["https://www.example.com/a", "https://www.example.com/b"]
    );
    assert!(
        run(dir.path(), &fake, &[])["urls"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing new"
    );
    write("2024-01-02T10:00:00+08:00");
    assert_eq!(
        strings(&run(dir.path(), &fake, &[])["urls"]),
        vec!["https://www.example.com/a"],
        "lastmod moved; b had none"
    );
}

#[test]
fn status_reports_quota_backlog_and_the_last_run() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 7, "v3", "");
    let fake = FakeCdn::start(fake_config(Api::V3)).unwrap();
    run(dir.path(), &fake, &["--per-day", "5"]);
    let out = prewarm_at(dir.path(), &fake)
        .args(["status", "--per-day", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("quota: 5 of 5 used on CDN day"), "{t}");
    assert!(t.contains("backlog: 2 URLs, oldest since "), "{t}");
    assert!(
        t.contains("last run: ") && t.contains("5 pushed, 2 deferred"),
        "{t}"
    );
    let v = json(
        &prewarm_at(dir.path(), &fake)
            .args(["status", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(v["backlog"]["size"], 2);
    assert_eq!(v["last_run"]["pushed"], 5);
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    // A fresh folder: no state yet is not an error.
    let empty = tempfile::tempdir().unwrap();
    let out = prewarm_at(empty.path(), &fake)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("last run: never"));
}
