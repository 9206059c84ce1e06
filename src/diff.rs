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

use std::hash::BuildHasher;

use indexmap::IndexMap;
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

    /// Every URL it knows, in position order.
    fn urls(&self) -> Box<dyn Iterator<Item = &str> + '_>;

    /// How many URLs it knows.
    fn len(&self) -> usize;

    /// True when it knows no URL.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<V: AsRef<str>, S: BuildHasher> Baseline for IndexMap<String, V, S> {
    fn find(&self, url: &str) -> Option<(usize, &str)> {
        self.get_full(url).map(|(i, _, fp)| (i, fp.as_ref()))
    }

    fn urls(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.keys().map(String::as_str))
    }

    fn len(&self) -> usize {
        IndexMap::len(self)
    }
}

/// How to diff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// `--all`: plan every asset, changed or not.
    pub all: bool,
    /// The sources list the whole site (sitemaps, build folders): URLs they don't list are gone.
    pub complete: bool,
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
    /// New or changed.
    Fresh,
    /// Same fingerprint as accepted.
    Unchanged,
}

/// Diffs `assets` against `baseline` and `backlog`, dropping `removed` (see the module doc for the rules).
#[must_use]
pub fn diff(
    assets: Vec<Asset>,
    baseline: &dyn Baseline,
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
    {
        // Pass one borrows the assets: mark seen baseline positions, compare fingerprints, match the backlog.
        let mut backlog_pos: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, e) in backlog.iter().enumerate() {
            backlog_pos.entry(e.url.as_str()).or_insert(i);
        }
        let mut seen = vec![false; baseline.len()];
        let mut seen_count = 0usize;
        let mut new_urls: FxHashSet<&str> = FxHashSet::default();
        for (i, asset) in assets.iter().enumerate() {
            let accepted = match baseline.find(&asset.url) {
                Some((pos, fp)) => {
                    if std::mem::replace(&mut seen[pos], true) {
                        decision[i] = Decision::Duplicate;
                        continue;
                    }
                    seen_count += 1;
                    Some(fp)
                }
                None => {
                    if !new_urls.insert(asset.url.as_str()) {
                        decision[i] = Decision::Duplicate;
                        continue;
                    }
                    None
                }
            };
            if let Some(&b) = backlog_pos.get(asset.url.as_str()) {
                decision[i] = Decision::Backlog;
                carried[b] = Some(i);
                continue;
            }
            let changed = opts.all
                || match (accepted, asset.fingerprint.as_deref()) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(old), Some(new)) => old != new,
                };
            if !changed {
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

    // Pass two moves the assets into the plan: the backlog first, in its order, then the fresh ones.
    let mut fresh = Vec::new();
    let mut carriers: FxHashMap<usize, Asset> = FxHashMap::default();
    for (i, asset) in assets.into_iter().enumerate() {
        match decision[i] {
            Decision::Fresh => fresh.push(PlannedUrl {
                asset,
                from_backlog: false,
            }),
            Decision::Backlog => {
                carriers.insert(i, asset);
            }
            Decision::Duplicate | Decision::Unchanged => {}
        }
    }
    let mut planned = Vec::with_capacity(carriers.len() + fresh.len());
    let mut backlog_seen: FxHashSet<&str> = FxHashSet::default();
    for (b, entry) in backlog.iter().enumerate() {
        if !backlog_seen.insert(entry.url.as_str())
            || removed_now.binary_search(&entry.url.as_str()).is_ok()
        {
            continue;
        }
        match carried[b] {
            Some(i) => {
                if let Some(asset) = carriers.remove(&i) {
                    planned.push(PlannedUrl {
                        asset,
                        from_backlog: true,
                    });
                }
            }
            None if opts.complete => {}
            None => planned.push(entry.to_planned()),
        }
    }
    planned.extend(fresh);
    Changes {
        planned,
        unchanged,
        gone,
    }
}
