//! git post-deploy hooks: `prewarm hook post-receive` and `prewarm hook install`.
//!
//! [`post_receive`] takes the standard post-receive stdin (`old new ref` per line) and returns the `OLD..NEW`
//! range the deploy branch moved by (the empty tree as `OLD` for a new branch, nothing for a deleted branch or
//! another ref); [`sources_for`] turns the configured build roots into git sources over that range; [`install`]
//! writes a `post-receive` script into a repository's hooks folder.
//!
//! It never overwrites a hook it did not write, never runs the hook's input through a shell, and never reads the
//! work tree of a bare repository (there is none: the deploy checks the commit out into the build root).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{Settings, SourceSpec};
use crate::error::Position;
use crate::sources::git::{EMPTY_TREE_SHA1, EMPTY_TREE_SHA256};
use crate::{Error, Result};

/// The hook's file name inside the hooks folder.
pub const HOOK_NAME: &str = "post-receive";

/// The range to push for `branch`, read from post-receive's stdin.
///
/// Lines for other refs are ignored. A new branch (all-zero old hash) yields `EMPTY_TREE..NEW`, a deleted branch
/// (all-zero new hash) yields `None`, as does a push that did not touch the branch.
///
/// # Errors
/// [`Error::Input`] naming the line when a line is not `old new ref` with hex hashes; [`Error::Usage`] when the
/// branch moved but no configured source has a build root to map the changed files through.
pub fn post_receive(
    stdin: impl BufRead,
    branch: &str,
    settings: &Settings,
) -> Result<Option<String>> {
    let want = branch_ref(branch);
    let mut range = None;
    for (i, line) in stdin.split(b'\n').enumerate() {
        let at = |col: usize, message: String| Error::Input {
            source_name: "<stdin>".into(),
            position: Position::LineCol { line: i + 1, col },
            message,
        };
        let line = line.map_err(|e| Error::io("<stdin>", e))?;
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        let (Some(old), Some(new), Some(refname), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(at(
                1,
                format!("expected `old-hash new-hash ref` (a post-receive line), got {line:?}"),
            ));
        };
        for (hash, col) in [(old, 1), (new, old.len() + 2)] {
            if !is_hash(hash) {
                return Err(at(col, format!("not a commit hash: {hash:?}")));
            }
        }
        if refname != want {
            log::debug!("hook: ignoring {refname} (deploy branch is {want})");
            continue;
        }
        range = if is_zero(new) {
            log::info!("hook: {want} was deleted; nothing to push");
            None
        } else if is_zero(old) {
            let empty = if new.len() == 64 {
                EMPTY_TREE_SHA256
            } else {
                EMPTY_TREE_SHA1
            };
            Some(format!("{empty}..{new}"))
        } else {
            Some(format!("{old}..{new}"))
        };
    }
    if let Some(r) = range
        .as_ref()
        .filter(|r| sources_for_repo(settings, r, Path::new(".")).is_empty())
    {
        return Err(Error::Usage(format!(
            "{want} moved ({r}) but no dir, changed or git source is configured: the hook needs a build root \
             (`root` and `base_url`) to map the changed files to URLs"
        )));
    }
    Ok(range)
}

/// The configured `dir` / `changed` / `git` sources as git sources over `range`; sitemap sources are dropped.
///
/// The repository is the one the hook runs in (`GIT_DIR`, which git sets for hooks, else the current folder).
/// A build root's path in the repository is its path relative to the config file's folder (commit
/// `prewarm.toml` at the repository's top); a root outside that folder is the whole repository.
#[must_use]
pub fn sources_for(settings: &Settings, range: &str) -> Vec<SourceSpec> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let repo = std::env::var_os("GIT_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(
            || cwd.clone(),
            // `GIT_DIR=.` in a bare repository's hook: keep the path tidy for messages.
            |d| {
                cwd.join(d)
                    .components()
                    .filter(|c| !matches!(c, std::path::Component::CurDir))
                    .collect()
            },
        );
    sources_for_repo(settings, range, &repo)
}

fn sources_for_repo(settings: &Settings, range: &str, repo: &Path) -> Vec<SourceSpec> {
    settings
        .sources
        .iter()
        .filter_map(|s| match s {
            SourceSpec::Dir { mapping, priority }
            | SourceSpec::Changed {
                mapping, priority, ..
            } => {
                let prefix = mapping
                    .root
                    .strip_prefix(&settings.base_dir)
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                Some(SourceSpec::Git {
                    repo: repo.to_path_buf(),
                    range: range.to_string(),
                    prefix,
                    mapping: mapping.clone(),
                    priority: *priority,
                })
            }
            SourceSpec::Git {
                repo,
                prefix,
                mapping,
                priority,
                ..
            } => Some(SourceSpec::Git {
                repo: repo.clone(),
                range: range.to_string(),
                prefix: prefix.clone(),
                mapping: mapping.clone(),
                priority: *priority,
            }),
            SourceSpec::Sitemap { .. } => None,
        })
        .collect()
}

/// Writes `hooks/post-receive` into `repo` (bare or not; `core.hooksPath` is honoured) and returns its path.
///
/// The script runs this binary (by absolute path) as `hook post-receive --branch BRANCH --config CONFIG`. With
/// no `config`, `./prewarm.toml` is used when it exists; otherwise the hook reads `prewarm.toml` in the folder git
/// runs push hooks in (the git dir). An identical existing hook is left as it is.
///
/// # Errors
/// [`Error::Usage`] when `repo` is not a git repository, the branch name is unusable, or a different
/// `post-receive` hook exists (it is never overwritten); [`Error::Io`] when the hook can't be written.
pub fn install(repo: &Path, branch: &str, config: Option<&Path>) -> Result<PathBuf> {
    check_branch(branch)?;
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let config = match config {
        Some(c) => Some(cwd.join(c)),
        None => Some(cwd.join("prewarm.toml")).filter(|c| c.is_file()),
    };
    let exe = std::env::current_exe().ok().filter(|p| p.is_absolute());
    let script = script(exe.as_deref(), branch, config.as_deref());
    let hooks = hooks_dir(repo)?;
    let path = hooks.join(HOOK_NAME);
    match std::fs::read(&path) {
        Ok(existing) if existing == script.as_bytes() => return Ok(path),
        Ok(_) => {
            return Err(Error::Usage(format!(
                "{} already exists and is not this prewarm hook; not overwriting it (remove it, or add this line to \
                 it, after the deploy step: {})",
                path.display(),
                script.lines().last().unwrap_or_default()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&path, e)),
    }
    std::fs::create_dir_all(&hooks).map_err(|e| Error::io(&hooks, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&hooks).map_err(|e| Error::io(&hooks, e))?;
    std::io::Write::write_all(&mut tmp, script.as_bytes())
        .map_err(|e| Error::io(tmp.path().to_path_buf(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io(tmp.path().to_path_buf(), e))?;
    }
    // persist_noclobber: a hook created meanwhile is not overwritten either.
    tmp.persist_noclobber(&path)
        .map_err(|e| Error::io(&path, e.error))?;
    Ok(path)
}

/// The hook script's text.
fn script(exe: Option<&Path>, branch: &str, config: Option<&Path>) -> String {
    let exe = exe.map_or_else(|| "prewarm".to_string(), |p| quote(&p.to_string_lossy()));
    let mut line = format!("exec {exe} hook post-receive --branch {}", quote(branch));
    if let Some(c) = config {
        line.push_str(" --config ");
        line.push_str(&quote(&c.to_string_lossy()));
    }
    format!(
        "#!/bin/sh\n# Installed by `prewarm hook install`: warms the CDN with what a push to {branch} changed.\n\
         # The deploy (checking the pushed commit out into the build root) must run before the exec line.\n{line}\n"
    )
}

/// Single-quotes a word for `/bin/sh`.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn check_branch(branch: &str) -> Result<()> {
    let name = branch.strip_prefix("refs/heads/").unwrap_or(branch);
    if name.is_empty()
        || name.starts_with('-')
        || name.contains("..")
        || name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
    {
        return Err(Error::Usage(format!(
            "--branch {branch:?} is not a valid branch name"
        )));
    }
    Ok(())
}

fn branch_ref(branch: &str) -> String {
    if branch.starts_with("refs/") {
        branch.to_string()
    } else {
        format!("refs/heads/{branch}")
    }
}

fn is_hash(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

/// The repository's hooks folder (`git rev-parse --git-path hooks`, so `core.hooksPath` counts).
fn hooks_dir(repo: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--git-path", "hooks"])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .map_err(|e| Error::Usage(format!("{}: could not run git: {e}", repo.display())))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Usage(format!("{}: {}", repo.display(), msg.trim())));
    }
    let rel = String::from_utf8_lossy(&out.stdout)
        .trim_end_matches(['\n', '\r'])
        .to_string();
    Ok(repo.join(rel))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Mapping;
    use pretty_assertions::assert_eq;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn mapping(root: &str) -> Mapping {
        Mapping {
            root: root.into(),
            base_url: "https://www.example.com/".into(),
            include: vec![],
            exclude: vec!["**/*.map".into()],
            pretty_urls: true,
            hidden: false,
        }
    }

    fn settings() -> Settings {
        let mut s = Settings::with_defaults("/srv/site".into());
        s.sources = vec![
            SourceSpec::Sitemap {
                location: crate::config::Location::Path("/srv/site/public/sitemap.xml".into()),
                priority: 0,
            },
            SourceSpec::Dir {
                mapping: mapping("/srv/site/public"),
                priority: 3,
            },
            SourceSpec::Changed {
                file: None,
                mapping: mapping("/elsewhere/www"),
                priority: 1,
            },
        ];
        s
    }

    fn run(input: &str) -> Result<Option<String>> {
        post_receive(input.as_bytes(), "main", &settings())
    }

    #[test]
    fn the_deploy_branch_s_range_is_returned() {
        let input =
            format!("{A} {B} refs/heads/topic\n{A} {B} refs/heads/main\n{A} {B} refs/tags/v1\n");
        assert_eq!(run(&input).unwrap(), Some(format!("{A}..{B}")));
        assert_eq!(
            post_receive(input.as_bytes(), "refs/heads/topic", &settings()).unwrap(),
            Some(format!("{A}..{B}"))
        );
    }

    #[test]
    fn new_deleted_and_untouched_branches() {
        assert_eq!(
            run(&format!("{Z} {B} refs/heads/main\n")).unwrap(),
            Some(format!("{EMPTY_TREE_SHA1}..{B}"))
        );
        let new256 = "ab".repeat(32);
        let zero256 = "0".repeat(64);
        assert_eq!(
            run(&format!("{zero256} {new256} refs/heads/main\n")).unwrap(),
            Some(format!("{EMPTY_TREE_SHA256}..{new256}"))
        );
        assert_eq!(run(&format!("{A} {Z} refs/heads/main\n")).unwrap(), None);
        assert_eq!(
            run(&format!("{A} {B} refs/heads/mainline\n")).unwrap(),
            None
        );
        assert_eq!(run("").unwrap(), None);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let e = run(&format!("{A} {B} refs/heads/x\n{A} {B}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("<stdin>:2:1: expected `old-hash new-hash ref`"),
            "{e}"
        );
        let e = run(&format!("{A} nothex refs/heads/main\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "<stdin>:1:42: not a commit hash: \"nothex\"");
    }

    #[test]
    fn a_moved_branch_without_a_build_root_is_a_usage_error() {
        let mut s = settings();
        s.sources.drain(1..);
        let e =
            post_receive(format!("{A} {B} refs/heads/main\n").as_bytes(), "main", &s).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(e.to_string().contains("needs a build root"), "{e}");
    }

    #[test]
    fn sources_become_git_sources() {
        let got = sources_for_repo(&settings(), "a..b", Path::new("/srv/git/site.git"));
        assert_eq!(
            got,
            vec![
                SourceSpec::Git {
                    repo: "/srv/git/site.git".into(),
                    range: "a..b".into(),
                    prefix: "public".into(),
                    mapping: mapping("/srv/site/public"),
                    priority: 3,
                },
                SourceSpec::Git {
                    repo: "/srv/git/site.git".into(),
                    range: "a..b".into(),
                    prefix: PathBuf::new(),
                    mapping: mapping("/elsewhere/www"),
                    priority: 1,
                },
            ]
        );
        let mut s = settings();
        s.sources = vec![SourceSpec::Git {
            repo: "/r".into(),
            range: "x..y".into(),
            prefix: "site".into(),
            mapping: mapping("/r/site"),
            priority: 0,
        }];
        assert!(
            matches!(&sources_for_repo(&s, "a..b", Path::new("/other"))[0],
            SourceSpec::Git { repo, range, .. } if repo == Path::new("/r") && range == "a..b")
        );
    }

    #[test]
    fn scripts_quote_their_words() {
        let s = script(
            Some(Path::new("/opt/pre warm/prewarm")),
            "main",
            Some(Path::new("/srv/it's/prewarm.toml")),
        );
        assert!(s.starts_with("#!/bin/sh\n"), "{s}");
        assert!(
            s.ends_with("\nexec '/opt/pre warm/prewarm' hook post-receive --branch main --config '/srv/it'\\''s/prewarm.toml'\n"),
            "{s}"
        );
        assert!(
            script(None, "main", None)
                .ends_with("\nexec prewarm hook post-receive --branch main\n")
        );
        for bad in ["", "-x", "a b", "a..b", "a;b\n"] {
            assert!(check_branch(bad).is_err(), "{bad:?}");
        }
        check_branch("release/2026.12").unwrap();
    }

    fn git_init(dir: &Path, bare: bool) {
        let mut c = Command::new("git");
        c.arg("init").arg("-q");
        if bare {
            c.arg("--bare");
        }
        let out = c
            .arg(dir)
            .env_remove("GIT_DIR")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn install_writes_an_executable_hook_once_and_refuses_a_different_one() {
        let t = tempfile::tempdir().unwrap();
        let bare = t.path().join("site.git");
        git_init(&bare, true);
        let config = t.path().join("prewarm.toml");
        let path = install(&bare, "main", Some(&config)).unwrap();
        assert_eq!(path, bare.join("hooks").join("post-receive"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{text}");
        assert!(
            text.contains(" hook post-receive --branch main --config "),
            "{text}"
        );
        assert!(text.contains(&*config.to_string_lossy()), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o111,
                0o111
            );
        }
        // Idempotent.
        assert_eq!(install(&bare, "main", Some(&config)).unwrap(), path);
        // A different hook (here: another branch) is refused and left alone.
        let e = install(&bare, "prod", Some(&config)).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(e.to_string().contains("not overwriting"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn install_finds_the_hooks_of_a_work_tree_and_refuses_a_non_repository() {
        let t = tempfile::tempdir().unwrap();
        git_init(t.path(), false);
        let path = install(t.path(), "main", Some(Path::new("/srv/site/prewarm.toml"))).unwrap();
        assert!(
            path.ends_with(".git/hooks/post-receive"),
            "{}",
            path.display()
        );
        let other = tempfile::tempdir().unwrap();
        let e = install(other.path(), "main", None).unwrap_err();
        assert!(e.to_string().contains("not a git repository"), "{e}");
    }
}
