//! Durable state: accepted fingerprints, the quota ledger, the backlog, recent tasks, the last run.
//!
//! Takes the path of `state.json` (from `[state] path` / `--state`); returns a [`State`] and, for a run that
//! pushes, a [`StateStore`] that holds the lock and the journal. It must never record a URL the CDN did not
//! accept, never overwrite a state file it could not read, and never hold anything secret.
//!
//! # On disk
//! - `state.json`, the snapshot: one human-readable JSON object,
//!   `{"format":"prewarm-state","version":1,"seq":N,"urls":{"<url>":"<fingerprint>",…},"ledger":{"YYYY-MM-DD":n},
//!   "backlog":[…],"tasks":[…],"last_run":{…}}`. `urls` holds the fingerprint last *accepted* by the CDN per URL
//!   (`""` for an asset without one), sorted by URL.
//! - `state.json.journal`, append-only, one JSON object per line, each `fsync`ed before the next batch goes out:
//!   `{"seq":N,"op":"batch",…}` (an accepted task), `{"seq":N,"op":"ledger",…}` (quota spent, as the CDN told us),
//!   `{"seq":N,"op":"backlog",…}` (the backlog replaced).
//! - `state.json.lock`, locked (`flock`) by the run that owns the state.
//!
//! Loading reads the snapshot and replays the journal lines whose `seq` is above the snapshot's (so a crash
//! between writing the snapshot and emptying the journal replays nothing twice). A torn last journal line (no
//! trailing newline, or not JSON) is the batch that was in flight: it is ignored with a warning (and cut off when
//! the state is opened for writing). Anything else damaged is an [`Error::State`] and the files are left as they
//! are. [`StateStore::compact`] writes a new snapshot to a temporary file in the same folder, `fsync`s it,
//! renames it over `state.json`, `fsync`s the folder and only then empties the journal. So a crash at any moment
//! loses at most the batch in flight.
//!
//! The ledger keeps the last 31 CDN days; recent tasks the last 200 within 30 days.
//!
//! # A run
//! ```text
//! let (mut store, mut state) = StateStore::open(path, lock_timeout)?;   // lock, load, replay
//! … diff against &state, plan …
//! store.record_backlog(&mut state, &everything_planned, now)?;          // optional: crash-safe backlog
//! store.record_batch(&mut state, &task, &urls, day, now, provider)?;    // after every accepted batch
//! store.record_backlog(&mut state, &deferred, now)?;                    // what is left
//! store.record_forget(&mut state, &changes.gone)?;
//! store.record_last_run(&mut state, last)?;
//! store.finish(&mut state)?;                                            // compacts only when worth it
//! ```
//! The `State` setters (`set_backlog`, `forget`, `record_baseline`, `set_last_run`) change memory only and make
//! the next [`StateStore::finish`] write a snapshot; the `StateStore::record_*` methods journal the same changes,
//! so a run that uses them rewrites the (up to 100 MB) snapshot only once the journal has grown.
//!
//! # Performance
//! At 1M URLs the snapshot is about 90 bytes per URL. Loading keeps the file's text as the [`UrlMap`]'s own:
//! keys and fingerprints are spans of it, not two million strings (see [`crate::urlmap`]); the diff looks URLs
//! up on two threads. `bench/run.sh d` measures load, diff and save at 1M.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::de::DeserializeSeed as _;
use serde::{Deserialize, Deserializer, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::diff::Baseline;
use crate::plan::PlannedUrl;
use crate::push::Task;
use crate::sources::Asset;
use crate::{Error, Result};

/// The snapshot's `format` value.
const FORMAT: &str = "prewarm-state";
/// The snapshot version this build reads and writes.
pub const VERSION: u64 = 1;
/// CDN days kept in the ledger.
pub const LEDGER_DAYS: i64 = 31;
/// Tasks kept at most.
pub const MAX_TASKS: usize = 200;
/// Tasks older than this many days are dropped.
pub const TASK_DAYS: i64 = 30;
/// Pause between two attempts at the lock.
const LOCK_POLL: Duration = Duration::from_millis(25);

/// A URL deferred by quota, carried to the next run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacklogEntry {
    /// The URL.
    pub url: String,
    /// The fingerprint it had when deferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The asset's priority.
    #[serde(default)]
    pub priority: i64,
    /// The sitemap's `<priority>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sitemap_priority: Option<f32>,
    /// The sitemap's `<lastmod>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastmod: Option<String>,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// When it was first deferred (RFC 3339).
    pub since: String,
}

impl BacklogEntry {
    /// The entry for a planned URL, deferred since `since`.
    #[must_use]
    pub fn from_planned(p: &PlannedUrl, since: &str) -> Self {
        Self {
            url: p.url.clone(),
            fingerprint: p.fingerprint_text().map(std::borrow::Cow::into_owned),
            priority: p.priority,
            sitemap_priority: p.sitemap_priority,
            lastmod: p.lastmod.map(|l| l.to_string()),
            bytes: p.bytes,
            since: since.to_owned(),
        }
    }

    /// The asset it stands for.
    #[must_use]
    pub fn to_asset(&self) -> Asset {
        Asset {
            url: self.url.clone(),
            fingerprint: self.fingerprint.clone(),
            priority: self.priority,
            sitemap_priority: self.sitemap_priority,
            lastmod: self
                .lastmod
                .as_deref()
                .and_then(crate::sources::Lastmod::parse),
            bytes: self.bytes,
            from_backlog: false,
        }
    }

    /// The planned URL it stands for (`from_backlog = true`).
    #[must_use]
    pub fn to_planned(&self) -> PlannedUrl {
        PlannedUrl {
            from_backlog: true,
            ..self.to_asset()
        }
    }
}

/// A task the CDN accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The CDN's task id.
    pub task_id: String,
    /// Its URLs.
    pub urls: Vec<String>,
    /// When it was accepted (RFC 3339).
    pub at: String,
    /// Which API took it (`tencent-v3/overseas`).
    pub provider: String,
}

/// The summary of the last run that pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// When it ended (RFC 3339).
    pub at: String,
    /// URLs accepted.
    pub pushed: u64,
    /// URLs deferred.
    pub deferred: u64,
    /// Task ids, in order.
    pub task_ids: Vec<String>,
}

pub use crate::urlmap::{UrlMap, deserialize_url_map};

/// Everything prewarm remembers between runs.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// URL → fingerprint last accepted (`""`: accepted without a fingerprint).
    urls: UrlMap,
    /// CDN day → URLs spent.
    ledger: BTreeMap<String, u64>,
    /// Deferred URLs, in plan order.
    backlog: Vec<BacklogEntry>,
    /// Recent accepted tasks, oldest first.
    tasks: Vec<TaskRecord>,
    /// The last run's summary.
    last_run: Option<LastRun>,
    /// The last journal sequence number applied.
    seq: u64,
    /// Changed in a way the journal doesn't hold (only a snapshot saves it).
    dirty: bool,
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        // `dirty` is about the files, not the content.
        self.urls == other.urls
            && self.ledger == other.ledger
            && self.backlog == other.backlog
            && self.tasks == other.tasks
            && self.last_run == other.last_run
            && self.seq == other.seq
    }
}

impl State {
    /// An empty state.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The fingerprint last accepted for `url` (`""` when it had none), or `None` when never accepted.
    #[must_use]
    pub fn fingerprint(&self, url: &str) -> Option<&str> {
        self.urls.get(url)
    }

    /// URLs spent on CDN day `day` (`YYYY-MM-DD`), by our own ledger.
    #[must_use]
    pub fn used_on(&self, day: &str) -> u64 {
        self.ledger.get(day).copied().unwrap_or(0)
    }

    /// The ledger, by CDN day.
    #[must_use]
    pub fn ledger(&self) -> &BTreeMap<String, u64> {
        &self.ledger
    }

    /// The deferred URLs, in plan order.
    #[must_use]
    pub fn backlog(&self) -> &[BacklogEntry] {
        &self.backlog
    }

    /// Replaces the backlog with `deferred` (in that order, each URL once). A URL already in the backlog keeps
    /// its `since`; a new one gets `now`.
    pub fn set_backlog<'p>(
        &mut self,
        deferred: impl IntoIterator<Item = &'p PlannedUrl>,
        now: &str,
    ) {
        self.backlog = self.next_backlog(deferred, now);
        self.dirty = true;
    }

    /// The backlog [`State::set_backlog`] would make.
    ///
    /// Takes the planned URLs by reference (a million-URL plan is not cloned to be recorded); the hash sets are
    /// FxHash, as the diff's (SipHash of a million URLs was a fifth of a large run).
    fn next_backlog<'p>(
        &self,
        deferred: impl IntoIterator<Item = &'p PlannedUrl>,
        now: &str,
    ) -> Vec<BacklogEntry> {
        let old: FxHashMap<&str, &str> = self
            .backlog
            .iter()
            .map(|e| (e.url.as_str(), e.since.as_str()))
            .collect();
        let deferred = deferred.into_iter();
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        seen.reserve(deferred.size_hint().0);
        deferred
            .filter(|p| seen.insert(p.url()))
            .map(|p| BacklogEntry::from_planned(p, old.get(p.url()).copied().unwrap_or(now)))
            .collect()
    }

    /// Whether the backlog already is `deferred`, entry for entry (so [`State::next_backlog`] would make the
    /// same one), checked without building a million entries to compare. `false` may still be the same
    /// backlog (a duplicate in `deferred`): the caller then compares what it builds.
    fn backlog_is<'p>(&self, deferred: impl Iterator<Item = &'p PlannedUrl>) -> bool {
        let mut n = 0usize;
        for p in deferred {
            let Some(e) = self.backlog.get(n) else {
                return false;
            };
            n += 1;
            let fingerprint = match &e.fingerprint {
                Some(f) => {
                    (p.fingerprint.is_some() || p.lastmod.is_some()) && p.fingerprint_matches(f)
                }
                None => p.fingerprint.is_none() && p.lastmod.is_none(),
            };
            let lastmod = match (e.lastmod.as_deref(), p.lastmod) {
                (None, None) => true,
                (Some(text), Some(l)) => crate::sources::Lastmod::parse(text) == Some(l),
                _ => false,
            };
            // `since` follows: every URL is already there, so each keeps its own.
            if e.url != p.url
                || !fingerprint
                || !lastmod
                || e.priority != p.priority
                || e.sitemap_priority != p.sitemap_priority
                || e.bytes != p.bytes
            {
                return false;
            }
        }
        n == self.backlog.len()
    }

    /// Forgets `urls`: their fingerprints and backlog entries (the site no longer has them).
    pub fn forget(&mut self, urls: &[String]) {
        self.apply(Op::Forget {
            urls: urls.to_vec(),
        });
        self.dirty = true;
    }

    /// Records the assets' current fingerprints as accepted and drops them from the backlog, pushing nothing
    /// (`prewarm baseline`: adopting a site that is already warm).
    pub fn record_baseline(&mut self, assets: &[Asset]) {
        // A re-baseline mostly finds its URLs already there: update in place (no key copy, no new value when
        // it is the same), and reserve only for what can be new (reserving a million on top of a million
        // rehashed the whole map).
        self.urls
            .reserve(assets.len().saturating_sub(self.urls.len()));
        for group in assets.chunks(crate::diff::AHEAD) {
            // Announced ahead, as in the diff: the lookups' cache misses overlap.
            for a in group {
                self.urls.touch(&a.url);
            }
            for a in group {
                // The usual re-baseline finds the same fingerprint: nothing to build or write.
                if !self
                    .urls
                    .get(&a.url)
                    .is_some_and(|old| a.fingerprint_text_is(old))
                {
                    let fp = a.fingerprint_text();
                    self.urls.insert(&a.url, fp.as_deref().unwrap_or_default());
                }
            }
        }
        if !self.backlog.is_empty() {
            let set: FxHashSet<&str> = assets.iter().map(|a| a.url.as_str()).collect();
            self.backlog.retain(|e| !set.contains(e.url.as_str()));
        }
        self.dirty = true;
    }

    /// Recent accepted tasks, oldest first.
    #[must_use]
    pub fn tasks(&self) -> &[TaskRecord] {
        &self.tasks
    }

    /// The last run's summary.
    #[must_use]
    pub fn last_run(&self) -> Option<&LastRun> {
        self.last_run.as_ref()
    }

    /// Sets the last run's summary.
    pub fn set_last_run(&mut self, last: LastRun) {
        self.last_run = Some(last);
        self.dirty = true;
    }

    /// The whole URL → accepted fingerprint map.
    #[must_use]
    pub fn urls(&self) -> &UrlMap {
        &self.urls
    }

    /// How many URLs have an accepted fingerprint.
    #[must_use]
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// True when no URL has an accepted fingerprint.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// Applies one journal operation.
    fn apply(&mut self, op: Op) {
        self.apply_op(op, true);
    }

    /// Applies one journal operation; a batch leaves the backlog alone unless `touch_backlog` (a replay removes
    /// all replayed batches from the backlog at once).
    fn apply_op(&mut self, op: Op, touch_backlog: bool) {
        match op {
            Op::Batch {
                day,
                at,
                provider,
                task_id,
                urls,
            } => {
                if touch_backlog && !self.backlog.is_empty() {
                    let pushed: FxHashSet<&str> = urls.iter().map(|(u, _)| u.as_str()).collect();
                    self.backlog.retain(|e| !pushed.contains(e.url.as_str()));
                }
                *self.ledger.entry(day.clone()).or_insert(0) += urls.len() as u64;
                self.prune_ledger(&day);
                let mut task_urls = Vec::with_capacity(urls.len());
                for (u, fp) in urls {
                    self.urls.insert(&u, &fp);
                    task_urls.push(u);
                }
                self.tasks.push(TaskRecord {
                    task_id,
                    urls: task_urls,
                    at: at.clone(),
                    provider,
                });
                self.prune_tasks(&at);
            }
            Op::Ledger { day, used } => {
                let e = self.ledger.entry(day.clone()).or_insert(0);
                *e = (*e).max(used);
                self.prune_ledger(&day);
            }
            Op::Backlog { entries } => self.backlog = entries,
            Op::Forget { urls } => {
                for u in &urls {
                    self.urls.swap_remove(u);
                }
                if !self.backlog.is_empty() {
                    let set: FxHashSet<&str> = urls.iter().map(String::as_str).collect();
                    self.backlog.retain(|e| !set.contains(e.url.as_str()));
                }
            }
            Op::LastRun { last } => self.last_run = Some(last),
        }
    }

    /// Drops ledger days more than [`LEDGER_DAYS`] before `today` (days that don't parse are kept).
    fn prune_ledger(&mut self, today: &str) {
        let Some(today) = parse_day(today) else {
            return;
        };
        let Some(oldest) = today.checked_sub(time::Duration::days(LEDGER_DAYS - 1)) else {
            return;
        };
        self.ledger
            .retain(|d, _| parse_day(d).is_none_or(|d| d >= oldest));
    }

    /// Keeps the last [`MAX_TASKS`] tasks, none older than [`TASK_DAYS`] before `now`.
    fn prune_tasks(&mut self, now: &str) {
        if let Ok(now) = OffsetDateTime::parse(now, &Rfc3339) {
            let oldest = now - time::Duration::days(TASK_DAYS);
            self.tasks
                .retain(|t| OffsetDateTime::parse(&t.at, &Rfc3339).map_or(true, |at| at >= oldest));
        }
        if self.tasks.len() > MAX_TASKS {
            let extra = self.tasks.len() - MAX_TASKS;
            self.tasks.drain(..extra);
        }
    }
}

impl Baseline for State {
    fn find(&self, url: &str) -> Option<(usize, &str)> {
        self.urls.find(url)
    }

    fn touch(&self, url: &str) {
        self.urls.touch(url);
    }

    fn urls(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Baseline::urls(&self.urls)
    }

    fn len(&self) -> usize {
        self.urls.len()
    }
}

/// Serialises a [`UrlMap`] sorted by URL (stable, diffable files).
pub struct SortedUrls<'a>(pub &'a UrlMap);

impl Serialize for SortedUrls<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        // Usually sorted already (loaded sorted, new URLs appended): checked first, and then written straight
        // from the map, without a vector of a million pairs.
        if self.0.keys().is_sorted() {
            return s.collect_map(self.0.iter());
        }
        let mut v: Vec<(&str, &str)> = self.0.iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        s.collect_map(v)
    }
}

/// `YYYY-MM-DD` → a date.
fn parse_day(day: &str) -> Option<Date> {
    Date::parse(day, format_description!("[year]-[month]-[day]")).ok()
}

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    /// Sequence number, one above the previous line's (or the snapshot's).
    seq: u64,
    /// What happened.
    #[serde(flatten)]
    op: Op,
}

/// A journalled change.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    /// The CDN accepted a task.
    Batch {
        day: String,
        at: String,
        provider: String,
        task_id: String,
        urls: Vec<(String, String)>,
    },
    /// The CDN says this many URLs were spent on `day` (the ledger keeps the larger count).
    Ledger { day: String, used: u64 },
    /// The backlog was replaced.
    Backlog { entries: Vec<BacklogEntry> },
    /// URLs left the site.
    Forget { urls: Vec<String> },
    /// A run ended.
    LastRun { last: LastRun },
}

/// The snapshot as written.
#[derive(Serialize)]
struct SnapshotOut<'a> {
    format: &'static str,
    version: u64,
    seq: u64,
    count: usize,
    urls: SortedUrls<'a>,
    ledger: &'a BTreeMap<String, u64>,
    backlog: &'a [BacklogEntry],
    tasks: &'a [TaskRecord],
    #[serde(skip_serializing_if = "Option::is_none")]
    last_run: Option<&'a LastRun>,
}

/// The snapshot as read.
struct SnapshotIn {
    format: String,
    version: u64,
    seq: u64,
    urls: Option<crate::urlmap::Detached>,
    ledger: BTreeMap<String, u64>,
    backlog: Vec<BacklogEntry>,
    tasks: Vec<TaskRecord>,
    last_run: Option<LastRun>,
}

/// Most URL entries a snapshot's `count` may make us reserve room for up front.
const MAX_PREALLOC: usize = 1 << 24;

/// Reads a snapshot out of `text` (the file, deserialised from itself: its URL map keeps the text, see
/// [`crate::urlmap`]), or copying every string when `text` is `None`.
struct SnapshotSeed<'t> {
    text: Option<&'t str>,
}

impl<'de> serde::de::DeserializeSeed<'de> for SnapshotSeed<'_> {
    type Value = SnapshotIn;
    // By hand, so that `count` (written before `urls`) sizes the URL map: growing it costs more than parsing.
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<SnapshotIn, D::Error> {
        struct V<'t>(Option<&'t str>);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = SnapshotIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a prewarm state object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<SnapshotIn, A::Error> {
                use serde::de::Error as _;
                let (mut format, mut version, mut seq, mut count) = (None, None, 0, None);
                let mut urls = None;
                let mut ledger = BTreeMap::new();
                let (mut backlog, mut tasks, mut last_run) = (Vec::new(), Vec::new(), None);
                while let Some(key) = m.next_key::<String>()? {
                    match key.as_str() {
                        "format" => format = Some(m.next_value::<String>()?),
                        "version" => version = Some(m.next_value::<u64>()?),
                        "seq" => seq = m.next_value()?,
                        "count" => count = Some(m.next_value::<usize>()?),
                        "urls" => {
                            let cap = count.unwrap_or(1024).min(MAX_PREALLOC);
                            let seed = match self.0 {
                                Some(text) => UrlMap::seed_for(text, cap),
                                None => crate::urlmap::Seed::copying(cap),
                            };
                            urls = Some(m.next_value_seed(seed)?);
                        }
                        "ledger" => ledger = m.next_value()?,
                        "backlog" => backlog = m.next_value()?,
                        "tasks" => tasks = m.next_value()?,
                        "last_run" => last_run = m.next_value()?,
                        _ => {
                            m.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(SnapshotIn {
                    format: format.ok_or_else(|| A::Error::missing_field("format"))?,
                    version: version.ok_or_else(|| A::Error::missing_field("version"))?,
                    seq,
                    urls,
                    ledger,
                    backlog,
                    tasks,
                    last_run,
                })
            }
        }
        d.deserialize_map(V(self.text))
    }
}

/// Just the version, to tell "newer" from "damaged" when the full parse fails.
#[derive(Deserialize)]
struct VersionOnly {
    format: String,
    version: u64,
}

/// `state.json` + `suffix`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = path
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("state.json"));
    name.push(suffix);
    path.with_file_name(name)
}

/// The journal's path for a state path.
#[must_use]
pub fn journal_path(path: &Path) -> PathBuf {
    sibling(path, ".journal")
}

/// The lock file's path for a state path.
#[must_use]
pub fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

fn damaged(path: &Path, what: &str) -> Error {
    Error::State {
        path: path.to_owned(),
        message: format!("state file is damaged ({what}); fix or remove it"),
    }
}

fn newer(path: &Path, version: u64) -> Error {
    Error::State {
        path: path.to_owned(),
        message: format!(
            "state file was written by a newer prewarm (version {version}); upgrade prewarm or remove it"
        ),
    }
}

/// Describes a serde_json error with its position.
fn json_what(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Eof => "truncated",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Io => "unreadable",
    };
    let mut msg = e.to_string();
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    format!("{kind}: {msg} at line {} column {}", e.line(), e.column())
}

/// Reads the snapshot; a missing file is an empty state.
fn read_snapshot(path: &Path) -> Result<State> {
    let bytes = match read_with_headroom(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    // The URL map keeps the file's text (valid UTF-8, as JSON must be); a file that is not gets the copying
    // reader, for its error and position.
    let (parsed, text, bytes) = match String::from_utf8(bytes) {
        Ok(text) => {
            let mut de = serde_json::Deserializer::from_str(&text);
            let parsed = SnapshotSeed { text: Some(&text) }
                .deserialize(&mut de)
                .and_then(|s| de.end().map(|()| s));
            (parsed, text, Vec::new())
        }
        Err(e) => {
            let bytes = e.into_bytes();
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            let parsed = SnapshotSeed { text: None }
                .deserialize(&mut de)
                .and_then(|s| de.end().map(|()| s));
            (parsed, String::new(), bytes)
        }
    };
    match parsed {
        Ok(s) => {
            if s.format != FORMAT {
                return Err(damaged(
                    path,
                    &format!("format is {:?}, expected {FORMAT:?}", s.format),
                ));
            }
            if s.version > VERSION {
                return Err(newer(path, s.version));
            }
            if s.version != VERSION {
                return Err(damaged(path, &format!("unknown version {}", s.version)));
            }
            Ok(State {
                urls: s.urls.map(|m| m.attach(text)).unwrap_or_default(),
                ledger: s.ledger,
                backlog: s.backlog,
                tasks: s.tasks,
                last_run: s.last_run,
                seq: s.seq,
                dirty: false,
            })
        }
        // `bytes` is the file when it was not UTF-8, `text` when it was.
        Err(e) => match serde_json::from_slice::<VersionOnly>(if bytes.is_empty() {
            text.as_bytes()
        } else {
            &bytes
        }) {
            Ok(v) if v.format == FORMAT && v.version > VERSION => Err(newer(path, v.version)),
            _ => Err(damaged(path, &json_what(&e))),
        },
    }
}

/// The file's bytes, with room for the map to grow in place (untouched capacity costs no memory).
fn read_with_headroom(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let len = f.metadata().map_or(0, |m| m.len());
    let len = usize::try_from(len).unwrap_or(0);
    let cap = len.saturating_add(len / 4).saturating_add(4096);
    #[cfg(unix)]
    if len >= PARALLEL_READ_FROM
        && let Some(bytes) = read_halves(&f, len, cap)?
    {
        return Ok(bytes);
    }
    let mut bytes = Vec::with_capacity(cap);
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Snapshots at least this large are read on two threads.
#[cfg(unix)]
const PARALLEL_READ_FROM: usize = 8 << 20;

/// Reads a file of `len` bytes as two halves on two threads (copying 100 MB out of the page cache, and the
/// first touch of the memory it goes to, are most of loading a large state), into a buffer of `cap` bytes.
/// `None` when the file is no longer `len` bytes long (then it is read the plain way).
#[cfg(unix)]
fn read_halves(f: &File, len: usize, cap: usize) -> std::io::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    // Zeroed by the OS (not written here): the two threads are the first to touch it.
    let mut bytes = vec![0u8; cap];
    let mid = len / 2;
    let (first, second) = bytes[..len].split_at_mut(mid);
    let read = std::thread::scope(|s| {
        let other = s.spawn(|| f.read_exact_at(second, mid as u64));
        let here = f.read_exact_at(first, 0);
        let there = other
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the state reader thread failed")));
        here.and(there)
    });
    match read {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    // Longer than it was? Then it is being replaced under us: read it again, whole.
    let mut probe = [0u8; 1];
    if f.read_at(&mut probe, len as u64)? != 0 {
        return Ok(None);
    }
    bytes.truncate(len);
    Ok(Some(bytes))
}

/// What replaying a journal found.
struct Replay {
    /// Bytes of complete, applied-or-skipped lines (where a torn tail starts).
    good_len: u64,
    /// A warning about a torn last line.
    torn: Option<String>,
}

/// Replays `journal` onto `state`; a missing journal is empty.
fn replay(state: &mut State, journal: &Path) -> Result<Replay> {
    let bytes = match fs::read(journal) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Replay {
                good_len: 0,
                torn: None,
            });
        }
        Err(e) => return Err(Error::io(journal, e)),
    };
    let journal_damaged = |line: usize, what: String| Error::State {
        path: journal.to_owned(),
        message: format!("state journal is damaged (line {line}: {what}); fix or remove it"),
    };
    let mut pos = 0usize;
    let mut line_no = 0usize;
    // URLs of replayed batches leave the backlog at once (before any other operation, and at the end).
    let mut pushed: FxHashSet<String> = FxHashSet::default();
    let flush = |state: &mut State, pushed: &mut FxHashSet<String>| {
        if !pushed.is_empty() {
            state.backlog.retain(|e| !pushed.contains(&e.url));
            pushed.clear();
        }
    };
    let mut torn = None;
    while pos < bytes.len() {
        line_no += 1;
        let rest = &bytes[pos..];
        let (text, complete) = match rest.iter().position(|b| *b == b'\n') {
            Some(n) => (&rest[..n], true),
            None => (rest, false),
        };
        let parsed = serde_json::from_slice::<Line>(text);
        let last = !complete || pos + text.len() + 1 == bytes.len();
        let line = match parsed {
            Ok(line) if complete => line,
            Ok(_) => {
                torn = Some(format!(
                    "{}: ignoring the last line {line_no}, cut short (no newline): the batch in flight",
                    journal.display()
                ));
                break;
            }
            Err(e) if last => {
                torn = Some(format!(
                    "{}: ignoring the last line {line_no}, torn ({}): the batch in flight",
                    journal.display(),
                    json_what(&e)
                ));
                break;
            }
            Err(e) => return Err(journal_damaged(line_no, json_what(&e))),
        };
        pos += text.len() + 1;
        if line.seq <= state.seq {
            continue; // already in the snapshot
        }
        if line.seq != state.seq + 1 {
            return Err(journal_damaged(
                line_no,
                format!(
                    "sequence {} does not follow {} of the snapshot and earlier lines",
                    line.seq, state.seq
                ),
            ));
        }
        state.seq = line.seq;
        if let Op::Batch { urls, .. } = &line.op {
            pushed.extend(urls.iter().map(|(u, _)| u.clone()));
            state.apply_op(line.op, false);
        } else {
            flush(state, &mut pushed);
            state.apply_op(line.op, true);
        }
    }
    flush(state, &mut pushed);
    Ok(Replay {
        good_len: pos as u64,
        torn,
    })
}

/// Loads the snapshot and replays the journal without locking or writing anything (dry runs, `status`).
///
/// A missing file is an empty state.
///
/// # Errors
/// [`Error::State`] for a damaged or newer snapshot or journal; [`Error::Io`] when unreadable.
pub fn load_read_only(path: &Path) -> Result<State> {
    let mut state = read_snapshot(path)?;
    let r = replay(&mut state, &journal_path(path))?;
    if let Some(w) = r.torn {
        log::warn!("{w}");
    }
    Ok(state)
}

/// Owns the state files for one run: the lock (held until dropped) and the journal.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    journal_path: PathBuf,
    journal: File,
    _lock: File,
}

impl StateStore {
    /// Locks the state (waiting up to `lock_timeout` for another run), loads it and replays the journal.
    ///
    /// Creates the folder when missing. A torn last journal line is cut off.
    ///
    /// # Errors
    /// [`Error::State`] when another run holds the lock past the timeout, or the state is damaged or newer;
    /// [`Error::Io`] when the files can't be read or created.
    pub fn open(path: &Path, lock_timeout: Duration) -> Result<(StateStore, State)> {
        Self::open_unless(path, lock_timeout, &|| false)?
            .ok_or_else(|| Error::Runtime("the state lock wait stopped unasked".into()))
    }

    /// [`StateStore::open`], giving up the wait for another run's lock as soon as `stop` says so (a SIGINT
    /// while a deploy hook waits): `None` then, with nothing read or written.
    ///
    /// # Errors
    /// As [`StateStore::open`].
    pub fn open_unless(
        path: &Path,
        lock_timeout: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<(StateStore, State)>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let lock_file = lock_path(path);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_file)
            .map_err(|e| Error::io(&lock_file, e))?;
        let start = Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if stop() => return Ok(None),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < lock_timeout => {
                    std::thread::sleep(LOCK_POLL);
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::State {
                        path: path.to_owned(),
                        message: format!(
                            "another prewarm run holds the lock {} (waited {} ms); try again when it has finished",
                            lock_file.display(),
                            lock_timeout.as_millis()
                        ),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_file, e)),
            }
        }

        let mut state = read_snapshot(path)?;
        let journal_path = journal_path(path);
        let r = replay(&mut state, &journal_path)?;
        let journal = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&journal_path)
            .map_err(|e| Error::io(&journal_path, e))?;
        if let Some(w) = r.torn {
            log::warn!("{w}");
            journal
                .set_len(r.good_len)
                .map_err(|e| Error::io(&journal_path, e))?;
            journal
                .sync_all()
                .map_err(|e| Error::io(&journal_path, e))?;
        }
        Ok(Some((
            StateStore {
                path: path.to_owned(),
                journal_path,
                journal,
                _lock: lock,
            },
            state,
        )))
    }

    /// The state file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one operation to the journal and `fsync`s it, then applies it to `state`.
    fn append(&mut self, state: &mut State, op: Op) -> Result<()> {
        let line = Line {
            seq: state.seq + 1,
            op,
        };
        let before = self
            .journal
            .metadata()
            .map_err(|e| Error::io(&self.journal_path, e))?
            .len();
        // Encoded straight into the file through a buffer: a million-entry backlog line is ~200 MB, which a
        // vector would hold (grown by doubling) before the first byte is written.
        let written = {
            let mut w = BufWriter::with_capacity(1 << 20, &self.journal);
            serde_json::to_writer(&mut w, &line)
                .map_err(|e| match e.io_error_kind() {
                    Some(kind) => std::io::Error::new(kind, e),
                    None => std::io::Error::other(format!("cannot encode state: {e}")),
                })
                .and_then(|()| w.write_all(b"\n"))
                .and_then(|()| w.flush())
        };
        if let Err(e) = written.and_then(|()| self.journal.sync_data()) {
            // Leave no half line behind for the next append to follow: the batch is simply not recorded.
            let _ = self.journal.set_len(before);
            return Err(Error::io(&self.journal_path, e));
        }
        state.seq = line.seq;
        state.apply(line.op);
        Ok(())
    }

    /// Records a task the CDN accepted: its URLs' fingerprints become the accepted ones, they leave the backlog,
    /// the ledger of CDN day `day` grows by their number, and the task joins the recent tasks. Durable (journalled
    /// and `fsync`ed) before it returns.
    ///
    /// # Errors
    /// [`Error::Io`] when the journal can't be written; `state` is then unchanged.
    pub fn record_batch(
        &mut self,
        state: &mut State,
        task: &Task,
        urls: &[PlannedUrl],
        day: &str,
        now: &str,
        provider: &str,
    ) -> Result<()> {
        let urls = urls
            .iter()
            .map(|p| {
                (
                    p.url.clone(),
                    p.fingerprint_text().unwrap_or_default().into_owned(),
                )
            })
            .collect();
        let op = Op::Batch {
            day: day.to_owned(),
            at: now.to_owned(),
            provider: provider.to_owned(),
            task_id: task.task_id.clone(),
            urls,
        };
        self.append(state, op)
    }

    /// Records that `used` URLs were spent on CDN day `day` (e.g. the CDN said the quota is exhausted); the
    /// ledger keeps the larger of this and its own count. Durable before it returns.
    ///
    /// # Errors
    /// [`Error::Io`] when the journal can't be written.
    pub fn record_usage(&mut self, state: &mut State, day: &str, used: u64) -> Result<()> {
        self.append(
            state,
            Op::Ledger {
                day: day.to_owned(),
                used,
            },
        )
    }

    /// Replaces the backlog with `deferred` (as [`State::set_backlog`]) durably, e.g. with everything planned
    /// before the push starts, so a crash keeps the unsent URLs. Writes nothing when the backlog would stay as
    /// it is.
    ///
    /// # Errors
    /// [`Error::Io`] when the journal can't be written; `state` is then unchanged.
    pub fn record_backlog<'p>(
        &mut self,
        state: &mut State,
        deferred: impl IntoIterator<Item = &'p PlannedUrl, IntoIter: Clone>,
        now: &str,
    ) -> Result<()> {
        let deferred = deferred.into_iter();
        if state.backlog_is(deferred.clone()) {
            return Ok(());
        }
        let entries = state.next_backlog(deferred, now);
        // The same backlog again (a big site's quota-bound run defers what the last one did): nothing to record.
        if entries == state.backlog {
            return Ok(());
        }
        self.append(state, Op::Backlog { entries })
    }

    /// Records that `urls` left the site (as [`State::forget`]), durably.
    ///
    /// # Errors
    /// [`Error::Io`] when the journal can't be written.
    pub fn record_forget(&mut self, state: &mut State, urls: &[String]) -> Result<()> {
        if urls.is_empty() {
            return Ok(());
        }
        self.append(
            state,
            Op::Forget {
                urls: urls.to_vec(),
            },
        )
    }

    /// Records the run's summary (as [`State::set_last_run`]), durably.
    ///
    /// # Errors
    /// [`Error::Io`] when the journal can't be written.
    pub fn record_last_run(&mut self, state: &mut State, last: LastRun) -> Result<()> {
        self.append(state, Op::LastRun { last })
    }

    /// Ends a run cheaply: [`StateStore::compact`]s only when `state` holds changes the journal doesn't (made
    /// through `State`'s own setters), there is no snapshot yet, or the journal has grown past an eighth of the
    /// snapshot (and 1 MiB);
    /// otherwise the journal, already durable, stays for the next load to replay. Returns whether it compacted.
    ///
    /// # Errors
    /// As [`StateStore::compact`].
    pub fn finish(&mut self, state: &mut State) -> Result<bool> {
        let journal_len = self
            .journal
            .metadata()
            .map_err(|e| Error::io(&self.journal_path, e))?
            .len();
        let snapshot_len = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        // No snapshot yet: write one, so the state file the docs name exists after the first run.
        if state.dirty || snapshot_len == 0 || journal_len > (snapshot_len / 8).max(1 << 20) {
            self.compact(state)?;
            state.dirty = false;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes `state` as the new snapshot (temporary file, `fsync`, rename, folder `fsync`) and empties the
    /// journal.
    ///
    /// # Errors
    /// [`Error::Io`] when the snapshot can't be written; the old snapshot and the journal are then intact.
    pub fn compact(&mut self, state: &State) -> Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| Error::io(&dir, e))?;
        {
            let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
            let snapshot = SnapshotOut {
                format: FORMAT,
                version: VERSION,
                seq: state.seq,
                count: state.urls.len(),
                urls: SortedUrls(&state.urls),
                ledger: &state.ledger,
                backlog: &state.backlog,
                tasks: &state.tasks,
                last_run: state.last_run.as_ref(),
            };
            let mut ser = serde_json::Serializer::with_formatter(
                &mut w,
                serde_json::ser::PrettyFormatter::with_indent(b" "),
            );
            snapshot
                .serialize(&mut ser)
                .map_err(|e| Error::io(tmp.path(), std::io::Error::other(e)))?;
            w.write_all(b"\n").map_err(|e| Error::io(tmp.path(), e))?;
            w.flush().map_err(|e| Error::io(tmp.path(), e))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(&self.path)
            .map_err(|e| Error::io(&self.path, e.error))?;
        sync_dir(&dir)?;
        self.journal
            .set_len(0)
            .map_err(|e| Error::io(&self.journal_path, e))?;
        self.journal
            .sync_all()
            .map_err(|e| Error::io(&self.journal_path, e))?;
        Ok(())
    }
}

/// `fsync`s a folder so a rename in it is durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Folders can't be `fsync`ed here; the rename is as durable as the platform makes it.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (no clippy.toml `allow-unwrap-in-tests` yet)
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const NOW: &str = "2024-03-01T08:00:00Z";
    const DAY: &str = "2024-03-01";
    const T: Duration = Duration::from_secs(5);

    fn planned(url: &str, fp: Option<&str>) -> PlannedUrl {
        let mut a = Asset::new(url);
        a.fingerprint = fp.map(str::to_owned);
        PlannedUrl {
            from_backlog: false,
            ..a
        }
    }

    fn batch(
        store: &mut StateStore,
        st: &mut State,
        id: &str,
        urls: &[PlannedUrl],
        day: &str,
        now: &str,
    ) {
        let task = Task {
            task_id: id.to_owned(),
            urls: urls.iter().map(|p| p.url().to_owned()).collect(),
        };
        store
            .record_batch(st, &task, urls, day, now, "tencent-v3/overseas")
            .unwrap();
    }

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".prewarm").join("state.json");
        (dir, path)
    }

    fn state_err(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(e @ Error::State { .. }) => e.to_string(),
            other => panic!("expected Error::State, got {other:?}"),
        }
    }

    #[test]
    fn missing_file_is_empty_state() {
        let (_d, path) = setup();
        let st = load_read_only(&path).unwrap();
        assert!(st.is_empty());
        assert!(!path.exists(), "read-only load must not create anything");
        assert!(!path.parent().unwrap().exists());
    }

    #[test]
    fn round_trip_through_snapshot() {
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        batch(
            &mut store,
            &mut st,
            "7",
            &[
                planned("https://a.example/x", Some("b3:00")),
                planned("https://a.example/y", None),
            ],
            DAY,
            NOW,
        );
        st.set_backlog(&[planned("https://a.example/z", Some("b3:zz"))], NOW);
        st.set_last_run(LastRun {
            at: NOW.into(),
            pushed: 2,
            deferred: 1,
            task_ids: vec!["7".into()],
        });
        store.compact(&st).unwrap();
        assert_eq!(
            fs::metadata(journal_path(&path)).unwrap().len(),
            0,
            "compact empties the journal"
        );
        drop(store);

        let loaded = load_read_only(&path).unwrap();
        assert_eq!(loaded, st);
        assert_eq!(loaded.fingerprint("https://a.example/x"), Some("b3:00"));
        assert_eq!(loaded.fingerprint("https://a.example/y"), Some(""));
        assert_eq!(loaded.fingerprint("https://a.example/z"), None);
        assert_eq!(loaded.used_on(DAY), 2);
        assert_eq!(loaded.backlog()[0].url, "https://a.example/z");
        assert_eq!(loaded.tasks()[0].task_id, "7");
        assert_eq!(loaded.tasks()[0].provider, "tencent-v3/overseas");
        assert_eq!(loaded.last_run().unwrap().pushed, 2);
        let (_store, reopened) = StateStore::open(&path, T).unwrap();
        assert_eq!(reopened, st);

        // human-readable, versioned, sorted
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\n \"format\": \"prewarm-state\",\n \"version\": 1,"),
            "{text}"
        );
        assert!(
            text.find("https://a.example/x").unwrap() < text.find("https://a.example/y").unwrap()
        );
    }

    #[test]
    fn journal_replays_without_compact_and_never_twice() {
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        batch(
            &mut store,
            &mut st,
            "1",
            &[planned("https://a.example/1", Some("b3:1"))],
            DAY,
            NOW,
        );
        store.compact(&st).unwrap();
        batch(
            &mut store,
            &mut st,
            "2",
            &[planned("https://a.example/2", Some("b3:2"))],
            DAY,
            NOW,
        );
        batch(
            &mut store,
            &mut st,
            "3",
            &[planned("https://a.example/1", Some("b3:1b"))],
            DAY,
            NOW,
        );
        drop(store); // "crash": no compact

        let loaded = load_read_only(&path).unwrap();
        assert_eq!(loaded, st);
        assert_eq!(loaded.used_on(DAY), 3);
        assert_eq!(loaded.fingerprint("https://a.example/1"), Some("b3:1b"));
        assert_eq!(loaded.tasks().len(), 3);

        // A crash after the snapshot was renamed but before the journal was emptied: nothing replays twice.
        let journal = fs::read(journal_path(&path)).unwrap();
        let (mut store, mut st2) = StateStore::open(&path, T).unwrap();
        store.compact(&st2).unwrap();
        drop(store);
        fs::write(journal_path(&path), &journal).unwrap();
        let loaded = load_read_only(&path).unwrap();
        assert_eq!(loaded.used_on(DAY), 3);
        assert_eq!(loaded.tasks().len(), 3);
        // and new appends continue the sequence
        let (mut store, mut again) = StateStore::open(&path, T).unwrap();
        batch(
            &mut store,
            &mut again,
            "4",
            &[planned("https://a.example/4", None)],
            DAY,
            NOW,
        );
        drop(store);
        assert_eq!(load_read_only(&path).unwrap().used_on(DAY), 4);
        let _ = &mut st2;
    }

    #[test]
    fn torn_last_journal_line_is_ignored_and_cut() {
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        batch(
            &mut store,
            &mut st,
            "1",
            &[planned("https://a.example/1", Some("b3:1"))],
            DAY,
            NOW,
        );
        drop(store);
        let jp = journal_path(&path);
        let good = fs::read(&jp).unwrap();

        for tail in [
            &b"{\"seq\":2,\"op\":\"batch\",\"day\":\"2024-03-01\",\"at\""[..],
            b"garbage\n",
        ] {
            let mut bytes = good.clone();
            bytes.extend_from_slice(tail);
            fs::write(&jp, &bytes).unwrap();
            let loaded = load_read_only(&path).unwrap();
            assert_eq!(loaded, st);
            assert_eq!(
                fs::read(&jp).unwrap(),
                bytes,
                "read-only load leaves the journal alone"
            );
        }
        // a complete JSON line without its newline is still the batch in flight
        let mut bytes = good.clone();
        bytes.extend_from_slice(br#"{"seq":2,"op":"ledger","day":"2024-03-01","used":999}"#);
        fs::write(&jp, &bytes).unwrap();
        assert_eq!(load_read_only(&path).unwrap().used_on(DAY), 1);

        // opening for writing cuts the torn tail, so the next append starts on a clean line
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        assert_eq!(fs::read(&jp).unwrap(), good);
        batch(
            &mut store,
            &mut st,
            "2",
            &[planned("https://a.example/2", Some("b3:2"))],
            DAY,
            NOW,
        );
        drop(store);
        let loaded = load_read_only(&path).unwrap();
        assert_eq!(loaded.used_on(DAY), 2);
        assert_eq!(loaded.fingerprint("https://a.example/2"), Some("b3:2"));
    }

    #[test]
    fn damaged_journal_line_in_the_middle_is_an_error() {
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        batch(
            &mut store,
            &mut st,
            "1",
            &[planned("https://a.example/1", None)],
            DAY,
            NOW,
        );
        drop(store);
        let jp = journal_path(&path);
        let mut bytes = b"not json\n".to_vec();
        bytes.extend(fs::read(&jp).unwrap());
        fs::write(&jp, &bytes).unwrap();
        let msg = state_err(load_read_only(&path));
        assert!(msg.contains("state journal is damaged (line 1"), "{msg}");
        assert!(msg.contains("fix or remove it"), "{msg}");
        assert!(state_err(StateStore::open(&path, T).map(|_| ())).contains("damaged"));
        assert_eq!(fs::read(&jp).unwrap(), bytes, "never rewritten");
    }

    #[test]
    fn journal_sequence_gap_is_an_error() {
        let (_d, path) = setup();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            journal_path(&path),
            "{\"seq\":1,\"op\":\"ledger\",\"day\":\"2024-03-01\",\"used\":5}\n{\"seq\":3,\"op\":\"ledger\",\"day\":\"2024-03-01\",\"used\":6}\n",
        )
        .unwrap();
        let msg = state_err(load_read_only(&path));
        assert!(
            msg.contains("line 2") && msg.contains("sequence 3"),
            "{msg}"
        );
    }

    #[test]
    fn garbage_or_truncated_snapshot_is_an_error_and_kept() {
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        batch(
            &mut store,
            &mut st,
            "1",
            &[planned("https://a.example/1", Some("b3:1"))],
            DAY,
            NOW,
        );
        store.compact(&st).unwrap();
        drop(store);
        let full = fs::read(&path).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (full[..full.len() / 2].to_vec(), "truncated"),
            (b"\x00\x01garbage".to_vec(), "not valid JSON"),
            (Vec::new(), "truncated"),
            (
                b"{\"format\":\"something-else\",\"version\":1}".to_vec(),
                "format is",
            ),
            (b"[1,2,3]".to_vec(), "unexpected content"),
        ];
        for (bytes, what) in cases {
            fs::write(&path, &bytes).unwrap();
            for msg in [
                state_err(load_read_only(&path)),
                state_err(StateStore::open(&path, T).map(|_| ())),
            ] {
                assert!(msg.contains("state file is damaged ("), "{msg}");
                assert!(msg.contains(what), "{what}: {msg}");
                assert!(msg.contains("); fix or remove it"), "{msg}");
                assert!(msg.starts_with(&path.display().to_string()), "{msg}");
            }
            assert_eq!(
                fs::read(&path).unwrap(),
                bytes,
                "the damaged file is never overwritten"
            );
        }
    }

    #[test]
    fn unknown_version_is_an_error() {
        let (_d, path) = setup();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        // a newer version whose body this build can't read still says "newer"
        let newer = br#"{"format":"prewarm-state","version":7,"urls":[1,2]}"#;
        fs::write(&path, newer).unwrap();
        let msg = state_err(StateStore::open(&path, T).map(|_| ()));
        assert!(
            msg.contains("written by a newer prewarm (version 7)"),
            "{msg}"
        );
        assert_eq!(fs::read(&path).unwrap(), newer);
        fs::write(&path, br#"{"format":"prewarm-state","version":2}"#).unwrap();
        assert!(state_err(load_read_only(&path)).contains("newer prewarm (version 2)"));
        fs::write(&path, br#"{"format":"prewarm-state","version":0}"#).unwrap();
        assert!(state_err(load_read_only(&path)).contains("unknown version 0"));
    }

    #[test]
    fn second_open_waits_then_fails_while_the_first_holds_the_lock() {
        let (_d, path) = setup();
        let (first, _st) = StateStore::open(&path, T).unwrap();
        let start = Instant::now();
        let msg = state_err(StateStore::open(&path, Duration::from_millis(200)).map(|_| ()));
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(msg.contains("another prewarm run holds the lock"), "{msg}");
        assert!(msg.contains("state.json.lock"), "{msg}");
        // read-only loading needs no lock
        load_read_only(&path).unwrap();
        drop(first);
        let (_second, _st) = StateStore::open(&path, Duration::from_millis(200)).unwrap();
    }

    #[test]
    fn lock_is_released_while_the_second_waits() {
        let (_d, path) = setup();
        let (first, _st) = StateStore::open(&path, T).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        StateStore::open(&path, Duration::from_secs(10)).unwrap();
        releaser.join().unwrap();
    }

    #[test]
    fn ledger_keeps_31_days() {
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        let p = [planned("https://a.example/1", None)];
        batch(
            &mut store,
            &mut st,
            "1",
            &p,
            "2024-01-01",
            "2024-01-01T01:00:00Z",
        );
        batch(
            &mut store,
            &mut st,
            "2",
            &p,
            "2024-01-31",
            "2024-01-31T01:00:00Z",
        );
        batch(
            &mut store,
            &mut st,
            "3",
            &p,
            "2024-01-31",
            "2024-01-31T02:00:00Z",
        );
        assert_eq!(
            st.used_on("2024-01-01"),
            1,
            "31 days incl. today: Jan 1 is still in"
        );
        assert_eq!(st.used_on("2024-01-31"), 2);
        batch(
            &mut store,
            &mut st,
            "4",
            &p,
            "2024-02-01",
            "2024-02-01T01:00:00Z",
        );
        assert_eq!(st.used_on("2024-01-01"), 0);
        assert_eq!(
            st.ledger().keys().collect::<Vec<_>>(),
            ["2024-01-31", "2024-02-01"]
        );
        // the CDN's own count raises ours, never lowers it
        store.record_usage(&mut st, "2024-02-01", 1000).unwrap();
        store.record_usage(&mut st, "2024-02-01", 3).unwrap();
        assert_eq!(st.used_on("2024-02-01"), 1000);
        drop(store);
        assert_eq!(load_read_only(&path).unwrap(), st);
    }

    #[test]
    fn tasks_keep_the_last_200_within_30_days() {
        let mut st = State::new();
        let old = Op::Batch {
            day: "2024-01-01".into(),
            at: "2024-01-01T00:00:00Z".into(),
            provider: "p".into(),
            task_id: "old".into(),
            urls: vec![],
        };
        st.apply(old);
        for i in 0..205 {
            st.apply(Op::Batch {
                day: DAY.into(),
                at: NOW.into(),
                provider: "p".into(),
                task_id: i.to_string(),
                urls: vec![(format!("https://a.example/{i}"), String::new())],
            });
        }
        assert_eq!(st.tasks().len(), MAX_TASKS);
        assert_eq!(st.tasks()[0].task_id, "5");
        assert_eq!(st.tasks()[199].task_id, "204");
        assert!(st.tasks().iter().all(|t| t.task_id != "old"));
    }

    #[test]
    fn set_backlog_keeps_since_and_order_and_batches_leave_it() {
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        let a = planned("https://a.example/a", Some("b3:a"));
        let b = planned("https://a.example/b", Some("b3:b"));
        let c = planned("https://a.example/c", None);
        st.set_backlog(&[a.clone(), b.clone()], "2024-01-01T00:00:00Z");
        let mut b2 = b.clone();
        b2.fingerprint = Some("b3:b2".into());
        b2.priority = 4;
        st.set_backlog(&[b2, c.clone(), a.clone(), c.clone()], NOW);
        let got: Vec<(&str, Option<&str>, &str)> = st
            .backlog()
            .iter()
            .map(|e| (e.url.as_str(), e.fingerprint.as_deref(), e.since.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("https://a.example/b", Some("b3:b2"), "2024-01-01T00:00:00Z"),
                ("https://a.example/c", None, NOW),
                ("https://a.example/a", Some("b3:a"), "2024-01-01T00:00:00Z"),
            ]
        );
        assert_eq!(st.backlog()[0].priority, 4);
        assert_eq!(st.backlog()[0].to_planned().from_backlog, true);
        // an accepted batch takes its URLs out of the backlog
        batch(&mut store, &mut st, "9", &[a.clone(), c.clone()], DAY, NOW);
        assert_eq!(st.backlog().len(), 1);
        assert_eq!(st.backlog()[0].url, "https://a.example/b");
        // and so does a replay of it
        store.compact(&st).unwrap();
        drop(store);
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        store
            .record_backlog(&mut st, &[a.clone(), b.clone()], NOW)
            .unwrap();
        batch(
            &mut store,
            &mut st,
            "10",
            std::slice::from_ref(&a),
            DAY,
            NOW,
        );
        drop(store);
        let loaded = load_read_only(&path).unwrap();
        assert_eq!(loaded, st);
        assert_eq!(
            loaded
                .backlog()
                .iter()
                .map(|e| e.url.as_str())
                .collect::<Vec<_>>(),
            ["https://a.example/b"]
        );
        assert_eq!(loaded.backlog()[0].since, "2024-01-01T00:00:00Z");
    }

    #[test]
    fn recording_the_backlog_it_already_has_writes_nothing() {
        // A big site's quota-bound run defers what the last one did: a million-entry line saved for nothing.
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        let a = planned("https://a.example/a", Some("b3:a"));
        let b = planned("https://a.example/b", Some("b3:b"));
        let journal_len = || fs::metadata(journal_path(&path)).unwrap().len();
        store
            .record_backlog(&mut st, &[a.clone(), b.clone()], "2024-01-01T00:00:00Z")
            .unwrap();
        let once = journal_len();
        assert!(once > 0);
        // The same entries (each keeps its `since`), given as an iterator: no line.
        store.record_backlog(&mut st, [&a, &b, &a], NOW).unwrap();
        assert_eq!(journal_len(), once);
        // A sitemap URL (its lastmod is its fingerprint) and a size.
        let mut c = planned("https://a.example/c", None);
        c.lastmod = crate::sources::Lastmod::parse("2024-05-06");
        c.bytes = Some(7);
        store
            .record_backlog(&mut st, &[a.clone(), b.clone(), c.clone()], NOW)
            .unwrap();
        let with_c = journal_len();
        assert!(with_c > once);
        store
            .record_backlog(&mut st, [&a, &b, &c], "2030-01-01T00:00:00Z")
            .unwrap();
        assert_eq!(journal_len(), with_c);
        // Another size, lastmod, order, fingerprint or member is a change (each case one change from the last).
        let mut c_bigger = c.clone();
        c_bigger.bytes = Some(8);
        let mut c_later = c_bigger.clone();
        c_later.lastmod = crate::sources::Lastmod::parse("2024-05-07");
        // A file's fingerprint is its content hash: a lastmod next to it is still part of the entry.
        let mut a_dated = a.clone();
        a_dated.lastmod = crate::sources::Lastmod::parse("2024-05-07");
        for next in [
            vec![a.clone(), b.clone(), c_bigger],
            vec![a.clone(), b.clone(), c_later],
            vec![a.clone(), b.clone()],
            vec![a_dated, b.clone()],
            vec![b.clone(), a.clone()],
            vec![a.clone(), planned("https://a.example/b", Some("b3:B"))],
            vec![a.clone()],
        ] {
            let before = journal_len();
            store.record_backlog(&mut st, &next, NOW).unwrap();
            assert!(journal_len() > before, "{next:?}");
        }
        drop(store);
        let loaded = load_read_only(&path).unwrap();
        assert_eq!(loaded, st);
        assert_eq!(loaded.backlog().len(), 1);
        assert_eq!(loaded.backlog()[0].since, "2024-01-01T00:00:00Z");
        assert_eq!(loaded.backlog()[0].url, "https://a.example/a");
    }

    #[cfg(unix)]
    #[test]
    fn a_large_snapshot_is_read_in_halves_exactly_or_not_at_all() {
        let (_d, path) = setup();
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &data).unwrap();
        let f = File::open(&path).unwrap();
        let got = read_halves(&f, data.len(), data.len() + 100)
            .unwrap()
            .unwrap();
        assert_eq!(got, data);
        assert!(got.capacity() >= data.len() + 100, "the headroom is kept");
        // The file is not the length we were told (it changed under us): no half-read answer.
        assert!(
            read_halves(&f, data.len() - 1, data.len())
                .unwrap()
                .is_none()
        );
        assert!(
            read_halves(&f, data.len() + 1, data.len() + 1)
                .unwrap()
                .is_none()
        );
        // And the plain path agrees.
        assert_eq!(read_with_headroom(&path).unwrap(), data);
    }

    #[test]
    fn re_baseline_updates_in_place_and_keeps_order() {
        let mut st = State::default();
        let asset = |u: &str, fp: Option<&str>| {
            let mut a = Asset::new(u);
            a.fingerprint = fp.map(str::to_owned);
            a
        };
        st.record_baseline(&[
            asset("https://a.example/b", Some("b3:1")),
            asset("https://a.example/a", None),
        ]);
        st.record_baseline(&[
            asset("https://a.example/a", Some("b3:2")),
            asset("https://a.example/c", Some("b3:3")),
            asset("https://a.example/b", Some("b3:1")),
        ]);
        assert_eq!(st.fingerprint("https://a.example/a"), Some("b3:2"));
        assert_eq!(st.fingerprint("https://a.example/b"), Some("b3:1"));
        assert_eq!(st.fingerprint("https://a.example/c"), Some("b3:3"));
        let order: Vec<&str> = crate::diff::Baseline::urls(&st).collect();
        assert_eq!(
            order,
            [
                "https://a.example/b",
                "https://a.example/a",
                "https://a.example/c"
            ]
        );
        // A fingerprint that went away is recorded as none; a sitemap lastmod as its text, unchanged when the
        // same.
        let mut dated = Asset::new("https://a.example/c");
        dated.lastmod = crate::sources::Lastmod::parse("2024-05-06T07:08:09Z");
        st.record_baseline(&[asset("https://a.example/b", None), dated.clone()]);
        assert_eq!(st.fingerprint("https://a.example/b"), Some(""));
        assert_eq!(
            st.fingerprint("https://a.example/c"),
            Some("lastmod:2024-05-06T07:08:09Z")
        );
        st.record_baseline(&[dated]);
        assert_eq!(
            st.fingerprint("https://a.example/c"),
            Some("lastmod:2024-05-06T07:08:09Z")
        );
    }

    #[test]
    fn forget_baseline_and_last_run_are_journalled_or_compacted() {
        let (_d, path) = setup();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        let mut a = Asset::new("https://a.example/a");
        a.fingerprint = Some("b3:a".into());
        st.record_baseline(&[a, Asset::new("https://a.example/b")]);
        assert_eq!(st.fingerprint("https://a.example/b"), Some(""));
        assert!(
            store.finish(&mut st).unwrap(),
            "baseline changes only a snapshot saves"
        );
        assert!(!store.finish(&mut st).unwrap(), "nothing new: no rewrite");
        store
            .record_forget(&mut st, &["https://a.example/a".to_owned()])
            .unwrap();
        store
            .record_last_run(
                &mut st,
                LastRun {
                    at: NOW.into(),
                    pushed: 0,
                    deferred: 0,
                    task_ids: vec![],
                },
            )
            .unwrap();
        assert!(
            !store.finish(&mut st).unwrap(),
            "journalled: no rewrite needed"
        );
        drop(store);
        let loaded = load_read_only(&path).unwrap();
        assert_eq!(loaded, st);
        assert_eq!(loaded.fingerprint("https://a.example/a"), None);
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded.last_run().unwrap().at, NOW);
    }

    #[test]
    fn large_state_loads_and_diffs_on_two_threads() {
        // Above PARALLEL_FROM in both the loader and the diff.
        let n = 70_000;
        let (_d, path) = setup();
        let assets: Vec<Asset> = (0..n)
            .map(|i| {
                let mut a = Asset::new(format!("https://a.example/p/{i}"));
                a.fingerprint = Some(format!("b3:{i:032x}"));
                a
            })
            .collect();
        let (mut store, mut st) = StateStore::open(&path, T).unwrap();
        st.record_baseline(&assets);
        store.compact(&st).unwrap();
        drop(store);
        let loaded = load_read_only(&path).unwrap();
        assert_eq!(loaded.len(), n);
        assert_eq!(loaded, st);
        let mut changed = assets.clone();
        changed[0].fingerprint = Some("b3:changed".into());
        changed[n - 1].fingerprint = Some("b3:changed".into());
        changed.remove(n / 2);
        let c = crate::diff::diff(
            changed,
            &loaded,
            &[],
            &[],
            crate::diff::DiffOptions {
                all: false,
                complete: true,
                assets_unique: false,
            },
        );
        let planned: Vec<&str> = c.planned.iter().map(PlannedUrl::url).collect();
        assert_eq!(
            planned,
            [
                "https://a.example/p/0",
                &format!("https://a.example/p/{}", n - 1)
            ]
        );
        assert_eq!(c.unchanged, (n - 3) as u64);
        assert_eq!(c.gone, [format!("https://a.example/p/{}", n / 2)]);
    }

    #[test]
    fn state_is_a_baseline_with_positions() {
        let mut st = State::new();
        st.record_baseline(&[
            Asset::new("https://a.example/a"),
            Asset::new("https://a.example/b"),
        ]);
        let b: &dyn Baseline = &st;
        assert_eq!(b.len(), 2);
        let (pos, fp) = b.find("https://a.example/b").unwrap();
        assert_eq!(fp, "");
        assert_eq!(b.urls().nth(pos), Some("https://a.example/b"));
        assert!(b.find("https://a.example/c").is_none());
    }
}
