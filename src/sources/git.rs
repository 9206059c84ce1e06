//! git source: the files a range of commits changed under a build root (`git diff --name-status OLD..NEW`).
//!
//! Takes a repository (a work tree or a bare repository), a range `OLD..NEW` and the build root's path inside the
//! repository; returns [`GitChanges`]: the paths (relative to that root) that were added, modified, copied or
//! renamed to, and those deleted or renamed from. Mapping them to URLs is the shared file mapper's job.
//!
//! It runs `git` as a child process with `-z` (so odd file names survive) and `-M` (so a rename pushes its new
//! name), with the caller's `GIT_DIR` / `GIT_WORK_TREE` removed from its environment (inside a hook git sets
//! them for the hook's own repository, which would override `-C`). It never writes to the repository, never
//! touches the network, and never passes a range that could be read as an option.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Position;
use crate::{Error, Result};

/// The empty tree (SHA-1 repositories): `OLD` for a branch's first push, so every file counts as added.
pub const EMPTY_TREE_SHA1: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
/// The empty tree in SHA-256 repositories.
pub const EMPTY_TREE_SHA256: &str =
    "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321";

/// Environment variables that would point git at another repository than the one asked for.
const REPO_ENV: [&str; 6] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
];

/// What a range of commits changed under a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitChanges {
    /// Relative to the prefix: added, modified, type-changed, copied and renamed-to paths, in git's order.
    pub changed: Vec<PathBuf>,
    /// Relative to the prefix: deleted and renamed-from paths.
    pub deleted: Vec<PathBuf>,
}

/// Splits `OLD..NEW` into the two revisions to compare; an empty side means `HEAD`, as in git, and an all-zero
/// `OLD` (no commit yet) means the empty tree.
///
/// # Errors
/// [`Error::Usage`] when there is no `..`, the range is `OLD...NEW` (a merge-base range is not a deploy), or a
/// side looks like an option.
pub fn split_range(range: &str) -> Result<(String, String)> {
    let bad = |why: &str| Error::Usage(format!("git range {range:?}: {why} (expected OLD..NEW)"));
    if range.contains("...") {
        return Err(bad("`...` ranges are not supported"));
    }
    let Some((old, new)) = range.split_once("..") else {
        return Err(bad("no `..`"));
    };
    let side = |s: &str| -> Result<String> {
        let s = s.trim();
        if s.starts_with('-') {
            return Err(bad("a revision must not start with `-`"));
        }
        if s.contains("..") || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("not a revision"));
        }
        Ok(if s.is_empty() {
            "HEAD".to_string()
        } else {
            s.to_string()
        })
    };
    let old = side(old)?;
    // An all-zero OLD is git's "no commit" (a new branch, GitHub's `before` on a first push): the empty tree.
    let old = match old.len() {
        40 if old.bytes().all(|b| b == b'0') => EMPTY_TREE_SHA1.to_string(),
        64 if old.bytes().all(|b| b == b'0') => EMPTY_TREE_SHA256.to_string(),
        _ => old,
    };
    Ok((old, side(new)?))
}

/// Lists what `range` changed under `prefix` in `repo`.
///
/// Runs `git -C repo diff-tree -r --name-status -z -M OLD NEW -- :(top,literal)prefix` (the plumbing form of
/// `git diff --name-status`: it needs a repository, and no user diff config changes its output). Paths outside the
/// prefix are ignored; a rename into the prefix from outside counts as added, one out of it as deleted.
///
/// # Errors
/// [`Error::Usage`] when git is missing, `repo` is not a repository or the range names unknown revisions (with
/// git's own message); [`Error::Input`] when git's output can't be parsed.
pub fn changes(repo: &Path, range: &str, prefix: &Path) -> Result<GitChanges> {
    let (old, new) = split_range(range)?;
    let prefix = clean_prefix(prefix)?;
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo);
    for var in REPO_ENV {
        cmd.env_remove(var);
    }
    cmd.args([
        "diff-tree",
        "-r",
        "--name-status",
        "-z",
        "-M",
        "--end-of-options",
    ])
    .arg(&old)
    .arg(&new)
    .arg("--");
    if !prefix.as_os_str().is_empty() {
        let mut spec = OsString::from(":(top,literal)");
        spec.push(prefix.as_os_str());
        cmd.arg(spec);
    }
    let what = format!("git diff {range} in {}", repo.display());
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Usage(format!("{what}: git is not installed (or not on PATH)"))
        } else {
            Error::io(repo, e)
        }
    })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let msg = msg
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(3)
            .collect::<Vec<_>>()
            .join("; ");
        let msg = if msg.is_empty() {
            format!("git exited with {}", out.status)
        } else {
            msg
        };
        return Err(Error::Usage(format!("{what}: {msg}")));
    }
    parse_name_status(&out.stdout, &prefix, &what)
}

/// The prefix as a plain relative path (`./public/` → `public`); `..` and absolute paths are refused.
fn clean_prefix(prefix: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in prefix.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Error::Usage(format!(
                    "git prefix {:?} must be a path inside the repository (relative, without `..`)",
                    prefix.display().to_string()
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn bytes_to_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn bytes_to_path(b: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(b).into_owned())
}

/// Parses `--name-status -z` output: `STATUS\0path\0`, or `R<score>\0from\0to\0` / `C<score>\0from\0to\0`.
fn parse_name_status(out: &[u8], prefix: &Path, what: &str) -> Result<GitChanges> {
    let mut fields = out.split(|b| *b == 0).peekable();
    let mut offset = 0u64;
    let mut changes = GitChanges::default();
    let under = |p: &[u8]| -> Option<PathBuf> {
        let path = bytes_to_path(p);
        path.strip_prefix(prefix)
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
            .map(Path::to_path_buf)
    };
    let malformed = |offset: u64, why: &str| Error::Input {
        source_name: what.to_string(),
        position: Position::Offset(offset),
        message: format!("unexpected git output: {why}"),
    };
    while let Some(status) = fields.next() {
        if status.is_empty() && fields.peek().is_none() {
            break; // the trailing NUL
        }
        let at = offset;
        offset += status.len() as u64 + 1;
        let mut path = || -> Result<&[u8]> {
            let p = fields
                .next()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| malformed(at, "a status without a path"))?;
            offset += p.len() as u64 + 1;
            Ok(p)
        };
        match status.first() {
            Some(b'A' | b'M' | b'T') => changes.changed.extend(under(path()?)),
            Some(b'D') => changes.deleted.extend(under(path()?)),
            Some(b'R') => {
                let from = path()?;
                let to = path()?;
                changes.deleted.extend(under(from));
                changes.changed.extend(under(to));
            }
            Some(b'C') => {
                let _from = path()?;
                changes.changed.extend(under(path()?));
            }
            // Unmerged or unknown entries carry no file to warm; skip their path.
            Some(b'U' | b'X') => {
                path()?;
            }
            _ => {
                return Err(malformed(
                    at,
                    &format!("status {:?}", String::from_utf8_lossy(status)),
                ));
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
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
            .env_remove("GIT_DIR")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn commit(dir: &Path, msg: &str) -> String {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", msg]);
        git(dir, &["rev-parse", "HEAD"])
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    /// A repo with two commits: adds, a modification, a deletion, a rename and an odd name, some outside `public`.
    fn repo() -> (tempfile::TempDir, String, String) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        git(d, &["init", "-q"]);
        write(d, "public/index.html", "<h1>home</h1>");
        write(d, "public/about.html", "<p>about</p>");
        write(
            d,
            "public/old-name.html",
            "<p>a page long enough to be recognised as the same file after a rename</p>",
        );
        write(d, "public/gone.html", "<p>gone</p>");
        write(d, "src/index.md", "# home");
        let c1 = commit(d, "one");
        write(d, "public/index.html", "<h1>home, updated</h1>");
        write(d, "public/blog/new post\t\"quoted\".html", "<p>new</p>");
        std::fs::remove_file(d.join("public/gone.html")).unwrap();
        std::fs::rename(
            d.join("public/old-name.html"),
            d.join("public/new-name.html"),
        )
        .unwrap();
        write(d, "src/index.md", "# home, updated");
        write(d, "publicity.txt", "not under public/");
        let c2 = commit(d, "two");
        (t, c1, c2)
    }

    #[test]
    fn adds_modifications_renames_and_deletions_under_the_prefix() {
        let (t, c1, c2) = repo();
        let mut got = changes(t.path(), &format!("{c1}..{c2}"), Path::new("public")).unwrap();
        got.changed.sort();
        got.deleted.sort();
        assert_eq!(
            got.changed,
            paths(&[
                "blog/new post\t\"quoted\".html",
                "index.html",
                "new-name.html"
            ])
        );
        assert_eq!(got.deleted, paths(&["gone.html", "old-name.html"]));
    }

    #[test]
    fn an_empty_prefix_is_the_whole_repository_and_dot_slash_is_tolerated() {
        let (t, c1, c2) = repo();
        let got = changes(t.path(), &format!("{c1}..{c2}"), Path::new("")).unwrap();
        assert!(
            got.changed.contains(&PathBuf::from("src/index.md")),
            "{got:?}"
        );
        assert!(
            got.changed.contains(&PathBuf::from("publicity.txt")),
            "{got:?}"
        );
        let got = changes(t.path(), &format!("{c1}..{c2}"), Path::new("./public/")).unwrap();
        assert!(
            got.changed.contains(&PathBuf::from("index.html")),
            "{got:?}"
        );
        assert!(!got.changed.iter().any(|p| p.starts_with("src")), "{got:?}");
    }

    #[test]
    fn the_empty_tree_lists_every_file_as_added() {
        let (t, c1, _) = repo();
        let mut got = changes(
            t.path(),
            &format!("{EMPTY_TREE_SHA1}..{c1}"),
            Path::new("public"),
        )
        .unwrap();
        got.changed.sort();
        assert_eq!(
            got.changed,
            paths(&["about.html", "gone.html", "index.html", "old-name.html"])
        );
        assert!(got.deleted.is_empty());
        // The all-zero hash of a new branch (post-receive, GitHub's `before`) means the same.
        let zeros = "0".repeat(40);
        let again = changes(t.path(), &format!("{zeros}..{c1}"), Path::new("public")).unwrap();
        assert_eq!(again.changed.len(), 4, "{again:?}");
    }

    #[test]
    fn bare_repositories_work_and_a_non_repository_is_a_usage_error() {
        let (t, c1, c2) = repo();
        let bare = tempfile::tempdir().unwrap();
        let b = bare.path().join("site.git");
        git(
            t.path(),
            &["clone", "-q", "--bare", ".", b.to_str().unwrap()],
        );
        let elsewhere = tempfile::tempdir().unwrap();
        let got = changes(&b, &format!("{c1}..{c2}"), Path::new("public")).unwrap();
        assert_eq!(got.deleted.len(), 2, "{got:?}");
        let e = changes(
            elsewhere.path(),
            &format!("{c1}..{c2}"),
            Path::new("public"),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(e.to_string().contains("not a git repository"), "{e}");
    }

    #[test]
    fn a_bad_range_carries_git_s_message() {
        let (t, c1, _) = repo();
        let e = changes(
            t.path(),
            &format!("{c1}..no-such-branch"),
            Path::new("public"),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("git diff "), "{msg}");
        assert!(msg.contains("no-such-branch"), "{msg}");
        assert_eq!(e.exit_code(), crate::error::ExitCode::Input);
    }

    #[test]
    fn ranges_are_split_and_option_like_revisions_refused() {
        assert_eq!(split_range("a..b").unwrap(), ("a".into(), "b".into()));
        assert_eq!(split_range("v1..").unwrap(), ("v1".into(), "HEAD".into()));
        let zeros = "0".repeat(40);
        assert_eq!(
            split_range(&format!("{zeros}..b")).unwrap(),
            (EMPTY_TREE_SHA1.into(), "b".into())
        );
        let zeros = "0".repeat(64);
        assert_eq!(
            split_range(&format!("{zeros}..b")).unwrap(),
            (EMPTY_TREE_SHA256.into(), "b".into())
        );
        for bad in [
            "abc",
            "--output=/tmp/x..HEAD",
            "a..-p",
            "a..b..c",
            "a b..c",
            "main...topic",
        ] {
            let e = split_range(bad).unwrap_err().to_string();
            assert!(e.starts_with("git range "), "{bad}: {e}");
        }
        assert!(clean_prefix(Path::new("../x")).is_err());
        assert!(clean_prefix(Path::new("/abs")).is_err());
    }

    #[test]
    fn name_status_parsing() {
        let out = b"M\0public/a.html\0R087\0public/b.html\0public/c.html\0C100\0public/a.html\0public/d.html\0D\0x/e.html\0T\0public/f\0";
        let got = parse_name_status(out, Path::new("public"), "t").unwrap();
        assert_eq!(got.changed, paths(&["a.html", "c.html", "d.html", "f"]));
        assert_eq!(got.deleted, paths(&["b.html"]));
        let e = parse_name_status(b"M\0a\0Z\0b\0", Path::new(""), "t")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "t (byte 4): unexpected git output: status \"Z\"");
        let e = parse_name_status(b"R100\0a\0", Path::new(""), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a status without a path"), "{e}");
    }
}
