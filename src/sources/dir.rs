//! Build-folder reader: every file under a mapping root → an [`Asset`] with a content fingerprint.
//!
//! Takes a [`Mapping`] and the stat cache; returns assets in walk order (depth first, each folder's entries sorted
//! by file name), with `b3:<first 32 hex of BLAKE3>` fingerprints and sizes, plus skip counts and warnings.
//! Folders are read on every core (each worker lists a folder, stats its files relative to it, hashes the ones
//! the stat cache can't vouch for); the results are then put back in walk order. It must never follow a symlink
//! out of the root (counted `outside_root`), loop on a symlink cycle (skipped with a warning), or read a hidden
//! or excluded file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use crate::config::Mapping;
use crate::sources::statcache::{FileStat, Hit, StatCache};
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

/// Where a file's fingerprint comes from.
#[derive(Debug)]
enum Print {
    /// The stat cache vouched for it.
    Cached(Hit),
    /// Read and hashed by the walker (an error when it could not be read).
    Hashed(io::Result<String>),
}

/// One entry of a folder, in walk order. A worker produces a folder's items; the ordered pass turns them into
/// assets, counts and warnings, as a sequential walk would have met them.
#[derive(Debug)]
enum Item {
    /// A file that maps to a URL.
    File {
        abs: PathBuf,
        url: String,
        stat: FileStat,
        print: Print,
    },
    /// A sub-folder, walked as folder number `.0`.
    Dir(usize),
    /// A file dropped by the mapper.
    Skip(MapSkip, PathBuf),
    /// A hidden folder, never walked: counted once, not per file.
    Pruned,
    /// A symlink whose target is outside the root.
    OutsideRoot,
    /// A file deleted between the listing and its stat.
    Vanished(PathBuf),
    Warn(String),
    /// A fatal error: the walk's result.
    Fail(Error),
}

/// A folder to list: its number (its items' slot) and its path as walked (root-joined, symlinks not resolved).
struct Task {
    id: usize,
    path: PathBuf,
}

/// The work queue the walkers share: folders not yet listed, and how many are being listed.
struct Queue {
    tasks: Vec<Task>,
    busy: usize,
}

/// What every walker reads.
struct Walker<'a> {
    root: &'a Path,
    root_canon: &'a Path,
    mapper: &'a FileMapper,
    cache: &'a StatCache,
    queue: Mutex<Queue>,
    wake: Condvar,
    next_id: AtomicUsize,
    files: AtomicUsize,
    /// Files hashed, and about how long their stat-cache lines will be.
    hashed: AtomicUsize,
    hashed_bytes: AtomicUsize,
    /// Set on the first fatal error: the walkers stop taking folders.
    abort: AtomicBool,
}

/// Reads every file under `mapping.root`.
///
/// # Errors
/// The root is missing or unreadable, a folder or file under it cannot be read (`Error::Io`), or the mapping's
/// globs or base URL are bad (`Error::Usage`).
pub fn read(mapping: &Mapping, cache: &mut StatCache) -> Result<FileOutput> {
    let mapper = FileMapper::new(mapping)?;
    let root = &mapping.root;
    let root_canon = fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let mut out = FileOutput::default();
    // A root that is a file (or a link to one) has nothing under it, as walkdir would yield only the root.
    if !fs::metadata(root).map_err(|e| Error::io(root, e))?.is_dir() {
        cache.walked(root);
        return Ok(out);
    }
    let w = Walker {
        root,
        root_canon: &root_canon,
        mapper: &mapper,
        cache: &*cache,
        queue: Mutex::new(Queue {
            tasks: vec![Task {
                id: 0,
                path: root.clone(),
            }],
            busy: 0,
        }),
        wake: Condvar::new(),
        next_id: AtomicUsize::new(1),
        files: AtomicUsize::new(0),
        hashed: AtomicUsize::new(0),
        hashed_bytes: AtomicUsize::new(0),
        abort: AtomicBool::new(false),
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut done: Vec<(usize, Vec<Item>)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(|| w.work())).collect();
        let mut mine = w.work();
        for h in helpers {
            // A walker that panicked leaves its folders unlisted: the ordered pass reports them.
            if let Ok(theirs) = h.join() {
                mine.extend(theirs);
            }
        }
        mine
    });
    let folders = w.next_id.load(Ordering::Relaxed);
    let files = w.files.load(Ordering::Relaxed);
    let (hashed, hashed_bytes) = (
        w.hashed.load(Ordering::Relaxed),
        w.hashed_bytes.load(Ordering::Relaxed),
    );
    let mut tree: Vec<Option<Vec<Item>>> = Vec::with_capacity(folders);
    tree.resize_with(folders, || None);
    for (id, items) in done.drain(..) {
        if let Some(slot) = tree.get_mut(id) {
            *slot = Some(items);
        }
    }
    cache.walked(root);
    cache.reserve(hashed, hashed_bytes);
    out.assets.reserve_exact(files);
    in_order(tree, root, cache, &mut out)?;
    Ok(out)
}

impl Walker<'_> {
    /// Lists folders from the queue until none is left (or the walk failed); returns them, numbered.
    fn work(&self) -> Vec<(usize, Vec<Item>)> {
        let mut done = Vec::new();
        loop {
            let task = {
                let Ok(mut q) = self.queue.lock() else {
                    return done;
                };
                loop {
                    if self.abort.load(Ordering::Relaxed) {
                        self.wake.notify_all();
                        return done;
                    }
                    if let Some(t) = q.tasks.pop() {
                        q.busy += 1;
                        break t;
                    }
                    if q.busy == 0 {
                        self.wake.notify_all();
                        return done;
                    }
                    q = match self.wake.wait(q) {
                        Ok(q) => q,
                        Err(_) => return done,
                    };
                }
            };
            let mut children = Vec::new();
            let items = self.list(&task.path, &mut children);
            if items.iter().any(|i| matches!(i, Item::Fail(_))) {
                self.abort.store(true, Ordering::Relaxed);
            }
            done.push((task.id, items));
            let Ok(mut q) = self.queue.lock() else {
                return done;
            };
            q.busy -= 1;
            // Reversed, so the stack hands out the first sub-folder first.
            q.tasks.extend(children.into_iter().rev());
            self.wake.notify_all();
        }
    }

    /// Lists one folder: its entries sorted by name, each mapped, statted and (unless cached) hashed.
    fn list(&self, dir: &Path, children: &mut Vec<Task>) -> Vec<Item> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            // Deleted since its parent was listed (a build still writing): skipped, as a vanished file is.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return vec![Item::Warn(format!(
                    "{}: vanished while reading, skipped",
                    dir.display()
                ))];
            }
            Err(e) => return vec![Item::Fail(Error::io(dir, e))],
        };
        let mut entries = Vec::new();
        for e in rd {
            match e {
                // The path is built once: it is the stat cache's key (and the error's path). The name is
                // its tail (sorting by `Path::file_name` parsed components on every comparison).
                Ok(e) => {
                    let abs = e.path();
                    let name_at = abs.as_os_str().len() - abs.file_name().map_or(0, |n| n.len());
                    entries.push((abs, name_at, e));
                }
                Err(e) => return vec![Item::Fail(Error::io(dir, e))],
            }
        }
        // Byte order, as walkdir's `sort_by_file_name` (`OsStr` compares its bytes).
        entries.sort_unstable_by(|a, b| name_of(a).cmp(name_of(b)));
        let mut items = Vec::with_capacity(entries.len());
        for (abs, _, entry) in entries {
            let item = self.entry(dir, abs, &entry, children);
            if let Some(item) = item {
                items.push(item);
            }
        }
        items
    }

    /// One entry of folder `dir`; `None` for what is silently passed over (sockets, devices, …).
    fn entry(
        &self,
        dir: &Path,
        abs: PathBuf,
        entry: &fs::DirEntry,
        children: &mut Vec<Task>,
    ) -> Option<Item> {
        let ft = match entry.file_type() {
            Ok(t) => t,
            Err(e) => return Some(Item::Fail(Error::io(&abs, e))),
        };
        let mut meta = None;
        let (is_dir, is_file) = if ft.is_symlink() {
            // Followed, as walkdir's `follow_links(true)`: its target's metadata, then a loop check for folders,
            // then the root check.
            let m = match fs::metadata(&abs) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(40) => {
                    return Some(Item::Warn(format!(
                        "{}: broken symlink, skipped",
                        abs.display()
                    )));
                }
                Err(e) => return Some(Item::Fail(Error::io(&abs, e))),
            };
            if m.is_dir() {
                match self.is_loop(dir, &m) {
                    Ok(false) => {}
                    Ok(true) => {
                        return Some(Item::Warn(format!(
                            "{}: symlink loop, skipped",
                            abs.display()
                        )));
                    }
                    Err(e) => return Some(Item::Fail(Error::io(&abs, e))),
                }
            }
            match fs::canonicalize(&abs) {
                Ok(target) if target.starts_with(self.root_canon) => {}
                Ok(_) => return Some(Item::OutsideRoot),
                Err(e) => {
                    return Some(Item::Warn(format!(
                        "{}: unreadable symlink, skipped: {e}",
                        abs.display()
                    )));
                }
            }
            let kind = (m.is_dir(), m.is_file());
            meta = Some(m);
            kind
        } else {
            (ft.is_dir(), ft.is_file())
        };
        if is_dir {
            if abs.file_name().is_some_and(|n| self.mapper.prunes_dir(n)) {
                return Some(Item::Pruned);
            }
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            children.push(Task { id, path: abs });
            return Some(Item::Dir(id));
        }
        if !is_file {
            return None;
        }
        let Ok(rel) = abs.strip_prefix(self.root) else {
            return None;
        };
        let url = match self.mapper.map(rel) {
            Ok(u) => u,
            Err(skip) => return Some(Item::Skip(skip, abs)),
        };
        // `DirEntry::metadata` stats the name relative to the open folder (`statx(dirfd, name)`), not the whole
        // path again; it does not follow a symlink, which `meta` already did.
        let meta = match meta.map_or_else(|| entry.metadata(), Ok) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(Item::Vanished(abs)),
            Err(e) => return Some(Item::Fail(Error::io(&abs, e))),
        };
        let stat = FileStat::of(&meta);
        self.files.fetch_add(1, Ordering::Relaxed);
        let print = match self.cache.lookup(&abs, &stat) {
            Some(hit) => Print::Cached(hit),
            None => {
                self.hashed.fetch_add(1, Ordering::Relaxed);
                // size, times, inode, fingerprint, tabs: under 100 bytes besides the path
                self.hashed_bytes
                    .fetch_add(abs.as_os_str().len() + 100, Ordering::Relaxed);
                Print::Hashed(hash_file(&abs))
            }
        };
        Some(Item::File {
            abs,
            url,
            stat,
            print,
        })
    }

    /// Whether a followed folder (metadata `m`) is `dir` or one of its ancestors up to the root: the folders on the
    /// walk's path, compared by device and inode as walkdir does.
    fn is_loop(&self, dir: &Path, m: &fs::Metadata) -> io::Result<bool> {
        let id = file_id(m);
        for a in dir.ancestors() {
            if file_id(&fs::metadata(a)?) == id {
                return Ok(true);
            }
            if a == self.root || a.as_os_str().is_empty() {
                break;
            }
        }
        Ok(false)
    }
}

/// A listed entry's file name: the tail of its path.
fn name_of((abs, at, _): &(PathBuf, usize, fs::DirEntry)) -> &[u8] {
    abs.as_os_str()
        .as_encoded_bytes()
        .get(*at..)
        .unwrap_or_default()
}

#[cfg(unix)]
fn file_id(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn file_id(_: &fs::Metadata) -> (u64, u64) {
    // No stable identity: no loop is detected (a cycle ends at the OS's path length limit, as an error).
    (0, 0)
}

/// Walks the listed folders in order (depth first from folder 0), turning items into assets, counts, warnings
/// and stat-cache records; the first fatal item in walk order is the result.
fn in_order(
    mut tree: Vec<Option<Vec<Item>>>,
    root: &Path,
    cache: &mut StatCache,
    out: &mut FileOutput,
) -> Result<()> {
    let first = tree.first_mut().and_then(Option::take).unwrap_or_default();
    let mut stack = vec![first.into_iter()];
    while let Some(top) = stack.last_mut() {
        let Some(item) = top.next() else {
            stack.pop();
            continue;
        };
        match item {
            Item::File {
                abs,
                url,
                stat,
                print,
            } => {
                let fp = match print {
                    Print::Cached(hit) => cache.keep(hit).to_owned(),
                    Print::Hashed(r) => {
                        out.hashed += 1;
                        match r {
                            Ok(fp) => {
                                cache.record(&abs, stat, &fp);
                                fp
                            }
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                                vanished(&abs, out);
                                continue;
                            }
                            Err(e) => return Err(Error::io(&abs, e)),
                        }
                    }
                };
                out.assets.push(Asset {
                    fingerprint: Some(fp),
                    bytes: Some(stat.size),
                    ..Asset::new(url)
                });
            }
            Item::Dir(id) => match tree.get_mut(id).and_then(Option::take) {
                Some(items) => stack.push(items.into_iter()),
                // Not listed: the walk stopped at a fatal error elsewhere (or a walker died).
                None => return Err(first_failure(tree, root)),
            },
            Item::Skip(skip, abs) => count_skip(skip, &abs, out),
            Item::Pruned => out.skipped.excluded += 1,
            Item::OutsideRoot => out.skipped.outside_root += 1,
            Item::Vanished(abs) => vanished(&abs, out),
            Item::Warn(w) => out.warnings.push(w),
            Item::Fail(e) => return Err(e),
        }
    }
    Ok(())
}

/// The fatal error that stopped the walk, when the ordered pass meets a folder that was never listed.
fn first_failure(tree: Vec<Option<Vec<Item>>>, root: &Path) -> Error {
    tree.into_iter()
        .flatten()
        .flatten()
        .find_map(|i| match i {
            Item::Fail(e) => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| Error::io(root, io::Error::other("walk stopped")))
}

/// A file deleted between the walk and the read (a build still writing): skipped, not fatal.
fn vanished(abs: &Path, out: &mut FileOutput) {
    out.skipped.missing_file += 1;
    out.warnings.push(format!(
        "{}: vanished while reading, skipped",
        abs.display()
    ));
}

/// Fingerprints jobs (cache first, then BLAKE3 on all cores) and appends them as assets, in job order.
pub(crate) fn fingerprint_into(
    jobs: Vec<FileJob>,
    cache: &mut StatCache,
    out: &mut FileOutput,
) -> Result<()> {
    let hits: Vec<Option<Hit>> = jobs.iter().map(|j| cache.lookup(&j.abs, &j.stat)).collect();
    let todo: Vec<usize> = (0..jobs.len()).filter(|&i| hits[i].is_none()).collect();
    out.hashed += todo.len();
    let mut hashed = hash_parallel(&jobs, &todo).into_iter().peekable();
    out.assets.reserve(jobs.len());
    for (i, (job, hit)) in jobs.into_iter().zip(hits).enumerate() {
        let fp = if let Some(hit) = hit {
            cache.keep(hit).to_owned()
        } else {
            let Some((_, r)) = hashed.next_if(|(k, _)| *k == i) else {
                continue;
            };
            match r {
                Ok(fp) => {
                    cache.record(&job.abs, job.stat, &fp);
                    fp
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    vanished(&job.abs, out);
                    continue;
                }
                Err(e) => return Err(Error::io(&job.abs, e)),
            }
        };
        out.assets.push(Asset {
            fingerprint: Some(fp),
            bytes: Some(job.stat.size),
            ..Asset::new(job.url)
        });
    }
    Ok(())
}

/// `b3:` + the first 32 hex digits of the file's BLAKE3 hash (streamed, 64 KiB buffer).
pub(crate) fn hash_file(path: &Path) -> io::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(fs::File::open(path)?)?;
    Ok(format!(
        "b3:{}",
        hex::encode(&h.finalize().as_bytes()[..16])
    ))
}

/// Hashes `jobs[i]` for every `i` in `todo` on up to `available_parallelism` threads (a shared work index);
/// results in `todo` order.
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

    /// The order and the set of files are those of walkdir's sorted, link-following walk (the reader used before
    /// the parallel walk), on a tree wide enough for every worker to get folders.
    #[cfg(unix)]
    #[test]
    fn walk_order_is_walkdirs() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        for i in 0..40 {
            let d = root.join(format!("s{}/d{}", i % 7, i));
            std::fs::create_dir_all(&d).unwrap();
            for name in ["index.html", "a.css", "a-b.js", "z z.html", "_.png"] {
                std::fs::write(d.join(name), format!("{i}{name}")).unwrap();
            }
            std::fs::create_dir_all(d.join("a")).unwrap();
            std::fs::write(d.join("a/x.html"), "x").unwrap();
        }
        std::fs::write(root.join("s0.html"), "top").unwrap();
        // in-root links to a folder and a file are followed; a link to an ancestor below the root is a loop
        symlink("../s1", root.join("s0/alias")).unwrap();
        symlink("../d0/a.css", root.join("s0/d7/link.css")).unwrap();
        symlink("..", root.join("s1/d1/up")).unwrap();
        let out = read(&mapping(&root), &mut StatCache::in_memory()).unwrap();
        let mapper = FileMapper::new(&mapping(&root)).unwrap();
        let mut want = Vec::new();
        let mut loops = 0;
        for e in walkdir::WalkDir::new(&root)
            .follow_links(true)
            .sort_by_file_name()
        {
            let Ok(e) = e else {
                loops += 1;
                continue;
            };
            if e.file_type().is_file() {
                want.push(mapper.map(e.path().strip_prefix(&root).unwrap()).unwrap());
            }
        }
        assert_eq!(
            urls(&out),
            want.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(want.len() > 40 * 6, "{}", want.len());
        assert_eq!(loops, 2, "up, and up again through alias");
        let loop_warnings = out
            .warnings
            .iter()
            .filter(|w| w.contains("symlink loop"))
            .count();
        assert_eq!(loop_warnings, loops, "{:?}", out.warnings);
        assert_eq!(out.hashed, want.len());
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
