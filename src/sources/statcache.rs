//! A stat cache, so an unchanged build tree is not re-read: absolute path + (size, mtime, ctime, inode) →
//! content fingerprint.
//!
//! Takes file metadata; returns a fingerprint when the file provably did not change since it was hashed. Stored
//! as `<state dir>/stat-cache` (text, one entry a line), written atomically (temp file + rename) on every run,
//! dry runs included: it is a cache, not state. An unreadable or damaged cache is ignored (debug log), never an
//! error. Like git's index, an entry whose mtime is not strictly older than the cache file's own write time is
//! "racily clean" (the file may have changed again within the same timestamp tick) and is re-hashed.
//!
//! The loaded file stays one string: an entry is the position of its line, found through a table keyed by a hash
//! of its path, and a hit only marks the entry as kept. A 100,000-file tree that did not change costs no copy of
//! its paths or fingerprints (every freshly touched megabyte costs about a millisecond).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::Metadata;
use std::hash::BuildHasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustc_hash::{FxBuildHasher, FxHashMap};

const HEADER: &str = "prewarm-stat-cache 1";

/// The metadata a cached fingerprint is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the Unix epoch.
    pub mtime_ns: i128,
    /// Status-change time, ns since the Unix epoch (0 where the platform has none).
    pub ctime_ns: i128,
    /// Inode number (0 where the platform has none).
    pub ino: u64,
}

fn ns(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

impl FileStat {
    /// The stat of a file's metadata.
    #[must_use]
    pub fn of(meta: &Metadata) -> Self {
        let mtime_ns = meta.modified().map_or(0, ns);
        #[cfg(unix)]
        let (ctime_ns, ino) = {
            use std::os::unix::fs::MetadataExt;
            (
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                meta.ino(),
            )
        };
        #[cfg(not(unix))]
        let (ctime_ns, ino) = (0, 0);
        Self {
            size: meta.len(),
            mtime_ns,
            ctime_ns,
            ino,
        }
    }
}

/// A loaded entry that still matched the file: the number of its line. [`StatCache::keep`] turns it into the
/// fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit(u32);

/// Where a loaded entry's line and its fingerprint and path fields lie in the loaded text (line ending excluded).
#[derive(Debug, Clone, Copy)]
struct Line {
    start: u32,
    fingerprint: u32,
    path: u32,
    end: u32,
}

/// What this run did with a loaded entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Not seen: written back unless it lies under a walked root.
    Untouched,
    /// Seen unchanged: written back as it was.
    Kept,
    /// Replaced by a fresh entry, or a duplicate of a later line: not written back.
    Dropped,
}

/// A line recorded this run, in `fresh_text`; `live` until a later record of the same path replaces it.
#[derive(Debug, Clone, Copy)]
struct Fresh {
    start: usize,
    end: usize,
    live: bool,
}

/// The cache: loaded once per run, consulted by the `dir` and `changed` readers, saved at the end.
#[derive(Debug, Default)]
pub struct StatCache {
    path: Option<PathBuf>,
    /// When the loaded cache file was written (its mtime); entries not strictly older are racy.
    written_ns: Option<i128>,
    /// The loaded file, kept whole: entries are positions in it, parsed again when looked up.
    text: String,
    lines: Vec<Line>,
    /// Each loaded line's stat, parsed once (a lookup compares, never re-parses).
    stats: Vec<FileStat>,
    marks: Vec<Mark>,
    /// A hash of the path's bytes (FxHash) → line. A path whose hash another path already took (crafted or not)
    /// goes to `collided`, keyed by the path itself.
    index: FxHashMap<u64, u32>,
    collided: FxHashMap<OsString, u32>,
    /// Whether a loaded entry is racily clean: then the file is rewritten, so it is clean next time.
    any_racy: bool,
    /// Fingerprints recorded this run that differ from the loaded ones (or are new), in record order, already
    /// written as the lines they will be: a first run over 100,000 files copies no path or fingerprint twice.
    fresh_text: String,
    fresh: Vec<Fresh>,
    /// A hash of the path → its latest fresh line. A path whose hash another path took is not indexed: a second
    /// record of it leaves two lines, and the next load keeps the last.
    fresh_index: FxHashMap<u64, usize>,
    walked: Vec<PathBuf>,
}

impl StatCache {
    /// A cache that is never stored (tests, or no state folder).
    #[must_use]
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The cache file next to a state file: `<state dir>/stat-cache`.
    #[must_use]
    pub fn path_for_state(state_file: &Path) -> PathBuf {
        state_file
            .parent()
            .unwrap_or(Path::new("."))
            .join("stat-cache")
    }

    /// Loads the cache at `path`; a missing, unreadable or damaged file gives an empty cache (debug log).
    #[must_use]
    pub fn load(path: &Path) -> Self {
        let mut c = Self {
            path: Some(path.to_path_buf()),
            ..Self::default()
        };
        let (text, meta) =
            match std::fs::read_to_string(path).and_then(|t| Ok((t, std::fs::metadata(path)?))) {
                Ok(x) => x,
                Err(e) => {
                    log::debug!("{}: stat cache not used: {e}", path.display());
                    return c;
                }
            };
        if u32::try_from(text.len()).is_err() {
            log::debug!("{}: stat cache ignored: too large", path.display());
            return c;
        }
        let written = meta.modified().ok().map(ns);
        let mut header = false;
        // Sized once: growing a 100,000-entry table rehashes (and touches fresh memory) several times.
        let n = text.bytes().filter(|&b| b == b'\n').count();
        c.lines.reserve_exact(n);
        c.stats.reserve_exact(n);
        c.marks.reserve_exact(n);
        c.index.reserve(n);
        let mut pos = 0;
        for (i, raw) in text.split_inclusive('\n').enumerate() {
            let start = pos;
            pos += raw.len();
            // As `str::lines`: the line ending is `\n` or `\r\n`.
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if i == 0 {
                header = line == HEADER;
                if !header {
                    break;
                }
                continue;
            }
            let Some((stat, fp, p)) = parse_line(line) else {
                log::debug!(
                    "{}:{}: stat cache ignored: damaged line",
                    path.display(),
                    i + 1
                );
                return Self {
                    path: c.path,
                    ..Self::default()
                };
            };
            c.any_racy |= written.is_none_or(|w| stat.mtime_ns >= w);
            // Offsets and line numbers fit in u32: the whole text does (checked above). The path is the line's
            // tail, the fingerprint the field before it.
            let end = start + line.len();
            let path_at = end - p.len();
            let k = c.lines.len() as u32;
            c.lines.push(Line {
                start: start as u32,
                fingerprint: (path_at - 1 - fp.len()) as u32,
                path: path_at as u32,
                end: end as u32,
            });
            c.stats.push(stat);
            c.marks.push(Mark::Untouched);
            c.insert_index(p, k, &text);
        }
        if !header {
            log::debug!("{}: stat cache ignored: unknown format", path.display());
            return c;
        }
        c.text = text;
        c.written_ns = written;
        c
    }

    /// Indexes loaded line `k` under its path `p`; an earlier line with the same path is dropped (the last wins).
    fn insert_index(&mut self, p: &str, k: u32, text: &str) {
        use std::collections::hash_map::Entry as E;
        let h = FxBuildHasher.hash_one(p.as_bytes());
        match self.index.entry(h) {
            E::Vacant(v) => {
                v.insert(k);
            }
            E::Occupied(mut o) => {
                let j = *o.get();
                if field(
                    text,
                    self.lines[j as usize].path,
                    self.lines[j as usize].end,
                ) == p
                {
                    self.marks[j as usize] = Mark::Dropped;
                    o.insert(k);
                } else if let Some(j) = self.collided.insert(OsString::from(p), k) {
                    self.marks[j as usize] = Mark::Dropped;
                }
            }
        }
    }

    /// The loaded line for `abs`: (line number, stat, fingerprint).
    fn find(&self, abs: &Path) -> Option<(u32, FileStat, &str)> {
        if self.lines.is_empty() {
            return None;
        }
        let key = abs.as_os_str().as_encoded_bytes();
        let mut k = *self.index.get(&FxBuildHasher.hash_one(key))?;
        if self.path_of(k).as_bytes() != key {
            k = *self.collided.get(abs.as_os_str())?;
        }
        Some((k, *self.stats.get(k as usize)?, self.fingerprint(Hit(k))))
    }

    /// The path of loaded line `k`.
    fn path_of(&self, k: u32) -> &str {
        self.lines
            .get(k as usize)
            .map_or("", |l| field(&self.text, l.path, l.end))
    }

    /// The cached entry for `abs` when its stat is unchanged and the entry is not racily clean.
    #[must_use]
    pub fn lookup(&self, abs: &Path, stat: &FileStat) -> Option<Hit> {
        let written = self.written_ns?;
        let (k, st, _) = self.find(abs)?;
        (st == *stat && stat.mtime_ns < written).then_some(Hit(k))
    }

    /// The fingerprint of a hit.
    #[must_use]
    pub fn fingerprint(&self, hit: Hit) -> &str {
        self.lines
            .get(hit.0 as usize)
            .map_or("", |l| field(&self.text, l.fingerprint, l.path - 1))
    }

    /// Keeps a hit's entry for the next run (as [`StatCache::record`] would, without copying it) and returns its
    /// fingerprint.
    pub fn keep(&mut self, hit: Hit) -> &str {
        if let Some(m) = self.marks.get_mut(hit.0 as usize)
            && *m == Mark::Untouched
        {
            *m = Mark::Kept;
        }
        self.fingerprint(hit)
    }

    /// Records a fingerprint seen this run.
    pub fn record(&mut self, abs: &Path, stat: FileStat, fingerprint: &str) {
        if let Some((k, st, fp)) = self.find(abs) {
            let same = st == stat && fp == fingerprint;
            let m = &mut self.marks[k as usize];
            if same && *m != Mark::Dropped {
                *m = Mark::Kept;
                return;
            }
            *m = Mark::Dropped;
        }
        // A path the file format cannot hold is not written (nor would a load find it).
        let Some(p) = abs.to_str() else { return };
        if p.contains(['\n', '\r']) {
            return;
        }
        let h = FxBuildHasher.hash_one(p.as_bytes());
        let replaces = self.fresh_index.get(&h).copied();
        if let Some(j) = replaces
            && parse_line(&self.fresh_text[self.fresh[j].start..self.fresh[j].end])
                .is_some_and(|(_, _, q)| q == p)
        {
            self.fresh[j].live = false;
        } else if replaces.is_some() {
            // Another path took this hash: this one is not indexed.
            self.push_fresh(p, stat, fingerprint);
            return;
        }
        self.fresh_index.insert(h, self.fresh.len());
        self.push_fresh(p, stat, fingerprint);
    }

    fn push_fresh(&mut self, p: &str, st: FileStat, fingerprint: &str) {
        let start = self.fresh_text.len();
        let _ = write!(
            self.fresh_text,
            "{}\t{}\t{}\t{}\t{fingerprint}\t{p}",
            st.size, st.mtime_ns, st.ctime_ns, st.ino
        );
        let end = self.fresh_text.len();
        self.fresh_text.push('\n');
        self.fresh.push(Fresh {
            start,
            end,
            live: true,
        });
    }

    /// Makes room for `lines` fresh records of about `bytes` in all, so a first run's records do not regrow.
    pub fn reserve(&mut self, lines: usize, bytes: usize) {
        self.fresh.reserve(lines);
        self.fresh_index.reserve(lines);
        self.fresh_text.reserve(bytes);
    }

    /// Marks a folder as fully walked: old entries under it that were not recorded this run are dropped on save.
    pub fn walked(&mut self, root: &Path) {
        self.walked.push(root.to_path_buf());
    }

    fn under_walked(&self, k: u32) -> bool {
        let p = self.path_of(k);
        self.walked.iter().any(|r| Path::new(p).starts_with(r))
    }

    /// Writes the cache atomically (temp file in the same folder + rename); failures are logged, never raised.
    /// A cache that would be written exactly as it was loaded, with no racy entry, is left alone: same lookups
    /// next run, without rewriting (and `fsync`ing) a 100,000-line file on every no-change deploy.
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        if self.unchanged() {
            return;
        }
        if let Err(e) = self.try_save(path) {
            log::debug!("{}: stat cache not written: {e}", path.display());
        }
    }

    /// True when saving would write back exactly the loaded entries, none of them racily clean.
    fn unchanged(&self) -> bool {
        if self.written_ns.is_none() || self.any_racy || !self.fresh.is_empty() {
            return false;
        }
        (0..self.lines.len()).all(|k| match self.marks[k] {
            Mark::Kept => true,
            Mark::Dropped => false,
            Mark::Untouched => u32::try_from(k).is_ok_and(|k| !self.under_walked(k)),
        })
    }

    fn try_save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        {
            // Straight to the file (the fresh lines in one write): no second copy of a 13 MB cache in memory.
            let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut tmp);
            w.write_all(HEADER.as_bytes())?;
            w.write_all(b"\n")?;
            for (k, (l, m)) in self.lines.iter().zip(&self.marks).enumerate() {
                let keep = match m {
                    Mark::Kept => true,
                    Mark::Dropped => false,
                    Mark::Untouched => u32::try_from(k).is_ok_and(|k| !self.under_walked(k)),
                };
                if keep && let Some(line) = self.text.get(l.start as usize..l.end as usize) {
                    w.write_all(line.as_bytes())?;
                    w.write_all(b"\n")?;
                }
            }
            if self.fresh.iter().all(|f| f.live) {
                w.write_all(self.fresh_text.as_bytes())?;
            } else {
                for f in self.fresh.iter().filter(|f| f.live) {
                    w.write_all(&self.fresh_text.as_bytes()[f.start..=f.end])?;
                }
            }
            w.flush()?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// `text[from..to]`, or empty if that is not a field of it.
fn field(text: &str, from: u32, to: u32) -> &str {
    text.get(from as usize..to as usize).unwrap_or_default()
}

/// A time in ns: nearly always fits an `i64`, which parses faster than an `i128`.
fn parse_ns(s: &str) -> Option<i128> {
    s.parse::<i64>()
        .map(i128::from)
        .or_else(|_| s.parse::<i128>())
        .ok()
}

/// One line: size, mtime, ctime, inode, fingerprint and path, tab-separated (the path may hold tabs).
fn parse_line(line: &str) -> Option<(FileStat, &str, &str)> {
    let mut f = line.splitn(6, '\t');
    let size = f.next()?.parse().ok()?;
    let mtime_ns = parse_ns(f.next()?)?;
    let ctime_ns = parse_ns(f.next()?)?;
    let ino = f.next()?.parse().ok()?;
    let fingerprint = f.next()?;
    let path = f.next()?;
    if !fingerprint.starts_with("b3:") || path.is_empty() {
        return None;
    }
    Some((
        FileStat {
            size,
            mtime_ns,
            ctime_ns,
            ino,
        },
        fingerprint,
        path,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn round_trip_and_racy_entries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a b.txt");
        std::fs::write(&file, "x").unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let stat = FileStat::of(&std::fs::metadata(&file).unwrap());
        let cache_path = StatCache::path_for_state(&dir.path().join("state.json"));
        assert_eq!(cache_path, dir.path().join("stat-cache"));

        let mut c = StatCache::load(&cache_path);
        assert_eq!(c.lookup(&file, &stat), None);
        c.record(&file, stat, "b3:00");
        c.save();
        let c = StatCache::load(&cache_path);
        assert_eq!(
            c.lookup(&file, &stat).map(|h| c.fingerprint(h)),
            Some("b3:00")
        );
        let mut changed = stat;
        changed.size += 1;
        assert_eq!(c.lookup(&file, &changed), None);

        // Racily clean: the cache file was written no later than the file's mtime.
        std::fs::File::options()
            .write(true)
            .open(&cache_path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(StatCache::load(&cache_path).lookup(&file, &stat), None);
    }

    #[test]
    fn an_unchanged_cache_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stat-cache");
        let st = FileStat {
            size: 1,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 1,
        };
        let mut c = StatCache::load(&p);
        c.record(Path::new("/r/a"), st, "b3:aa");
        c.save();
        let marker = SystemTime::now() - Duration::from_secs(3600);
        let set_mtime = |t: SystemTime| {
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        };
        let mtime = || std::fs::metadata(&p).unwrap().modified().unwrap();
        set_mtime(marker);

        // the same entries, none racy: left alone
        let mut c = StatCache::load(&p);
        c.walked(Path::new("/r"));
        c.record(Path::new("/r/a"), st, "b3:aa");
        assert!(c.unchanged());
        c.save();
        assert_eq!(mtime(), marker);

        // a new fingerprint: written
        let mut c = StatCache::load(&p);
        c.record(Path::new("/r/a"), st, "b3:ab");
        assert!(!c.unchanged());
        c.save();
        assert_ne!(mtime(), marker);
        let c = StatCache::load(&p);
        assert_eq!(
            c.lookup(Path::new("/r/a"), &st).map(|h| c.fingerprint(h)),
            Some("b3:ab")
        );

        // an entry gone from a walked root: written
        set_mtime(marker);
        let mut c = StatCache::load(&p);
        c.walked(Path::new("/r"));
        assert!(!c.unchanged());
        c.save();
        assert!(StatCache::load(&p).lines.is_empty());

        // a racily clean entry (mtime not older than the cache file): written, so it is clean next time
        let mut c = StatCache::load(&p);
        let racy = FileStat {
            mtime_ns: ns(SystemTime::now()) + 1_000_000_000_000,
            ..st
        };
        c.record(Path::new("/r/b"), racy, "b3:bb");
        c.save();
        set_mtime(marker);
        let mut c = StatCache::load(&p);
        c.record(Path::new("/r/b"), racy, "b3:bb");
        assert!(!c.unchanged());
        // no cache file yet: written
        let mut c = StatCache::load(&dir.path().join("none"));
        c.record(Path::new("/r/a"), st, "b3:aa");
        assert!(!c.unchanged());
    }

    #[test]
    fn damaged_caches_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stat-cache");
        for text in [
            "",
            "garbage\n",
            "prewarm-stat-cache 1\n1\t2\t3\n",
            "prewarm-stat-cache 1\nx\t2\t3\t4\tb3:00\t/a\n",
        ] {
            std::fs::write(&p, text).unwrap();
            let c = StatCache::load(&p);
            assert!(c.lines.is_empty() && c.index.is_empty(), "{text:?}");
        }
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        assert!(StatCache::load(&p).lines.is_empty());
        // Unwritable location: save does not panic or fail the run.
        let c = StatCache::load(&dir.path().join("missing-file-as-dir").join("\0bad"));
        c.save();
    }

    #[test]
    fn walked_roots_drop_vanished_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stat-cache");
        let st = FileStat {
            size: 1,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 1,
        };
        let mut c = StatCache::load(&p);
        c.record(Path::new("/r/a"), st, "b3:aa");
        c.record(Path::new("/r/gone"), st, "b3:bb");
        c.record(Path::new("/other/x"), st, "b3:cc");
        c.save();
        let mut c = StatCache::load(&p);
        c.walked(Path::new("/r"));
        c.record(Path::new("/r/a"), st, "b3:aa");
        c.save();
        let c = StatCache::load(&p);
        assert_eq!(c.lines.len(), 2);
        assert!(c.find(Path::new("/other/x")).is_some() && c.find(Path::new("/r/gone")).is_none());
    }

    #[test]
    fn duplicate_lines_and_shared_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stat-cache");
        std::fs::write(
            &p,
            "prewarm-stat-cache 1\r\n1\t1\t1\t1\tb3:old\t/r/a\n2\t1\t1\t1\tb3:bb\t/r/b\t2\n1\t1\t1\t1\tb3:new\t/r/a\n",
        )
        .unwrap();
        let st = |size| FileStat {
            size,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 1,
        };
        let mut c = StatCache::load(&p);
        assert_eq!(c.lines.len(), 3);
        // the last line for a path wins; the earlier one is not written back
        let a = c.lookup(Path::new("/r/a"), &st(1)).unwrap();
        assert_eq!(c.keep(a), "b3:new");
        let b = c.lookup(Path::new("/r/b\t2"), &st(2)).unwrap();
        assert_eq!(c.fingerprint(b), "b3:bb");
        assert!(!c.unchanged());
        c.save();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            !text.contains("b3:old") && text.contains("b3:new"),
            "{text}"
        );

        // Two paths under one hash: the index holds one, `collided` the other.
        let mut c = StatCache::load(&p);
        let h = |s: &str| FxBuildHasher.hash_one(s.as_bytes());
        let (ka, _, _) = c.find(Path::new("/r/a")).unwrap();
        let (kb, _, _) = c.find(Path::new("/r/b\t2")).unwrap();
        c.index.remove(&h("/r/b\t2"));
        c.index.insert(h("/r/b\t2"), ka);
        assert!(c.find(Path::new("/r/b\t2")).is_none());
        c.collided.insert("/r/b\t2".into(), kb);
        assert_eq!(c.find(Path::new("/r/b\t2")).map(|f| f.2), Some("b3:bb"));
        assert_eq!(c.find(Path::new("/r/a")).map(|f| f.2), Some("b3:new"));
        assert!(c.find(Path::new("/r/c")).is_none());
        // a fresh fingerprint replaces the loaded line on save; recorded twice, the last one is written
        c.record(Path::new("/r/a"), st(1), "b3:newest");
        c.record(Path::new("/r/a"), st(1), "b3:newer");
        c.save();
        let c = StatCache::load(&p);
        let a = c.lookup(Path::new("/r/a"), &st(1)).unwrap();
        assert_eq!(c.fingerprint(a), "b3:newer");
        assert_eq!(c.lines.len(), 2);
        assert!(!std::fs::read_to_string(&p).unwrap().contains("newest"));
    }
}
