//! Manifest readers: sitemaps, build folders, changed-file lists and git diffs → [`Asset`]s.
//!
//! Every URL a reader yields has gone through [`crate::url::Domains::admit`]: it is a valid, percent-encoded
//! absolute `http(s)` URL under one of `site.domains`. What a reader drops is counted in [`Skipped`], never
//! silently lost. Readers never touch the network except to fetch a remote sitemap the user configured.

use serde::Serialize;

pub mod changed;
pub mod dir;
pub mod fetch;
pub mod git;
pub mod sitemap;
mod sitemap_scan;
pub mod statcache;

/// One URL to consider warming.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    /// Normalised absolute URL (no fragment).
    pub url: String,
    /// Content fingerprint of a file (`b3:<hex>`), or one a state's backlog recorded. A sitemap entry has none
    /// here: its `lastmod` is its fingerprint (a million sitemap URLs don't carry a second string each); see
    /// [`Asset::fingerprint_text`].
    pub fingerprint: Option<String>,
    /// Source priority plus matching priority rules (higher goes first).
    pub priority: i64,
    /// The sitemap's `<priority>`, when given.
    pub sitemap_priority: Option<f32>,
    /// The sitemap's `<lastmod>`.
    pub lastmod: Option<Lastmod>,
    /// Size in bytes of what the CDN will pull, when known.
    pub bytes: Option<u64>,
    /// Planned: it was deferred by an earlier run (the backlog goes first).
    pub from_backlog: bool,
}

/// A sitemap `<lastmod>`: an instant, whole seconds since the Unix epoch (UTC). Written as RFC 3339 UTC
/// (`2024-05-06T07:08:09Z`); ordered as instants. Eight bytes instead of a string per URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lastmod(std::num::NonZeroI64);

/// Added to a [`Lastmod`]'s seconds so the stored value is never zero (years 1 to 9999 are within ±2^38
/// seconds of the epoch): `Option<Lastmod>` is then 8 bytes, not 16, in each of a million assets.
const LASTMOD_BIAS: i64 = 1 << 40;

impl Lastmod {
    /// The instant, to the second; `None` when it has no UTC date (`9999-12-31T23:59:59-01:00`).
    #[must_use]
    pub fn of(t: time::OffsetDateTime) -> Option<Self> {
        // The instant's UTC date must exist (`time` covers years ±9999): checked by range, without the slow
        // offset conversion.
        Self::from_unix_seconds(t.unix_timestamp())
    }

    /// The instant `secs` seconds after the Unix epoch, as [`Lastmod::of`] would take it.
    pub(crate) fn from_unix_seconds(secs: i64) -> Option<Self> {
        const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        let min = time::Date::MIN.midnight().assume_utc().unix_timestamp();
        (min..=MAX)
            .contains(&secs)
            .then(|| std::num::NonZeroI64::new(secs + LASTMOD_BIAS).map(Self))
            .flatten()
    }

    /// Seconds since the Unix epoch.
    #[must_use]
    pub fn unix_seconds(self) -> i64 {
        self.0.get() - LASTMOD_BIAS
    }

    /// Parses any W3C datetime form a sitemap may use (see [`sitemap::parse_lastmod`]).
    #[must_use]
    pub fn parse(v: &str) -> Option<Self> {
        sitemap::parse_lastmod(v)
    }

    /// The fixed-width RFC 3339 form (`2024-05-06T07:08:09Z`) for years 0000–9999, by integer arithmetic
    /// (H. Hinnant's days-to-civil; the `time` crate's conversion was a tenth of a million-URL diff).
    fn fixed(self) -> Option<[u8; 20]> {
        let days = self.unix_seconds().div_euclid(86_400);
        let secs = self.unix_seconds().rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, mut v: i64, width: usize| {
            for i in (at..at + width).rev() {
                // `v % 10` is one digit: the cast cannot truncate or lose a sign.
                #[expect(clippy::cast_sign_loss, reason = "one digit")]
                let digit = (v % 10) as u8;
                out[i] = b'0' + digit;
                v /= 10;
            }
        };
        put(0, year, 4);
        put(5, month, 2);
        put(8, day, 2);
        put(11, secs / 3600, 2);
        put(14, secs / 60 % 60, 2);
        put(17, secs % 60, 2);
        Some(out)
    }

    /// Whether `fingerprint` is this one's ([`Lastmod::fingerprint`]), compared without building it.
    #[must_use]
    pub fn fingerprint_is(self, fingerprint: &str) -> bool {
        let Some(text) = fingerprint.strip_prefix("lastmod:") else {
            return false;
        };
        match self.fixed() {
            Some(fixed) => text.as_bytes() == fixed,
            None => fingerprint == self.fingerprint(),
        }
    }

    /// The fingerprint a sitemap entry with this `<lastmod>` has: `lastmod:<RFC 3339>`.
    #[must_use]
    pub fn fingerprint(self) -> String {
        match self.fixed() {
            Some(fixed) => {
                let mut s = String::with_capacity(28);
                s.push_str("lastmod:");
                s.extend(fixed.iter().map(|&b| char::from(b)));
                s
            }
            None => format!("lastmod:{self}"),
        }
    }
}

impl std::fmt::Display for Lastmod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Built by `of` from a valid instant: years outside 0000–9999 take the general formatter.
        if let Some(fixed) = self.fixed() {
            return f.write_str(std::str::from_utf8(&fixed).unwrap_or_default());
        }
        match time::OffsetDateTime::from_unix_timestamp(self.unix_seconds()) {
            Ok(t) => f.write_str(&crate::clock::rfc3339(t)),
            Err(_) => write!(f, "@{}", self.unix_seconds()),
        }
    }
}

impl Asset {
    /// An asset with only a URL.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            fingerprint: None,
            priority: 0,
            sitemap_priority: None,
            lastmod: None,
            bytes: None,
            from_backlog: false,
        }
    }

    /// The URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The fingerprint the diff compares and state records: `fingerprint`, else `lastmod:<RFC 3339>` from the
    /// sitemap's `<lastmod>`; `None` when the source knows neither (planned once, when first seen).
    #[must_use]
    pub fn fingerprint_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match (&self.fingerprint, self.lastmod) {
            (Some(f), _) => Some(std::borrow::Cow::Borrowed(f)),
            (None, Some(l)) => Some(std::borrow::Cow::Owned(l.fingerprint())),
            (None, None) => None,
        }
    }

    /// Whether [`Asset::fingerprint_text`] (`""` for none) is `text`, without building it: what a state
    /// records for this asset is already there.
    #[must_use]
    pub fn fingerprint_text_is(&self, text: &str) -> bool {
        match (&self.fingerprint, self.lastmod) {
            (None, None) => text.is_empty(),
            _ => self.fingerprint_matches(text),
        }
    }

    /// Whether this asset is unchanged against the accepted fingerprint `old` ([`Asset::fingerprint_text`]
    /// equal to it; an asset without a fingerprint counts as unchanged), without building the text.
    #[must_use]
    pub fn fingerprint_matches(&self, old: &str) -> bool {
        match (&self.fingerprint, self.lastmod) {
            (Some(f), _) => f == old,
            (None, Some(l)) => l.fingerprint_is(old),
            (None, None) => true,
        }
    }
}

/// What the readers and the diff dropped, by reason (the JSON report's `skipped`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Unchanged since the last accepted push.
    pub unchanged: u64,
    /// Origin not in `site.domains`.
    pub foreign_domain: u64,
    /// Not a usable http(s) URL (relative, `javascript:`, too long, …).
    pub invalid_url: u64,
    /// Excluded by a glob or as hidden.
    pub excluded: u64,
    /// Listed but not on disk (deleted in the deploy).
    pub missing_file: u64,
    /// Path escapes the root (`../`, absolute elsewhere, symlink out).
    pub outside_root: u64,
}

impl Skipped {
    /// Adds another count into this one.
    pub fn add(&mut self, other: &Self) {
        self.unchanged += other.unchanged;
        self.foreign_domain += other.foreign_domain;
        self.invalid_url += other.invalid_url;
        self.excluded += other.excluded;
        self.missing_file += other.missing_file;
        self.outside_root += other.outside_root;
    }
}

/// What the readers produced.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// Assets, duplicates merged (highest priority kept), in first-seen order.
    pub assets: Vec<Asset>,
    /// Dropped, by reason.
    pub skipped: Skipped,
    /// Warnings for the report (`::warning::` in GitHub format).
    pub warnings: Vec<String>,
    /// URLs of files a changed list names but that are not on disk (deleted in the deploy): they leave state.
    pub removed_urls: Vec<String>,
}

/// Reads every configured source.
///
/// URLs go through [`crate::url::Domains::admit`]; duplicates across sources merge into the first-seen asset,
/// keeping the highest priority and, when one of them is a file, that file's `b3:` fingerprint and size. Each
/// matching `[[priority]]` rule (a glob over the URL's percent-decoded path) adds its priority. The stat cache
/// lives next to the state file and is written on every run, dry runs included.
///
/// # Errors
/// The first unusable source (malformed sitemap, unreadable path, …): nothing is pushed from a half-read input.
pub fn collect(settings: &crate::config::Settings) -> crate::Result<Collected> {
    use crate::config::SourceSpec;

    let domains = crate::url::Domains::from_settings(settings)?;
    let rules = PriorityRules::new(&settings.priority_rules)?;
    let mut cache =
        statcache::StatCache::load(&statcache::StatCache::path_for_state(&settings.state.path));
    let mut merger = Merger::default();
    for spec in &settings.sources {
        match spec {
            SourceSpec::Sitemap { location, priority } => {
                // Each document is admitted on the thread that read it and merged here while the next ones
                // are read; a document that fails to read fails the whole collect (nothing is pushed).
                let hash = merger.hash;
                let prepare = |mut entries: Vec<sitemap::Entry>, alone: bool| {
                    let verdicts = admit_all(&domains, &rules, &mut entries, hash, alone);
                    (entries, verdicts)
                };
                let mut sink = SitemapSink {
                    merger: &mut merger,
                    domains: &domains,
                    location,
                    priority: *priority,
                    docs_left: 0,
                };
                sitemap::read_each(
                    location,
                    &settings.limits,
                    settings.push.timeout,
                    &prepare,
                    &mut sink,
                )?;
            }
            SourceSpec::Dir { mapping, priority } => {
                let out = dir::read(mapping, &mut cache)?;
                merger.add_files(out, *priority, &domains, &rules);
            }
            SourceSpec::Changed {
                file,
                mapping,
                priority,
            } => {
                let out = changed::read(file.as_deref(), mapping, &mut cache)?;
                merger.add_files(out, *priority, &domains, &rules);
            }
            SourceSpec::Git {
                repo,
                range,
                prefix,
                mapping,
                priority,
            } => {
                // git names what changed; the build root on disk gives sizes and content hashes. Paths go
                // through the changed-list reader NUL-separated, so odd names survive.
                let changes = match git::changes(repo, range, prefix) {
                    Ok(c) => c,
                    Err(e) => {
                        cache.save();
                        return Err(e);
                    }
                };
                let mut list = Vec::new();
                for p in &changes.changed {
                    list.extend_from_slice(p.as_os_str().as_encoded_bytes());
                    list.push(0);
                }
                let mut out =
                    changed::read_bytes(&list, &format!("git diff {range}"), mapping, &mut cache)?;
                let mapper = crate::url::FileMapper::new(mapping)?;
                for p in &changes.deleted {
                    if let Ok(u) = mapper.map(p) {
                        out.removed_urls.push(u);
                    }
                }
                merger.add_files(out, *priority, &domains, &rules);
            }
        }
    }
    cache.save();
    Ok(merger.collected)
}

/// Merges each sitemap document, as [`sitemap::read_each`] hands it on, into the collected assets.
struct SitemapSink<'a> {
    merger: &'a mut Merger,
    domains: &'a crate::url::Domains,
    location: &'a crate::config::Location,
    priority: i64,
    /// Documents an index announced and not yet handed on: room for this many more like the last one is
    /// reserved at once (an index's children are usually alike), so a million assets are not grown by doubling.
    docs_left: usize,
}

impl sitemap::Sink<(Vec<sitemap::Entry>, Vec<Admitted>)> for SitemapSink<'_> {
    fn expect_docs(&mut self, docs: usize) {
        self.docs_left = self.docs_left.saturating_add(docs);
    }

    fn chunk(&mut self, (entries, verdicts): (Vec<sitemap::Entry>, Vec<Admitted>)) {
        let like_this = entries.len().saturating_mul(self.docs_left.max(1));
        self.docs_left = self.docs_left.saturating_sub(1);
        self.merger.reserve_hint(entries.len(), like_this);
        for (e, verdict) in entries.into_iter().zip(verdicts) {
            let (bonus, h) = match verdict {
                Admitted::Yes { bonus, hash } => (bonus, hash),
                Admitted::Foreign => {
                    self.merger.collected.skipped.foreign_domain += 1;
                    continue;
                }
                Admitted::Invalid => {
                    self.merger.collected.skipped.invalid_url += 1;
                    if let Err(crate::url::Reject::Invalid(why)) = self.domains.admit(&e.loc) {
                        log::info!("{}: skipped {:?}: {why}", self.location, e.loc);
                    }
                    continue;
                }
            };
            self.merger.add_hashed(
                h,
                Asset {
                    priority: self.priority + bonus,
                    sitemap_priority: e.priority,
                    lastmod: e.lastmod,
                    ..Asset::new(e.loc)
                },
            );
        }
    }

    fn warning(&mut self, warning: String) {
        self.merger.collected.warnings.push(warning);
    }
}

/// The admission outcome of one sitemap entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admitted {
    /// Admitted (the entry's `loc` is now the normalised URL), with its priority-rule bonus and the merger's
    /// hash of the URL.
    Yes { bonus: i64, hash: u64 },
    /// Foreign origin.
    Foreign,
    /// Not a usable URL.
    Invalid,
}

/// Admits sitemap entries in place (URL parsing dominates a large sitemap), on every core when `alone` (no
/// other document is being read meanwhile): each admitted entry's `loc` becomes the normalised URL, so no
/// second copy of the list is built, and is hashed for the merger. Order is kept.
fn admit_all(
    domains: &crate::url::Domains,
    rules: &PriorityRules,
    entries: &mut [sitemap::Entry],
    hash: fn(&str) -> u64,
    alone: bool,
) -> Vec<Admitted> {
    let one = |e: &mut sitemap::Entry| match domains.admit_in_place(&mut e.loc) {
        Ok(()) => Admitted::Yes {
            bonus: rules.bonus(&e.loc),
            hash: hash(&e.loc),
        },
        Err(crate::url::Reject::Foreign) => Admitted::Foreign,
        Err(crate::url::Reject::Invalid(_)) => Admitted::Invalid,
    };
    let threads = if alone {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        1
    };
    if threads <= 1 || entries.len() < 4096 {
        return entries.iter_mut().map(one).collect();
    }
    let mut out = vec![Admitted::Invalid; entries.len()];
    let chunk = entries.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (es, vs) in entries.chunks_mut(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(move || {
                for (e, v) in es.iter_mut().zip(vs.iter_mut()) {
                    *v = one(e);
                }
            });
        }
    });
    out
}

/// `[[priority]]` rules compiled once.
struct PriorityRules {
    rules: Vec<(globset::GlobMatcher, i64)>,
}

impl PriorityRules {
    fn new(rules: &[crate::config::PriorityRule]) -> crate::Result<Self> {
        let rules = rules
            .iter()
            .map(|r| {
                globset::GlobBuilder::new(&r.glob)
                    .literal_separator(true)
                    .build()
                    .map(|g| (g.compile_matcher(), r.priority))
                    .map_err(|e| crate::Error::Usage(format!("priority glob {:?}: {e}", r.glob)))
            })
            .collect::<crate::Result<_>>()?;
        Ok(Self { rules })
    }

    /// The sum of the priorities of every rule whose glob matches the URL's path (percent-decoded).
    fn bonus(&self, url: &str) -> i64 {
        if self.rules.is_empty() {
            return 0;
        }
        let Ok(u) = url::Url::parse(url) else {
            return 0;
        };
        let raw = u.path();
        let decoded = percent_decode(raw);
        self.rules
            .iter()
            .filter(|(g, _)| g.is_match(&decoded) || g.is_match(raw))
            .map(|(_, p)| *p)
            .sum()
    }
}

/// Percent-decodes a URL path through the `url` crate's `form_urlencoded` decoder (`+` kept as is).
fn percent_decode(path: &str) -> String {
    let protected = path.replace('+', "%2B");
    url::form_urlencoded::parse(format!("p={protected}").as_bytes())
        .next()
        .map_or_else(|| path.to_string(), |(_, v)| v.into_owned())
}

/// Merges assets by URL, in first-seen order.
///
/// The index holds asset positions keyed by a hash of their URL, not a copy of the URL (a million URLs would
/// double their memory): a lookup compares the URL of each candidate with the same hash, so two URLs sharing a
/// hash (crafted or not) only cost a comparison.
struct Merger {
    collected: Collected,
    /// Asset positions by the hash of their URL (FxHash, as the diff's URL sets: SipHash of a million URLs was
    /// a tenth of a large collect). 9 bytes a URL.
    index: hashbrown::HashTable<usize>,
    hash: fn(&str) -> u64,
}

impl Default for Merger {
    fn default() -> Self {
        Self {
            collected: Collected::default(),
            index: hashbrown::HashTable::new(),
            hash: fx_hash,
        }
    }
}

fn fx_hash(url: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(url)
}

impl Merger {
    /// Room for `n` more assets.
    fn reserve(&mut self, n: usize) {
        self.reserve_hint(n, n);
    }

    /// Room for `n` more assets now, and for `likely` more in all when that can be had: the assets' vector
    /// takes the whole guess (room it never fills is never touched, so it costs no memory), the index at most
    /// 8 times what it holds (its table is touched all over however few it holds).
    fn reserve_hint(&mut self, n: usize, likely: usize) {
        let (assets, hash) = (&self.collected.assets, self.hash);
        let held = assets.len().saturating_add(n);
        let index_more = likely
            .max(n)
            .min(held.saturating_mul(8).saturating_sub(assets.len()));
        if self
            .index
            .try_reserve(index_more, |&i| hash(&assets[i].url))
            .is_err()
        {
            self.index.reserve(n, |&i| hash(&assets[i].url));
        }
        if self.collected.assets.try_reserve(likely.max(n)).is_err() {
            self.collected.assets.reserve(n);
        }
    }

    /// The index of the asset with this URL, if any.
    fn find(&self, h: u64, url: &str) -> Option<usize> {
        let assets = &self.collected.assets;
        self.index.find(h, |&i| assets[i].url == url).copied()
    }

    fn add(&mut self, a: Asset) {
        self.add_hashed((self.hash)(&a.url), a);
    }

    /// [`Merger::add`] with the URL's hash already computed (by `self.hash`).
    fn add_hashed(&mut self, h: u64, a: Asset) {
        let Some(i) = self.find(h, &a.url) else {
            let i = self.collected.assets.len();
            let (assets, hash) = (&self.collected.assets, self.hash);
            self.index.insert_unique(h, i, |&j| hash(&assets[j].url));
            self.collected.assets.push(a);
            return;
        };
        let have = &mut self.collected.assets[i];
        have.priority = have.priority.max(a.priority);
        let is_file = |x: &Asset| {
            x.fingerprint
                .as_deref()
                .is_some_and(|f| f.starts_with("b3:"))
        };
        if is_file(&a) && !is_file(have) {
            have.fingerprint = a.fingerprint;
            have.bytes = a.bytes;
        } else if have.fingerprint.is_none() {
            have.fingerprint = a.fingerprint;
        }
        if have.lastmod.is_none() {
            have.lastmod = a.lastmod;
        }
        if have.sitemap_priority.is_none() {
            have.sitemap_priority = a.sitemap_priority;
        }
        if have.bytes.is_none() {
            have.bytes = a.bytes;
        }
    }

    fn add_files(
        &mut self,
        out: dir::FileOutput,
        priority: i64,
        domains: &crate::url::Domains,
        rules: &PriorityRules,
    ) {
        let c = &mut self.collected;
        c.skipped.add(&out.skipped);
        c.warnings.extend(out.warnings);
        for url in out.removed_urls {
            if domains.admit(&url).is_ok() {
                c.removed_urls.push(url);
            }
        }
        self.reserve(out.assets.len());
        for mut a in out.assets {
            match domains.admit_in_place(&mut a.url) {
                Ok(()) => {}
                Err(crate::url::Reject::Foreign) => {
                    self.collected.skipped.foreign_domain += 1;
                    continue;
                }
                Err(crate::url::Reject::Invalid(_)) => {
                    self.collected.skipped.invalid_url += 1;
                    continue;
                }
            }
            a.priority = priority + rules.bonus(&a.url);
            self.add(a);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;
    use crate::config::{Location, Mapping, PriorityRule, Settings, SourceSpec};
    use std::path::{Path, PathBuf};

    #[test]
    fn an_asset_stays_small() {
        // A million of them are collected, diffed and planned: every 8 bytes here is 8 MB there.
        assert_eq!(std::mem::size_of::<Option<Lastmod>>(), 8);
        assert!(
            std::mem::size_of::<Asset>() <= 96,
            "{}",
            std::mem::size_of::<Asset>()
        );
        // The bias keeps the extremes exact.
        for secs in [-62_135_596_800_i64, -1, 0, 1, 253_402_300_799] {
            let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
            assert_eq!(Lastmod::of(t).unwrap().unix_seconds(), secs);
        }
    }

    fn fixture(p: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(p)
    }

    fn settings(state_dir: &Path) -> Settings {
        let mut s = Settings::with_defaults(state_dir.to_path_buf());
        s.domains = vec!["https://www.example.com".into()];
        s.state.path = state_dir.join(".prewarm/state.json");
        let mapping = Mapping {
            root: fixture("site"),
            base_url: "https://www.example.com/".into(),
            include: vec![],
            exclude: vec!["**/*.map".into()],
            pretty_urls: true,
            hidden: false,
        };
        s.sources = vec![
            SourceSpec::Sitemap {
                location: Location::Path(fixture("site/sitemap.xml")),
                priority: 5,
            },
            SourceSpec::Dir {
                mapping: mapping.clone(),
                priority: 1,
            },
            SourceSpec::Changed {
                file: Some(fixture("changed/changed.txt")),
                mapping,
                priority: 0,
            },
        ];
        s.priority_rules = vec![
            PriorityRule {
                glob: "/blog/**".into(),
                priority: 10,
            },
            PriorityRule {
                glob: "/blog/café/".into(),
                priority: 100,
            },
        ];
        s
    }

    #[test]
    fn collects_merges_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let c = collect(&settings(dir.path())).unwrap();
        let urls: Vec<&str> = c.assets.iter().map(|a| a.url.as_str()).collect();
        // Sitemap order first, then files not in the sitemap, in walk order.
        assert_eq!(urls[0], "https://www.example.com/");
        assert_eq!(urls[6], "https://www.example.com/search?q=a&b=c");
        assert_eq!(urls[7], "https://www.example.com/404.html");
        assert_eq!(urls.len(), 7 + 6);
        let unique: std::collections::HashSet<_> = urls.iter().collect();
        assert_eq!(unique.len(), urls.len());
        assert_eq!(c.skipped.foreign_domain, 1);
        assert_eq!(c.skipped.missing_file, 1);
        assert_eq!(c.skipped.outside_root, 1);
        assert_eq!(c.removed_urls, ["https://www.example.com/old/deleted.html"]);
        let home = &c.assets[0];
        // The sitemap's priority, the file's fingerprint and size, the sitemap's lastmod.
        assert_eq!(home.priority, 5);
        assert!(home.fingerprint.as_deref().unwrap().starts_with("b3:"));
        assert_eq!(
            home.bytes,
            Some(std::fs::metadata(fixture("site/index.html")).unwrap().len())
        );
        assert_eq!(
            home.lastmod.map(|l| l.to_string()).as_deref(),
            Some("2024-05-06T07:08:09Z")
        );
        assert_eq!(home.sitemap_priority, Some(1.0));
        let search = &c.assets[6];
        assert_eq!(search.fingerprint, None);
        let by = |u: &str| c.assets.iter().find(|a| a.url == u).unwrap();
        assert_eq!(by("https://www.example.com/blog/post/").priority, 15);
        assert_eq!(by("https://www.example.com/blog/caf%C3%A9/").priority, 115);
        assert_eq!(by("https://www.example.com/css/site.css").priority, 1);
        assert_eq!(
            by("https://www.example.com/about.html")
                .fingerprint
                .as_deref()
                .map(|f| &f[..3]),
            Some("b3:")
        );
        assert!(c.warnings.iter().any(|w| w.contains("invalid <lastmod>")));
        // The stat cache was written next to the state file; a second run reads the same.
        assert!(dir.path().join(".prewarm/stat-cache").is_file());
        let again = collect(&settings(dir.path())).unwrap();
        assert_eq!(again.assets, c.assets);
    }

    #[test]
    fn a_bad_git_range_and_bad_input_stop() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        s.sources = vec![SourceSpec::Git {
            repo: dir.path().into(),
            range: "a..b".into(),
            prefix: PathBuf::new(),
            mapping: Mapping {
                root: dir.path().into(),
                base_url: "https://www.example.com/".into(),
                include: vec![],
                exclude: vec![],
                pretty_urls: true,
                hidden: false,
            },
            priority: 0,
        }];
        // Not a repository: git's own message, as a usage error.
        assert!(matches!(collect(&s), Err(crate::Error::Usage(_))));
        s.sources = vec![SourceSpec::Sitemap {
            location: Location::Path(fixture("sitemaps/malformed-truncated.xml")),
            priority: 0,
        }];
        assert!(matches!(collect(&s), Err(crate::Error::Input { .. })));
    }

    #[test]
    fn merger_survives_hash_collisions() {
        // Every URL shares one hash: the merger must still tell them apart and merge only equal ones.
        let mut m = Merger {
            hash: |_| 7,
            ..Merger::default()
        };
        for (url, prio) in [("/a", 1), ("/b", 2), ("/a", 5), ("/c", 3), ("/b", 0)] {
            let mut a = Asset::new(format!("https://h.example{url}"));
            a.priority = prio;
            m.add(a);
        }
        let got: Vec<(&str, i64)> = m
            .collected
            .assets
            .iter()
            .map(|a| (a.url.as_str(), a.priority))
            .collect();
        assert_eq!(
            got,
            [
                ("https://h.example/a", 5),
                ("https://h.example/b", 2),
                ("https://h.example/c", 3)
            ]
        );
        assert_eq!(m.find(7, "https://h.example/c"), Some(2));
        assert_eq!(m.find(7, "https://h.example/d"), None);
    }

    #[test]
    fn admits_many_in_parallel_in_order() {
        let d = crate::url::Domains::new(&["https://www.example.com".into()], 2000).unwrap();
        let rules = PriorityRules::new(&[PriorityRule {
            glob: "/even/*".into(),
            priority: 3,
        }])
        .unwrap();
        let input: Vec<sitemap::Entry> = (0..10_000)
            .map(|i| sitemap::Entry {
                loc: match i % 3 {
                    0 => format!("https://other.example/{i}"),
                    1 => format!(" HTTPS://WWW.EXAMPLE.COM/even/{i} "),
                    _ => format!("javascript:{i}"),
                },
                lastmod: None,
                priority: None,
            })
            .collect();
        // On every core (a document read alone) and on this thread only (one of an index's children).
        for alone in [true, false] {
            let mut entries = input.clone();
            let got = admit_all(&d, &rules, &mut entries, fx_hash, alone);
            assert_eq!(got.len(), 10_000);
            for (i, (e, v)) in entries.iter().zip(&got).enumerate() {
                match i % 3 {
                    0 => assert_eq!(*v, Admitted::Foreign),
                    1 => {
                        let url = format!("https://www.example.com/even/{i}");
                        assert_eq!(
                            *v,
                            Admitted::Yes {
                                bonus: 3,
                                hash: fx_hash(&url)
                            },
                            "the hash is the normalised URL's"
                        );
                        assert_eq!(e.loc, url);
                    }
                    _ => assert_eq!(*v, Admitted::Invalid),
                }
            }
        }
    }

    #[test]
    fn percent_decoding_for_rules() {
        assert_eq!(
            percent_decode("/blog/caf%C3%A9/a%20b+c"),
            "/blog/café/a b+c"
        );
    }
}
