//! Manifest readers: sitemaps, build folders, changed-file lists and git diffs → [`Asset`]s.
//!
//! Every URL a reader yields has gone through [`crate::url::Domains::admit`]: it is a valid, percent-encoded
//! absolute `http(s)` URL under one of `site.domains`. What a reader drops is counted in [`Skipped`], never
//! silently lost. Readers never touch the network except to fetch a remote sitemap the user configured.

use std::path::PathBuf;

use serde::Serialize;

pub mod changed;
pub mod dir;
pub mod fetch;
pub mod git;
pub mod sitemap;
pub mod statcache;

/// One URL to consider warming.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    /// Normalised absolute URL (no fragment).
    pub url: String,
    /// Content fingerprint (`b3:<hex>` for files, `lastmod:<RFC 3339>` for sitemap entries); `None` when the
    /// source knows neither (planned once, when first seen).
    pub fingerprint: Option<String>,
    /// Source priority plus matching priority rules (higher goes first).
    pub priority: i64,
    /// The sitemap's `<priority>`, when given.
    pub sitemap_priority: Option<f32>,
    /// The sitemap's `<lastmod>`, normalised to RFC 3339 UTC.
    pub lastmod: Option<String>,
    /// Size in bytes of what the CDN will pull, when known.
    pub bytes: Option<u64>,
    /// The file it came from, when it came from a file.
    pub origin_path: Option<PathBuf>,
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
            origin_path: None,
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
    /// Paths (relative to a mapping root) listed as deleted or missing: their URLs leave state.
    pub removed_urls: Vec<String>,
}

/// Reads every configured source.
///
/// # Errors
/// The first unusable source (malformed sitemap, unreadable path, …): nothing is pushed from a half-read input.
pub fn collect(settings: &crate::config::Settings) -> crate::Result<Collected> {
    let _ = settings;
    todo!("sources::collect")
}
