//! Build-folder reader: every file under a mapping root → an [`Asset`] with a content fingerprint.
//!
//! Takes a [`Mapping`] and the stat cache; returns assets in walk order (sorted by file name), with
//! `b3:<first 32 hex of BLAKE3>` fingerprints and sizes, plus skip counts and warnings. Files are hashed in
//! parallel on every core, unchanged ones not at all (stat cache). It must never follow a symlink out of the root
//! (counted `outside_root`), loop on a symlink cycle (skipped with a warning), or read a hidden or excluded file.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use walkdir::WalkDir;

use crate::config::Mapping;
use crate::sources::statcache::{FileStat, StatCache};
use crate::sources::{Asset, Skipped};
use crate::url::{FileMapper, MapSkip};
use crate::{Error, Result};

/// What reading one folder (or one changed list) produced.
#[derive(Debug, Default)]
pub struct FileOutput {
    /// Assets in walk (or list) order.
    pub assets: Vec<Asset>,
    /// Dropped, by reason.
    pub skipped: Skipped,
    /// Warnings, each naming its path.
    pub warnings: Vec<String>,
    /// URLs of listed files that are gone (changed lists only).
    pub removed_urls: Vec<String>,
    /// Files whose contents were read (the rest came from the stat cache).
    pub hashed: usize,
}

/// A file to fingerprint.
#[derive(Debug, Clone)]
pub(crate) struct FileJob {
    pub(crate) abs: PathBuf,
    pub(crate) url: String,
    pub(crate) stat: FileStat,
}

/// Counts a [`MapSkip`] and, for invalid names, warns.
pub(crate) fn count_skip(skip: MapSkip, path: &Path, out: &mut FileOutput) {
    match skip {
        MapSkip::Excluded => out.skipped.excluded += 1,
        MapSkip::OutsideRoot => out.skipped.outside_root += 1,
        MapSkip::Invalid(why) => {
            out.skipped.invalid_url += 1;
            out.warnings.push(format!("{}: {why}", path.display()));
        }
    }
}

/// Reads every file under `mapping.root`.
///
/// # Errors
/// The root is missing or unreadable, a folder or file under it cannot be read (`Error::Io`), or the mapping's
/// globs or base URL are bad (`Error::Usage`).
pub fn read(mapping: &Mapping, cache: &mut StatCache) -> Result<FileOutput> {
    let mapper = FileMapper::new(mapping)?;
    let root = &mapping.root;
    let root_canon = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let mut out = FileOutput::default();
    let mut jobs = Vec::new();
    let mut prints: Vec<Option<String>> = Vec::new();
    // Files the stat cache can't vouch for are hashed while the walk goes on (the walk is stat-bound, the
    // hashing read-bound): one queue, a worker per core.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, PathBuf)>();
    let rx = Mutex::new(rx);
    let hashed: Mutex<Vec<(usize, io::Result<String>)>> = Mutex::new(Vec::new());
    let walked = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut local = Vec::new();
                loop {
                    let msg = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => break,
                    };
                    let Ok((i, path)) = msg else { break };
                    local.push((i, hash_file(&path)));
                }
                if let Ok(mut h) = hashed.lock() {
                    h.extend(local);
                }
            });
        }
        walk(
            root,
            &root_canon,
            &mapper,
            &*cache,
            tx,
            &mut jobs,
            &mut prints,
            &mut out,
        )
    });
    walked?;
    cache.walked(root);
    let mut hashed = hashed.into_inner().unwrap_or_default();
    hashed.sort_by_key(|(i, _)| *i);
    out.hashed += hashed.len();
    resolve(hashed, &jobs, &mut prints, &mut out)?;
    assemble(jobs, prints, cache, &mut out);
    Ok(out)
}

/// Walks `root` into `jobs` (with `prints[i]` the cached fingerprint of `jobs[i]`, if any), sending every
/// uncached file to the hashers; `tx` is dropped on return, which ends them.
#[expect(
    clippy::too_many_arguments,
    reason = "the walk's state, borrowed from read()"
)]
fn walk(
    root: &Path,
    root_canon: &Path,
    mapper: &FileMapper,
    cache: &StatCache,
    tx: std::sync::mpsc::Sender<(usize, PathBuf)>,
    jobs: &mut Vec<FileJob>,
    prints: &mut Vec<Option<String>>,
    out: &mut FileOutput,
) -> Result<()> {
    let mut it = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    while let Some(next) = it.next() {
        let entry = match next {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                if e.loop_ancestor().is_some() {
                    out.warnings
                        .push(format!("{}: symlink loop, skipped", path.display()));
                    continue;
                }
                let io = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("walk failed"));
                if io.kind() == io::ErrorKind::NotFound || io.raw_os_error() == Some(40) {
                    out.warnings
                        .push(format!("{}: broken symlink, skipped", path.display()));
                    continue;
                }
                return Err(Error::io(path, io));
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        if entry.path_is_symlink() {
            match std::fs::canonicalize(path) {
                Ok(target) if target.starts_with(root_canon) => {}
                Ok(_) => {
                    out.skipped.outside_root += 1;
                    if entry.file_type().is_dir() {
                        it.skip_current_dir();
                    }
                    continue;
                }
                Err(e) => {
                    out.warnings.push(format!(
                        "{}: unreadable symlink, skipped: {e}",
                        path.display()
                    ));
                    continue;
                }
            }
        }
        if entry.file_type().is_dir() {
            if mapper.prunes_dir(entry.file_name()) {
                // A hidden folder counts once, not per file: it is never walked.
                out.skipped.excluded += 1;
                it.skip_current_dir();
            }
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        match mapper.map(rel) {
            Ok(url) => {
                let meta = entry.metadata().map_err(|e| {
                    Error::io(
                        path,
                        e.into_io_error()
                            .unwrap_or_else(|| io::Error::other("stat failed")),
                    )
                })?;
                let stat = FileStat::of(&meta);
                let mut cached = cache.lookup(path, &stat).map(str::to_owned);
                if cached.is_none()
                    && let Err(std::sync::mpsc::SendError((_, p))) =
                        tx.send((jobs.len(), path.to_path_buf()))
                {
                    // No hasher left (they only stop once `tx` is gone): hash it here instead.
                    cached = Some(hash_file(&p).map_err(|e| Error::io(&p, e))?);
                    out.hashed += 1;
                }
                prints.push(cached);
                jobs.push(FileJob {
                    abs: path.to_path_buf(),
                    url,
                    stat,
                });
            }
            Err(skip) => count_skip(skip, path, out),
        }
    }
    Ok(())
}

/// Fingerprints jobs (cache first, then BLAKE3 on all cores) and appends them as assets, in job order.
pub(crate) fn fingerprint_into(
    jobs: Vec<FileJob>,
    cache: &mut StatCache,
    out: &mut FileOutput,
) -> Result<()> {
    let mut prints: Vec<Option<String>> = jobs
        .iter()
        .map(|j| cache.lookup(&j.abs, &j.stat).map(str::to_owned))
        .collect();
    let todo: Vec<usize> = (0..jobs.len()).filter(|&i| prints[i].is_none()).collect();
    out.hashed += todo.len();
    resolve(hash_parallel(&jobs, &todo), &jobs, &mut prints, out)?;
    assemble(jobs, prints, cache, out);
    Ok(())
}

/// Puts hash results (in job order) into `prints`; a file deleted since the walk is skipped with a warning.
fn resolve(
    hashed: Vec<(usize, io::Result<String>)>,
    jobs: &[FileJob],
    prints: &mut [Option<String>],
    out: &mut FileOutput,
) -> Result<()> {
    for (i, r) in hashed {
        match r {
            Ok(fp) => prints[i] = Some(fp),
            // Deleted between the walk and the read (a build still writing): skipped, not fatal.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.skipped.missing_file += 1;
                out.warnings.push(format!(
                    "{}: vanished while reading, skipped",
                    jobs[i].abs.display()
                ));
            }
            Err(e) => return Err(Error::io(&jobs[i].abs, e)),
        }
    }
    Ok(())
}

/// Appends the fingerprinted jobs as assets (job order) and records them in the cache; a job without a
/// fingerprint (vanished) is left out.
fn assemble(
    jobs: Vec<FileJob>,
    prints: Vec<Option<String>>,
    cache: &mut StatCache,
    out: &mut FileOutput,
) {
    for (job, fp) in jobs.into_iter().zip(prints) {
        let Some(fp) = fp else { continue };
        cache.record(job.abs.clone(), job.stat, fp.clone());
        out.assets.push(Asset {
            fingerprint: Some(fp),
            bytes: Some(job.stat.size),
            origin_path: Some(job.abs),
            ..Asset::new(job.url)
        });
    }
}

/// `b3:` + the first 32 hex digits of the file's BLAKE3 hash (streamed, 64 KiB buffer).
pub(crate) fn hash_file(path: &Path) -> io::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(path)?)?;
    Ok(format!(
        "b3:{}",
        hex::encode(&h.finalize().as_bytes()[..16])
    ))
}

/// Hashes `jobs[i]` for every `i` in `todo` on up to `available_parallelism` threads (a shared work index).
fn hash_parallel(jobs: &[FileJob], todo: &[usize]) -> Vec<(usize, io::Result<String>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(todo.len());
    if threads <= 1 {
        return todo.iter().map(|&i| (i, hash_file(&jobs[i].abs))).collect();
    }
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(todo.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut local = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(k) else { break };
                    local.push((i, hash_file(&jobs[i].abs)));
                }
                if let Ok(mut r) = results.lock() {
                    r.extend(local);
                }
            });
        }
    });
    let mut r = results.into_inner().unwrap_or_default();
    r.sort_by_key(|(i, _)| *i);
    r
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

    fn urls(o: &FileOutput) -> Vec<&str> {
        o.assets.iter().map(|a| a.url.as_str()).collect()
    }

    #[test]
    fn reads_the_fixture_site() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/site");
        let out = read(&mapping(&root), &mut StatCache::in_memory()).unwrap();
        assert_eq!(
            urls(&out),
            [
                "https://www.example.com/404.html",
                "https://www.example.com/about.html",
                "https://www.example.com/blog/caf%C3%A9/",
                "https://www.example.com/blog/",
                "https://www.example.com/blog/post/",
                "https://www.example.com/css/site.css",
                "https://www.example.com/docs/getting%20started.html",
                "https://www.example.com/docs/",
                "https://www.example.com/img/logo.png",
                "https://www.example.com/",
                "https://www.example.com/js/app.js",
                "https://www.example.com/sitemap.xml",
            ]
        );
        // .DS_Store, .well-known/ and js/app.js.map.
        assert_eq!(out.skipped.excluded, 3);
        let css = out
            .assets
            .iter()
            .find(|a| a.url.ends_with("site.css"))
            .unwrap();
        let bytes = std::fs::read(root.join("css/site.css")).unwrap();
        let want = blake3::hash(&bytes).to_hex();
        assert_eq!(
            css.fingerprint.as_deref(),
            Some(format!("b3:{}", &want[..32]).as_str())
        );
        assert_eq!(css.bytes, Some(bytes.len() as u64));
        assert_eq!(out.hashed, 12);
    }

    #[test]
    fn stat_cache_skips_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("public");
        std::fs::create_dir_all(root.join("a")).unwrap();
        for i in 0..5 {
            std::fs::write(root.join(format!("a/{i}.html")), format!("page {i}")).unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        for i in 0..5 {
            std::fs::File::options()
                .write(true)
                .open(root.join(format!("a/{i}.html")))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let cache_path = dir.path().join("stat-cache");
        let mut c = StatCache::load(&cache_path);
        let first = read(&mapping(&root), &mut c).unwrap();
        c.save();
        assert_eq!(first.hashed, 5);
        let mut c = StatCache::load(&cache_path);
        let second = read(&mapping(&root), &mut c).unwrap();
        c.save();
        assert_eq!(second.hashed, 0);
        assert_eq!(first.assets, second.assets);
        // A change is seen (size and mtime differ), and only that file is read.
        std::fs::write(root.join("a/3.html"), "page three, edited").unwrap();
        let mut c = StatCache::load(&cache_path);
        let third = read(&mapping(&root), &mut c).unwrap();
        c.save();
        assert_eq!(third.hashed, 1);
        assert_ne!(third.assets[3].fingerprint, first.assets[3].fingerprint);
        // Racily clean: the just-edited file's mtime is not older than the cache write → re-hashed once more.
        let now = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(root.join("a/1.html"))
            .unwrap()
            .set_modified(now)
            .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&cache_path)
            .unwrap()
            .set_modified(now)
            .unwrap();
        let mut c = StatCache::load(&cache_path);
        let fourth = read(&mapping(&root), &mut c).unwrap();
        assert_eq!(fourth.hashed, 1);
        assert_eq!(fourth.assets[1].fingerprint, first.assets[1].fingerprint);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_loops_and_escapes() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/page.html"), "p").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("outside/x.html"), "x").unwrap();
        symlink("sub/page.html", root.join("alias.html")).unwrap();
        symlink("../secret.txt", root.join("secret.txt")).unwrap();
        symlink("../outside", root.join("out")).unwrap();
        symlink("..", root.join("sub/loop")).unwrap();
        symlink("self-a", root.join("self-b")).unwrap();
        symlink("self-b", root.join("self-a")).unwrap();
        symlink("nowhere", root.join("dangling")).unwrap();
        let out = read(&mapping(&root), &mut StatCache::in_memory()).unwrap();
        assert_eq!(
            urls(&out),
            [
                "https://www.example.com/alias.html",
                "https://www.example.com/sub/page.html"
            ]
        );
        assert_eq!(out.skipped.outside_root, 2);
        assert!(
            out.warnings.iter().any(|w| w.contains("symlink loop")),
            "{:?}",
            out.warnings
        );
        assert_eq!(out.warnings.len(), 4, "{:?}", out.warnings);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_refused() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"caf\xe9.html");
        if std::fs::write(dir.path().join(name), "x").is_err() {
            return; // the filesystem refuses non-UTF-8 names: nothing to test
        }
        std::fs::write(dir.path().join("ok.html"), "x").unwrap();
        let out = read(&mapping(dir.path()), &mut StatCache::in_memory()).unwrap();
        assert_eq!(urls(&out), ["https://www.example.com/ok.html"]);
        assert_eq!(out.skipped.invalid_url, 1);
        assert!(
            out.warnings[0].contains("caf\u{fffd}.html") && out.warnings[0].contains("not utf-8")
        );
    }

    #[test]
    fn files_vanishing_before_the_read_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.html"), "a").unwrap();
        let stat = FileStat::of(&std::fs::metadata(dir.path().join("a.html")).unwrap());
        let jobs = vec![
            FileJob {
                abs: dir.path().join("a.html"),
                url: "https://www.example.com/a.html".into(),
                stat,
            },
            FileJob {
                abs: dir.path().join("gone.html"),
                url: "https://www.example.com/gone.html".into(),
                stat,
            },
        ];
        let mut out = FileOutput::default();
        fingerprint_into(jobs, &mut StatCache::in_memory(), &mut out).unwrap();
        assert_eq!(urls(&out), ["https://www.example.com/a.html"]);
        assert_eq!(out.skipped.missing_file, 1);
        assert!(out.warnings[0].contains("gone.html: vanished"));
    }

    #[test]
    fn missing_root_is_an_error() {
        let err = read(
            &mapping(Path::new("/nonexistent/prewarm-root")),
            &mut StatCache::in_memory(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/prewarm-root"),
            "{err}"
        );
    }
}
