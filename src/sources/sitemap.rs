//! Sitemap reader: `<urlset>`, `<sitemapindex>`, plain-text sitemaps and `robots.txt`, local or remote, gzipped
//! or not.
//!
//! Takes a [`Location`] and the input limits; returns the raw `<loc>` entries in document order (an index's
//! children in child order, one vector per document) with their `<lastmod>` and `<priority>`, plus warnings.
//! URL admission is the caller's ([`crate::url::Domains`]). A document up to 64 MiB is read whole into a
//! per-thread buffer and scanned by the fast path (`sitemap_scan`), which hands anything unusual to the full
//! quick-xml reader over the same bytes; a larger one streams through the full reader. An index's children are
//! read in parallel; [`read_each`] hands each document on, in order, while later ones are still being read.
//! It must never expand a DTD entity, fetch an external entity, follow a child past `max_sitemap_depth`, or
//! decompress past `max_decompressed_bytes`. An undefined entity (`&lol9;`) is an error
//! with its position: the DTD is skipped unread, so only the five predefined entities and character references
//! exist. Index children resolve against the index's own location; an absolute child URL in a *local* index (or
//! local `robots.txt`) is read from the file of the same name next to it when there is one (a build folder's index
//! lists live URLs that may not be deployed yet), and fetched otherwise. `file:` children are refused.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
use url::Url;

use crate::config::{InputLimits, Location};
use crate::error::Position;
use crate::sources::fetch;
use crate::{Error, Result};

/// The sitemap protocol's limit of URLs per file; more is read, with a warning.
pub const PROTOCOL_MAX_URLS: usize = 50_000;

const BUF_CAPACITY: usize = 64 * 1024;

/// Detailed warnings per document; the rest are counted in one line (each costs a re-read for its position).
const MAX_WARNINGS_PER_DOC: usize = 10;

/// One `<url>` (or plain-text line).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The `<loc>`, entities decoded and whitespace trimmed, not yet admitted.
    pub loc: String,
    /// `<lastmod>`.
    pub lastmod: Option<crate::sources::Lastmod>,
    /// `<priority>`, 0.0–1.0.
    pub priority: Option<f32>,
}

/// What reading one configured sitemap produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sitemaps {
    /// Entries, one vector per document (an index's children in child order), each in document order: a
    /// million entries are not copied into one vector.
    pub chunks: Vec<Vec<Entry>>,
    /// Warnings (invalid lastmod, more than 50,000 URLs, a cycle, …), each naming its document.
    pub warnings: Vec<String>,
}

impl Sitemaps {
    /// Every entry, child order then document order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.chunks.iter().flatten()
    }

    /// How many entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// No entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.chunks.iter().all(Vec::is_empty)
    }
}

impl Sink<Vec<Entry>> for Sitemaps {
    fn chunk(&mut self, entries: Vec<Entry>) {
        self.chunks.push(entries);
    }

    fn warning(&mut self, warning: String) {
        self.warnings.push(warning);
    }
}

/// Where [`read_each`] hands on what it reads, on the calling thread, in document order.
pub trait Sink<P> {
    /// An index lists `docs` documents to read next: a hint for reserving room (each may be an index itself).
    fn expect_docs(&mut self, docs: usize) {
        let _ = docs;
    }

    /// One document's entries, as `prepare` turned them.
    fn chunk(&mut self, chunk: P);

    /// A warning (invalid lastmod, more than 50,000 URLs, a cycle, …) naming its document.
    fn warning(&mut self, warning: String);
}

/// Turns one document's entries into what the sink takes, on the thread that read them; the flag is true when
/// no other document is being read meanwhile (so it may use every core).
pub type Prepare<'a, P> = dyn Fn(Vec<Entry>, bool) -> P + Sync + 'a;

/// What a reading thread gathered from one child of an index, handed on in child order.
struct Gathered<P> {
    chunks: Vec<P>,
    warnings: Vec<String>,
}

impl<P> Sink<P> for Gathered<P> {
    fn chunk(&mut self, chunk: P) {
        self.chunks.push(chunk);
    }

    fn warning(&mut self, warning: String) {
        self.warnings.push(warning);
    }
}

/// Reads a sitemap, sitemap index, plain-text sitemap or `robots.txt`, following children.
///
/// # Errors
/// `Error::Input` with the document and a position for malformed input, too deep an index, a gzip bomb or an
/// undefined entity; `Error::Io` / `Error::Fetch` when a document cannot be read.
pub fn read(location: &Location, limits: &InputLimits, timeout: Duration) -> Result<Sitemaps> {
    let mut out = Sitemaps::default();
    read_each(location, limits, timeout, &|entries, _| entries, &mut out)?;
    Ok(out)
}

/// Reads like [`read`], but hands each document on as soon as it and every document before it are read:
/// `prepare` turns its entries into a `P` on the thread that read them, and `sink` takes the `P`s in document
/// order on the calling thread while later children of an index are still being read (a million-URL index is
/// merged as it arrives instead of after).
///
/// # Errors
/// As [`read`]. The sink may have taken the documents before the one that failed: the caller drops them.
pub fn read_each<P: Send>(
    location: &Location,
    limits: &InputLimits,
    timeout: Duration,
    prepare: &Prepare<'_, P>,
    sink: &mut dyn Sink<P>,
) -> Result<()> {
    let loc = match location {
        Location::Path(p) => Loc::Path(p.clone()),
        Location::Url(u) => Loc::Url(Url::parse(u).map_err(|e| Error::Fetch {
            url: fetch::redact(u),
            message: format!("not a url: {e}"),
        })?),
    };
    let ctx = Ctx {
        limits,
        timeout,
        parallel: std::thread::available_parallelism().map_or(1, usize::from),
        prepare,
    };
    let key = loc.key()?;
    read_doc(&ctx, &loc, &[key], 0, true, sink)
}

struct Ctx<'a, P> {
    limits: &'a InputLimits,
    timeout: Duration,
    parallel: usize,
    prepare: &'a Prepare<'a, P>,
}

#[derive(Debug, Clone)]
enum Loc {
    Path(PathBuf),
    Url(Url),
}

impl Loc {
    fn name(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::Url(u) => fetch::redact(u.as_str()),
        }
    }

    /// The identity used for cycle detection: canonical path or URL without fragment.
    fn key(&self) -> Result<String> {
        match self {
            Self::Path(p) => std::fs::canonicalize(p)
                .map(|c| c.display().to_string())
                .map_err(|e| Error::io(p, e)),
            Self::Url(u) => {
                let mut u = u.clone();
                u.set_fragment(None);
                Ok(u.into())
            }
        }
    }

    fn is_robots(&self) -> bool {
        match self {
            Self::Path(p) => p
                .file_name()
                .is_some_and(|n| n.eq_ignore_ascii_case("robots.txt")),
            Self::Url(u) => u.path().to_ascii_lowercase().ends_with("/robots.txt"),
        }
    }

    /// Resolves a child reference against this document's location.
    fn join(&self, child: &str) -> std::result::Result<Self, String> {
        match self {
            Self::Url(base) => match base.join(child) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Self::Url(u)),
                Ok(u) => Err(format!(
                    "child {child:?}: scheme {} not allowed",
                    u.scheme()
                )),
                Err(e) => Err(format!("child {child:?}: {e}")),
            },
            Self::Path(p) => {
                if let Ok(u) = Url::parse(child) {
                    if !matches!(u.scheme(), "http" | "https") {
                        return Err(format!(
                            "child {child:?}: scheme {} not allowed",
                            u.scheme()
                        ));
                    }
                    // A build folder's index lists the live URLs of files that sit next to it: read the local
                    // copy when there is one (the deploy may not be live yet), else fetch.
                    let sibling = u
                        .path_segments()
                        .and_then(|mut s| s.next_back().map(str::to_owned))
                        .filter(|s| !s.is_empty())
                        .and_then(|name| {
                            let name = percent_decode(&name)?;
                            let cand = p.parent().unwrap_or(Path::new("")).join(name);
                            cand.is_file().then_some(cand)
                        });
                    return Ok(sibling.map_or(Self::Url(u), Self::Path));
                }
                let abs = std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let base = Url::from_file_path(&abs)
                    .map_err(|()| format!("{}: not a file path", p.display()))?;
                let joined = base
                    .join(child)
                    .map_err(|e| format!("child {child:?}: {e}"))?;
                joined
                    .to_file_path()
                    .map(Self::Path)
                    .map_err(|()| format!("child {child:?}: not a local path"))
            }
        }
    }
}

/// Percent-decodes a URL path segment with the `url` crate (via a `file:` URL), refusing `/` and NUL.
fn percent_decode(segment: &str) -> Option<String> {
    let u = Url::parse(&format!("file:///{segment}")).ok()?;
    let p = u.to_file_path().ok()?;
    let name = p.file_name()?.to_str()?.to_string();
    (!name.contains('\0')).then_some(name)
}

/// Where errors point: line/column in a plain local file, a byte offset otherwise.
struct Positioner {
    path: Option<PathBuf>,
    skipped: u64,
}

impl Positioner {
    fn at(&self, offset: u64) -> Position {
        let offset = offset + self.skipped;
        match &self.path {
            Some(p) => line_col(p, offset).unwrap_or(Position::Offset(offset)),
            None => Position::Offset(offset),
        }
    }
}

/// Computes 1-based line and column (in characters) of a byte offset by re-reading the file's prefix; only
/// called when an error happens.
fn line_col(path: &Path, offset: u64) -> Option<Position> {
    let mut r = BufReader::new(File::open(path).ok()?.take(offset));
    let (mut line, mut col) = (1usize, 1usize);
    loop {
        let buf = r.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        for &b in buf {
            if b == b'\n' {
                line += 1;
                col = 1;
            } else if b & 0xC0 != 0x80 {
                col += 1;
            }
        }
        let n = buf.len();
        r.consume(n);
    }
    Some(Position::LineCol { line, col })
}

type Source = Box<dyn BufRead + Send>;

/// Opens a document; detects gzip by its magic bytes and skips a BOM and leading whitespace.
fn open<P>(ctx: &Ctx<'_, P>, loc: &Loc) -> Result<(Source, Positioner, bool)> {
    let (raw, path): (Box<dyn Read + Send>, Option<PathBuf>) = match loc {
        Loc::Path(p) => (
            Box::new(File::open(p).map_err(|e| Error::io(p, e))?),
            Some(p.clone()),
        ),
        Loc::Url(u) => (fetch::open(u.as_str(), ctx.limits, ctx.timeout)?, None),
    };
    let mut r: Source = Box::new(BufReader::with_capacity(BUF_CAPACITY, raw));
    let read_err = |e: io::Error| io_to_input(&loc.name(), &e, Position::Offset(0));
    let gz = r.fill_buf().map_err(read_err)?.starts_with(&[0x1f, 0x8b]);
    let mut pos = Positioner {
        path: if gz { None } else { path },
        skipped: 0,
    };
    if gz {
        let dec = fetch::Capped::new(
            MultiGzDecoder::new(r),
            ctx.limits.max_decompressed_bytes,
            "decompressed",
        );
        r = Box::new(BufReader::with_capacity(BUF_CAPACITY, dec));
    }
    // Skip a UTF-8 BOM and leading whitespace, so detection sees the first real byte.
    let mut first = true;
    loop {
        let buf = r
            .fill_buf()
            .map_err(|e| io_to_input(&loc.name(), &e, pos.at(0)))?;
        if buf.is_empty() {
            break;
        }
        let mut n = 0;
        if first && buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            n = 3;
        }
        first = false;
        n += buf[n..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        let all = n == buf.len();
        r.consume(n);
        pos.skipped += n as u64;
        if !all {
            break;
        }
    }
    Ok((r, pos, gz))
}

fn io_to_input(name: &str, e: &io::Error, position: Position) -> Error {
    let message = match fetch::limit_exceeded(e) {
        Some(l) if l.what == "decompressed" => {
            format!(
                "gzip data decompresses to more than {} bytes (max_decompressed_bytes)",
                l.limit
            )
        }
        Some(l) => format!("more than {} bytes (max_fetch_bytes)", l.limit),
        None => format!("read error: {e}"),
    };
    Error::Input {
        source_name: name.to_string(),
        position,
        message,
    }
}

/// What one document was.
enum Doc {
    Urls(Vec<Entry>),
    /// Children to follow (index `<loc>`s or robots.txt `Sitemap:` lines).
    Children(Vec<String>),
}

/// Reads one document into `sink`, following an index's children (on every core when `parallel`: the top
/// document, or the only one being read).
fn read_doc<P: Send>(
    ctx: &Ctx<'_, P>,
    loc: &Loc,
    ancestors: &[String],
    depth: usize,
    parallel: bool,
    sink: &mut dyn Sink<P>,
) -> Result<()> {
    let name = loc.name();
    let (mut src, pos, gz) = open(ctx, loc)?;
    let mut warnings = Vec::new();
    let doc = if loc.is_robots() {
        parse_robots(&mut src, &name, &pos)?
    } else if src
        .fill_buf()
        .map_err(|e| io_to_input(&name, &e, pos.at(0)))?
        .first()
        == Some(&b'<')
    {
        // A document read alone (not one of an index's children, which share the cores) may be scanned on two.
        let two_threads = parallel && ctx.parallel > 1;
        read_xml(
            src,
            size_hint(loc, gz),
            two_threads,
            &name,
            &pos,
            &mut warnings,
        )?
    } else {
        parse_plain(&mut src, &name, &pos)?
    };
    for w in warnings {
        sink.warning(w);
    }
    match doc {
        Doc::Urls(entries) => {
            if entries.len() > PROTOCOL_MAX_URLS {
                sink.warning(format!(
                    "{name}: {} URLs, more than the protocol's 50,000",
                    entries.len()
                ));
            }
            sink.chunk((ctx.prepare)(entries, parallel && ctx.parallel > 1));
        }
        Doc::Children(children) => {
            let mut seen = HashSet::new();
            let mut todo: Vec<(Loc, String)> = Vec::new();
            for child in children {
                let child_loc = match loc.join(&child) {
                    Ok(l) => l,
                    Err(why) => {
                        sink.warning(format!("{name}: {why}"));
                        continue;
                    }
                };
                if depth + 1 > ctx.limits.max_sitemap_depth {
                    return Err(Error::Input {
                        source_name: name,
                        position: Position::Unknown,
                        message: format!(
                            "sitemap index nesting deeper than {} (max_sitemap_depth) at {}",
                            ctx.limits.max_sitemap_depth,
                            child_loc.name()
                        ),
                    });
                }
                let key = child_loc.key()?;
                if ancestors.contains(&key) {
                    sink.warning(format!(
                        "{name}: skipped {}, which includes itself (a cycle)",
                        child_loc.name()
                    ));
                    continue;
                }
                if !seen.insert(key.clone()) {
                    sink.warning(format!(
                        "{name}: {} listed twice, read once",
                        child_loc.name()
                    ));
                    continue;
                }
                todo.push((child_loc, key));
            }
            sink.expect_docs(todo.len());
            read_children(ctx, &todo, ancestors, depth, parallel, sink)?;
        }
    }
    Ok(())
}

/// Documents up to this size are read into memory whole and scanned by the fast path; a larger one streams
/// through the full reader (the buffer stays bounded whatever the input).
const FAST_PATH_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The size a local document will have once read: its length, or for gzip the size its trailer records
/// (modulo 4 GiB, the last member's only: a hint, never trusted as a limit).
fn size_hint(loc: &Loc, gz: bool) -> Option<u64> {
    let Loc::Path(p) = loc else { return None };
    let len = std::fs::metadata(p).ok()?.len();
    if !gz {
        return Some(len);
    }
    let mut f = File::open(p).ok()?;
    io::Seek::seek(&mut f, io::SeekFrom::End(-4)).ok()?;
    let mut isize = [0u8; 4];
    f.read_exact(&mut isize).ok()?;
    Some(u64::from(u32::from_le_bytes(isize)))
}

thread_local! {
    /// One document buffer per reading thread, reused from child to child of an index.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads an XML document: whole into this thread's buffer when it fits, then the fast scanner
/// ([`super::sitemap_scan`]) and, when it declines, the full reader over the same bytes; a document too large
/// for the buffer streams through the full reader.
fn read_xml(
    mut src: Source,
    size_hint: Option<u64>,
    two_threads: bool,
    name: &str,
    pos: &Positioner,
    warnings: &mut Vec<String>,
) -> Result<Doc> {
    // Taken out of the thread's slot, so a nested index read on this thread gets its own.
    let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    buf.clear();
    // Sized once: growing a 10 MB buffer by doubling touches twice the memory, and fresh memory is what costs.
    if let Some(n) = size_hint.and_then(|n| usize::try_from(n.min(FAST_PATH_MAX_BYTES)).ok()) {
        buf.reserve(n + 1);
    }
    let doc = (|| {
        let read = Read::take(&mut src, FAST_PATH_MAX_BYTES).read_to_end(&mut buf);
        if let Err(e) = read {
            return Err(io_to_input(name, &e, pos.at(buf.len() as u64)));
        }
        if (buf.len() as u64) < FAST_PATH_MAX_BYTES {
            let scanned = if two_threads {
                super::sitemap_scan::scan_parallel(&buf)
            } else {
                super::sitemap_scan::scan(&buf)
            };
            return match scanned {
                Some(super::sitemap_scan::Scanned::Urls(entries)) => Ok(Doc::Urls(entries)),
                Some(super::sitemap_scan::Scanned::Children(children)) => {
                    Ok(Doc::Children(children))
                }
                None => parse_xml(&buf[..], name, pos, warnings),
            };
        }
        parse_xml(io::Cursor::new(&buf[..]).chain(src), name, pos, warnings)
    })();
    buf.clear();
    SCRATCH.with(|s| *s.borrow_mut() = buf);
    doc
}

/// Reads children into `sink` in order: on up to `ctx.parallel` threads when `parallel` (the top index, or
/// one read alone), each child handed on as soon as it and those before it are read. The first failing child
/// in order is the error; no new child is started after it.
fn read_children<P: Send>(
    ctx: &Ctx<'_, P>,
    todo: &[(Loc, String)],
    ancestors: &[String],
    depth: usize,
    parallel: bool,
    sink: &mut dyn Sink<P>,
) -> Result<()> {
    let one = |(loc, key): &(Loc, String), parallel: bool, sink: &mut dyn Sink<P>| {
        let mut chain = ancestors.to_vec();
        chain.push(key.clone());
        read_doc(ctx, loc, &chain, depth + 1, parallel, sink)
    };
    let threads = ctx.parallel.min(todo.len());
    if !parallel || threads <= 1 {
        // One child, or one core: it may use what this document had.
        for job in todo {
            one(job, parallel, sink)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Gathered<P>>)>();
    std::thread::scope(|s| {
        let (next, stop, one) = (&next, &stop, &one);
        for _ in 0..threads {
            let tx = tx.clone();
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = todo.get(i) else { break };
                    let mut got = Gathered {
                        chunks: Vec::new(),
                        warnings: Vec::new(),
                    };
                    let r = one(job, false, &mut got).map(|()| got);
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Children finish out of order; each waits here until those before it are handed on.
        let mut done: Vec<Option<Result<Gathered<P>>>> = todo.iter().map(|_| None).collect();
        let mut at = 0;
        let result = loop {
            let Some(slot) = done.get_mut(at) else {
                break Ok(());
            };
            match slot.take() {
                Some(Ok(got)) => {
                    for w in got.warnings {
                        sink.warning(w);
                    }
                    for c in got.chunks {
                        sink.chunk(c);
                    }
                    at += 1;
                }
                Some(Err(e)) => break Err(e),
                None => match rx.recv() {
                    Ok((i, r)) => done[i] = Some(r),
                    // Every reader is gone (one panicked: the scope re-raises it).
                    Err(_) => break Err(Error::Runtime("a sitemap reader thread died".into())),
                },
            }
        };
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        result
    })
}

fn parse_plain(src: &mut Source, name: &str, pos: &Positioner) -> Result<Doc> {
    let mut entries = Vec::new();
    let mut buf = Vec::with_capacity(256);
    let mut offset = 0u64;
    loop {
        buf.clear();
        let n = src
            .read_until(b'\n', &mut buf)
            .map_err(|e| io_to_input(name, &e, pos.at(offset)))?;
        if n == 0 {
            break;
        }
        let line = std::str::from_utf8(&buf).map_err(|e| Error::Input {
            source_name: name.to_string(),
            position: pos.at(offset + e.valid_up_to() as u64),
            message: "not utf-8 text".into(),
        })?;
        if line.contains('\0') {
            return Err(Error::Input {
                source_name: name.to_string(),
                position: pos.at(offset),
                message: "nul byte: not a text sitemap".into(),
            });
        }
        let t = line.trim();
        if !t.is_empty() {
            entries.push(Entry {
                loc: t.to_string(),
                lastmod: None,
                priority: None,
            });
        }
        offset += n as u64;
    }
    Ok(Doc::Urls(entries))
}

fn parse_robots(src: &mut Source, name: &str, pos: &Positioner) -> Result<Doc> {
    let mut children = Vec::new();
    let mut buf = Vec::with_capacity(256);
    let mut offset = 0u64;
    loop {
        buf.clear();
        let n = src
            .read_until(b'\n', &mut buf)
            .map_err(|e| io_to_input(name, &e, pos.at(offset)))?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        // robots.txt is UTF-8 (RFC 9309); a stray byte elsewhere does not matter to us.
        let line = String::from_utf8_lossy(&buf);
        let line = line.split('#').next().unwrap_or("");
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("sitemap")
            && !v.trim().is_empty()
        {
            children.push(v.trim().to_string());
        }
    }
    Ok(Doc::Children(children))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Root {
    Urlset,
    Index,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Loc,
    Lastmod,
    Priority,
}

fn is_sitemap_ns(ns: &ResolveResult<'_>) -> bool {
    match ns {
        ResolveResult::Unbound => true,
        ResolveResult::Bound(Namespace(n)) => {
            n.starts_with(b"http://www.sitemaps.org/schemas/sitemap/")
                || n.starts_with(b"https://www.sitemaps.org/schemas/sitemap/")
                || n.starts_with(b"http://www.google.com/schemas/sitemap/")
        }
        ResolveResult::Unknown(_) => false,
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one event loop reads clearer than split state"
)]
fn parse_xml<R: BufRead>(
    src: R,
    name: &str,
    pos: &Positioner,
    warnings: &mut Vec<String>,
) -> Result<Doc> {
    let mut reader = NsReader::from_reader(src);
    let input = |position: Position, message: String| Error::Input {
        source_name: name.to_string(),
        position,
        message,
    };
    let mut buf = Vec::with_capacity(4096);
    let mut text = String::with_capacity(256);
    let mut depth = 0usize;
    let mut root: Option<Root> = None;
    let mut closed = false;
    let mut in_item = false;
    let mut field: Option<Field> = None;
    let mut cur = Entry {
        loc: String::new(),
        lastmod: None,
        priority: None,
    };
    let mut has_loc = false;
    let mut entries: Vec<Entry> = Vec::new();
    let mut children: Vec<String> = Vec::new();
    // Open element names, back to back in one buffer (no allocation per element).
    let mut names: Vec<u8> = Vec::with_capacity(64);
    let mut name_starts: Vec<usize> = Vec::with_capacity(8);
    let mut warned = 0usize;
    let mut warn = |w: String| {
        warned += 1;
        if warned <= MAX_WARNINGS_PER_DOC {
            warnings.push(w);
        }
    };
    loop {
        buf.clear();
        let start = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event_into(&mut buf) {
            Ok(x) => x,
            Err(quick_xml::Error::Io(e)) => {
                return Err(io_to_input(name, &e, pos.at(reader.buffer_position())));
            }
            Err(e) => {
                return Err(input(
                    pos.at(reader.error_position()),
                    format!("malformed xml: {e}"),
                ));
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let sm = is_sitemap_ns(&ns);
                let level = depth + 1;
                if level == 1 {
                    if closed {
                        return Err(input(pos.at(start), "a second root element".into()));
                    }
                    root = match (sm, local.as_ref()) {
                        (true, b"urlset") => Some(Root::Urlset),
                        (true, b"sitemapindex") => Some(Root::Index),
                        _ => {
                            return Err(input(
                                pos.at(start),
                                format!(
                                    "root element <{}> is not <urlset> or <sitemapindex>",
                                    String::from_utf8_lossy(e.name().as_ref())
                                ),
                            ));
                        }
                    };
                } else if level == 2 && sm {
                    let want: &[u8] = if root == Some(Root::Urlset) {
                        b"url"
                    } else {
                        b"sitemap"
                    };
                    in_item = local.as_ref() == want;
                    has_loc = false;
                    cur = Entry {
                        loc: String::new(),
                        lastmod: None,
                        priority: None,
                    };
                } else if level == 3 && in_item && sm {
                    field = match local.as_ref() {
                        b"loc" => Some(Field::Loc),
                        b"lastmod" => Some(Field::Lastmod),
                        b"priority" => Some(Field::Priority),
                        _ => None,
                    };
                    text.clear();
                }
                if empty {
                    if level == 1 {
                        closed = true;
                    } else if level == 3 {
                        field = None;
                    } else if level == 2 {
                        in_item = false;
                    }
                } else {
                    depth = level;
                    name_starts.push(names.len());
                    names.extend_from_slice(e.name().as_ref());
                }
            }
            Event::End(_) => {
                if depth == 3
                    && let Some(f) = field.take()
                {
                    let v = text.trim();
                    match f {
                        Field::Loc => {
                            cur.loc.clear();
                            cur.loc.push_str(v);
                            has_loc = true;
                        }
                        Field::Lastmod => match parse_lastmod(v) {
                            Some(t) => cur.lastmod = Some(t),
                            None => warn(format!(
                                "{name}{}: invalid <lastmod> {v:?}, ignored",
                                pos.at(start)
                            )),
                        },
                        Field::Priority => match v.parse::<f32>() {
                            Ok(p) if (0.0..=1.0).contains(&p) => cur.priority = Some(p),
                            _ => warn(format!(
                                "{name}{}: invalid <priority> {v:?}, ignored",
                                pos.at(start)
                            )),
                        },
                    }
                } else if depth == 2 && in_item {
                    in_item = false;
                    if has_loc && !cur.loc.is_empty() {
                        let e = std::mem::replace(
                            &mut cur,
                            Entry {
                                loc: String::new(),
                                lastmod: None,
                                priority: None,
                            },
                        );
                        if root == Some(Root::Index) {
                            children.push(e.loc);
                        } else {
                            entries.push(e);
                        }
                    } else {
                        warn(format!(
                            "{name}{}: an entry without <loc>, ignored",
                            pos.at(start)
                        ));
                    }
                }
                depth = depth.saturating_sub(1);
                if let Some(at) = name_starts.pop() {
                    names.truncate(at);
                }
                if depth == 0 {
                    closed = true;
                }
            }
            Event::Text(ref t) => {
                if field.is_some() && depth == 3 {
                    match t.unescape() {
                        Ok(s) => text.push_str(&s),
                        Err(quick_xml::Error::Escape(
                            quick_xml::escape::EscapeError::UnrecognizedEntity(r, ent),
                        )) => {
                            return Err(input(
                                pos.at(start + r.start.saturating_sub(1) as u64),
                                format!("undefined entity &{ent}; (DTD entities are not expanded)"),
                            ));
                        }
                        Err(e) => return Err(input(pos.at(start), format!("malformed xml: {e}"))),
                    }
                } else if depth == 0 && !t.iter().all(u8::is_ascii_whitespace) {
                    let where_ = if closed { "after" } else { "before" };
                    return Err(input(
                        pos.at(start),
                        format!("text {where_} the root element: not a sitemap"),
                    ));
                }
            }
            Event::CData(ref c) => {
                if field.is_some() && depth == 3 {
                    match std::str::from_utf8(c) {
                        Ok(s) => text.push_str(s),
                        Err(_) => return Err(input(pos.at(start), "cdata is not utf-8".into())),
                    }
                } else if depth == 0 {
                    return Err(input(
                        pos.at(start),
                        "cdata outside the root element".into(),
                    ));
                }
            }
            // The DTD is skipped unread: no entity it declares is ever expanded or fetched.
            Event::DocType(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                if let Some(&at) = name_starts.last() {
                    let open = String::from_utf8_lossy(&names[at..]);
                    return Err(input(
                        pos.at(reader.buffer_position()),
                        format!("unexpected end of file inside <{open}>"),
                    ));
                }
                if root.is_none() {
                    return Err(input(
                        pos.at(reader.buffer_position()),
                        "no root element: not a sitemap".into(),
                    ));
                }
                break;
            }
        }
    }
    if warned > MAX_WARNINGS_PER_DOC {
        warnings.push(format!(
            "{name}: {} more warnings like these",
            warned - MAX_WARNINGS_PER_DOC
        ));
    }
    Ok(match root {
        Some(Root::Index) => Doc::Children(children),
        _ => Doc::Urls(entries),
    })
}

/// Parses a W3C datetime (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mmTZD`, with seconds, with a
/// fraction; TZD `Z`, `±hh:mm` or `±hhmm`) to RFC 3339 UTC with seconds precision; date-only forms are midnight
/// UTC. `None` when invalid.
#[must_use]
pub fn parse_lastmod(v: &str) -> Option<crate::sources::Lastmod> {
    let v = v.trim();
    if let Some(fast) = lastmod_fast(v.as_bytes()) {
        return fast;
    }
    lastmod_general(v)
}

/// The usual well-formed lastmods, digit by digit (a million of them are a few percent of a large read):
/// `Some` with [`lastmod_general`]'s answer, or `None` to leave the text to it (anything unusual, including
/// every out-of-range field).
fn lastmod_fast(v: &[u8]) -> Option<Option<crate::sources::Lastmod>> {
    let digit = |i: usize| -> Option<i64> {
        let b = *v.get(i)?;
        b.is_ascii_digit().then(|| i64::from(b - b'0'))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let at = |i: usize, c: u8| v.get(i) == Some(&c);
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = match v.len() {
        4 => (1, 1),
        7 if at(4, b'-') => (two(5)?, 1),
        _ if at(4, b'-') && at(7, b'-') => (two(5)?, two(8)?),
        _ => return None,
    };
    // `time`'s calendar checks the date and counts its days; only the text around it is taken apart here.
    let date = Date::from_calendar_date(
        i32::try_from(year).ok()?,
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    // 2440588 is the Julian day of 1970-01-01.
    let days = i64::from(date.to_julian_day()) - 2_440_588;
    let mut secs = days * 86_400;
    if v.len() > 10 {
        if !matches!(v[10], b'T' | b't') || !at(13, b':') {
            return None;
        }
        let (hour, minute) = (two(11)?, two(14)?);
        let mut i = 16;
        let mut second = 0;
        if at(i, b':') {
            second = two(i + 1)?;
            i += 3;
            if at(i, b'.') {
                i += 1;
                let digits = v[i.min(v.len())..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits == 0 {
                    return None;
                }
                i += digits;
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let offset = match v.get(i..)? {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), ..] => {
                let (h, m) = match v.len() - i {
                    6 if at(i + 3, b':') => (two(i + 1)?, two(i + 4)?),
                    5 => (two(i + 1)?, two(i + 3)?),
                    _ => return None,
                };
                if h > 23 || m > 59 {
                    return None;
                }
                if *sign == b'-' {
                    -(h * 3600 + m * 60)
                } else {
                    h * 3600 + m * 60
                }
            }
            _ => return None,
        };
        secs += hour * 3600 + minute * 60 + second - offset;
    }
    Some(crate::sources::Lastmod::from_unix_seconds(secs))
}

/// [`parse_lastmod`] for any form, through `time`'s calendar.
fn lastmod_general(v: &str) -> Option<crate::sources::Lastmod> {
    let (date, time) = match v.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (v, None),
    };
    let num = |s: &str, len: usize| -> Option<u32> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut parts = date.split('-');
    let year = i32::try_from(num(parts.next()?, 4)?).ok()?;
    let month = parts.next().map_or(Some(1), |m| num(m, 2))?;
    let day = parts.next().map_or(Some(1), |d| num(d, 2))?;
    if parts.next().is_some() {
        return None;
    }
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    let Some(time) = time else {
        // A time needs the full date.
        return crate::sources::Lastmod::of(
            PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc(),
        );
    };
    if v.split_once(['T', 't'])?.0.len() != 10 {
        return None;
    }
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, UtcOffset::UTC)
    } else {
        let i = time.rfind(['+', '-'])?;
        let (c, tz) = time.split_at(i);
        let sign: i8 = if tz.starts_with('-') { -1 } else { 1 };
        let tz = &tz[1..];
        let (h, m) = match tz.split_once(':') {
            Some((h, m)) => (h, m),
            None if tz.len() == 4 => tz.split_at(2),
            None => return None,
        };
        let (h, m) = (num(h, 2)?, num(m, 2)?);
        if h > 23 || m > 59 {
            return None;
        }
        let (h, m) = (i8::try_from(h).ok()?, i8::try_from(m).ok()?);
        (c, UtcOffset::from_hms(sign * h, sign * m, 0).ok()?)
    };
    let mut hms = clock.split(':');
    let hour = u8::try_from(num(hms.next()?, 2)?).ok()?;
    let minute = u8::try_from(num(hms.next()?, 2)?).ok()?;
    let (second, nanos) = match hms.next() {
        None => (0, 0),
        Some(s) => {
            let (whole, frac) = match s.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (s, None),
            };
            let second = u8::try_from(num(whole, 2)?).ok()?;
            let nanos = match frac {
                None => 0,
                Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                    let digits: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
                    digits.parse().ok()?
                }
                Some(_) => return None,
            };
            (second, nanos)
        }
    };
    if hms.next().is_some() {
        return None;
    }
    let t = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    crate::sources::Lastmod::of(PrimitiveDateTime::new(date, t).assume_offset(offset))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;
    use crate::sources::fetch::tests::serve;
    use std::io::Write;

    /// The UTC text of an instant through [`crate::sources::Lastmod`] (its integer formatter; the general one
    /// outside years 0000–9999); `None` when the instant has no UTC date (`9999-12-31T23:59:59-01:00`).
    fn rfc3339_utc(t: time::OffsetDateTime) -> Option<String> {
        crate::sources::Lastmod::of(t).map(|l| l.to_string())
    }

    fn limits() -> InputLimits {
        InputLimits {
            max_sitemap_depth: 5,
            max_decompressed_bytes: 1 << 20,
            max_url_len: 2000,
            max_fetch_bytes: 1 << 20,
        }
    }

    fn fixture(p: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(p)
    }

    fn read_path(p: &Path) -> Result<Sitemaps> {
        read(
            &Location::Path(p.to_path_buf()),
            &limits(),
            Duration::from_secs(5),
        )
    }

    /// `parse_lastmod` as text.
    fn lm(v: &str) -> Option<String> {
        parse_lastmod(v).map(|l| l.to_string())
    }

    fn locs(s: &Sitemaps) -> Vec<&str> {
        s.entries().map(|e| e.loc.as_str()).collect()
    }

    #[test]
    fn the_fast_lastmod_path_takes_the_usual_forms() {
        for v in [
            "2024",
            "2024-02",
            "2024-02-29",
            "2024-02-29T12:34Z",
            "2024-02-29t12:34:56z",
            "2024-02-29T12:34:56.789+05:30",
            "1969-12-31T23:59:59.5-0100",
            "0000-01-01T00:00:00+23:59",
        ] {
            let fast = lastmod_fast(v.as_bytes());
            assert!(fast.is_some(), "{v}");
            assert_eq!(fast.flatten(), lastmod_general(v), "{v}");
            assert!(fast.flatten().is_some(), "{v}");
        }
        // Left to the general path: out-of-range fields and odd shapes. (An instant past 9999 it refuses itself.)
        for v in [
            "2023-02-29",
            "2024-13",
            "2024-1-5",
            "2024-01-01T24:00Z",
            "2024-01-01T12:00:60Z",
            "+2024",
        ] {
            assert_eq!(lastmod_fast(v.as_bytes()), None, "{v}");
        }
        assert_eq!(lastmod_fast(b"9999-12-31T23:59:59-01:00"), Some(None));
    }

    proptest::proptest! {
        #[test]
        fn the_fast_lastmod_path_agrees_with_the_general_one(
            year in 0u32..10_000,
            date in proptest::option::of((0u32..14, proptest::option::of(0u32..33))),
            clock in proptest::option::of((
                proptest::sample::select(vec!["T", "t", " ", "TT"]),
                0u32..26,
                0u32..62,
                proptest::option::of((0u32..62, proptest::option::of("[0-9]{0,12}"))),
                proptest::sample::select(vec!["Z", "z", "+", "-", "", "+:", "-:", "Zz"]),
                0u32..26,
                0u32..62,
            )),
            cut in proptest::option::of(0usize..32),
        ) {
            let mut v = format!("{year:04}");
            if let Some((month, day)) = date {
                v.push_str(&format!("-{month:02}"));
                if let Some(day) = day {
                    v.push_str(&format!("-{day:02}"));
                }
            }
            if let Some((t, h, m, sec, tz, th, tm)) = clock {
                v.push_str(&format!("{t}{h:02}:{m:02}"));
                if let Some((sec, frac)) = sec {
                    v.push_str(&format!(":{sec:02}"));
                    if let Some(frac) = frac {
                        v.push_str(&format!(".{frac}"));
                    }
                }
                match tz {
                    "+" | "-" => v.push_str(&format!("{tz}{th:02}{tm:02}")),
                    "+:" | "-:" => v.push_str(&format!("{}{th:02}:{tm:02}", &tz[..1])),
                    _ => v.push_str(tz),
                }
            }
            if let Some(cut) = cut {
                v.truncate(cut.min(v.len()));
            }
            if let Some(fast) = lastmod_fast(v.as_bytes()) {
                proptest::prop_assert_eq!(fast, lastmod_general(&v), "{:?}", v);
            }
            // (parse_lastmod trims first; the general path then sees the trimmed text.)
            proptest::prop_assert_eq!(parse_lastmod(&v), lastmod_general(v.trim()), "{:?}", v);
        }
    }

    proptest::proptest! {
        #[test]
        fn lastmod_round_trips_and_orders_as_its_text(a in -62_167_219_200i64..253_402_300_799, b in -62_167_219_200i64..253_402_300_799) {
            let (la, lb) = (
                crate::sources::Lastmod::of(time::OffsetDateTime::from_unix_timestamp(a).unwrap()).unwrap(),
                crate::sources::Lastmod::of(time::OffsetDateTime::from_unix_timestamp(b).unwrap()).unwrap(),
            );
            proptest::prop_assert_eq!(crate::sources::Lastmod::parse(&la.to_string()), Some(la));
            proptest::prop_assert_eq!(la.fingerprint(), format!("lastmod:{la}"));
            proptest::prop_assert!(la.fingerprint_is(&la.fingerprint()));
            proptest::prop_assert_eq!(la.fingerprint_is(&lb.fingerprint()), la == lb);
            proptest::prop_assert!(!la.fingerprint_is(&la.to_string()), "the prefix is part of it");
            proptest::prop_assert_eq!(la.cmp(&lb), la.to_string().cmp(&lb.to_string()));
        }

        #[test]
        fn rfc3339_utc_matches_the_formatter(secs in -62_167_219_200i64..253_402_300_799, nanos in 0u32..1_000_000_000, off in -86_399i32..86_399) {
            let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap().replace_nanosecond(nanos).unwrap();
            let offset = UtcOffset::from_whole_seconds(off - off % 60).unwrap();
            if let Some(t) = t.checked_to_offset(offset) {
                proptest::prop_assert_eq!(rfc3339_utc(t), Some(crate::clock::rfc3339(t)));
            }
        }
    }

    #[test]
    fn rfc3339_utc_edges() {
        // before year 0 in UTC: the general formatter's fallback text, as before
        assert_eq!(
            lm("0000-01-01T00:30+01:00"),
            Some(crate::clock::rfc3339(
                time::OffsetDateTime::from_unix_timestamp(-62_167_221_000).unwrap()
            ))
        );
        // past year 9999 in UTC: not representable, invalid (it used to panic)
        assert_eq!(lm("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(
            lm("9999-12-31T23:59:59.999999999Z").as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(lm("0000-01-01").as_deref(), Some("0000-01-01T00:00:00Z"));
        assert_eq!(
            lm("2024-02-29T23:30:00-01:00").as_deref(),
            Some("2024-03-01T00:30:00Z")
        );
        assert_eq!(lm("2024-05").as_deref(), Some("2024-05-01T00:00:00Z"));
    }

    #[test]
    fn lastmod_forms() {
        let ok = [
            ("2024", "2024-01-01T00:00:00Z"),
            ("2024-05", "2024-05-01T00:00:00Z"),
            ("2024-05-06", "2024-05-06T00:00:00Z"),
            (" 2024-05-06 ", "2024-05-06T00:00:00Z"),
            ("2024-05-06T07:08Z", "2024-05-06T07:08:00Z"),
            ("2024-05-06T07:08+01:00", "2024-05-06T06:08:00Z"),
            ("2024-05-06T07:08:09Z", "2024-05-06T07:08:09Z"),
            ("2024-05-06T07:08:09+08:00", "2024-05-05T23:08:09Z"),
            ("2024-05-06T07:08:09-05:30", "2024-05-06T12:38:09Z"),
            ("2024-05-06T07:08:09.5Z", "2024-05-06T07:08:09Z"),
            (
                "2024-05-06T07:08:09.123456789+00:00",
                "2024-05-06T07:08:09Z",
            ),
            ("2024-05-06T07:08:09+0200", "2024-05-06T05:08:09Z"),
            ("2024-12-31T23:30:00-01:00", "2025-01-01T00:30:00Z"),
            ("2024-02-29", "2024-02-29T00:00:00Z"),
        ];
        for (raw, want) in ok {
            assert_eq!(lm(raw).as_deref(), Some(want), "{raw}");
        }
        let bad = [
            "",
            "yesterday",
            "24",
            "2024-5-06",
            "2024-13",
            "2023-02-29",
            "2024-05-32",
            "2024-05-06T07:08",
            "2024-05-06T07:08:09",
            "2024-05-06T7:08Z",
            "2024-05-06T25:00Z",
            "2024-05-06T07:08:61Z",
            "2024-05-06T07:08:09.Z",
            "2024-05-06T07:08:09+25:00",
            "2024-05-06T07:08:09+08",
            "2024-05T07:08Z",
            "2024T07:08Z",
            "2024-05-06-01",
            "2024-05-06T07:08:09:10Z",
            "06/05/2024",
        ];
        for raw in bad {
            assert_eq!(lm(raw), None, "{raw}");
        }
    }

    #[test]
    fn site_sitemap() {
        let s = read_path(&fixture("site/sitemap.xml")).unwrap();
        let l = locs(&s);
        assert!(l.contains(&"https://www.example.com/"), "{l:?}");
        assert!(
            l.contains(&"https://www.example.com/search?q=a&b=c"),
            "{l:?}"
        );
        assert!(
            l.contains(&"https://foreign.example.net/page.html"),
            "{l:?}"
        );
        // The image: extension's loc is not a page.
        assert!(!l.iter().any(|u| u.ends_with(".png")), "{l:?}");
        let home = s.entries().next().unwrap();
        assert_eq!(
            home.lastmod.map(|l| l.to_string()).as_deref(),
            Some("2024-05-06T07:08:09Z")
        );
        assert_eq!(home.priority, Some(1.0));
        assert!(s.entries().filter(|e| e.lastmod.is_some()).count() >= 3);
        assert!(
            s.warnings.iter().any(|w| w.contains("invalid <lastmod>")),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn namespaces_entities_cdata_whitespace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.xml");
        std::fs::write(
            &p,
            r#"<?xml version="1.0"?>
<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1" xmlns:xhtml="http://www.w3.org/1999/xhtml" xmlns:o="urn:other">
  <sm:url>
    <sm:loc>
       https://www.example.com/a?x=1&amp;y=&#50;&#x33;
    </sm:loc>
    <image:image><image:loc>https://www.example.com/i.png</image:loc></image:image>
    <xhtml:link rel="alternate" hreflang="de" href="https://www.example.com/de/"/>
    <o:loc>https://www.example.com/other</o:loc>
  </sm:url>
  <sm:url><sm:loc><![CDATA[https://www.example.com/c?<d>&e]]></sm:loc><sm:priority>0.3</sm:priority></sm:url>
  <sm:url><sm:loc>https://www.example.com/p</sm:loc><sm:priority>7</sm:priority><sm:lastmod>bad</sm:lastmod></sm:url>
</sm:urlset>"#,
        )
        .unwrap();
        let s = read_path(&p).unwrap();
        assert_eq!(
            locs(&s),
            [
                "https://www.example.com/a?x=1&y=23",
                "https://www.example.com/c?<d>&e",
                "https://www.example.com/p"
            ]
        );
        assert_eq!(s.entries().nth(1).unwrap().priority, Some(0.3));
        assert_eq!(s.entries().nth(2).unwrap().priority, None);
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(
            s.warnings[0].contains(":12:67: invalid <priority> \"7\""),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn malformed_fixtures() {
        let cases = [
            ("malformed-truncated.xml", "unexpected end of file"),
            ("malformed-mismatched.xml", "malformed xml"),
            ("malformed-garbage.xml", "not a sitemap"),
            ("malformed-entity.xml", "undefined entity &nbsp;"),
            ("malformed-not-xml.xml", "is not <urlset> or <sitemapindex>"),
        ];
        for (f, want) in cases {
            let p = fixture(&format!("sitemaps/{f}"));
            let Err(Error::Input {
                source_name,
                position,
                message,
            }) = read_path(&p)
            else {
                panic!("{f} was read")
            };
            assert_eq!(source_name, p.display().to_string());
            assert!(message.contains(want), "{f}: {message}");
            assert!(
                matches!(position, Position::LineCol { .. }),
                "{f}: {position:?}"
            );
        }
        // Exact positions.
        let pos = |f: &str| match read_path(&fixture(&format!("sitemaps/{f}"))) {
            Err(Error::Input { position, .. }) => position,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            pos("malformed-entity.xml"),
            Position::LineCol { line: 3, col: 38 }
        );
        assert_eq!(
            pos("malformed-mismatched.xml"),
            Position::LineCol { line: 4, col: 44 }
        );
    }

    #[test]
    fn cut_at_any_point_is_an_input_error() {
        let full = std::fs::read(fixture("site/sitemap.xml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.xml");
        for cut in 1..full.len() {
            let prefix = &full[..cut];
            if prefix.trim_ascii_end().ends_with(b"</urlset>") {
                continue;
            }
            std::fs::write(&p, prefix).unwrap();
            match read_path(&p) {
                Err(Error::Input {
                    position: Position::LineCol { line, .. },
                    ..
                }) => {
                    assert!(
                        line >= 1 && line <= 1 + prefix.iter().filter(|&&b| b == b'\n').count()
                    );
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn entity_attacks_expand_and_fetch_nothing() {
        for f in ["billion-laughs.xml", "external-entity.xml"] {
            let Err(Error::Input {
                message, position, ..
            }) = read_path(&fixture(&format!("sitemaps/{f}")))
            else {
                panic!("{f} was read")
            };
            assert!(message.contains("undefined entity"), "{f}: {message}");
            assert!(matches!(position, Position::LineCol { .. }));
            assert!(
                !message.contains("lol") || message.contains("&lol9;"),
                "{message}"
            );
            assert!(!message.contains("root:"), "{message}");
        }
        // An external entity pointing at a file that would be noticed if read: it stays unread.
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "TOPSECRET").unwrap();
        let p = dir.path().join("x.xml");
        let doc = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE urlset [<!ENTITY x SYSTEM \"file://{}\">]>\n<urlset><url><loc>https://www.example.com/&x;</loc></url></urlset>",
            secret.display()
        );
        std::fs::write(&p, doc).unwrap();
        let before = std::fs::metadata(&secret).unwrap().accessed().unwrap();
        let err = read_path(&p).unwrap_err().to_string();
        assert!(
            err.contains("undefined entity &x;") && !err.contains("TOPSECRET"),
            "{err}"
        );
        assert_eq!(
            std::fs::metadata(&secret).unwrap().accessed().unwrap(),
            before
        );
        // An external entity on a loopback server: never requested.
        let server = serve(vec![(
            "/evil".into(),
            200,
            b"https://evil.example/".to_vec(),
        )]);
        let doc = format!(
            "<!DOCTYPE urlset [<!ENTITY e SYSTEM \"{}/evil\">]>\n<urlset><url><loc>&e;</loc></url></urlset>",
            server.base
        );
        std::fs::write(&p, doc).unwrap();
        assert!(
            read_path(&p)
                .unwrap_err()
                .to_string()
                .contains("undefined entity &e;")
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        // A DTD with entities but none used: the document reads normally.
        std::fs::write(&p, "<!DOCTYPE urlset [<!ENTITY a \"aaaaaaaa\">]><urlset><url><loc>https://h.example/</loc></url></urlset>").unwrap();
        assert_eq!(locs(&read_path(&p).unwrap()), ["https://h.example/"]);
    }

    #[test]
    fn index_with_gzip_child_and_relative_paths() {
        let s = read_path(&fixture("sitemaps/index.xml")).unwrap();
        let l = locs(&s);
        assert_eq!(
            l,
            [
                "https://www.example.com/pages-1/a.html",
                "https://www.example.com/pages-1/b.html",
                "https://www.example.com/pages-2/c.html",
                "https://www.example.com/pages-2/d.html",
                "https://www.example.com/nested/e.html",
            ]
        );
    }

    #[test]
    fn cycles_and_depth() {
        let s = read_path(&fixture("sitemaps/self-index.xml")).unwrap();
        assert_eq!(
            locs(&s),
            [
                "https://www.example.com/pages-1/a.html",
                "https://www.example.com/pages-1/b.html"
            ]
        );
        assert!(
            s.warnings.iter().any(|w| w.contains("includes itself")),
            "{:?}",
            s.warnings
        );
        let Err(Error::Input { message, .. }) = read_path(&fixture("sitemaps/deep-0.xml")) else {
            panic!("deep index read")
        };
        assert!(message.contains("nesting deeper than 5"), "{message}");
        assert_eq!(
            locs(&read_path(&fixture("sitemaps/deep-1.xml")).unwrap()),
            ["https://www.example.com/deep.html"]
        );
    }

    #[test]
    fn plain_text_and_robots() {
        let s = read_path(&fixture("sitemaps/plain.txt")).unwrap();
        assert_eq!(
            locs(&s),
            [
                "https://www.example.com/",
                "https://www.example.com/about.html",
                "not a url",
                "https://www.example.com/x y"
            ]
        );
        let s = read_path(&fixture("sitemaps/robots.txt")).unwrap();
        assert_eq!(
            locs(&s)[..2],
            [
                "https://www.example.com/pages-1/a.html",
                "https://www.example.com/pages-1/b.html"
            ]
        );
        assert!(locs(&s).contains(&"https://www.example.com/about.html"));
    }

    #[test]
    fn warnings_are_capped_per_document() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.xml");
        let mut doc = String::from("<urlset>\n");
        for i in 0..30 {
            doc.push_str(&format!(
                "<url><loc>https://h.example/{i}</loc><lastmod>x{i}</lastmod></url>\n"
            ));
        }
        doc.push_str("</urlset>\n");
        std::fs::write(&p, doc).unwrap();
        let s = read_path(&p).unwrap();
        assert_eq!(s.len(), 30);
        assert_eq!(s.warnings.len(), 11, "{:?}", s.warnings);
        assert!(
            s.warnings[0].contains(":2:") && s.warnings[0].contains("\"x0\""),
            "{}",
            s.warnings[0]
        );
        assert!(
            s.warnings[10].ends_with("20 more warnings like these"),
            "{}",
            s.warnings[10]
        );
    }

    #[test]
    fn many_urls_warn() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.xml");
        let mut f = std::io::BufWriter::new(File::create(&p).unwrap());
        writeln!(
            f,
            r#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">"#
        )
        .unwrap();
        for i in 0..60_000 {
            writeln!(
                f,
                "<url><loc>https://www.example.com/p/{i}</loc><lastmod>2024-01-02</lastmod></url>"
            )
            .unwrap();
        }
        writeln!(f, "</urlset>").unwrap();
        drop(f);
        let s = read_path(&p).unwrap();
        assert_eq!(s.len(), 60_000);
        assert_eq!(
            s.entries().nth(59_999).unwrap().loc,
            "https://www.example.com/p/59999"
        );
        assert_eq!(
            s.warnings,
            [format!(
                "{}: 60000 URLs, more than the protocol's 50,000",
                p.display()
            )]
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_by_magic_and_bomb() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no-extension");
        std::fs::write(
            &p,
            gzip(b"<urlset><url><loc>https://www.example.com/z</loc></url></urlset>"),
        )
        .unwrap();
        assert_eq!(locs(&read_path(&p).unwrap()), ["https://www.example.com/z"]);
        // 64 KiB limit; 10 MiB of zeros inside a loc compress to ~10 KiB.
        let mut bomb = b"<urlset><url><loc>".to_vec();
        bomb.extend(std::iter::repeat_n(b'a', 10 << 20));
        let p = dir.path().join("bomb.xml.gz");
        std::fs::write(&p, gzip(&bomb)).unwrap();
        let small = InputLimits {
            max_decompressed_bytes: 64 * 1024,
            ..limits()
        };
        let Err(Error::Input {
            message, position, ..
        }) = read(&Location::Path(p), &small, Duration::from_secs(5))
        else {
            panic!("bomb read")
        };
        assert!(
            message.contains("decompresses to more than 65536 bytes"),
            "{message}"
        );
        assert!(matches!(position, Position::Offset(_)), "{position:?}");
        // A truncated gzip stream is an error, not a silent short read.
        let p = dir.path().join("cut.gz");
        let full = gzip(b"<urlset><url><loc>https://www.example.com/z</loc></url></urlset>");
        std::fs::write(&p, &full[..full.len() / 2]).unwrap();
        assert!(matches!(read_path(&p), Err(Error::Input { .. })));
    }

    #[test]
    fn remote_index_with_raw_gzip_child() {
        let child1 = b"<urlset><url><loc>https://www.example.com/r1</loc></url></urlset>".to_vec();
        let child2 = gzip(b"<urlset><url><loc>https://www.example.com/r2</loc></url></urlset>");
        let index = b"<sitemapindex><sitemap><loc>c1.xml</loc></sitemap><sitemap><loc>/sub/c2.xml.gz</loc></sitemap>\
                      <sitemap><loc>index.xml</loc></sitemap></sitemapindex>"
            .to_vec();
        let s = serve(vec![
            ("/maps/index.xml".into(), 200, index),
            ("/maps/c1.xml".into(), 200, child1),
            ("/sub/c2.xml.gz".into(), 200, child2),
            (
                "/broken.xml".into(),
                200,
                b"<urlset><url><loc>x</url>".to_vec(),
            ),
        ]);
        let got = read(
            &Location::Url(format!("{}/maps/index.xml", s.base)),
            &limits(),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            locs(&got),
            ["https://www.example.com/r1", "https://www.example.com/r2"]
        );
        assert!(got.warnings.iter().any(|w| w.contains("includes itself")));
        let Err(Error::Input {
            source_name,
            position,
            ..
        }) = read(
            &Location::Url(format!("{}/broken.xml", s.base)),
            &limits(),
            Duration::from_secs(5),
        )
        else {
            panic!("broken remote read")
        };
        assert!(source_name.ends_with("/broken.xml"));
        assert!(matches!(position, Position::Offset(_)), "{position:?}");
        assert!(matches!(
            read(
                &Location::Url(format!("{}/missing.xml", s.base)),
                &limits(),
                Duration::from_secs(5)
            ),
            Err(Error::Fetch { .. })
        ));
    }

    #[test]
    fn parallel_children_keep_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = String::from("<sitemapindex>");
        for c in 0..20 {
            let mut doc = String::from("<urlset>");
            for i in 0..200 {
                doc.push_str(&format!(
                    "<url><loc>https://www.example.com/{c}/{i}</loc></url>"
                ));
            }
            doc.push_str("</urlset>");
            std::fs::write(dir.path().join(format!("c{c}.xml")), doc).unwrap();
            idx.push_str(&format!("<sitemap><loc>c{c}.xml</loc></sitemap>"));
        }
        idx.push_str("</sitemapindex>");
        let p = dir.path().join("index.xml");
        std::fs::write(&p, idx).unwrap();
        let ctx = Ctx {
            limits: &limits(),
            timeout: Duration::from_secs(1),
            parallel: 4,
            prepare: &|entries, _| entries,
        };
        let loc = Loc::Path(p.clone());
        let mut s = Sitemaps::default();
        read_doc(&ctx, &loc, &[loc.key().unwrap()], 0, true, &mut s).unwrap();
        let want: Vec<String> = (0..20)
            .flat_map(|c| (0..200).map(move |i| format!("https://www.example.com/{c}/{i}")))
            .collect();
        assert_eq!(locs(&s), want);
    }

    /// What a sink was handed, in order.
    #[derive(Debug, PartialEq)]
    enum Got {
        Expect(usize),
        Chunk {
            first: String,
            len: usize,
            alone: bool,
        },
        Warning(String),
    }

    impl Sink<(Vec<Entry>, bool)> for Vec<Got> {
        fn expect_docs(&mut self, docs: usize) {
            self.push(Got::Expect(docs));
        }

        fn chunk(&mut self, (entries, alone): (Vec<Entry>, bool)) {
            self.push(Got::Chunk {
                first: entries[0].loc.clone(),
                len: entries.len(),
                alone,
            });
        }

        fn warning(&mut self, warning: String) {
            self.push(Got::Warning(warning));
        }
    }

    /// An index of children `c0.xml`…, child `c` holding `sizes[c]` URLs, or malformed XML when 0.
    fn index_of(dir: &Path, sizes: &[usize]) -> PathBuf {
        let mut idx = String::from("<sitemapindex>");
        for (c, &n) in sizes.iter().enumerate() {
            let mut doc = String::from("<urlset>");
            for i in 0..n {
                doc.push_str(&format!(
                    "<url><loc>https://www.example.com/{c}/{i}</loc></url>"
                ));
            }
            if n > 0 {
                doc.push_str("</urlset>");
            }
            std::fs::write(dir.join(format!("c{c}.xml")), doc).unwrap();
            idx.push_str(&format!("<sitemap><loc>c{c}.xml</loc></sitemap>"));
        }
        idx.push_str("<sitemap><loc>c1.xml</loc></sitemap></sitemapindex>");
        let p = dir.join("index.xml");
        std::fs::write(&p, idx).unwrap();
        p
    }

    fn read_with(
        p: &Path,
        parallel: usize,
        prepare: &Prepare<'_, (Vec<Entry>, bool)>,
    ) -> (Result<()>, Vec<Got>) {
        let ctx = Ctx {
            limits: &limits(),
            timeout: Duration::from_secs(1),
            parallel,
            prepare,
        };
        let loc = Loc::Path(p.to_path_buf());
        let mut got = Vec::new();
        let r = read_doc(&ctx, &loc, &[loc.key().unwrap()], 0, true, &mut got);
        (r, got)
    }

    #[test]
    fn documents_are_handed_on_in_order_as_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        // The first child is the slowest: the others finish first and wait for it.
        let sizes = [30_000, 3, 5, 7, 9, 11, 13];
        let p = index_of(dir.path(), &sizes);
        for parallel in [1, 2, 4] {
            let (r, got) = read_with(&p, parallel, &|entries, alone| (entries, alone));
            r.unwrap();
            let mut want = vec![
                Got::Warning(format!(
                    "{}: {} listed twice, read once",
                    p.display(),
                    dir.path().join("c1.xml").display()
                )),
                Got::Expect(sizes.len()),
            ];
            want.extend(sizes.iter().enumerate().map(|(c, &len)| Got::Chunk {
                first: format!("https://www.example.com/{c}/0"),
                len,
                // Children read side by side share the cores; on one core nothing does.
                alone: false,
            }));
            assert_eq!(got, want, "parallel {parallel}");
        }
        // A document read alone may use every core.
        let (r, got) = read_with(&dir.path().join("c0.xml"), 2, &|entries, alone| {
            (entries, alone)
        });
        r.unwrap();
        assert_eq!(
            got,
            [Got::Chunk {
                first: "https://www.example.com/0/0".into(),
                len: 30_000,
                alone: true
            }]
        );
    }

    #[test]
    fn the_first_failing_child_in_order_is_the_error_and_nothing_after_it_is_handed_on() {
        let dir = tempfile::tempdir().unwrap();
        // c2 and c4 are malformed; c4 is small, so it usually fails first.
        let p = index_of(dir.path(), &[4, 20_000, 0, 30_000, 0, 6]);
        for parallel in [1, 2, 4] {
            let (r, got) = read_with(&p, parallel, &|entries, alone| (entries, alone));
            let err = r.unwrap_err().to_string();
            assert!(err.contains("c2.xml"), "parallel {parallel}: {err}");
            let firsts: Vec<&str> = got
                .iter()
                .filter_map(|g| match g {
                    Got::Chunk { first, .. } => Some(first.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(
                firsts,
                ["https://www.example.com/0/0", "https://www.example.com/1/0"],
                "parallel {parallel}"
            );
        }
    }

    #[test]
    fn a_reader_thread_that_panics_fails_the_read_instead_of_hanging_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = index_of(dir.path(), &[4, 5, 6, 7]);
        let prepare = |entries: Vec<Entry>, alone: bool| {
            assert!(!entries[0].loc.contains("/1/"), "prepare failed");
            (entries, alone)
        };
        let r = std::panic::catch_unwind(|| read_with(&p, 2, &prepare));
        assert!(r.is_err(), "the panic reaches the caller");
    }
}

/// The fast path ([`super::sitemap_scan`]) against the full reader: whenever the scanner answers, the full
/// reader must give the same entries and no warning.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod fast_path {
    use super::*;
    use crate::sources::sitemap_scan::{Scanned, scan, scan_split};
    use proptest::prelude::*;

    /// The full reader's answer as the scanner would give it, or why it would not.
    fn full(d: &[u8]) -> std::result::Result<Scanned, String> {
        let pos = Positioner {
            path: None,
            skipped: 0,
        };
        let mut warnings = Vec::new();
        match parse_xml(d, "doc", &pos, &mut warnings) {
            Ok(_) if !warnings.is_empty() => Err(format!("warnings {warnings:?}")),
            Ok(Doc::Urls(e)) => Ok(Scanned::Urls(e)),
            Ok(Doc::Children(c)) => Ok(Scanned::Children(c)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn agree(d: &[u8]) -> bool {
        // Split on two threads, wherever the split lands, the scanner answers as on one.
        let one = scan(d);
        for mid in [0, d.len() / 3, d.len() / 2, d.len() * 2 / 3] {
            assert_eq!(
                scan_split(d, mid),
                one,
                "split after {mid} of {:?}",
                String::from_utf8_lossy(d)
            );
        }
        match one {
            None => false,
            Some(fast) => {
                let slow = full(d);
                assert_eq!(
                    Ok(&fast),
                    slow.as_ref(),
                    "document {:?}",
                    String::from_utf8_lossy(d)
                );
                true
            }
        }
    }

    const SM: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";

    /// Pieces of sitemaps, well-formed or not, to build documents from.
    const PIECES: &[&str] = &[
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml-stylesheet type=\"text/xsl\" href=\"/s.xsl\"?>",
        "<?xml?>",
        "<??>",
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">",
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" xmlns:image=\"http://www.google.com/schemas/sitemap-image/1.1\">",
        "<urlset>",
        "<urlset xmlns=''>",
        "<urlset xmlns='urn:other'>",
        "<sm:urlset xmlns:sm=\"http://www.sitemaps.org/schemas/sitemap/0.9\">",
        "</sm:urlset>",
        "<sm:url>",
        "</sm:url>",
        "<sm:loc>",
        "</sm:loc>",
        "</urlset>",
        "</urlset >",
        "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">",
        "</sitemapindex>",
        "<sitemap>",
        "</sitemap>",
        "<url>",
        "</url>",
        "</ url>",
        "<url/>",
        "<url a='1' b=\"x>y\">",
        "<url a=1>",
        "<url a = \"1\">",
        "<url xmlns=\"urn:x\">",
        "<loc>",
        "</loc>",
        "<loc/>",
        "<lastmod>",
        "</lastmod>",
        "<priority>",
        "</priority>",
        "<changefreq>weekly</changefreq>",
        "<image:image><image:loc>https://e.com/i.jpg</image:loc></image:image>",
        "<xhtml:link rel=\"alternate\" href=\"https://e.com/de\"/>",
        "<x:loc xmlns:x=\"http://www.sitemaps.org/schemas/sitemap/0.9\">",
        "</x:loc>",
        "<b>",
        "</b>",
        "https://www.example.com/a?x=1&amp;y=2",
        "https://www.example.com/é",
        " https://www.example.com/b ",
        "2024-05-06",
        "2024-05-06T07:08:09+02:00",
        "2024-13-01",
        "0.5",
        "1.5",
        "x",
        "&amp;",
        "&lt;",
        "&quot;&apos;&gt;",
        "&#65;",
        "&#x41;",
        "&bogus;",
        "&amp",
        "&",
        "<![CDATA[https://www.example.com/c]]>",
        "<!-- a comment -->",
        "<!-- <url> -->",
        "<?pi <url> ?>",
        "<!-- -- -->",
        "<!--",
        "<!DOCTYPE urlset>",
        "<",
        ">",
        "\"",
        "'",
        "/",
        " ",
        "\n",
        "\r\n",
        "\t",
        "\u{a0}",
        "\u{0}",
    ];

    /// A well-formed sitemap of `n` URLs.
    fn valid(n: usize, index: bool) -> String {
        let (root, item) = if index {
            ("sitemapindex", "sitemap")
        } else {
            ("urlset", "url")
        };
        let mut d = format!("<?xml version=\"1.0\"?>\n<{root} xmlns=\"{SM}\">\n");
        for i in 0..n {
            d.push_str(&format!(
                "  <{item}><loc>https://www.example.com/{i}?a=1&amp;b=2</loc><lastmod>2024-01-0{}</lastmod><priority>0.{}</priority></{item}>\n",
                i % 9 + 1,
                i % 10
            ));
        }
        d.push_str(&format!("</{root}>\n"));
        d
    }

    #[test]
    fn the_scanner_takes_well_formed_sitemaps_and_agrees() {
        for index in [false, true] {
            let d = valid(50, index);
            assert!(agree(d.as_bytes()), "the fast path declined {d}");
        }
        // The fixtures: the good ones are scanned, and on every one (good or bad) the scanner agrees or declines.
        let mut scanned = 0;
        for dir in ["sitemaps", "bad"] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(dir);
            for f in std::fs::read_dir(dir).unwrap() {
                let p = f.unwrap().path();
                if p.extension().is_some_and(|e| e == "xml") {
                    scanned += usize::from(agree(&std::fs::read(&p).unwrap()));
                }
            }
        }
        assert!(scanned >= 5, "only {scanned} fixtures took the fast path");
    }

    #[test]
    fn a_split_inside_a_comment_or_instruction_is_the_one_thread_scan() {
        // The first `<url>` after the middle is inside a comment (or a processing instruction): the second
        // half would start there and read it as an item; the first half notices it does not arrive there.
        for hide in [
            "<!-- <url><loc>https://www.example.com/ghost</loc></url> -->",
            "<?pi <url> ?>",
        ] {
            let d = valid(6, false);
            let mid = d.len() / 2;
            let at = mid + d[mid..].find("  <url>").unwrap();
            let d = format!("{}{hide}{}", &d[..at], &d[at..]);
            let one = scan(d.as_bytes());
            assert!(one.is_some());
            assert_eq!(scan_split(d.as_bytes(), mid), one, "{d}");
            assert!(agree(d.as_bytes()));
        }
    }

    #[test]
    fn the_scanner_declines_what_the_full_reader_refuses_or_warns_about() {
        for d in [
            valid(3, false).replace("</url>\n</urlset>", "</url>\n"),
            valid(3, false).replace("2024-01-02", "2024-13-02"),
            valid(3, false).replace("0.2", "2.0"),
            valid(3, false).replace("&amp;b", "&b"),
            valid(3, false).replace(
                "<loc>https://www.example.com/1?a=1&amp;b=2</loc>",
                "<loc> </loc>",
            ),
            format!("<!DOCTYPE x [<!ENTITY a \"b\">]><urlset xmlns=\"{SM}\"/>"),
            format!("<urlset xmlns=\"{SM}\"/><urlset xmlns=\"{SM}\"/>"),
            format!("<urlset xmlns=\"{SM}\"></urlset>trailing"),
        ] {
            assert!(scan(d.as_bytes()).is_none(), "the scanner took {d}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_mix_of_pieces(pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..40)) {
            agree(pieces.concat().as_bytes());
        }

        #[test]
        fn valid_sitemaps_with_a_few_pieces_inserted(
            n in 0usize..6,
            index: bool,
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), proptest::sample::select(PIECES)), 0..4),
        ) {
            let mut d = valid(n, index).into_bytes();
            for (at, piece) in edits {
                let at = at.index(d.len() + 1);
                d.splice(at..at, piece.bytes());
            }
            agree(&d);
        }

        #[test]
        fn valid_sitemaps_cut_or_with_a_byte_changed(n in 1usize..4, index: bool, at: proptest::sample::Index, byte: u8, cut: bool) {
            let mut d = valid(n, index).into_bytes();
            let at = at.index(d.len());
            if cut { d.truncate(at); } else { d[at] = byte; }
            agree(&d);
        }
    }
}
