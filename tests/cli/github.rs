//! CI-friendly output: `--format github` (workflow commands, job summary, outputs), completions, -q/-v, --help.

use prewarm::config::Api;

use crate::support::{
    FakeCdn, SECRET_ID, SECRET_KEY, fake_config, prewarm, prewarm_at, site, text,
};

#[test]
fn github_format_groups_warns_summarises_and_sets_outputs() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), 25, "v3", "");
    let fake = FakeCdn::start(fake_config(Api::V3)).unwrap();
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output.txt");
    let out = prewarm_at(dir.path(), &fake)
        .env("GITHUB_ACTIONS", "true") // chooses --format github by itself
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output)
        .args(["--per-day", "22"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(o.starts_with(&format!("::add-mask::{SECRET_ID}\n")), "{o}");
    for group in [
        "::group::collect",
        "::group::diff",
        "::group::plan (22 URLs, 2 batches)",
        "::group::push (22 URLs accepted in 2 tasks)",
    ] {
        assert!(o.contains(group), "{group} in {o}");
    }
    assert_eq!(
        o.matches("::group::").count(),
        o.matches("::endgroup::").count()
    );
    assert!(o.contains("::warning::3 URLs deferred"), "{o}");
    assert!(!o.contains(SECRET_KEY) && !text(&out.stderr).contains(SECRET_KEY));

    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.starts_with("## prewarm\n"), "{s}");
    assert!(s.contains("| pushed | 22 URLs in 2 tasks |"), "{s}");
    assert!(s.contains("| deferred | 3 |"), "{s}");
    assert!(s.contains("### Tasks"), "{s}");

    // Outputs in the multi-line-safe form: name<<DELIM, value lines, DELIM.
    let raw = std::fs::read_to_string(&output).unwrap();
    let mut outputs = std::collections::BTreeMap::new();
    let mut lines = raw.lines();
    while let Some(head) = lines.next() {
        let (name, delim) = head
            .split_once("<<")
            .unwrap_or_else(|| panic!("not the heredoc form: {head:?}"));
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            value.push(l);
        }
        outputs.insert(name.to_string(), value.join("\n"));
    }
    assert_eq!(outputs["pushed"], "22");
    assert_eq!(outputs["deferred"], "3");
    assert_eq!(outputs["task-ids"].lines().count(), 2);
    assert_eq!(outputs["exit-code"], "0");
}

#[test]
fn github_format_warns_about_dropped_foreign_urls() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.txt"),
        "https://www.example.com/a\nhttps://elsewhere.example.org/b\n",
    )
    .unwrap();
    crate::support::write_config(
        dir.path(),
        "[site]\ndomains = [\"https://www.example.com\"]\n",
    );
    let out = prewarm(dir.path())
        .args(["--sitemap", "s.txt", "--dry-run", "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("::warning::1 URLs dropped: their origin is not in site.domains"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef prewarm"),
        ("fish", "complete -c prewarm"),
    ] {
        let out = prewarm(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let t = text(&out.stdout);
        assert!(t.contains(marker), "{shell}: {t}");
        assert!(t.contains("dry-run"), "{shell}: flags are completed");
    }
}

#[test]
fn quiet_and_verbose() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.txt"),
        "https://www.example.com/a\nhttps://www.example.com/b c\nnot a url\n",
    )
    .unwrap();
    crate::support::write_config(
        dir.path(),
        "[site]\ndomains = [\"https://www.example.com\"]\n",
    );
    let base = |args: &[&str]| {
        prewarm(dir.path())
            .args(["--sitemap", "s.txt", "--dry-run"])
            .args(args)
            .output()
            .unwrap()
    };
    let normal = base(&[]);
    assert!(
        text(&normal.stderr).contains("prewarm: warning: "),
        "{}",
        text(&normal.stderr)
    );
    let quiet = base(&["-q"]);
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet.stderr));
    assert_eq!(
        quiet.stdout, normal.stdout,
        "-q changes diagnostics, not results"
    );
    let verbose = base(&["-vv"]);
    assert!(
        text(&verbose.stderr).contains("prewarm: debug: "),
        "{}",
        text(&verbose.stderr)
    );
    let via_env = prewarm(dir.path())
        .env("RUST_LOG", "prewarm=debug")
        .args(["--sitemap", "s.txt", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        text(&via_env.stderr).contains("prewarm: debug: "),
        "RUST_LOG overrides"
    );
    assert!(
        !text(&verbose.stderr).contains('\u{1b}'),
        "NO_COLOR: no escape codes"
    );
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    let top = text(&prewarm(dir.path()).arg("--help").output().unwrap().stdout);
    assert!(
        top.contains("Examples:") && top.contains("prewarm --dry-run"),
        "{top}"
    );
    assert!(top.contains("Exit codes:"), "{top}");
    for sub in [
        vec!["run"],
        vec!["urls"],
        vec!["status"],
        vec!["baseline"],
        vec!["init"],
        vec!["fake-cdn"],
        vec!["hook", "post-receive"],
        vec!["hook", "install"],
        vec!["completions"],
    ] {
        let out = prewarm(dir.path())
            .args(&sub)
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub:?}");
        let t = text(&out.stdout);
        assert!(t.contains("Example"), "{sub:?} --help has an example:\n{t}");
    }
}

#[test]
fn flags_work_before_and_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.txt"), "https://www.example.com/a\n").unwrap();
    crate::support::write_config(
        dir.path(),
        "[site]\ndomains = [\"https://www.example.com\"]\n",
    );
    let a = prewarm(dir.path())
        .args(["urls", "--sitemap", "s.txt"])
        .output()
        .unwrap();
    let b = prewarm(dir.path())
        .args(["--sitemap", "s.txt", "urls"])
        .output()
        .unwrap();
    assert_eq!(text(&a.stdout), "https://www.example.com/a\n");
    assert_eq!(a.stdout, b.stdout);
}
