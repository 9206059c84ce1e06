//! Diff: keep only the new or changed assets, against durable state or a previous deploy's manifest.
//!
//! Takes the collected [`Asset`]s, a [`Baseline`] (what the CDN last accepted: [`crate::state::State`] or a
//! [`crate::manifest::Manifest`]), the deferred backlog and the URLs the sources saw deleted; returns
//! [`Changes`]: what to plan (backlog first), how many were unchanged, and which known URLs are gone.
//! Pure: no I/O, no clock, and it never changes the baseline (the caller applies `gone` to state).
//!
//! Rules:
//! - an asset is planned when its URL is not in the baseline, or its fingerprint differs from the accepted one;
//!   an asset without a fingerprint is planned only when its URL is not in the baseline (planned once);
//!   `all` plans every asset;
//! - backlog entries go first (`from_backlog = true`); a backlog URL that is also an asset goes once, carrying
//!   the asset (its newest fingerprint); a backlog URL that is not an asset is dropped when the sources are
//!   `complete` (it disappeared from the site) and kept otherwise (a partial run says nothing about it);
//! - explicitly removed URLs (deleted files) leave the backlog and are reported in `gone`, unless an asset
//!   has the same URL;
//! - `gone` also lists the baseline URLs missing from the assets, only when `complete`; it is sorted.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::plan::PlannedUrl;
use crate::sources::Asset;
use crate::state::BacklogEntry;

/// What the CDN last accepted, per URL.
///
/// URLs have positions `0..len()`: [`Baseline::find`] gives a URL's, [`Baseline::urls`] yields them in that
/// order. The diff uses the positions to mark the URLs it has seen without building an index of its own.
pub trait Baseline {
    /// The position and accepted fingerprint (`""` for an asset that had none) of `url`, or `None` when it was
    /// never accepted.
    fn find(&self, url: &str) -> Option<(usize, &str)>;

    /// The accepted fingerprint of `url`, or `None` when never accepted.
    fn fingerprint(&self, url: &str) -> Option<&str> {
        self.find(url).map(|(_, fp)| fp)
    }

    /// A hint that `url` is looked up soon: an implementation may bring the memory the lookup reads closer
    /// (the diff announces a few lookups ahead, so their cache misses overlap instead of queueing). No effect
    /// on any answer.
    fn touch(&self, _url: &str) {}

    /// Every URL it knows, in position order.
    fn urls(&self) -> Box<dyn Iterator<Item = &str> + '_>;

    /// How many URLs it knows.
    fn len(&self) -> usize;

    /// True when it knows no URL.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How to diff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// `--all`: plan every asset, changed or not.
    pub all: bool,
    /// The sources list the whole site (sitemaps, build folders): URLs they don't list are gone.
    pub complete: bool,
    /// The assets' URLs are known to be distinct ([`crate::sources::collect`] merges them): the diff then
    /// skips its own duplicate check, a hash set of every new URL.
    pub assets_unique: bool,
}

/// What the diff kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// To plan: backlog entries first (in backlog order), then new or changed assets in input order.
    pub planned: Vec<PlannedUrl>,
    /// Assets unchanged since the last accepted push.
    pub unchanged: u64,
    /// URLs that left the site (sorted): to forget in state.
    pub gone: Vec<String>,
}

/// What the first pass decided for one asset.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// A later copy of an earlier asset's URL.
    Duplicate,
    /// Planned with the backlog.
    Backlog,
    /// Planned with the backlog, and already taken into the plan.
    Carried,
    /// New or changed.
    Fresh,
    /// Same fingerprint as accepted.
    Unchanged,
}

/// Assets at least this many are looked up on two threads.
const PARALLEL_FROM: usize = 65_536;

/// What [`lookup_all`] found for one asset, in 8 bytes (a million of them): its baseline position and whether
/// its fingerprint is the accepted one (no fingerprint counts as the same), or nothing.
#[derive(Clone, Copy)]
struct Found(u64);

impl Found {
    const NONE: Self = Self(u64::MAX);

    fn new(found: Option<(usize, bool)>) -> Self {
        match found {
            // Positions are below the baseline's length, far below 2^63.
            Some((pos, same)) => Self(((pos as u64) << 1) | u64::from(same)),
            None => Self::NONE,
        }
    }

    fn get(self) -> Option<(usize, bool)> {
        let pos = usize::try_from(self.0 >> 1).ok()?;
        (self.0 != u64::MAX).then_some((pos, self.0 & 1 == 1))
    }
}

/// Lookups announced ahead ([`Baseline::touch`]).
pub(crate) const AHEAD: usize = 16;

/// Each asset's [`Found`].
fn lookup_all(assets: &[Asset], baseline: &(dyn Baseline + Sync)) -> Vec<Found> {
    let look = |a: &Asset| {
        Found::new(
            baseline
                .find(&a.url)
                .map(|(pos, old)| (pos, a.fingerprint_matches(old))),
        )
    };
    // Filled in place, half on each core (no second vector to copy the other half from).
    let mut found = vec![Found::NONE; assets.len()];
    let mid = assets.len() / 2;
    let (first, second) = assets.split_at(mid);
    let (out_first, out_second) = found.split_at_mut(mid);
    let fill = |assets: &[Asset], out: &mut [Found]| {
        // Announced a group at a time: the group's probes are independent, so their misses overlap.
        for (group, out) in assets.chunks(AHEAD).zip(out.chunks_mut(AHEAD)) {
            for a in group {
                baseline.touch(&a.url);
            }
            for (a, f) in group.iter().zip(out) {
                *f = look(a);
            }
        }
    };
    if assets.len() < PARALLEL_FROM {
        fill(assets, &mut found);
        return found;
    }
    let lost = std::thread::scope(|scope| {
        let other = scope.spawn(|| fill(second, out_second));
        fill(first, out_first);
        other.join().is_err()
    });
    if lost {
        // The lookup can't panic on its own; should the thread be lost anyway, redo its half here.
        fill(second, &mut found[mid..]);
    }
    found
}

/// Diffs `assets` against `baseline` and `backlog`, dropping `removed` (see the module doc for the rules).
#[must_use]
pub fn diff(
    assets: Vec<Asset>,
    baseline: &(dyn Baseline + Sync),
    backlog: &[BacklogEntry],
    removed: &[String],
    opts: DiffOptions,
) -> Changes {
    let mut decision = vec![Decision::Fresh; assets.len()];
    let mut unchanged = 0u64;
    // Backlog entry (first of its URL) → the asset that carries it.
    let mut carried: Vec<Option<usize>> = vec![None; backlog.len()];
    let mut gone: Vec<String>;
    let mut removed_now: Vec<&str>;
    // Each backlog URL → its first entry (a later entry of the same URL is dropped).
    let mut backlog_pos: FxHashMap<&str, usize> = FxHashMap::default();
    backlog_pos.reserve(backlog.len());
    for (i, e) in backlog.iter().enumerate() {
        backlog_pos.entry(e.url.as_str()).or_insert(i);
    }
    {
        // Pass one borrows the assets: mark seen baseline positions, compare fingerprints, match the backlog.
        let mut seen = vec![false; baseline.len()];
        let mut seen_count = 0usize;
        let mut new_urls: FxHashSet<&str> = FxHashSet::default();
        // With distinct assets only the removed URLs need checking against them.
        let removed_set: FxHashSet<&str> = if opts.assets_unique {
            removed.iter().map(String::as_str).collect()
        } else {
            new_urls.reserve(assets.len().saturating_sub(baseline.len()));
            FxHashSet::default()
        };
        let found = lookup_all(&assets, baseline);
        for (i, (asset, found)) in assets.iter().zip(found).enumerate() {
            let accepted_same = match found.get() {
                Some((pos, same)) => {
                    if std::mem::replace(&mut seen[pos], true) {
                        decision[i] = Decision::Duplicate;
                        continue;
                    }
                    seen_count += 1;
                    Some(same)
                }
                None if opts.assets_unique => {
                    if removed_set.contains(asset.url.as_str()) {
                        new_urls.insert(asset.url.as_str());
                    }
                    None
                }
                None => {
                    if !new_urls.insert(asset.url.as_str()) {
                        decision[i] = Decision::Duplicate;
                        continue;
                    }
                    None
                }
            };
            if !backlog_pos.is_empty()
                && let Some(&b) = backlog_pos.get(asset.url.as_str())
            {
                decision[i] = Decision::Backlog;
                carried[b] = Some(i);
                continue;
            }
            if !opts.all && accepted_same == Some(true) {
                decision[i] = Decision::Unchanged;
                unchanged += 1;
            }
        }

        // Removed URLs count only when no asset has them.
        let is_asset = |u: &str| match baseline.find(u) {
            Some((pos, _)) => seen[pos],
            None => new_urls.contains(u),
        };
        removed_now = removed
            .iter()
            .map(String::as_str)
            .filter(|u| !is_asset(u))
            .collect();
        gone = removed_now.iter().map(|u| (*u).to_owned()).collect();
        if opts.complete && seen_count < baseline.len() {
            gone.extend(
                baseline
                    .urls()
                    .zip(&seen)
                    .filter(|(_, s)| !**s)
                    .map(|(u, _)| u.to_owned()),
            );
        }
    }
    gone.sort_unstable();
    gone.dedup();
    removed_now.sort_unstable();

    // Pass two: the backlog goes first, in its order, each entry as the asset that carries it (taken out of
    // place) or as recorded; then the rest of the assets, filtered in place (a million assets are not copied
    // into a second vector, nor a million carriers through a map).
    let mut fresh = assets;
    let mut planned = Vec::with_capacity(backlog.len());
    for (b, entry) in backlog.iter().enumerate() {
        if backlog_pos.get(entry.url.as_str()) != Some(&b)
            || removed_now.binary_search(&entry.url.as_str()).is_ok()
        {
            continue;
        }
        match carried[b] {
            Some(i) => {
                if decision[i] == Decision::Backlog {
                    // Taken once: the slot left behind is dropped by the filter below.
                    decision[i] = Decision::Carried;
                    let mut asset = std::mem::replace(&mut fresh[i], Asset::new(String::new()));
                    asset.from_backlog = true;
                    planned.push(asset);
                }
            }
            None if opts.complete => {}
            None => planned.push(entry.to_planned()),
        }
    }
    let mut at = 0usize;
    fresh.retain_mut(|a| {
        let keep = decision[at] == Decision::Fresh;
        at += 1;
        a.from_backlog = false;
        keep
    });
    // No backlog (the common case): the fresh list is the plan, not copied.
    if planned.is_empty() {
        planned = fresh;
    } else {
        planned.reserve_exact(fresh.len());
        planned.extend(fresh);
    }
    Changes {
        planned,
        unchanged,
        gone,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (no clippy.toml `allow-unwrap-in-tests` yet)
mod tests {
    use super::*;
    use crate::state::{State, UrlMap};
    use pretty_assertions::assert_eq;

    fn asset(url: &str, fp: Option<&str>) -> Asset {
        let mut a = Asset::new(url);
        a.fingerprint = fp.map(str::to_owned);
        a
    }

    fn baseline(entries: &[(&str, &str)]) -> UrlMap {
        entries
            .iter()
            .map(|(u, f)| ((*u).to_owned(), (*f).to_owned()))
            .collect()
    }

    fn entry(url: &str, fp: Option<&str>) -> BacklogEntry {
        BacklogEntry {
            url: url.to_owned(),
            fingerprint: fp.map(str::to_owned),
            priority: 2,
            sitemap_priority: None,
            lastmod: None,
            bytes: Some(10),
            since: "2024-01-01T00:00:00Z".to_owned(),
        }
    }

    fn urls(c: &Changes) -> Vec<(&str, bool)> {
        c.planned
            .iter()
            .map(|p| (p.url(), p.from_backlog))
            .collect()
    }

    const PARTIAL: DiffOptions = DiffOptions {
        all: false,
        complete: false,
        assets_unique: false,
    };
    const COMPLETE: DiffOptions = DiffOptions {
        all: false,
        complete: true,
        assets_unique: false,
    };

    #[test]
    fn new_changed_unchanged() {
        let base = baseline(&[
            ("https://a.example/same", "b3:1"),
            ("https://a.example/changed", "b3:old"),
        ]);
        let c = diff(
            vec![
                asset("https://a.example/same", Some("b3:1")),
                asset("https://a.example/changed", Some("b3:new")),
                asset("https://a.example/new", Some("b3:2")),
            ],
            &base,
            &[],
            &[],
            PARTIAL,
        );
        assert_eq!(
            urls(&c),
            [
                ("https://a.example/changed", false),
                ("https://a.example/new", false)
            ]
        );
        assert_eq!(c.planned[0].fingerprint.as_deref(), Some("b3:new"));
        assert_eq!(c.unchanged, 1);
        assert!(c.gone.is_empty());
    }

    #[test]
    fn no_fingerprint_is_planned_once_when_first_seen() {
        let empty = baseline(&[]);
        let c = diff(
            vec![asset("https://a.example/feed", None)],
            &empty,
            &[],
            &[],
            PARTIAL,
        );
        assert_eq!(urls(&c), [("https://a.example/feed", false)]);
        // once accepted (recorded as ""), it is unchanged, whatever the old fingerprint
        let seen = baseline(&[
            ("https://a.example/feed", ""),
            ("https://a.example/file", "b3:1"),
        ]);
        let c = diff(
            vec![
                asset("https://a.example/feed", None),
                asset("https://a.example/file", None),
            ],
            &seen,
            &[],
            &[],
            PARTIAL,
        );
        assert!(c.planned.is_empty());
        assert_eq!(c.unchanged, 2);
        // a fingerprint appearing where there was none is a change
        let c = diff(
            vec![asset("https://a.example/feed", Some("b3:9"))],
            &seen,
            &[],
            &[],
            PARTIAL,
        );
        assert_eq!(c.planned.len(), 1);
    }

    #[test]
    fn all_plans_everything() {
        let base = baseline(&[
            ("https://a.example/same", "b3:1"),
            ("https://a.example/none", ""),
        ]);
        let c = diff(
            vec![
                asset("https://a.example/same", Some("b3:1")),
                asset("https://a.example/none", None),
            ],
            &base,
            &[],
            &[],
            DiffOptions {
                all: true,
                complete: false,
                assets_unique: false,
            },
        );
        assert_eq!(c.planned.len(), 2);
        assert_eq!(c.unchanged, 0);
    }

    #[test]
    fn backlog_goes_first_and_once_with_the_newest_fingerprint() {
        let base = baseline(&[("https://a.example/b", "b3:accepted")]);
        let backlog = [
            entry("https://a.example/b", Some("b3:deferred")),
            entry("https://a.example/only-backlog", Some("b3:x")),
            entry("https://a.example/b", Some("b3:dup")),
        ];
        let mut newest = asset("https://a.example/b", Some("b3:newest"));
        newest.priority = 7;
        let c = diff(
            vec![
                asset("https://a.example/fresh", Some("b3:f")),
                newest.clone(),
            ],
            &base,
            &backlog,
            &[],
            PARTIAL,
        );
        assert_eq!(
            urls(&c),
            [
                ("https://a.example/b", true),
                ("https://a.example/only-backlog", true),
                ("https://a.example/fresh", false),
            ]
        );
        assert_eq!(
            c.planned[0],
            Asset {
                from_backlog: true,
                ..newest
            },
            "the asset, with its newest fingerprint"
        );
        let kept = &c.planned[1];
        assert_eq!(
            (kept.fingerprint.as_deref(), kept.priority, kept.bytes),
            (Some("b3:x"), 2, Some(10))
        );
    }

    #[test]
    fn backlog_url_that_disappeared_is_dropped_only_when_complete() {
        let base = baseline(&[]);
        let backlog = [entry("https://a.example/gone", Some("b3:x"))];
        let partial = diff(vec![], &base, &backlog, &[], PARTIAL);
        assert_eq!(urls(&partial), [("https://a.example/gone", true)]);
        let complete = diff(vec![], &base, &backlog, &[], COMPLETE);
        assert!(complete.planned.is_empty());
    }

    #[test]
    fn gone_only_when_complete() {
        let base = baseline(&[
            ("https://a.example/z-gone", "b3:1"),
            ("https://a.example/kept", "b3:2"),
            ("https://a.example/a-gone", ""),
        ]);
        let assets = || vec![asset("https://a.example/kept", Some("b3:2"))];
        assert!(diff(assets(), &base, &[], &[], PARTIAL).gone.is_empty());
        let c = diff(assets(), &base, &[], &[], COMPLETE);
        assert_eq!(
            c.gone,
            ["https://a.example/a-gone", "https://a.example/z-gone"]
        );
        assert_eq!(c.unchanged, 1);
        // a duplicate asset doesn't hide a gone URL
        let c = diff(
            vec![
                asset("https://a.example/kept", Some("b3:2")),
                asset("https://a.example/kept", Some("b3:2")),
            ],
            &base,
            &[],
            &[],
            COMPLETE,
        );
        assert_eq!(c.gone.len(), 2);
        assert_eq!(c.unchanged, 1);
    }

    #[test]
    fn removed_urls_leave_the_backlog_and_are_gone() {
        let base = baseline(&[("https://a.example/deleted", "b3:1")]);
        let backlog = [
            entry("https://a.example/deleted", Some("b3:2")),
            entry("https://a.example/other", None),
        ];
        let removed = [
            "https://a.example/deleted".to_owned(),
            "https://a.example/back".to_owned(),
            "https://a.example/deleted".to_owned(),
        ];
        let c = diff(
            vec![asset("https://a.example/back", Some("b3:3"))],
            &base,
            &backlog,
            &removed,
            PARTIAL,
        );
        // "back" is listed as removed but an asset has it: it exists
        assert_eq!(
            urls(&c),
            [
                ("https://a.example/other", true),
                ("https://a.example/back", false)
            ]
        );
        assert_eq!(c.gone, ["https://a.example/deleted"]);
    }

    #[test]
    fn duplicate_assets_keep_the_first() {
        let base = baseline(&[]);
        let c = diff(
            vec![
                asset("https://a.example/x", Some("b3:1")),
                asset("https://a.example/x", Some("b3:2")),
            ],
            &base,
            &[],
            &[],
            PARTIAL,
        );
        assert_eq!(c.planned.len(), 1);
        assert_eq!(c.planned[0].fingerprint.as_deref(), Some("b3:1"));
    }

    #[test]
    fn state_is_a_baseline() {
        let mut st = State::new();
        st.record_baseline(&[asset("https://a.example/x", Some("b3:1"))]);
        let c = diff(
            vec![
                asset("https://a.example/x", Some("b3:1")),
                asset("https://a.example/y", None),
            ],
            &st,
            st.backlog(),
            &[],
            COMPLETE,
        );
        assert_eq!(urls(&c), [("https://a.example/y", false)]);
        assert_eq!(c.unchanged, 1);
    }

    proptest::proptest! {
        /// Told the assets are distinct (as collected ones are), the diff decides exactly the same.
        #[test]
        fn distinct_assets_diff_the_same_in_both_modes(
            assets in proptest::collection::btree_map(0u8..40, proptest::option::of(0u8..3), 0..30),
            base in proptest::collection::btree_map(0u8..40, 0u8..3, 0..30),
            backlog in proptest::collection::vec((0u8..40, proptest::option::of(0u8..3)), 0..8),
            removed in proptest::collection::vec(0u8..40, 0..6),
            all: bool,
            complete: bool,
        ) {
            let u = |i: &u8| format!("https://a.example/{i}");
            let fp = |f: &u8| format!("b3:{f}");
            let assets: Vec<Asset> = assets.iter().map(|(i, f)| asset(&u(i), f.as_ref().map(fp).as_deref())).collect();
            let base_entries: Vec<(String, String)> = base.iter().map(|(i, f)| (u(i), fp(f))).collect();
            let base_refs: Vec<(&str, &str)> = base_entries.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let base = baseline(&base_refs);
            let backlog: Vec<BacklogEntry> = backlog.iter().map(|(i, f)| entry(&u(i), f.as_ref().map(fp).as_deref())).collect();
            let removed: Vec<String> = removed.iter().map(u).collect();
            let run = |assets_unique| diff(assets.clone(), &base, &backlog, &removed, DiffOptions { all, complete, assets_unique });
            proptest::prop_assert_eq!(run(true), run(false));
        }
    }
}
