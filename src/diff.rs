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

use std::collections::{HashMap, HashSet};

use crate::plan::PlannedUrl;
use crate::sources::Asset;
use crate::state::BacklogEntry;

/// What the CDN last accepted, per URL.
pub trait Baseline {
    /// The accepted fingerprint of `url` (`""` for an asset that had none), or `None` when never accepted.
    fn fingerprint(&self, url: &str) -> Option<&str>;

    /// Every URL it knows, in no particular order.
    fn urls(&self) -> Box<dyn Iterator<Item = &str> + '_>;

    /// How many URLs it knows.
    fn len(&self) -> usize {
        self.urls().count()
    }

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
}

/// What the diff kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// To plan: backlog entries first, then new or changed assets in input order.
    pub planned: Vec<PlannedUrl>,
    /// Assets unchanged since the last accepted push.
    pub unchanged: u64,
    /// URLs that left the site (sorted): to forget in state.
    pub gone: Vec<String>,
}

/// What pass one decided for one asset.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// A later copy of an earlier asset's URL.
    Duplicate,
    /// Planned from the backlog (placed with the backlog).
    Backlog,
    /// New or changed.
    Fresh,
    /// Same fingerprint as accepted.
    Unchanged,
}

/// A backlog entry that goes into the plan.
enum Pick {
    /// Carried by the asset at this index.
    Asset(usize),
    /// Not an asset this run; planned from the entry itself.
    Entry(PlannedUrl),
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
    let mut picks = Vec::new();
    let mut unchanged = 0u64;
    let mut gone: Vec<String>;
    {
        // Pass one borrows the assets: index them, place the backlog, compare fingerprints.
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(assets.len());
        for (i, a) in assets.iter().enumerate() {
            if index.contains_key(a.url.as_str()) {
                decision[i] = Decision::Duplicate;
            } else {
                index.insert(a.url.as_str(), i);
            }
        }
        let removed: HashSet<&str> = removed
            .iter()
            .map(String::as_str)
            .filter(|u| !index.contains_key(u))
            .collect();

        let mut backlog_seen: HashSet<&str> = HashSet::with_capacity(backlog.len());
        for entry in backlog {
            if !backlog_seen.insert(entry.url.as_str()) || removed.contains(entry.url.as_str()) {
                continue;
            }
            match index.get(entry.url.as_str()) {
                Some(&i) => {
                    decision[i] = Decision::Backlog;
                    picks.push(Pick::Asset(i));
                }
                None if opts.complete => {}
                None => picks.push(Pick::Entry(PlannedUrl {
                    asset: entry.to_asset(),
                    from_backlog: true,
                })),
            }
        }

        let mut in_baseline = 0usize;
        for (i, asset) in assets.iter().enumerate() {
            if decision[i] == Decision::Duplicate {
                continue;
            }
            let accepted = baseline.fingerprint(&asset.url);
            if accepted.is_some() {
                in_baseline += 1;
            }
            if decision[i] == Decision::Backlog {
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

        gone = removed.iter().map(|u| (*u).to_owned()).collect();
        // Every distinct asset URL found in the baseline accounts for one baseline URL: when they are as many,
        // nothing is gone and the baseline need not be walked.
        if opts.complete && in_baseline < baseline.len() {
            gone.extend(
                baseline
                    .urls()
                    .filter(|u| !index.contains_key(u))
                    .map(str::to_owned),
            );
        }
    }
    gone.sort_unstable();
    gone.dedup();

    // Pass two moves the assets into the plan.
    let mut slots: Vec<Option<Asset>> = assets.into_iter().map(Some).collect();
    let mut planned = Vec::with_capacity(
        picks.len()
            + slots
                .len()
                .saturating_sub(usize::try_from(unchanged).unwrap_or(0)),
    );
    for pick in picks {
        match pick {
            Pick::Entry(p) => planned.push(p),
            Pick::Asset(i) => {
                if let Some(asset) = slots[i].take() {
                    planned.push(PlannedUrl {
                        asset,
                        from_backlog: true,
                    });
                }
            }
        }
    }
    for (i, slot) in slots.into_iter().enumerate() {
        if decision[i] == Decision::Fresh
            && let Some(asset) = slot
        {
            planned.push(PlannedUrl {
                asset,
                from_backlog: false,
            });
        }
    }
    Changes {
        planned,
        unchanged,
        gone,
    }
}
