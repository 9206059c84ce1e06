//! Changed-file list reader (`git diff --name-only` output, from a file or stdin) → [`crate::sources::Asset`]s.
//!
//! Takes the list's bytes and a [`Mapping`]; returns the listed files under the root as assets fingerprinted
//! like the `dir` source (BLAKE3, stat cache), and the URLs of listed files that are gone (`removed_urls`, they
//! leave state). Handles a UTF-8 BOM, CRLF, blank lines, duplicates and git's C-quoted names
//! (`"caf\303\251.html"`). Input containing a NUL byte is read as NUL-separated (`git diff -z --name-only`).
//! A listed folder is skipped (counted `excluded`): git lists files, never folders. It must never read a file
//! outside the root: `../x`, absolute paths elsewhere and symlinks out are refused with a warning and counted
//! `outside_root`.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::config::Mapping;
use crate::sources::dir::{FileJob, FileOutput, count_skip, fingerprint_into};
use crate::sources::statcache::{FileStat, StatCache};
use crate::url::FileMapper;
use crate::{Error, Result};

/// Reads a changed list from a file, or stdin for `None`.
///
/// # Errors
/// The list cannot be read (`Error::Io`), the mapping is unusable, or a listed file cannot be read.
pub fn read(file: Option<&Path>, mapping: &Mapping, cache: &mut StatCache) -> Result<FileOutput> {
    let (bytes, name) = match file {
        Some(p) if p != Path::new("-") => (
            std::fs::read(p).map_err(|e| Error::io(p, e))?,
            p.display().to_string(),
        ),
        _ => {
            let mut b = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut b)
                .map_err(|e| Error::io("-", e))?;
            (b, "-".to_string())
        }
    };
    read_bytes(&bytes, &name, mapping, cache)
}

/// Reads a changed list already in memory; `name` names it in warnings.
///
/// # Errors
/// As [`read`].
pub fn read_bytes(
    bytes: &[u8],
    name: &str,
    mapping: &Mapping,
    cache: &mut StatCache,
) -> Result<FileOutput> {
    let mapper = FileMapper::new(mapping)?;
    let root = &mapping.root;
    let root_canon = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(bytes);
    let sep = if bytes.contains(&0) { 0 } else { b'\n' };
    let mut out = FileOutput::default();
    let mut seen = HashSet::new();
    let mut jobs = Vec::new();
    for (n, raw) in bytes.split(|&b| b == sep).enumerate() {
        let line_no = n + 1;
        let raw = raw.trim_ascii();
        if raw.is_empty() {
            continue;
        }
        let Some(text) = unquote(raw) else {
            out.skipped.invalid_url += 1;
            out.warnings
                .push(format!("{name}:{line_no}: not a utf-8 path, skipped"));
            continue;
        };
        let Some(rel) = relative_to_root(Path::new(&text), root, &root_canon) else {
            out.skipped.outside_root += 1;
            out.warnings.push(format!(
                "{name}:{line_no}: {text:?} is outside {}, skipped",
                root.display()
            ));
            continue;
        };
        if !seen.insert(rel.clone()) {
            continue;
        }
        let abs = root.join(&rel);
        let url = match mapper.map(&rel) {
            Ok(u) => u,
            Err(skip) => {
                count_skip(skip, &abs, &mut out);
                continue;
            }
        };
        let meta = match std::fs::metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(&abs).is_ok() {
                    out.warnings.push(format!(
                        "{name}:{line_no}: {} is a broken symlink, skipped",
                        abs.display()
                    ));
                    continue;
                }
                out.skipped.missing_file += 1;
                out.removed_urls.push(url);
                continue;
            }
            Err(e) => return Err(Error::io(&abs, e)),
        };
        match std::fs::canonicalize(&abs) {
            Ok(c) if c.starts_with(&root_canon) => {}
            Ok(_) => {
                out.skipped.outside_root += 1;
                out.warnings.push(format!(
                    "{name}:{line_no}: {} links outside the root, skipped",
                    abs.display()
                ));
                continue;
            }
            Err(e) => return Err(Error::io(&abs, e)),
        }
        if meta.is_dir() {
            out.skipped.excluded += 1;
            continue;
        }
        jobs.push(FileJob {
            abs,
            url,
            stat: FileStat::of(&meta),
        });
    }
    fingerprint_into(jobs, cache, &mut out)?;
    Ok(out)
}

/// The path relative to the root, lexically: `..` may not climb out; an absolute path must be under the root.
fn relative_to_root(p: &Path, root: &Path, root_canon: &Path) -> Option<PathBuf> {
    let p = if p.is_absolute() {
        p.strip_prefix(root)
            .or_else(|_| p.strip_prefix(root_canon))
            .ok()?
    } else {
        p
    };
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Decodes a line: UTF-8, and git's C-style quoting (`"a\tb"`, `"caf\303\251"`) when quoted.
fn unquote(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return Some(s.to_string());
    };
    let b = inner.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b.get(i + 1)?;
        i += 2;
        out.push(match c {
            b'a' => 7,
            b'b' => 8,
            b't' => b'\t',
            b'n' => b'\n',
            b'v' => 11,
            b'f' => 12,
            b'r' => b'\r',
            b'"' => b'"',
            b'\\' => b'\\',
            b'0'..=b'3' => {
                let oct = b.get(i - 1..i + 2)?;
                i += 2;
                let s = std::str::from_utf8(oct).ok()?;
                u8::from_str_radix(s, 8).ok()?
            }
            _ => return None,
        });
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    fn mapping(root: &Path) -> Mapping {
        Mapping {
            root: root.to_path_buf(),
            base_url: "https://www.example.com/".into(),
            include: vec![],
            exclude: vec!["**/*.map".into()],
            pretty_urls: true,
            hidden: false,
        }
    }

    fn fixture(p: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(p)
    }

    #[test]
    fn reads_the_fixture_list() {
        let list = fixture("changed/changed.txt");
        let out = read(
            Some(&list),
            &mapping(&fixture("site")),
            &mut StatCache::in_memory(),
        )
        .unwrap();
        let urls: Vec<&str> = out.assets.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://www.example.com/",
                "https://www.example.com/blog/post/",
                "https://www.example.com/css/site.css",
                "https://www.example.com/blog/caf%C3%A9/",
            ]
        );
        assert!(out.assets.iter().all(|a| {
            a.fingerprint
                .as_deref()
                .is_some_and(|f| f.starts_with("b3:"))
        }));
        assert_eq!(
            out.removed_urls,
            ["https://www.example.com/old/deleted.html"]
        );
        assert_eq!(out.skipped.missing_file, 1);
        assert_eq!(out.skipped.outside_root, 1);
        assert_eq!(out.skipped.excluded, 1);
        assert_eq!(out.warnings.len(), 1);
        assert!(
            out.warnings[0].contains("changed.txt:6:") && out.warnings[0].contains("outside"),
            "{:?}",
            out.warnings
        );
        assert_eq!(out.hashed, 4);
    }

    #[test]
    fn nul_separated_absolute_and_folders() {
        let root = fixture("site");
        let abs_in = root.join("about.html");
        let mut list = b"404.html\0".to_vec();
        list.extend_from_slice(abs_in.to_str().unwrap().as_bytes());
        list.extend_from_slice(b"\0/etc/passwd\0blog\0./blog/../about.html\0sub/../../x\0");
        let out = read_bytes(&list, "list", &mapping(&root), &mut StatCache::in_memory()).unwrap();
        let urls: Vec<&str> = out.assets.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://www.example.com/404.html",
                "https://www.example.com/about.html"
            ]
        );
        assert_eq!(out.skipped.outside_root, 2);
        assert_eq!(out.skipped.excluded, 1);
        let bad = read_bytes(
            b"ok.html\n\xff\xfe.html\n",
            "l",
            &mapping(&root),
            &mut StatCache::in_memory(),
        )
        .unwrap();
        assert_eq!(bad.skipped.invalid_url, 1);
        assert!(bad.warnings[0].starts_with("l:2: not a utf-8 path"));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_out_of_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("leak.html")).unwrap();
        let out = read_bytes(
            b"leak.html\n",
            "l",
            &mapping(&root),
            &mut StatCache::in_memory(),
        )
        .unwrap();
        assert!(out.assets.is_empty());
        assert_eq!(out.skipped.outside_root, 1);
        assert_eq!(out.hashed, 0);
    }

    #[test]
    fn git_quoting() {
        assert_eq!(
            unquote(b"plain name.html").as_deref(),
            Some("plain name.html")
        );
        assert_eq!(
            unquote(br#""caf\303\251/index.html""#).as_deref(),
            Some("café/index.html")
        );
        assert_eq!(unquote(br#""a\tb\"c\\d""#).as_deref(), Some("a\tb\"c\\d"));
        assert_eq!(unquote(br#""bad\q""#), None);
        assert_eq!(unquote(br#""cut\""#), None);
        assert_eq!(unquote(b"\xff"), None);
    }
}
