//! Plan: order the changed assets by priority and cut them into quota-aware, one-domain batches.
//!
//! Pure: no I/O, no clock. What the day's budget can't take is `deferred`, carried to the next run.

use crate::sources::Asset;

/// An asset on its way to the CDN.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedUrl {
    /// The asset (URL, fingerprint, priorities, size).
    pub asset: Asset,
    /// It was deferred by an earlier run (backlog goes first).
    pub from_backlog: bool,
}

impl PlannedUrl {
    /// The URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.asset.url
    }
}

/// One API call's worth of URLs, all of one origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The origin (`https://www.example.com`).
    pub domain: String,
    /// At most `per_request` URLs.
    pub urls: Vec<PlannedUrl>,
}

/// What to send this run and what to hold back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Batches in submission order.
    pub batches: Vec<Batch>,
    /// Held back by the day's budget or `--max-urls`.
    pub deferred: Vec<PlannedUrl>,
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
}
