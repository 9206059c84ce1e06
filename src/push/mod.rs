//! Push: submit planned batches to the CDN through a [`Provider`], retrying what is worth retrying.
//!
//! A provider makes **one** signed attempt per call (fresh timestamp and nonce each time); the engine in this
//! module ([`push`]) owns retries, back-off, splitting, bisecting and deferring, so both backends behave alike.
//! After every accepted batch the engine calls [`PushSink::accepted`] (which saves state) before sending the
//! next one, so a crash loses at most the batch in flight.

pub mod client;
pub mod retry;
pub mod tencent_v2;
pub mod tencent_v3;

use std::time::Duration;

use crate::plan::{Batch, PlannedUrl};

/// Limits the provider imposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// URLs per call.
    pub per_request: usize,
}

/// The account's quota as the API reports it (v3 `DescribePushQuota`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteQuota {
    /// Per-request URL limit.
    pub batch: u64,
    /// Daily limit.
    pub total: u64,
    /// Remaining today.
    pub available: u64,
    /// `mainland`, `overseas`, or `global` (the smaller of both).
    pub area: String,
}

/// A successful submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The CDN's task id (a string even where the API sends a number).
    pub task_id: String,
}

/// The state of one URL of a CDN task (v3 `DescribePushTasks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// Still running.
    Process,
    /// Warmed.
    Done,
    /// Failed: worth retrying.
    Fail,
    /// The origin answered 4xx/5xx: not worth retrying.
    Invalid,
    /// Anything else the API said.
    Other(String),
}

/// One URL's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlStatus {
    /// Task id.
    pub task_id: String,
    /// URL.
    pub url: String,
    /// State.
    pub state: TaskState,
}

/// Why one attempt failed, classified so the engine can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// Credentials refused or signature wrong (v2 4100–4110, v3 `AuthFailure.*`/`UnauthorizedOperation.*`):
    /// stop the run.
    Auth(String),
    /// The account moved to EdgeOne (v3 `OperationDenied.ProductUpgraded`, `ResourceNotFound.CdnUserNotExists`):
    /// stop the run.
    Migrated(String),
    /// Daily quota exhausted (v2 4400, 23101, 21000; v3 `LimitExceeded.CdnPushExceedDayLimit`): defer the rest.
    QuotaExceeded(String),
    /// Too many URLs in one call (23100, 21002; `LimitExceeded.CdnPushExceedBatchLimit`): split and go on.
    BatchTooLarge(String),
    /// Throttled (9163, 22063; `RequestLimitExceeded*`): wait and retry.
    Throttled(String),
    /// Request expired or replayed (4200, 4500; `AuthFailure.SignatureExpire`): retry, freshly signed.
    Expired(String),
    /// The batch's domain is not on the CDN (9105, 9110, 9307, 9111, 22041, 28006; `ResourceNotFound.CdnHostNotExists`,
    /// `ResourceUnavailable.CdnHostIsNotOnline`): reject the batch's URLs, no retry.
    DomainRejected(String),
    /// Any other parameter error: bisect to find the bad URLs.
    InvalidParameter(String),
    /// 5xx, timeouts, refused/reset connections, non-JSON bodies, `InternalError*`: retry with back-off.
    Transient(String),
    /// Anything else: give up on this batch (kept in the backlog).
    Other(String),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, msg) = match self {
            Self::Auth(m) => ("authentication failed", m),
            Self::Migrated(m) => ("account migrated to EdgeOne", m),
            Self::QuotaExceeded(m) => ("daily quota exceeded", m),
            Self::BatchTooLarge(m) => ("batch too large", m),
            Self::Throttled(m) => ("throttled", m),
            Self::Expired(m) => ("request expired", m),
            Self::DomainRejected(m) => ("domain not on the CDN", m),
            Self::InvalidParameter(m) => ("invalid parameter", m),
            Self::Transient(m) => ("transient failure", m),
            Self::Other(m) => ("failed", m),
        };
        write!(f, "{kind}: {msg}")
    }
}

/// The seam between the pipeline and a CDN API.
pub trait Provider {
    /// A short name for reports (`tencent-v3`).
    fn name(&self) -> &'static str;

    /// The provider's own limits.
    fn limits(&self) -> Limits;

    /// Submits one batch, one attempt, freshly signed.
    ///
    /// # Errors
    /// The classified failure of that attempt.
    fn submit(&mut self, urls: &[String]) -> Result<Submitted, PushError>;

    /// The account's remaining quota, where the API can tell (`None` where it can't).
    ///
    /// # Errors
    /// The classified failure of the call.
    fn remaining_quota(&mut self) -> Result<Option<RemoteQuota>, PushError> {
        Ok(None)
    }

    /// Progress of submitted tasks, where the API can tell (empty where it can't).
    ///
    /// # Errors
    /// The classified failure of the call.
    fn task_status(&mut self, task_ids: &[String]) -> Result<Vec<UrlStatus>, PushError> {
        let _ = task_ids;
        Ok(Vec::new())
    }
}

/// A task the CDN accepted, with its URLs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    /// The CDN's task id.
    pub task_id: String,
    /// Its URLs.
    pub urls: Vec<String>,
}

/// A URL the API refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// The URL.
    pub url: String,
    /// Why (API code and message).
    pub reason: String,
}

/// Engine options (from `[push]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// Attempts per call.
    pub max_attempts: u32,
    /// Pause between batches.
    pub interval: Duration,
    /// Origin bytes per second (pace by known sizes).
    pub origin_bandwidth: Option<u64>,
    /// First back-off.
    pub base_backoff: Duration,
    /// Back-off cap.
    pub max_backoff: Duration,
}

/// Where the engine reports progress; the pipeline's implementation saves state.
pub trait PushSink {
    /// A batch was accepted: record it durably before the next one goes out.
    ///
    /// # Errors
    /// State could not be saved: the engine stops (and the URLs stay in the backlog).
    fn accepted(&mut self, task: &Task, urls: &[PlannedUrl]) -> crate::Result<()>;

    /// URLs the API refused for good.
    fn rejected(&mut self, rejected: &[Rejected]) {
        let _ = rejected;
    }

    /// True when a signal asked the run to stop: no new batch is started.
    fn should_stop(&self) -> bool {
        false
    }
}

/// Why the engine stopped early, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Credentials refused / account migrated: exit 1.
    Fatal(String),
    /// Quota exhausted: the rest was deferred (exit 0 with a warning).
    Quota(String),
    /// A signal asked to stop.
    Interrupted,
    /// State could not be saved.
    Sink(String),
}

/// What the engine did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushOutcome {
    /// Accepted tasks, in order.
    pub tasks: Vec<Task>,
    /// URLs refused for good.
    pub rejected: Vec<Rejected>,
    /// URLs not accepted that go (back) to the backlog: quota stop, retries exhausted, interrupted.
    pub deferred: Vec<PlannedUrl>,
    /// Batches that failed after their retries, with the last error.
    pub failures: Vec<String>,
    /// Why it stopped early.
    pub stop: Option<Stop>,
}

/// Submits `batches` in order through `provider`.
pub fn push(batches: Vec<Batch>, provider: &mut dyn Provider, opts: &PushOptions, sink: &mut dyn PushSink) -> PushOutcome {
    let _ = (batches, provider, opts, sink);
    todo!("push::push")
}
