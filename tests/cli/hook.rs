//! git post-deploy hooks: `prewarm hook install` into a bare repository, then real `git push`es to it.
//!
//! The deploy recipe of docs/integrations.md: the post-receive hook first checks the pushed commit out into the
//! build root (`git --work-tree=… checkout -f main`), then execs `prewarm hook post-receive`, which diffs the
//! pushed range in the bare repository and reads the files (sizes, hashes) from the build root.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use pretty_assertions::assert_eq;

use crate::support::{self, FakeCdn, SECRET_ID, SECRET_KEY};

/// `git` with a clean, hermetic environment plus `env`.
fn git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=prewarm test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}:\n{}{}",
        support::text(&out.stdout),
        support::text(&out.stderr)
    );
    out
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn commit(work: &Path, msg: &str) {
    git(work, &["add", "-A"], &[]);
    git(work, &["commit", "-q", "-m", msg], &[]);
}

/// Pushes `refspec` with the fake CDN's endpoint and credentials in the environment (the hook inherits them).
fn push(work: &Path, bare: &Path, refspec: &str, fake: &FakeCdn) -> String {
    let endpoint = fake.endpoint().to_string();
    let out = git(
        work,
        &["push", "-q", bare.to_str().unwrap(), refspec],
        &[
            ("PREWARM_ENDPOINT", &endpoint),
            ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
        ],
    );
    let log = format!(
        "{}{}",
        support::text(&out.stdout),
        support::text(&out.stderr)
    );
    assert!(
        !log.contains(SECRET_KEY),
        "the SecretKey leaked into the push output:\n{log}"
    );
    log
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn urls(paths: &[&str]) -> Vec<String> {
    sorted(
        paths
            .iter()
            .map(|p| format!("https://www.example.com/{p}"))
            .collect(),
    )
}

#[test]
fn a_bare_repo_with_the_hook_pushes_exactly_the_changed_pages() {
    let fake = FakeCdn::start(support::fake_config(prewarm::config::Api::V3)).unwrap();
    let t = tempfile::tempdir().unwrap();
    let (bare, work, site) = (
        t.path().join("site.git"),
        t.path().join("work"),
        t.path().join("srv/site"),
    );
    std::fs::create_dir_all(&site).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    git(
        t.path(),
        &[
            "init",
            "-q",
            "--bare",
            "--initial-branch=main",
            bare.to_str().unwrap(),
        ],
        &[],
    );
    git(&work, &["init", "-q", "--initial-branch=main"], &[]);

    // The hook: installed by prewarm, pointing at the config that the deploy checks out into /srv/site.
    let config = site.join("prewarm.toml");
    let install = || {
        support::prewarm(t.path())
            .args(["hook", "install", "--branch", "main", "--repo"])
            .arg(&bare)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = install();
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    let hook = bare.join("hooks/post-receive");
    assert!(
        support::text(&out.stderr).contains(&*hook.to_string_lossy()),
        "{}",
        support::text(&out.stderr)
    );
    assert!(
        install().status.success(),
        "installing the same hook again is fine"
    );
    // The documented recipe: the deploy (checkout into the build root) goes before the exec line.
    let script = std::fs::read_to_string(&hook).unwrap();
    let deploy = format!("git --work-tree='{}' checkout -q -f main\n", site.display());
    let (head, exec) = script.rsplit_once("exec ").unwrap();
    std::fs::write(&hook, format!("{head}{deploy}exec {exec}")).unwrap();
    let refused = install();
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a different hook is refused"
    );
    assert!(
        support::text(&refused.stderr).contains("not overwriting"),
        "{}",
        support::text(&refused.stderr)
    );

    // First push (a new branch): every page under public/.
    write(
        &work,
        "prewarm.toml",
        "[site]\ndomains = [\"https://www.example.com\"]\n\n[[source]]\nkind = \"dir\"\nroot = \"public\"\n\
         base_url = \"https://www.example.com/\"\n\n[push]\nbase_backoff = \"10ms\"\nmax_backoff = \"50ms\"\n\
         timeout = \"5s\"\n",
    );
    write(&work, "public/index.html", "<h1>home</h1>");
    write(&work, "public/about.html", "<p>about</p>");
    write(&work, "public/blog/a.html", "<p>a</p>");
    write(
        &work,
        "public/old.html",
        "<p>a page long enough for git to see it renamed rather than rewritten</p>",
    );
    write(&work, "public/same.html", "<p>never changes</p>");
    write(&work, "src/readme.md", "outside the build root");
    commit(&work, "first");
    let log = push(&work, &bare, "main", &fake);
    assert!(
        site.join("public/index.html").is_file(),
        "the hook deployed the commit:\n{log}"
    );
    let first = fake.accepted_urls();
    assert_eq!(
        sorted(first.clone()),
        urls(&["", "about.html", "blog/a.html", "old.html", "same.html"]),
        "{log}"
    );

    // Second push: a modification, an addition, a deletion, a rename, and a change outside the build root.
    write(&work, "public/about.html", "<p>about, updated</p>");
    write(&work, "public/blog/b.html", "<p>b</p>");
    std::fs::remove_file(work.join("public/blog/a.html")).unwrap();
    std::fs::rename(work.join("public/old.html"), work.join("public/new.html")).unwrap();
    write(
        &work,
        "src/readme.md",
        "still outside the build root, now changed",
    );
    commit(&work, "second");
    let log = push(&work, &bare, "main", &fake);
    assert!(
        !site.join("public/blog/a.html").exists(),
        "the deploy removed the deleted page"
    );
    let all = fake.accepted_urls();
    assert_eq!(
        sorted(all[first.len()..].to_vec()),
        urls(&["about.html", "blog/b.html", "new.html"]),
        "{log}"
    );

    // A push to another branch deploys nothing and warms nothing.
    git(&work, &["checkout", "-q", "-b", "topic"], &[]);
    write(
        &work,
        "public/about.html",
        "<p>about, on a topic branch</p>",
    );
    commit(&work, "topic");
    push(&work, &bare, "topic", &fake);
    assert_eq!(
        fake.accepted_urls().len(),
        all.len(),
        "only the configured branch is warmed"
    );
}

#[test]
fn post_receive_without_the_branch_does_nothing_and_bad_lines_are_input_errors() {
    let t = tempfile::tempdir().unwrap();
    support::write_config(
        t.path(),
        "[site]\ndomains = [\"https://www.example.com\"]\n\n[[source]]\nkind = \"dir\"\nroot = \"public\"\n\
         base_url = \"https://www.example.com/\"\n",
    );
    let a = "1".repeat(40);
    let b = "2".repeat(40);
    // Another ref, and the deploy branch deleted: exit 0 without credentials or a CDN (nothing to push).
    let out = support::prewarm(t.path())
        .args(["hook", "post-receive", "--branch", "main"])
        .write_stdin(format!(
            "{a} {b} refs/heads/topic\n{a} {} refs/heads/main\n",
            "0".repeat(40)
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out.stderr));
    let out = support::prewarm(t.path())
        .args(["hook", "post-receive", "--branch", "main"])
        .write_stdin(format!("{a} {b}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        support::text(&out.stderr).contains("<stdin>:1:1: expected `old-hash new-hash ref`"),
        "{}",
        support::text(&out.stderr)
    );
}
