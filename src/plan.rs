//! Plan: order the changed assets by priority and cut them into quota-aware, one-domain batches.
//!
//! Takes the [`PlannedUrl`]s the diff kept and the [`PlanLimits`] of this run; returns a [`Plan`]. Pure: no I/O,
//! no clock, never drops a URL (what the day's budget can't take is deferred, carried to the next run).
//!
//! # Order
//! Deterministic, most important first:
//! 1. backlog first (`from_backlog`: deferred by an earlier run);
//! 2. `asset.priority`, higher first;
//! 3. the sitemap's `<priority>`, higher first, none last;
//! 4. `lastmod`, newest first, none last;
//! 5. the URL, ascending.
//!
//! A URL listed twice keeps only its best-ranked entry. The first `min(budget, max_urls)` URLs are taken, the
//! rest are deferred in the same order. The taken URLs are cut into batches of at most `per_request` URLs, each
//! of a single origin (`scheme://host[:port]`): origins in the order of their first URL, the batches of one
//! origin consecutive, because batches go out one domain at a time.
//!
//! # Structure
//! The assets are never moved: a [`Plan`] keeps them in input order and holds the order as indices (sorted
//! compact keys, not 128-byte assets, so a million-URL plan for `prewarm urls` or a dry run permutes nothing).
//! [`Plan::into_batches`] makes owned batches, in order, for the push.

#[cfg(test)]
use std::cmp::Ordering;
#[cfg(test)]
use std::collections::HashSet;

use crate::sources::Asset;

/// An asset on its way to the CDN: the same type, so a million of them go from the readers through the diff
/// and the plan without being copied into another (`from_backlog` says it was deferred by an earlier run).
pub type PlannedUrl = Asset;

/// One API call's worth of URLs, all of one origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The origin (`https://www.example.com`).
    pub domain: String,
    /// At most `per_request` URLs.
    pub urls: Vec<PlannedUrl>,
}

/// One batch of a [`Plan`], borrowed: its URLs are indices into the plan's assets.
#[derive(Clone, Copy)]
pub struct BatchRef<'a> {
    /// The origin (`https://www.example.com`).
    pub domain: &'a str,
    /// The batch's URLs, as positions in `all`.
    order: &'a [u32],
    /// The plan's assets, in input order.
    all: &'a [PlannedUrl],
}

impl<'a> BatchRef<'a> {
    /// The URLs, in submission order (at most `per_request`).
    pub fn urls(&self) -> impl ExactSizeIterator<Item = &'a PlannedUrl> + Clone + use<'a> {
        let all = self.all;
        self.order.iter().map(move |&i| &all[i as usize])
    }

    /// How many URLs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether it has no URL (a plan's batches never are).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Equal when the domains and the URLs (the assets, in order) are.
impl PartialEq for BatchRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.domain == other.domain && self.urls().eq(other.urls())
    }
}

impl std::fmt::Debug for BatchRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchRef")
            .field("domain", &self.domain)
            .field("urls", &self.urls().collect::<Vec<_>>())
            .finish()
    }
}

/// What to send this run and what to hold back.
///
/// The assets stay where the input had them; the plan is an order over them (positions): the taken URLs, batch
/// after batch, then the deferred ones. A duplicate's worse entry is in no part of it. So a million-URL plan (a
/// dry run with a big quota, `prewarm urls`) moves no asset; [`Plan::into_batches`] makes owned batches for the
/// push.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Every input asset, in input order (duplicates' worse entries too, referenced by no position).
    assets: Vec<PlannedUrl>,
    /// Positions in `assets`: the `taken` URLs in submission order, then the deferred ones in plan order.
    order: Vec<u32>,
    /// How many of `order` are sent this run.
    taken: usize,
    /// The batches over `order[..taken]`, in order: (origin number, URL count).
    spans: Vec<(u32, usize)>,
    /// The batches' origins, by number.
    origins: Vec<String>,
}

/// Equal when they send the same batches and defer the same URLs, in the same order (the assets no batch and
/// no deferral refers to, duplicates' worse entries, don't count).
impl PartialEq for Plan {
    fn eq(&self, other: &Self) -> bool {
        self.batches() == other.batches() && self.deferred().eq(other.deferred())
    }
}

impl Plan {
    /// The batches in submission order.
    #[must_use]
    pub fn batches(&self) -> Vec<BatchRef<'_>> {
        let mut rest = &self.order[..self.taken];
        self.spans
            .iter()
            .map(|&(origin, len)| {
                let (order, after) = rest.split_at(len);
                rest = after;
                BatchRef {
                    domain: self.origins.get(origin as usize).map_or("", String::as_str),
                    order,
                    all: &self.assets,
                }
            })
            .collect()
    }

    /// How many batches.
    #[must_use]
    pub fn batch_count(&self) -> usize {
        self.spans.len()
    }

    /// The URLs to send, in submission order (the batches' URLs, batch after batch).
    pub fn taken(&self) -> impl ExactSizeIterator<Item = &PlannedUrl> + Clone {
        self.at(&self.order[..self.taken])
    }

    /// The URLs of all batches, in submission order.
    pub fn urls(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.taken().map(PlannedUrl::url)
    }

    /// How many URLs the batches hold.
    #[must_use]
    pub fn url_count(&self) -> usize {
        self.taken
    }

    /// The URLs held back by the day's budget or `--max-urls`, in plan order.
    pub fn deferred(&self) -> impl ExactSizeIterator<Item = &PlannedUrl> + Clone {
        self.at(&self.order[self.taken..])
    }

    /// How many URLs are deferred.
    #[must_use]
    pub fn deferred_count(&self) -> usize {
        self.order.len() - self.taken
    }

    /// Owned batches (for the push) and the deferred URLs, in order.
    #[must_use]
    pub fn into_batches(self) -> (Vec<Batch>, Vec<PlannedUrl>) {
        // Each asset is taken out of its slot once (the positions are distinct), so none is cloned.
        let mut slots: Vec<Option<PlannedUrl>> = self.assets.into_iter().map(Some).collect();
        let (taken, deferred) = self.order.split_at(self.taken);
        let mut take = |at: &[u32]| -> Vec<PlannedUrl> {
            at.iter()
                .filter_map(|&i| slots.get_mut(i as usize).and_then(Option::take))
                .collect()
        };
        let mut rest = taken;
        let batches = self
            .spans
            .iter()
            .map(|&(origin, len)| {
                let (at, after) = rest.split_at(len);
                rest = after;
                Batch {
                    domain: self
                        .origins
                        .get(origin as usize)
                        .cloned()
                        .unwrap_or_default(),
                    urls: take(at),
                }
            })
            .collect();
        (batches, take(deferred))
    }

    /// The assets at `positions`, in that order.
    fn at<'a>(
        &'a self,
        positions: &'a [u32],
    ) -> impl ExactSizeIterator<Item = &'a PlannedUrl> + Clone {
        positions.iter().map(|&i| &self.assets[i as usize])
    }
}

/// The numbers a plan is cut to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// URLs per call (the smaller of config and the API's limit).
    pub per_request: usize,
    /// URLs this run may spend (what's left today, after reserve, capped by the API's `Available`).
    pub budget: u64,
    /// `--max-urls`.
    pub max_urls: Option<usize>,
    /// The URLs are known to be distinct (the diff's output is): no duplicate check, a hash set of every URL.
    pub unique: bool,
}

/// Orders `planned` (see the module doc), takes what `limits` allow and cuts it into one-origin batches.
///
/// A `per_request` of 0 is treated as 1.
#[must_use]
pub fn plan(planned: Vec<PlannedUrl>, limits: PlanLimits) -> Plan {
    let (mut order, raw_origin, raw_origins) = order(&planned, limits.unique);

    let budget = usize::try_from(limits.budget).unwrap_or(usize::MAX);
    let take = budget
        .min(limits.max_urls.unwrap_or(usize::MAX))
        .min(order.len());

    let per_request = limits.per_request.max(1);
    // Group by origin, origins in order of first appearance: renumbered so, then a stable sort by that number
    // (skipped for the usual one-origin site).
    let mut renumber: Vec<Option<u32>> = vec![None; raw_origins.len()];
    let mut origins: Vec<String> = Vec::new();
    let mut origin_no: Vec<u32> = order[..take]
        .iter()
        .map(|&i| {
            let raw = raw_origin[i as usize];
            *renumber[raw as usize].get_or_insert_with(|| {
                origins.push(raw_origins[raw as usize].clone());
                u32::try_from(origins.len() - 1).unwrap_or(u32::MAX)
            })
        })
        .collect();
    if origins.len() > 1 {
        let mut tagged: Vec<(u32, u32)> = origin_no
            .iter()
            .copied()
            .zip(order[..take].iter().copied())
            .collect();
        tagged.sort_by_key(|&(n, _)| n);
        for ((n, at), (tn, ta)) in origin_no.iter_mut().zip(&mut order[..take]).zip(tagged) {
            *n = tn;
            *at = ta;
        }
    }
    let mut spans = Vec::with_capacity(take.div_ceil(per_request));
    let mut at = 0usize;
    while at < origin_no.len() {
        let n = origin_no[at];
        let run = origin_no[at..].iter().take_while(|&&m| m == n).count();
        spans.extend(
            (0..run)
                .step_by(per_request)
                .map(|s| (n, per_request.min(run - s))),
        );
        at += run;
    }
    Plan {
        assets: planned,
        order,
        taken: take,
        spans,
        origins,
    }
}

/// The sort key of [`rank`], precomputed once per URL: comparing these is the same order as `rank`, but the
/// numbers compare without touching the (large) `PlannedUrl`s, so a million URLs sort in a fraction of the time.
/// Everything before the URL is packed into two integers, smaller first meaning "goes first".
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    /// backlog (1 bit, 0 = from the backlog), priority (64 bits, descending), sitemap priority (1 bit, 0 =
    /// given; 32 bits, descending in `f32::total_cmp` order).
    hi: u128,
    /// lastmod (1 bit, 0 = given; 63 bits, newest first).
    lo: u64,
    /// The 16 URL bytes after the prefix all URLs of the plan share, zero-padded, big-endian: URLs compare as
    /// integers first and as text (through `at`) only when these are equal, which is rare.
    url_window: u128,
    /// The URL's index in the plan's input (48 bytes a key: a million sort in a quarter less memory than
    /// with the URL's `&str` in the key).
    at: u32,
}

/// The plan order of two keys: the numbers, then the URLs, then the input order.
fn cmp_keys(a: &Key, b: &Key, planned: &[PlannedUrl]) -> std::cmp::Ordering {
    (a.hi, a.lo, a.url_window)
        .cmp(&(b.hi, b.lo, b.url_window))
        .then_with(|| planned[a.at as usize].url.cmp(&planned[b.at as usize].url))
        .then(a.at.cmp(&b.at))
}

/// Plans at least twice this many URLs sort on two threads.
const PARALLEL_SORT_FROM: usize = 32_768;

fn key(p: &PlannedUrl, shared: usize, at: u32) -> Key {
    // Order-preserving maps of signed integers to unsigned ones, then reversed for "higher first".
    #[expect(clippy::cast_sign_loss, reason = "offset binary: the point")]
    let priority = u64::MAX - ((p.priority as u64) ^ (1 << 63));
    #[expect(clippy::cast_sign_loss, reason = "offset binary: the point")]
    let sitemap = p.sitemap_priority.map_or(1u64 << 32, |f| {
        u64::from(u32::MAX - ((total_order_bits(f) as u32) ^ (1 << 31)))
    });
    let hi =
        (u128::from(!p.from_backlog) << 127) | (u128::from(priority) << 33) | u128::from(sitemap);
    // A lastmod is within ±2^62 seconds of the epoch (years −1 to 9999): shifted into 0..2^63.
    #[expect(
        clippy::cast_sign_loss,
        reason = "shifted into the non-negative range first"
    )]
    let lo = p.lastmod.map_or(1u64 << 63, |l| {
        let shifted = l.unix_seconds().clamp(-(1 << 62), (1 << 62) - 1) + (1 << 62);
        ((1u64 << 63) - 1) - shifted as u64
    });
    let mut window = [0u8; 16];
    let tail = p.url.as_bytes().get(shared..).unwrap_or_default();
    let n = tail.len().min(16);
    window[..n].copy_from_slice(&tail[..n]);
    Key {
        hi,
        lo,
        url_window: u128::from_be_bytes(window),
        at,
    }
}

/// The integer whose order is `f32::total_cmp`'s.
fn total_order_bits(f: f32) -> i32 {
    #[expect(
        clippy::cast_possible_wrap,
        reason = "reinterpreting the bits is the point"
    )]
    let b = f.to_bits() as i32;
    #[expect(
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        reason = "bit manipulation"
    )]
    let flip = (((b >> 31) as u32) >> 1) as i32;
    b ^ flip
}

/// One half of the plan's input, keyed and sorted by the thread that read it.
struct Half {
    /// The half's keys, sorted.
    keys: Vec<Key>,
    /// Each URL's origin number (by position in the half), numbered in the half's order of appearance.
    origin: Vec<u32>,
    /// The half's origins by number.
    origins: Vec<String>,
}

/// Keys and sorts `part`, the URLs from position `base` of the plan's input on.
fn half(
    part: &[PlannedUrl],
    base: usize,
    shared: usize,
    cmp: impl Fn(&Key, &Key) -> std::cmp::Ordering,
) -> Half {
    // Each URL's origin is computed here, while the URLs are read in the order they were allocated (after the
    // sort every read is a cache miss).
    let mut origins: Vec<String> = Vec::new();
    let mut origin: Vec<u32> = Vec::with_capacity(part.len());
    let mut keys: Vec<Key> = Vec::with_capacity(part.len());
    for (i, p) in part.iter().enumerate() {
        // A plan of over 4 billion URLs would not fit in memory long before this.
        keys.push(key(p, shared, u32::try_from(base + i).unwrap_or(u32::MAX)));
        let o = origin_of(p.url());
        let n = match origins.iter().rposition(|known| *known == o) {
            Some(n) => n,
            None => {
                origins.push(o.into_owned());
                origins.len() - 1
            }
        };
        origin.push(u32::try_from(n).unwrap_or(u32::MAX));
    }
    keys.sort_unstable_by(cmp);
    Half {
        keys,
        origin,
        origins,
    }
}

/// The length of the prefix `first` shares with every URL of `part`.
fn shared_prefix(first: &str, part: &[PlannedUrl]) -> usize {
    part.iter().fold(first.len(), |n, p| {
        first.as_bytes()[..n]
            .iter()
            .zip(p.url.as_bytes())
            .take_while(|(a, b)| a == b)
            .count()
    })
}

/// Sorts by [`rank`] and drops later duplicates of a URL (the best-ranked entry stays): the positions in
/// `planned` of the URLs kept, in plan order; each URL's origin number (by position); the origins by number.
///
/// The keys are sorted, not the (large) `PlannedUrl`s, and nothing moves them: the order is the keys' positions.
/// Each half of the input is keyed and sorted on its own core (a large plan), then the halves are merged by
/// walking both: only the order is needed, not a merged vector of keys.
fn order(planned: &[PlannedUrl], unique: bool) -> (Vec<u32>, Vec<u32>, Vec<String>) {
    let total = planned.len();
    let (first_half, second_half) = planned.split_at(total / 2);
    let two_cores = first_half.len() >= PARALLEL_SORT_FROM
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let first = planned.first().map_or("", |p| p.url.as_str());
    // The prefix every URL shares (the site's origin, often more).
    let shared = if two_cores {
        std::thread::scope(|s| {
            let other = s.spawn(|| shared_prefix(first, second_half));
            let mine = shared_prefix(first, first_half);
            // (0 is always right, only slower.)
            other.join().map_or(0, |theirs| mine.min(theirs))
        })
    } else {
        shared_prefix(first, planned)
    };
    let cmp = |a: &Key, b: &Key| cmp_keys(a, b, planned);
    let (left, right) = if two_cores {
        std::thread::scope(|s| {
            let other = s.spawn(|| half(second_half, first_half.len(), shared, cmp));
            let mine = half(first_half, 0, shared, cmp);
            let theirs = other
                .join()
                .unwrap_or_else(|_| half(second_half, first_half.len(), shared, cmp));
            (mine, theirs)
        })
    } else {
        (
            half(first_half, 0, shared, cmp),
            half(second_half, first_half.len(), shared, cmp),
        )
    };
    // The origins numbered in input order: the first half's, then the second half's new ones in its order.
    let mut origins = left.origins;
    let renumber: Vec<u32> = right
        .origins
        .into_iter()
        .map(|o| {
            let n = origins
                .iter()
                .position(|known| *known == o)
                .unwrap_or_else(|| {
                    origins.push(o);
                    origins.len() - 1
                });
            u32::try_from(n).unwrap_or(u32::MAX)
        })
        .collect();
    let mut raw_origin = left.origin;
    raw_origin.extend(right.origin.iter().map(|&n| renumber[n as usize]));
    let (left, right) = (left.keys, right.keys);
    let mut seen: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
    if !unique {
        seen.reserve(total);
    }
    let mut kept: Vec<u32> = Vec::with_capacity(total);
    let (mut l, mut r) = (left.iter().peekable(), right.iter().peekable());
    loop {
        let next = match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => {
                if cmp(a, b).is_le() {
                    l.next()
                } else {
                    r.next()
                }
            }
            (Some(_), None) => l.next(),
            (None, _) => r.next(),
        };
        let Some(k) = next else { break };
        if unique || seen.insert(planned[k.at as usize].url.as_str()) {
            kept.push(k.at);
        }
    }
    (kept, raw_origin, origins)
}

/// The plan order: `Less` goes first. (The spec of the order; [`Key`] computes the same faster.)
#[cfg(test)]
fn rank(a: &PlannedUrl, b: &PlannedUrl) -> Ordering {
    b.from_backlog
        .cmp(&a.from_backlog)
        .then_with(|| b.priority.cmp(&a.priority))
        .then_with(|| desc_none_last(a.sitemap_priority, b.sitemap_priority, f32::total_cmp))
        .then_with(|| desc_none_last(a.lastmod, b.lastmod, |x, y| x.cmp(y)))
        .then_with(|| a.url.cmp(&b.url))
}

/// Higher values first, `None` after every value.
#[cfg(test)]
fn desc_none_last<T>(a: Option<T>, b: Option<T>, cmp: impl Fn(&T, &T) -> Ordering) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => cmp(&y, &x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// `scheme://host[:port]` of a URL. Admitted URLs are already normalised (lower-case host, default port dropped,
/// a path always present), so the origin is the text before the first `/` after `://`; anything else goes
/// through the `url` crate.
fn origin_of(u: &str) -> std::borrow::Cow<'_, str> {
    // (`str::find` with a pattern is a two-way search: slow for a million short URLs.)
    let scheme_end = if u.starts_with("https://") {
        Some(5)
    } else if u.starts_with("http://") {
        Some(4)
    } else {
        u.find("://")
    };
    if let Some(i) = scheme_end {
        let after = &u[i + 3..];
        let end = after
            .bytes()
            .position(|b| b == b'/')
            .map_or(u.len(), |j| i + 3 + j);
        let origin = &u[..end];
        let default_port = origin.ends_with(":443") || origin.ends_with(":80");
        if !default_port
            && !origin.contains(['@', '?', '#'])
            && !origin.bytes().any(|b| b.is_ascii_uppercase())
        {
            return std::borrow::Cow::Borrowed(origin);
        }
    }
    std::borrow::Cow::Owned(origin_of_slow(u))
}

fn origin_of_slow(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(parsed) if parsed.has_host() => parsed.origin().ascii_serialization(),
        _ => {
            let after_scheme = u.find("://").map_or(0, |i| i + 3);
            let end = u[after_scheme..]
                .find('/')
                .map_or(u.len(), |i| after_scheme + i);
            u[..end].to_ascii_lowercase()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (no clippy.toml `allow-unwrap-in-tests` yet)
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn p(url: &str) -> PlannedUrl {
        PlannedUrl {
            from_backlog: false,
            ..Asset::new(url)
        }
    }

    /// Six URLs alternating between two hosts, priorities 10, 9, … 5 (so the hosts interleave in plan order).
    fn interleaved(even: &str, odd: &str) -> Vec<PlannedUrl> {
        (0..6)
            .map(|i| {
                let host = if i % 2 == 0 { even } else { odd };
                let mut x = p(&format!("{host}/{i}"));
                x.priority = 10 - i;
                x
            })
            .collect()
    }

    fn limits(per_request: usize, budget: u64, max_urls: Option<usize>) -> PlanLimits {
        PlanLimits {
            unique: false,
            per_request,
            budget,
            max_urls,
        }
    }

    fn batch_urls(plan: &Plan) -> Vec<Vec<&str>> {
        plan.batches()
            .iter()
            .map(|b| b.urls().map(PlannedUrl::url).collect())
            .collect()
    }

    #[test]
    fn ordering_table() {
        let mk = |url: &str, backlog: bool, prio: i64, sp: Option<f32>, lastmod: Option<&str>| {
            let mut x = p(url);
            x.from_backlog = backlog;
            x.priority = prio;
            x.sitemap_priority = sp;
            x.lastmod = lastmod.and_then(crate::sources::Lastmod::parse);
            x
        };
        let input = vec![
            mk("https://a.example/z-plain", false, 0, None, None),
            mk("https://a.example/a-plain", false, 0, None, None),
            mk(
                "https://a.example/old",
                false,
                0,
                None,
                Some("2024-01-01T00:00:00Z"),
            ),
            mk(
                "https://a.example/new",
                false,
                0,
                None,
                Some("2024-06-01T00:00:00Z"),
            ),
            mk("https://a.example/sp-low", false, 0, Some(0.1), None),
            mk(
                "https://a.example/sp-high",
                false,
                0,
                Some(0.9),
                Some("2020-01-01T00:00:00Z"),
            ),
            mk("https://a.example/prio-5", false, 5, None, None),
            mk("https://a.example/prio-neg", false, -1, Some(1.0), None),
            mk("https://a.example/backlog-low", true, -10, None, None),
            mk("https://a.example/backlog-high", true, 3, None, None),
        ];
        let plan = plan(input, limits(100, 100, None));
        assert_eq!(
            plan.urls().collect::<Vec<_>>(),
            vec![
                "https://a.example/backlog-high",
                "https://a.example/backlog-low",
                "https://a.example/prio-5",
                "https://a.example/sp-high",
                "https://a.example/sp-low",
                "https://a.example/new",
                "https://a.example/old",
                "https://a.example/a-plain",
                "https://a.example/z-plain",
                "https://a.example/prio-neg",
            ]
        );
        assert_eq!(plan.deferred_count(), 0);
    }

    #[test]
    fn budget_cuts_and_defers_in_order() {
        let input: Vec<_> = (0..10)
            .map(|i| p(&format!("https://a.example/{i}")))
            .collect();
        let plan = plan(input, limits(20, 4, None));
        assert_eq!(plan.url_count(), 4);
        assert_eq!(
            plan.urls().collect::<Vec<_>>(),
            [
                "https://a.example/0",
                "https://a.example/1",
                "https://a.example/2",
                "https://a.example/3"
            ]
        );
        let deferred: Vec<_> = plan.deferred().map(PlannedUrl::url).collect();
        assert_eq!(
            deferred,
            (4..10)
                .map(|i| format!("https://a.example/{i}"))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn max_urls_caps_below_budget() {
        let input: Vec<_> = (0..10)
            .map(|i| p(&format!("https://a.example/{i}")))
            .collect();
        let plan = plan(input.clone(), limits(20, 1000, Some(3)));
        assert_eq!(plan.url_count(), 3);
        assert_eq!(plan.deferred_count(), 7);
        // and the budget wins when it is smaller
        let plan = super::plan(input, limits(20, 2, Some(3)));
        assert_eq!(plan.url_count(), 2);
        assert_eq!(plan.deferred_count(), 8);
    }

    #[test]
    fn forty_five_urls_make_20_20_5() {
        let input: Vec<_> = (0..45)
            .map(|i| p(&format!("https://a.example/{i:02}")))
            .collect();
        let plan = plan(input, limits(20, 1000, None));
        let sizes: Vec<_> = plan.batches().iter().map(BatchRef::len).collect();
        assert_eq!(sizes, [20, 20, 5]);
        assert!(
            plan.batches()
                .iter()
                .all(|b| b.domain == "https://a.example")
        );
        assert_eq!(
            plan.batches()[2].urls().nth(4).map(PlannedUrl::url),
            Some("https://a.example/44")
        );
    }

    #[test]
    fn one_domain_per_batch_domains_in_first_seen_order() {
        // Priorities interleave the two domains: www (10), static (9), www (8), static (7), ...
        let input = interleaved("https://www.example.com", "https://static.example.com:8443");
        let plan = plan(input, limits(2, 1000, None));
        let domains: Vec<_> = plan.batches().iter().map(|b| b.domain).collect();
        assert_eq!(
            domains,
            [
                "https://www.example.com",
                "https://www.example.com",
                "https://static.example.com:8443",
                "https://static.example.com:8443"
            ]
        );
        assert_eq!(
            batch_urls(&plan),
            vec![
                vec!["https://www.example.com/0", "https://www.example.com/2"],
                vec!["https://www.example.com/4"],
                vec![
                    "https://static.example.com:8443/1",
                    "https://static.example.com:8443/3"
                ],
                vec!["https://static.example.com:8443/5"],
            ]
        );
    }

    #[test]
    fn per_request_one_and_zero() {
        let input: Vec<_> = (0..3)
            .map(|i| p(&format!("https://a.example/{i}")))
            .collect();
        let plan1 = plan(input.clone(), limits(1, 1000, None));
        assert_eq!(
            batch_urls(&plan1),
            vec![
                vec!["https://a.example/0"],
                vec!["https://a.example/1"],
                vec!["https://a.example/2"]
            ]
        );
        let plan0 = plan(input, limits(0, 1000, None));
        assert_eq!(plan0, plan1);
    }

    #[test]
    fn budget_zero_defers_everything() {
        let input: Vec<_> = (0..3)
            .map(|i| p(&format!("https://a.example/{i}")))
            .collect();
        let plan = plan(input, limits(20, 0, None));
        assert!(plan.batches().is_empty());
        assert_eq!(plan.deferred_count(), 3);
    }

    #[test]
    fn duplicate_url_kept_once_best_ranked() {
        let mut high = p("https://a.example/x");
        high.priority = 5;
        let plan = plan(
            vec![
                p("https://a.example/x"),
                high.clone(),
                p("https://a.example/y"),
            ],
            limits(20, 1000, None),
        );
        assert_eq!(plan.url_count(), 2);
        assert_eq!(plan.batches()[0].urls().next(), Some(&high));
    }

    #[test]
    fn duplicates_are_in_no_batch_and_not_deferred() {
        // Each URL three times, the best entry last in the input; a budget cut in the middle.
        let mut input = Vec::new();
        for prio in 0..3 {
            for i in 0..5 {
                let mut x = p(&format!("https://a.example/{i}"));
                x.priority = prio;
                x.bytes = Some(u64::try_from(prio).unwrap());
                input.push(x);
            }
        }
        let plan = plan(input, limits(2, 3, None));
        let want: Vec<String> = (0..5).map(|i| format!("https://a.example/{i}")).collect();
        assert_eq!(
            batch_urls(&plan),
            vec![vec![want[0].as_str(), &want[1]], vec![&want[2]]]
        );
        let deferred: Vec<_> = plan.deferred().map(PlannedUrl::url).collect();
        assert_eq!(deferred, [&want[3], &want[4]]);
        assert_eq!(plan.deferred_count(), 2);
        assert!(
            plan.taken()
                .chain(plan.deferred())
                .all(|x| x.priority == 2 && x.bytes == Some(2))
        );
        let (batches, deferred) = plan.into_batches();
        assert_eq!(
            batches.iter().map(|b| b.urls.len()).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(
            deferred.iter().map(PlannedUrl::url).collect::<Vec<_>>(),
            [&want[3], &want[4]]
        );
        assert!(
            batches
                .iter()
                .flat_map(|b| &b.urls)
                .chain(&deferred)
                .all(|x| x.priority == 2)
        );
    }

    #[test]
    fn an_empty_plan_has_nothing() {
        for unique in [false, true] {
            let plan = plan(
                Vec::new(),
                PlanLimits {
                    unique,
                    ..limits(20, 1000, None)
                },
            );
            assert_eq!(plan, Plan::default());
            assert!(plan.batches().is_empty());
            assert_eq!(
                (plan.batch_count(), plan.url_count(), plan.deferred_count()),
                (0, 0, 0)
            );
            assert_eq!(plan.urls().count(), 0);
            assert_eq!(plan.into_batches(), (Vec::new(), Vec::new()));
        }
    }

    #[test]
    fn deferred_stay_in_plan_order_across_origins() {
        // Only the taken part is grouped by origin; the deferred part is in plan order.
        let input = interleaved("https://a.example", "https://b.example");
        let plan = plan(input, limits(5, 3, None));
        assert_eq!(
            batch_urls(&plan),
            vec![
                vec!["https://a.example/0", "https://a.example/2"],
                vec!["https://b.example/1"]
            ]
        );
        let deferred: Vec<_> = plan.deferred().map(PlannedUrl::url).collect();
        assert_eq!(
            deferred,
            [
                "https://b.example/3",
                "https://a.example/4",
                "https://b.example/5"
            ]
        );
        let (batches, owned) = plan.clone().into_batches();
        assert_eq!(
            batches,
            plan.batches()
                .iter()
                .map(|b| Batch {
                    domain: b.domain.to_owned(),
                    urls: b.urls().cloned().collect()
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(owned, plan.deferred().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn origin_of_handles_ports_and_fallback() {
        assert_eq!(
            origin_of("https://www.example.com/a/b?c"),
            "https://www.example.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            origin_of("https://www.example.com:443/x"),
            "https://www.example.com"
        );
        assert_eq!(origin_of("not a url/x"), "not a url");
    }

    #[test]
    fn a_plan_large_enough_for_two_cores_orders_as_rank_and_numbers_origins_in_input_order() {
        // Each half is keyed and sorted on its own thread: the merged order, the duplicates dropped across the
        // halves and the origin numbering must be what one pass over the input gives.
        let n = 2 * PARALLEL_SORT_FROM + 1001;
        let hosts = |i: usize| {
            if i < n / 2 {
                ["https://b.example", "https://a.example"][i % 2]
            } else {
                // The second half brings a new origin first and repeats the first half's in the other order.
                [
                    "https://c.example",
                    "https://a.example",
                    "https://b.example",
                ][i % 3]
            }
        };
        let input: Vec<PlannedUrl> = (0..n)
            .map(|i| {
                // Every 7th URL of the second half repeats one of the first.
                let at = if i >= n / 2 && i % 7 == 0 {
                    i - n / 2
                } else {
                    i
                };
                let mut x = p(&format!("{}/{}", hosts(at), at % 5000));
                x.priority = i64::try_from(i % 3).unwrap();
                x.lastmod =
                    crate::sources::Lastmod::parse(&format!("2024-01-{:02}T00:00:00Z", 1 + i % 28));
                x
            })
            .collect();
        let (kept, raw_origin, origins) = order(&input, false);
        let mut by_rank: Vec<usize> = (0..n).collect();
        by_rank.sort_by(|&a, &b| rank(&input[a], &input[b]).then(a.cmp(&b)));
        let mut seen = HashSet::new();
        by_rank.retain(|&i| seen.insert(input[i].url.clone()));
        let kept: Vec<usize> = kept.iter().map(|&i| i as usize).collect();
        assert_eq!(kept, by_rank);
        let mut first_seen: Vec<String> = Vec::new();
        for x in &input {
            let o = origin_of(&x.url).into_owned();
            if !first_seen.contains(&o) {
                first_seen.push(o);
            }
        }
        assert_eq!(origins, first_seen);
        assert_eq!(
            first_seen,
            [
                "https://b.example",
                "https://a.example",
                "https://c.example"
            ]
        );
        for (i, x) in input.iter().enumerate() {
            assert_eq!(origins[raw_origin[i] as usize], origin_of(&x.url), "{i}");
        }
    }

    proptest! {
        #[test]
        fn the_fast_key_orders_exactly_as_rank(
            specs in proptest::collection::vec(
                (0u8..4, -2i64..3, proptest::option::of(-3i8..12), proptest::option::of(0u8..4), any::<bool>()),
                0..80,
            ),
        ) {
            let input: Vec<PlannedUrl> = specs
                .iter()
                .enumerate()
                .map(|(i, (u, prio, sp, lm, backlog))| {
                    // Duplicate URLs on purpose (u only has 4 values per i % 3): the best-ranked one must stay.
                    let mut x = p(&format!("https://h.example/{}-{u}", i % 3));
                    x.priority = *prio;
                    x.sitemap_priority = sp.map(|s| f32::from(s) / 10.0 - 0.5);
                    x.lastmod = lm.and_then(|d| crate::sources::Lastmod::parse(&format!("2024-01-0{}T00:00:00Z", d + 1)));
                    x.from_backlog = *backlog;
                    x
                })
                .collect();
            let mut by_rank = input.clone();
            by_rank.sort_by(rank);
            let mut seen = HashSet::new();
            by_rank.retain(|x| seen.insert(x.url.clone()));
            let ordered = |input: &[PlannedUrl], unique| -> Vec<PlannedUrl> {
                order(input, unique).0.iter().map(|&i| input[i as usize].clone()).collect()
            };
            prop_assert_eq!(ordered(&input, false), by_rank.clone());
            // Told the URLs are distinct (after the same dedupe), the order is the same.
            let mut seen = HashSet::new();
            let distinct: Vec<PlannedUrl> = input.into_iter().filter(|x| seen.insert(x.url.clone())).collect();
            let mut by_rank_distinct = distinct.clone();
            by_rank_distinct.sort_by(rank);
            prop_assert_eq!(ordered(&distinct, true), by_rank_distinct);
        }

        #[test]
        fn the_packed_key_orders_extremes_as_rank(
            specs in proptest::collection::vec(
                (any::<i64>(), proptest::option::of(any::<f32>()), proptest::option::of(-62_167_219_200i64..253_402_300_799), any::<bool>()),
                0..40,
            ),
        ) {
            let input: Vec<PlannedUrl> = specs
                .iter()
                .enumerate()
                .map(|(i, (prio, sp, lm, backlog))| {
                    let mut x = p(&format!("https://h.example/{i}"));
                    x.priority = *prio;
                    x.sitemap_priority = *sp;
                    x.lastmod = lm.and_then(|s| crate::sources::Lastmod::of(time::OffsetDateTime::from_unix_timestamp(s).unwrap()));
                    x.from_backlog = *backlog;
                    x
                })
                .collect();
            for a in &input {
                for b in &input {
                    prop_assert_eq!(cmp_keys(&key(a, 0, 0), &key(b, 0, 1), &[a.clone(), b.clone()]), rank(a, b).then(std::cmp::Ordering::Less), "{:?} vs {:?}", a, b);
                    // With the shared prefix skipped, the URL window decides first.
                    prop_assert_eq!(cmp_keys(&key(a, 18, 0), &key(b, 18, 1), &[a.clone(), b.clone()]), rank(a, b).then(std::cmp::Ordering::Less), "{:?} vs {:?}", a, b);
                }
            }
        }

        #[test]
        fn duplicates_plan_as_their_best_entries_alone(
            specs in proptest::collection::vec((0u8..12, 0u8..3, -1i64..2, proptest::option::of(0u8..3)), 0..60),
            per_request in 1usize..6,
            budget in 0u64..20,
        ) {
            // The entries of one URL differ in rank or, when tied, in `bytes`: the earliest best one stays.
            let input: Vec<PlannedUrl> = specs
                .iter()
                .enumerate()
                .map(|(i, (id, host, prio, sp))| {
                    let mut x = p(&format!("https://h{host}.example/{id}"));
                    x.priority = *prio;
                    x.sitemap_priority = sp.map(|s| f32::from(s) / 10.0);
                    x.bytes = Some(i as u64);
                    x
                })
                .collect();
            let mut best = input.clone();
            best.sort_by(rank);
            let mut seen = HashSet::new();
            best.retain(|x| seen.insert(x.url.clone()));
            let lim = PlanLimits { per_request, budget, max_urls: None, unique: false };
            let with_dups = plan(input, lim);
            let alone = plan(best, PlanLimits { unique: true, ..lim });
            prop_assert_eq!(&with_dups, &alone);
            prop_assert_eq!(with_dups.clone().into_batches(), alone.into_batches());
            let referenced = with_dups.url_count() + with_dups.deferred_count();
            prop_assert_eq!(referenced, seen.len());
        }

        #[test]
        fn plan_never_loses_or_duplicates(
            specs in proptest::collection::btree_map(0u16..500, (0u8..3, -2i64..3, proptest::option::of(0u8..10), any::<bool>()), 0..120),
            per_request in 1usize..25,
            budget in 0u64..150,
            max_urls in proptest::option::of(0usize..150),
        ) {
            let input: Vec<PlannedUrl> = specs
                .iter()
                .map(|(id, (host, prio, sp, backlog))| {
                    let mut x = p(&format!("https://h{host}.example/{id}"));
                    x.priority = *prio;
                    x.sitemap_priority = sp.map(|s| f32::from(s) / 10.0);
                    x.from_backlog = *backlog;
                    x
                })
                .collect();
            let plan = plan(input.clone(), PlanLimits { per_request, budget, max_urls, unique: false });
            // The owned batches for the push are the borrowed ones.
            let (owned, owned_deferred) = plan.clone().into_batches();
            let borrowed: Vec<(String, Vec<PlannedUrl>)> = plan.batches().iter().map(|b| (b.domain.to_owned(), b.urls().cloned().collect())).collect();
            prop_assert_eq!(owned.into_iter().map(|b| (b.domain, b.urls)).collect::<Vec<_>>(), borrowed);
            prop_assert_eq!(&owned_deferred, &plan.deferred().cloned().collect::<Vec<_>>());
            prop_assert_eq!(plan.taken().collect::<Vec<_>>(), plan.batches().iter().flat_map(BatchRef::urls).collect::<Vec<_>>());
            // The URLs are distinct here: the unique mode must plan the same.
            prop_assert_eq!(&super::plan(input.clone(), PlanLimits { per_request, budget, max_urls, unique: true }), &plan);
            let mut out: Vec<String> = plan.urls().map(str::to_owned).collect();
            let taken = out.len();
            out.extend(plan.deferred().map(|d| d.url.clone()));
            let mut sorted_out = out.clone();
            sorted_out.sort();
            let mut sorted_in: Vec<String> = input.iter().map(|i| i.url.clone()).collect();
            sorted_in.sort();
            prop_assert_eq!(sorted_out, sorted_in);
            prop_assert!(taken as u64 <= budget);
            prop_assert!(taken <= max_urls.unwrap_or(usize::MAX));
            prop_assert_eq!(taken, input.len().min(budget as usize).min(max_urls.unwrap_or(usize::MAX)));
            for b in &plan.batches() {
                prop_assert!(!b.is_empty() && b.len() <= per_request);
                prop_assert_eq!(b.len(), b.urls().count());
                prop_assert!(b.urls().all(|u| origin_of(u.url()) == b.domain));
            }
            // batches of one domain are consecutive
            let mut finished: Vec<&str> = Vec::new();
            for w in plan.batches().windows(2) {
                if w[0].domain != w[1].domain {
                    prop_assert!(!finished.contains(&w[1].domain));
                    finished.push(w[0].domain);
                }
            }
        }
    }
}
