//! Config errors end the run with exit 2 and name the file, the line and the key.

use crate::support::{fixture, prewarm, write_config};

fn fails_with(config: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = prewarm(dir.path())
        .args(["--dry-run", "--config"])
        .arg(fixture(config))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{config}: {err}");
    for e in expect {
        assert!(err.contains(e), "{config}: expected {e:?} in:\n{err}");
    }
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn unknown_key() {
    fails_with(
        "configs/invalid-key.toml",
        &["invalid-key.toml:5:1:", "unknown field `per_dya`"],
    );
}

#[test]
fn wrong_type() {
    fails_with(
        "configs/invalid-type.toml",
        &["invalid-type.toml:5:11:", "`quota.per_day`: invalid type"],
    );
}

#[test]
fn zero_and_negative_quota() {
    fails_with(
        "configs/zero-quota.toml",
        &[
            "zero-quota.toml:5:11:",
            "`quota.per_day` must be a whole number greater than 0",
        ],
    );
    fails_with(
        "configs/negative-quota.toml",
        &["negative-quota.toml:5:15:", "got -20"],
    );
}

#[test]
fn secret_in_config_is_refused_without_echoing_it() {
    fails_with(
        "configs/secret.toml",
        &["secret.toml:5:13:", "TENCENTCLOUD_SECRET_ID"],
    );
    let dir = tempfile::tempdir().unwrap();
    let out = prewarm(dir.path())
        .args(["--dry-run", "--config"])
        .arg(fixture("configs/secret.toml"))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains("Gu5t9xGARNpq86cd98joQYCN3Cozk1qA") && !all.contains("AKIDz8krbs"),
        "{all}"
    );
}

#[test]
fn unknown_source_kind() {
    fails_with(
        "configs/unknown-kind.toml",
        &["unknown-kind.toml:5:8:", "unknown source kind \"rss\""],
    );
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = prewarm(dir.path())
        .args(["--dry-run", "--config", "nope.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
}

#[test]
fn flags_beat_env_beat_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("public")).unwrap();
    for i in 0..5 {
        std::fs::write(dir.path().join(format!("public/{i}.html")), "x").unwrap();
    }
    write_config(
        dir.path(),
        "[site]\ndomains=[\"https://www.example.com\"]\n[[source]]\nkind=\"dir\"\nroot=\"public\"\n[quota]\nper_day=4\n",
    );
    let left = |cmd: &mut assert_cmd::Command| {
        let out = cmd
            .args(["--dry-run", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["quota"]["per_day"].as_u64().unwrap(),
            v["urls"].as_array().unwrap().len(),
        )
    };
    assert_eq!(left(&mut prewarm(dir.path())), (4, 4));
    assert_eq!(
        left(prewarm(dir.path()).env("PREWARM_PER_DAY", "3")),
        (3, 3)
    );
    assert_eq!(
        left(
            prewarm(dir.path())
                .env("PREWARM_PER_DAY", "3")
                .args(["--per-day", "2"])
        ),
        (2, 2)
    );
    assert_eq!(left(prewarm(dir.path()).args(["--max-urls", "1"])), (4, 1));
}

#[test]
fn init_writes_a_starter_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    prewarm(dir.path()).arg("init").assert().success();
    let text = std::fs::read_to_string(dir.path().join("prewarm.toml")).unwrap();
    assert!(text.contains("root = \"dist\""), "{text}");
    let out = prewarm(dir.path()).arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("prewarm.toml")).unwrap(),
        text
    );
}
