//! The README tells the truth: its `prewarm -h` block is the real one, and its commands are the real commands.

use crate::support::{prewarm, root, text};

#[test]
fn the_readme_help_block_is_current() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("<!-- help:start")
        .expect("help block in README");
    let body = &readme[start..];
    let body = &body[body.find("```text\n").unwrap() + 8..];
    let block = &body[..body.find("```\n<!-- help:end -->").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let out = prewarm(dir.path())
        .env("COLUMNS", "100")
        .arg("-h")
        .output()
        .unwrap();
    pretty_assertions::assert_eq!(
        block,
        text(&out.stdout),
        "update README.md's `prewarm -h` block"
    );
}

#[test]
fn the_readme_names_the_two_commands_and_ci_runs_the_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("cargo run --release -- --dry-run"));
    assert!(readme.contains("cargo test"));
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test --locked"),
        "{ci}"
    );
}
