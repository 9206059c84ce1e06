//! A stat cache, so an unchanged build tree is not re-read: absolute path + (size, mtime, ctime, inode) →
//! content fingerprint.
//!
//! Takes file metadata; returns a fingerprint when the file provably did not change since it was hashed. Stored
//! as `<state dir>/stat-cache` (text, one entry a line), written atomically (temp file + rename) on every run,
//! dry runs included: it is a cache, not state. An unreadable or damaged cache is ignored (debug log), never an
//! error. Like git's index, an entry whose mtime is not strictly older than the cache file's own write time is
//! "racily clean" (the file may have changed again within the same timestamp tick) and is re-hashed.

use std::collections::HashSet;
use std::ffi::OsString;

use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::fs::Metadata;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    stat: FileStat,
    fingerprint: String,
}

/// The cache: loaded once per run, consulted by the `dir` and `changed` readers, saved at the end.
#[derive(Debug, Default)]
pub struct StatCache {
    path: Option<PathBuf>,
    /// When the loaded cache file was written (its mtime); entries not strictly older are racy.
    written_ns: Option<i128>,
    /// Keyed by the path's bytes, hashed with FxHash: `Path`'s own hash walks components and was a tenth of a
    /// no-change rerun over 100,000 files. Paths are always this module's own (walk joins or its own file).
    old: FxHashMap<OsString, Entry>,
    fresh: FxHashMap<OsString, Entry>,
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
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            log::debug!("{}: stat cache ignored: unknown format", path.display());
            return c;
        }
        for (i, line) in lines.enumerate() {
            if let Some((p, e)) = parse_line(line) {
                c.old.insert(p.into_os_string(), e);
            } else {
                log::debug!(
                    "{}:{}: stat cache ignored: damaged line",
                    path.display(),
                    i + 2
                );
                c.old.clear();
                return c;
            }
        }
        c.written_ns = meta.modified().ok().map(ns);
        c
    }

    /// The cached fingerprint of `abs` when its stat is unchanged and the entry is not racily clean.
    #[must_use]
    pub fn lookup(&self, abs: &Path, stat: &FileStat) -> Option<&str> {
        let e = self.old.get(abs.as_os_str())?;
        let written = self.written_ns?;
        (e.stat == *stat && stat.mtime_ns < written).then_some(e.fingerprint.as_str())
    }

    /// Records a fingerprint seen this run.
    pub fn record(&mut self, abs: PathBuf, stat: FileStat, fingerprint: String) {
        self.fresh
            .insert(abs.into_os_string(), Entry { stat, fingerprint });
    }

    /// Marks a folder as fully walked: old entries under it that were not recorded this run are dropped on save.
    pub fn walked(&mut self, root: &Path) {
        self.walked.push(root.to_path_buf());
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
        let Some(written) = self.written_ns else {
            return false;
        };
        self.fresh
            .iter()
            .all(|(p, e)| self.old.get(p) == Some(e) && e.stat.mtime_ns < written)
            && self.old.iter().all(|(p, e)| {
                e.stat.mtime_ns < written
                    && (self.fresh.contains_key(p)
                        || !self.walked.iter().any(|r| Path::new(p).starts_with(r)))
            })
    }

    fn try_save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut out = String::with_capacity(64 * (self.fresh.len() + self.old.len()) + 32);
        out.push_str(HEADER);
        out.push('\n');
        let keep_old = self.old.iter().filter(|(p, _)| {
            !self.fresh.contains_key(*p) && !self.walked.iter().any(|r| Path::new(p).starts_with(r))
        });
        let mut seen = HashSet::new();
        for (p, e) in self.fresh.iter().chain(keep_old) {
            let Some(s) = p.to_str() else { continue };
            if s.contains(['\n', '\r']) || !seen.insert(s) {
                continue;
            }
            let st = &e.stat;
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{s}",
                st.size, st.mtime_ns, st.ctime_ns, st.ino, e.fingerprint
            );
        }
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(out.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn parse_line(line: &str) -> Option<(PathBuf, Entry)> {
    let mut f = line.splitn(6, '\t');
    let size = f.next()?.parse().ok()?;
    let mtime_ns = f.next()?.parse().ok()?;
    let ctime_ns = f.next()?.parse().ok()?;
    let ino = f.next()?.parse().ok()?;
    let fingerprint = f.next()?;
    let path = f.next()?;
    if !fingerprint.starts_with("b3:") || path.is_empty() {
        return None;
    }
    Some((
        PathBuf::from(path),
        Entry {
            stat: FileStat {
                size,
                mtime_ns,
                ctime_ns,
                ino,
            },
            fingerprint: fingerprint.to_string(),
        },
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
        c.record(file.clone(), stat, "b3:00".into());
        c.save();
        let c = StatCache::load(&cache_path);
        assert_eq!(c.lookup(&file, &stat), Some("b3:00"));
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
        c.record("/r/a".into(), st, "b3:aa".into());
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
        c.record("/r/a".into(), st, "b3:aa".into());
        assert!(c.unchanged());
        c.save();
        assert_eq!(mtime(), marker);

        // a new fingerprint: written
        let mut c = StatCache::load(&p);
        c.record("/r/a".into(), st, "b3:ab".into());
        assert!(!c.unchanged());
        c.save();
        assert_ne!(mtime(), marker);
        assert_eq!(
            StatCache::load(&p).lookup(Path::new("/r/a"), &st),
            Some("b3:ab")
        );

        // an entry gone from a walked root: written
        set_mtime(marker);
        let mut c = StatCache::load(&p);
        c.walked(Path::new("/r"));
        assert!(!c.unchanged());
        c.save();
        assert!(StatCache::load(&p).old.is_empty());

        // a racily clean entry (mtime not older than the cache file): written, so it is clean next time
        let mut c = StatCache::load(&p);
        let racy = FileStat {
            mtime_ns: ns(SystemTime::now()) + 1_000_000_000_000,
            ..st
        };
        c.record("/r/b".into(), racy, "b3:bb".into());
        c.save();
        set_mtime(marker);
        let mut c = StatCache::load(&p);
        c.record("/r/b".into(), racy, "b3:bb".into());
        assert!(!c.unchanged());
        // no cache file yet: written
        let mut c = StatCache::load(&dir.path().join("none"));
        c.record("/r/a".into(), st, "b3:aa".into());
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
            assert!(c.old.is_empty(), "{text:?}");
        }
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        assert!(StatCache::load(&p).old.is_empty());
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
        c.record("/r/a".into(), st, "b3:aa".into());
        c.record("/r/gone".into(), st, "b3:bb".into());
        c.record("/other/x".into(), st, "b3:cc".into());
        c.save();
        let mut c = StatCache::load(&p);
        c.walked(Path::new("/r"));
        c.record("/r/a".into(), st, "b3:aa".into());
        c.save();
        let c = StatCache::load(&p);
        assert_eq!(c.old.len(), 2);
        assert!(
            c.old.contains_key(Path::new("/other/x").as_os_str())
                && !c.old.contains_key(Path::new("/r/gone").as_os_str())
        );
    }
}
