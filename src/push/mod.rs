//! Push: submit planned batches to the CDN through a [`Provider`], retrying what is worth retrying.
//!
//! A provider makes **one** signed attempt per call (fresh timestamp and nonce each time); the engine in this
//! module ([`push`]) owns retries, back-off, splitting, bisecting and deferring, so both backends behave alike.
//! After every accepted batch the engine calls [`PushSink::accepted`] (which saves state) before sending the
//! next one, so a crash loses at most the batch in flight.
//!
//! Takes planned [`Batch`]es, a [`Provider`], [`PushOptions`] and a [`PushSink`]; returns a [`PushOutcome`] in
//! which every input URL appears exactly once (accepted task, rejected, or deferred). Must never: send a batch
//! after a quota, auth or sink stop, retry what spends quota twice on purpose, or lose a URL.

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

impl TaskState {
    /// The API's word for it, lower-case (`process`, `done`, `fail`, `invalid`, or what else it said).
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Process => "process".into(),
            Self::Done => "done".into(),
            Self::Fail => "fail".into(),
            Self::Invalid => "invalid".into(),
            Self::Other(s) => s.to_ascii_lowercase(),
        }
    }
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

    /// The server's `Retry-After` from the last call, when it sent one (a lower bound for the next wait).
    fn retry_after(&self) -> Option<Duration> {
        None
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

impl PushOptions {
    /// The engine options `[push]` asks for.
    #[must_use]
    pub fn from_settings(push: &crate::config::PushSettings) -> Self {
        Self {
            max_attempts: push.max_attempts,
            interval: push.interval,
            origin_bandwidth: push.origin_bandwidth,
            base_backoff: push.base_backoff,
            max_backoff: push.max_backoff,
        }
    }
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

/// Submits `batches` in order through `provider`, sleeping with [`std::thread::sleep`].
///
/// See [`push_with`] for what happens on each kind of failure.
pub fn push(
    batches: Vec<Batch>,
    provider: &mut dyn Provider,
    opts: &PushOptions,
    sink: &mut dyn PushSink,
) -> PushOutcome {
    push_with(batches, provider, opts, sink, &mut std::thread::sleep)
}

/// Submits `batches` in order through `provider`; every wait goes through `sleeper` (tests pass a recorder).
///
/// Per (sub-)batch, up to `max_attempts` attempts:
/// * transient failures and throttling are retried after a jittered, capped, doubling back-off (throttling waits
///   at least `base_backoff`; a `Retry-After` is a lower bound); an expired signature is retried at once;
/// * too large → split in halves (down to one URL), and later batches are cut to the size that was split;
/// * invalid parameter → bisected, so one bad URL doesn't block its batchmates; a single bad URL is rejected;
/// * domain rejected → this batch and every later batch of the same domain are rejected, without calling;
/// * quota exhausted → [`Stop::Quota`]; this batch and all later ones are deferred;
/// * auth / migrated → [`Stop::Fatal`]; everything not yet accepted is deferred;
/// * retries exhausted, or an unclassified or ambiguous failure → the batch is deferred, a line goes into
///   `failures`, and the run stops with [`Stop::Fatal`]: the endpoint is most likely down or misconfigured, and
///   every later batch would spend the same attempts (later batches are deferred);
/// * [`PushSink::accepted`] runs after each accepted call, before the next one; an error → [`Stop::Sink`];
/// * [`PushSink::should_stop`] is checked before every call → [`Stop::Interrupted`].
///
/// Calls are spaced by `interval`, and by `bytes of the last accepted batch / origin_bandwidth`.
/// Every input URL ends up exactly once in `tasks`, `rejected` or `deferred`.
pub fn push_with(
    batches: Vec<Batch>,
    provider: &mut dyn Provider,
    opts: &PushOptions,
    sink: &mut dyn PushSink,
    sleeper: &mut dyn FnMut(Duration),
) -> PushOutcome {
    let mut engine = Engine {
        provider,
        opts,
        sink,
        sleeper,
        rng: rand::thread_rng(),
        out: PushOutcome::default(),
        cap: usize::MAX,
        dead_domains: std::collections::HashMap::new(),
        next_call: None,
    };
    for batch in batches {
        if engine.out.stop.is_some() {
            engine.out.deferred.extend(batch.urls);
        } else {
            engine.run_batch(batch);
        }
    }
    engine.out
}

/// How one (sub-)batch's attempts ended.
enum Attempted {
    Accepted(Submitted),
    Failed { err: PushError, attempts: u32 },
    Interrupted,
}

struct Engine<'a> {
    provider: &'a mut dyn Provider,
    opts: &'a PushOptions,
    sink: &'a mut dyn PushSink,
    sleeper: &'a mut dyn FnMut(Duration),
    rng: rand::rngs::ThreadRng,
    out: PushOutcome,
    /// The largest group to send, lowered after a "batch too large".
    cap: usize,
    /// Domains the CDN refused, with the reason.
    dead_domains: std::collections::HashMap<String, String>,
    /// The earliest time the next group may go out (interval and origin-bandwidth pacing).
    next_call: Option<std::time::Instant>,
}

impl Engine<'_> {
    fn reject(&mut self, urls: Vec<PlannedUrl>, reason: &str) {
        let rejected: Vec<Rejected> = urls
            .iter()
            .map(|u| Rejected {
                url: u.url().to_string(),
                reason: reason.to_string(),
            })
            .collect();
        if !rejected.is_empty() {
            self.sink.rejected(&rejected);
            self.out.rejected.extend(rejected);
        }
    }

    fn stop(&mut self, stop: Stop, group: Vec<PlannedUrl>) {
        self.out.stop = Some(stop);
        self.out.deferred.extend(group);
    }

    fn run_batch(&mut self, batch: Batch) {
        if let Some(reason) = self.dead_domains.get(&batch.domain).cloned() {
            self.reject(batch.urls, &reason);
            return;
        }
        let mut queue = std::collections::VecDeque::from([batch.urls]);
        while let Some(mut group) = queue.pop_front() {
            if self.out.stop.is_some() {
                self.out.deferred.extend(group);
                continue;
            }
            if group.is_empty() {
                continue;
            }
            if group.len() > self.cap {
                let rest = group.split_off(self.cap);
                queue.push_front(rest);
                queue.push_front(group);
                continue;
            }
            match self.attempt(&group) {
                Attempted::Accepted(sub) => {
                    let task = Task {
                        task_id: sub.task_id,
                        urls: group.iter().map(|u| u.url().to_string()).collect(),
                    };
                    let saved = self.sink.accepted(&task, &group);
                    self.out.tasks.push(task);
                    self.owe_bandwidth(&group);
                    if let Err(e) = saved {
                        self.out.stop = Some(Stop::Sink(e.to_string()));
                    }
                }
                Attempted::Interrupted => self.stop(Stop::Interrupted, group),
                Attempted::Failed { err, attempts } => match err {
                    PushError::BatchTooLarge(_) | PushError::InvalidParameter(_)
                        if group.len() > 1 =>
                    {
                        let half = group.len().div_ceil(2);
                        if matches!(err, PushError::BatchTooLarge(_)) {
                            self.cap = self.cap.min(half);
                        }
                        let second = group.split_off(half);
                        queue.push_front(second);
                        queue.push_front(group);
                    }
                    PushError::BatchTooLarge(m) | PushError::InvalidParameter(m) => {
                        self.reject(group, &m)
                    }
                    PushError::DomainRejected(m) => {
                        self.reject(group, &m);
                        let rest: Vec<PlannedUrl> = queue.drain(..).flatten().collect();
                        self.reject(rest, &m);
                        self.dead_domains.insert(batch.domain.clone(), m);
                    }
                    PushError::QuotaExceeded(_) => self.stop(Stop::Quota(err.to_string()), group),
                    PushError::Auth(_) | PushError::Migrated(_) => {
                        self.stop(Stop::Fatal(err.to_string()), group)
                    }
                    PushError::Transient(_)
                    | PushError::Throttled(_)
                    | PushError::Expired(_)
                    | PushError::Other(_) => {
                        // Retries exhausted, or a failure that must not be retried: the batch is deferred (never
                        // counted as accepted), so the next run pushes it again. Stopping the run keeps a dead
                        // endpoint from costing every later batch the same attempts and timeouts.
                        let line = if matches!(err, PushError::Other(_)) {
                            format!(
                                "batch of {} URL(s) for {}: {err}",
                                group.len(),
                                batch.domain
                            )
                        } else {
                            format!(
                                "batch of {} URL(s) for {}: gave up after {attempts} attempt(s): {err}",
                                group.len(),
                                batch.domain
                            )
                        };
                        self.out.failures.push(line.clone());
                        self.stop(Stop::Fatal(line), group);
                    }
                },
            }
        }
    }

    /// Pushes the next allowed call time back by the origin bytes `group` will pull.
    fn owe_bandwidth(&mut self, group: &[PlannedUrl]) {
        let Some(bw) = self.opts.origin_bandwidth.filter(|b| *b > 0) else {
            return;
        };
        let bytes: u64 = group.iter().filter_map(|u| u.bytes).sum();
        // f64 is precise enough for a pause; bytes beyond 2^53 don't occur.
        #[expect(
            clippy::cast_precision_loss,
            reason = "a pause needs no exact byte count"
        )]
        let pause = Duration::from_secs_f64(bytes as f64 / bw as f64);
        let at = std::time::Instant::now() + pause;
        self.next_call = Some(self.next_call.map_or(at, |n| n.max(at)));
    }

    /// Waits for pacing, then makes up to `max_attempts` attempts at `group`.
    fn attempt(&mut self, group: &[PlannedUrl]) -> Attempted {
        if let Some(at) = self.next_call {
            let wait = at.saturating_duration_since(std::time::Instant::now());
            if !wait.is_zero() {
                (self.sleeper)(wait);
            }
        }
        let urls: Vec<String> = group.iter().map(|u| u.url().to_string()).collect();
        let max_attempts = self.opts.max_attempts.max(1);
        let mut attempts = 0;
        let result = loop {
            if self.sink.should_stop() {
                break Attempted::Interrupted;
            }
            attempts += 1;
            match self.provider.submit(&urls) {
                Ok(sub) => break Attempted::Accepted(sub),
                Err(err) => {
                    if attempts >= max_attempts {
                        break Attempted::Failed { err, attempts };
                    }
                    let wait = retry::wait_before_retry(
                        &err,
                        attempts - 1,
                        self.opts.base_backoff,
                        self.opts.max_backoff,
                        self.provider.retry_after(),
                        &mut self.rng,
                    );
                    match wait {
                        Some(w) => {
                            log::debug!("attempt {attempts} failed ({err}); retrying in {w:?}");
                            if !w.is_zero() {
                                (self.sleeper)(w);
                            }
                        }
                        None => break Attempted::Failed { err, attempts },
                    }
                }
            }
        };
        let after = std::time::Instant::now() + self.opts.interval;
        self.next_call = Some(self.next_call.map_or(after, |n| n.max(after)));
        result
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::sources::Asset;

    type Rule = Box<dyn FnMut(usize, &[String]) -> Result<Submitted, PushError>>;

    struct Mock {
        calls: Vec<Vec<String>>,
        rule: Rule,
        retry_after: Option<Duration>,
    }

    impl Mock {
        fn new(
            rule: impl FnMut(usize, &[String]) -> Result<Submitted, PushError> + 'static,
        ) -> Self {
            Self {
                calls: Vec::new(),
                rule: Box::new(rule),
                retry_after: None,
            }
        }
        fn ok() -> Self {
            Self::new(|n, _| {
                Ok(Submitted {
                    task_id: format!("t{n}"),
                })
            })
        }
        fn sizes(&self) -> Vec<usize> {
            self.calls.iter().map(Vec::len).collect()
        }
    }

    impl Provider for Mock {
        fn name(&self) -> &'static str {
            "mock"
        }
        fn limits(&self) -> Limits {
            Limits { per_request: 20 }
        }
        fn submit(&mut self, urls: &[String]) -> Result<Submitted, PushError> {
            self.calls.push(urls.to_vec());
            let n = self.calls.len();
            (self.rule)(n, urls)
        }
        fn retry_after(&self) -> Option<Duration> {
            self.retry_after
        }
    }

    #[derive(Default)]
    struct Sink {
        accepted: Vec<Task>,
        rejected: Vec<Rejected>,
        fail_on: Option<usize>,
        stop_after: Option<usize>,
    }

    impl PushSink for Sink {
        fn accepted(&mut self, task: &Task, urls: &[PlannedUrl]) -> crate::Result<()> {
            assert_eq!(task.urls.len(), urls.len());
            self.accepted.push(task.clone());
            if self.fail_on == Some(self.accepted.len()) {
                return Err(crate::Error::Runtime("disk full".into()));
            }
            Ok(())
        }
        fn rejected(&mut self, rejected: &[Rejected]) {
            self.rejected.extend_from_slice(rejected);
        }
        fn should_stop(&self) -> bool {
            self.stop_after.is_some_and(|n| self.accepted.len() >= n)
        }
    }

    fn opts() -> PushOptions {
        PushOptions {
            max_attempts: 4,
            interval: Duration::ZERO,
            origin_bandwidth: None,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }

    fn planned(domain: &str, i: usize) -> PlannedUrl {
        let mut asset = Asset::new(format!("{domain}/{i}"));
        asset.bytes = Some(1000);
        PlannedUrl {
            from_backlog: false,
            ..asset
        }
    }

    /// `n` URLs of `domain`, cut into batches of at most `per`.
    fn batches(domain: &str, n: usize, per: usize) -> Vec<Batch> {
        let urls: Vec<PlannedUrl> = (0..n).map(|i| planned(domain, i)).collect();
        urls.chunks(per)
            .map(|c| Batch {
                domain: domain.to_string(),
                urls: c.to_vec(),
            })
            .collect()
    }

    fn run(
        b: Vec<Batch>,
        p: &mut Mock,
        o: &PushOptions,
        s: &mut Sink,
    ) -> (PushOutcome, Vec<Duration>) {
        let mut sleeps = Vec::new();
        let out = push_with(b, p, o, s, &mut |d| sleeps.push(d));
        (out, sleeps)
    }

    /// Every input URL exactly once in tasks, rejected or deferred.
    fn assert_exactly_once(input: &[Batch], out: &PushOutcome) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let all = out
            .tasks
            .iter()
            .flat_map(|t| t.urls.iter().cloned())
            .chain(out.rejected.iter().map(|r| r.url.clone()))
            .chain(out.deferred.iter().map(|u| u.url().to_string()));
        for u in all {
            *seen.entry(u).or_default() += 1;
        }
        let want: Vec<String> = input
            .iter()
            .flat_map(|b| b.urls.iter().map(|u| u.url().to_string()))
            .collect();
        assert_eq!(seen.len(), want.len(), "{out:?}");
        for u in want {
            assert_eq!(seen.get(&u), Some(&1), "{u}: {out:?}");
        }
    }

    #[test]
    fn forty_five_urls_go_out_as_20_20_5() {
        let input = batches("https://a.com", 45, 20);
        let (mut p, mut s) = (Mock::ok(), Sink::default());
        let (out, sleeps) = run(input.clone(), &mut p, &opts(), &mut s);
        assert_eq!(p.sizes(), [20, 20, 5]);
        assert_eq!(
            out.tasks
                .iter()
                .map(|t| t.task_id.as_str())
                .collect::<Vec<_>>(),
            ["t1", "t2", "t3"]
        );
        assert_eq!(s.accepted, out.tasks);
        assert!(
            out.deferred.is_empty()
                && out.rejected.is_empty()
                && out.failures.is_empty()
                && out.stop.is_none()
        );
        assert!(sleeps.is_empty());
        assert_exactly_once(&input, &out);
    }

    #[test]
    fn quota_mid_run_defers_the_rest() {
        let input = batches("https://a.com", 45, 20);
        let mut p = Mock::new(|n, _| {
            if n == 2 {
                Err(PushError::QuotaExceeded("(23101)".into()))
            } else {
                Ok(Submitted {
                    task_id: "x".into(),
                })
            }
        });
        let mut s = Sink::default();
        let (out, _) = run(input.clone(), &mut p, &opts(), &mut s);
        assert_eq!(p.calls.len(), 2);
        assert_eq!(out.tasks.len(), 1);
        assert_eq!(out.deferred.len(), 25);
        assert_eq!(out.deferred[0].url(), "https://a.com/20");
        assert!(matches!(out.stop, Some(Stop::Quota(ref m)) if m.contains("23101")));
        assert_exactly_once(&input, &out);
    }

    #[test]
    fn auth_stops_everything() {
        for err in [
            PushError::Auth("4100".into()),
            PushError::Migrated("ProductUpgraded".into()),
        ] {
            let input = batches("https://a.com", 45, 20);
            let e = err.clone();
            let mut p = Mock::new(move |_, _| Err(e.clone()));
            let mut s = Sink::default();
            let (out, sleeps) = run(input.clone(), &mut p, &opts(), &mut s);
            assert_eq!(p.calls.len(), 1, "no retry on {err}");
            assert!(sleeps.is_empty());
            assert_eq!(out.deferred.len(), 45);
            assert!(matches!(out.stop, Some(Stop::Fatal(_))));
            assert_exactly_once(&input, &out);
        }
    }

    #[test]
    fn transient_then_success_backs_off_once() {
        let input = batches("https://a.com", 5, 20);
        let mut p = Mock::new(|n, _| {
            if n == 1 {
                Err(PushError::Transient("http 502".into()))
            } else {
                Ok(Submitted {
                    task_id: "ok".into(),
                })
            }
        });
        let mut s = Sink::default();
        let (out, sleeps) = run(input.clone(), &mut p, &opts(), &mut s);
        assert_eq!(p.calls.len(), 2);
        assert_eq!(p.calls[0], p.calls[1]);
        assert_eq!(out.tasks.len(), 1);
        assert_eq!(sleeps.len(), 1);
        assert!(sleeps[0] <= Duration::from_millis(500), "{sleeps:?}");
        assert!(out.failures.is_empty() && out.stop.is_none());
        assert_exactly_once(&input, &out);
    }

    #[test]
    fn throttled_waits_at_least_the_base_and_honours_retry_after() {
        let input = batches("https://a.com", 3, 20);
        let mut p = Mock::new(|n, _| {
            if n <= 2 {
                Err(PushError::Throttled("9163".into()))
            } else {
                Ok(Submitted {
                    task_id: "ok".into(),
                })
            }
        });
        let mut s = Sink::default();
        let (out, sleeps) = run(input.clone(), &mut p, &opts(), &mut s);
        assert_eq!(out.tasks.len(), 1);
        assert_eq!(sleeps.len(), 2);
        assert!(
            sleeps.iter().all(|d| *d >= Duration::from_millis(500)),
            "{sleeps:?}"
        );

        let mut p = Mock::new(|n, _| {
            if n == 1 {
                Err(PushError::Transient("503".into()))
            } else {
                Ok(Submitted {
                    task_id: "ok".into(),
                })
            }
        });
        p.retry_after = Some(Duration::from_secs(7));
        let (_, sleeps) = run(input, &mut p, &opts(), &mut Sink::default());
        assert_eq!(sleeps, [Duration::from_secs(7)]);
    }

    #[test]
    fn expired_is_retried_at_once() {
        let input = batches("https://a.com", 3, 20);
        let mut p = Mock::new(|n, _| {
            if n == 1 {
                Err(PushError::Expired("4500".into()))
            } else {
                Ok(Submitted {
                    task_id: "ok".into(),
                })
            }
        });
        let (out, sleeps) = run(input, &mut p, &opts(), &mut Sink::default());
        assert_eq!(p.calls.len(), 2);
        assert!(sleeps.is_empty());
        assert_eq!(out.tasks.len(), 1);
    }

    #[test]
    fn retries_exhausted_defers_records_and_stops() {
        let input = batches("https://a.com", 45, 20);
        let mut p = Mock::new(|_, _| Err(PushError::Transient("http 503".into())));
        let mut o = opts();
        o.max_attempts = 3;
        let (out, sleeps) = run(input.clone(), &mut p, &o, &mut Sink::default());
        assert_eq!(p.calls.len(), 3);
        assert_eq!(sleeps.len(), 2);
        assert_eq!(out.failures.len(), 1);
        assert!(
            out.failures[0].contains("3 attempt") && out.failures[0].contains("503"),
            "{:?}",
            out.failures
        );
        assert!(matches!(out.stop, Some(Stop::Fatal(_))));
        assert_eq!(out.deferred.len(), 45);
        assert_exactly_once(&input, &out);
    }

    #[test]
    fn one_bad_url_in_twenty_is_bisected_out() {
        let input = batches("https://a.com", 20, 20);
        let mut p = Mock::new(|n, urls| {
            if urls.iter().any(|u| u.ends_with("/13")) {
                Err(PushError::InvalidParameter(
                    "InvalidParameter.CdnParamError: bad url".into(),
                ))
            } else {
                Ok(Submitted {
                    task_id: format!("t{n}"),
                })
            }
        });
        let mut s = Sink::default();
        let (out, _) = run(input.clone(), &mut p, &opts(), &mut s);
        let accepted: usize = out.tasks.iter().map(|t| t.urls.len()).sum();
        assert_eq!(accepted, 19);
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.rejected[0].url, "https://a.com/13");
        assert!(out.rejected[0].reason.contains("bad url"));
        assert_eq!(s.rejected, out.rejected);
        assert!(out.stop.is_none());
        // Bisection: far fewer calls than one per URL.
        assert!(p.calls.len() <= 12, "{:?}", p.sizes());
        assert_exactly_once(&input, &out);
    }

    #[test]
    fn too_large_splits_and_later_batches_start_smaller() {
        let input = batches("https://a.com", 40, 20);
        let mut p = Mock::new(|n, urls| {
            if urls.len() > 8 {
                Err(PushError::BatchTooLarge(
                    "LimitExceeded.CdnPushExceedBatchLimit".into(),
                ))
            } else {
                Ok(Submitted {
                    task_id: format!("t{n}"),
                })
            }
        });
        let (out, _) = run(input.clone(), &mut p, &opts(), &mut Sink::default());
        // 20 → 10 + 10 → 5+5+5+5; the second batch goes straight out in 5s.
        assert_eq!(p.sizes(), [20, 10, 5, 5, 5, 5, 5, 5, 5, 5]);
        assert_eq!(out.tasks.len(), 8);
        assert!(out.tasks.iter().all(|t| t.urls.len() == 5));
        assert_exactly_once(&input, &out);
    }

    #[test]
    fn domain_rejected_rejects_that_domain_without_calling_again() {
        let mut input = batches("https://a.com", 30, 20);
        input.extend(batches("https://b.com", 5, 20));
        let mut p = Mock::new(|n, urls| {
            if urls[0].starts_with("https://a.com") {
                Err(PushError::DomainRejected(
                    "ResourceNotFound.CdnHostNotExists".into(),
                ))
            } else {
                Ok(Submitted {
                    task_id: format!("t{n}"),
                })
            }
        });
        let mut s = Sink::default();
        let (out, _) = run(input.clone(), &mut p, &opts(), &mut s);
        assert_eq!(p.sizes(), [20, 5]);
        assert_eq!(out.rejected.len(), 30);
        assert!(
            out.rejected
                .iter()
                .all(|r| r.reason.contains("CdnHostNotExists"))
        );
        assert_eq!(out.tasks.len(), 1);
        assert_eq!(out.tasks[0].urls[0], "https://b.com/0");
        assert_eq!(s.rejected.len(), 30);
        assert!(out.stop.is_none());
        assert_exactly_once(&input, &out);
    }

    #[test]
    fn sink_failure_stops_after_the_accepted_batch() {
        let input = batches("https://a.com", 45, 20);
        let mut p = Mock::ok();
        let mut s = Sink {
            fail_on: Some(2),
            ..Sink::default()
        };
        let (out, _) = run(input.clone(), &mut p, &opts(), &mut s);
        assert_eq!(p.calls.len(), 2);
        assert_eq!(out.tasks.len(), 2);
        assert_eq!(out.deferred.len(), 5);
        assert!(matches!(out.stop, Some(Stop::Sink(ref m)) if m.contains("disk full")));
        assert_exactly_once(&input, &out);
    }

    #[test]
    fn should_stop_is_checked_before_each_call() {
        let input = batches("https://a.com", 45, 20);
        let mut p = Mock::ok();
        let mut s = Sink {
            stop_after: Some(1),
            ..Sink::default()
        };
        let (out, _) = run(input.clone(), &mut p, &opts(), &mut s);
        assert_eq!(p.calls.len(), 1);
        assert_eq!(out.deferred.len(), 25);
        assert_eq!(out.stop, Some(Stop::Interrupted));
        assert_exactly_once(&input, &out);
        let mut s = Sink {
            stop_after: Some(0),
            ..Sink::default()
        };
        let mut p = Mock::ok();
        let (out, _) = run(input.clone(), &mut p, &opts(), &mut s);
        assert!(p.calls.is_empty());
        assert_eq!(out.deferred.len(), 45);
    }

    #[test]
    fn interval_and_origin_bandwidth_pace_the_calls() {
        let input = batches("https://a.com", 45, 20);
        let mut o = opts();
        o.interval = Duration::from_secs(1);
        let (_, sleeps) = run(input.clone(), &mut Mock::ok(), &o, &mut Sink::default());
        assert_eq!(sleeps.len(), 2);
        assert!(
            sleeps
                .iter()
                .all(|d| *d > Duration::from_millis(900) && *d <= Duration::from_secs(1)),
            "{sleeps:?}"
        );

        // 20 URLs × 1000 bytes at 10 kB/s = 2 s after each full batch.
        o.interval = Duration::ZERO;
        o.origin_bandwidth = Some(10_000);
        let (_, sleeps) = run(input, &mut Mock::ok(), &o, &mut Sink::default());
        assert_eq!(sleeps.len(), 2);
        assert!(
            sleeps
                .iter()
                .all(|d| *d > Duration::from_millis(1900) && *d <= Duration::from_secs(2)),
            "{sleeps:?}"
        );
    }

    #[test]
    fn other_errors_stop_with_a_failure_line() {
        let input = batches("https://a.com", 25, 20);
        let mut p = Mock::new(|_, _| Err(PushError::Other("no reply in time".into())));
        let (out, _) = run(input.clone(), &mut p, &opts(), &mut Sink::default());
        assert_eq!(p.calls.len(), 1, "an ambiguous failure is not retried");
        assert_eq!(out.failures.len(), 1);
        assert_eq!(out.deferred.len(), 25);
        assert_exactly_once(&input, &out);
    }

    fn arb_error() -> impl Strategy<Value = Option<PushError>> {
        prop_oneof![
            4 => Just(None),
            1 => Just(Some(PushError::Transient("t".into()))),
            1 => Just(Some(PushError::Throttled("th".into()))),
            1 => Just(Some(PushError::Expired("e".into()))),
            1 => Just(Some(PushError::InvalidParameter("i".into()))),
            1 => Just(Some(PushError::BatchTooLarge("b".into()))),
            1 => Just(Some(PushError::DomainRejected("d".into()))),
            1 => Just(Some(PushError::QuotaExceeded("q".into()))),
            1 => Just(Some(PushError::Auth("a".into()))),
            1 => Just(Some(PushError::Other("o".into()))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn every_url_ends_up_exactly_once(
            sizes in proptest::collection::vec((0usize..3, 1usize..25), 0..6),
            script in proptest::collection::vec(arb_error(), 0..60),
            fail_on in proptest::option::of(1usize..5),
            stop_after in proptest::option::of(0usize..5),
            max_attempts in 1u32..4,
        ) {
            let mut input = Vec::new();
            for (k, (d, n)) in sizes.iter().enumerate() {
                let domain = format!("https://d{d}.com");
                let urls = (0..*n).map(|i| planned(&domain, k * 100 + i)).collect();
                input.push(Batch { domain, urls });
            }
            let mut p = Mock::new(move |n, _| match script.get(n - 1).cloned().flatten() {
                Some(e) => Err(e),
                None => Ok(Submitted { task_id: format!("t{n}") }),
            });
            let mut s = Sink { fail_on, stop_after, ..Sink::default() };
            let mut o = opts();
            o.max_attempts = max_attempts;
            let (out, _) = run(input.clone(), &mut p, &o, &mut s);
            assert_exactly_once(&input, &out);
            prop_assert_eq!(&s.accepted, &out.tasks);
            prop_assert_eq!(&s.rejected, &out.rejected);
        }
    }
}
