//! The fake CDN: a local stand-in for Tencent Cloud CDN's push API on 127.0.0.1, for tests, CI and trying a
//! config without spending quota (`prewarm fake-cdn`).
//!
//! Takes a [`FakeConfig`] and serves HTTP/1.1 (keep-alive, one thread per connection, no async runtime) on a
//! loopback port: API 2.0 `CdnOverseaPushser` on `/v2/index.php` ([`v2`]) or API 3.0 `PushUrlsCache`,
//! `DescribePushQuota` and `DescribePushTasks` on `/` ([`v3`]), whichever `api` selects. It enforces the real wire
//! contract — signatures, timestamps, nonces, batch limits, domains, daily quotas — and records every accepted URL,
//! so tests can assert that each URL was pushed exactly once. Faults ([`faults`]) are injected *instead of*
//! processing a push call, so a faulted call never accepts URLs.
//!
//! It must never bind anything but loopback, never contact another host, and never call `crate::push`: the
//! verifiers are a second, independent reading of `shared/api/TENCENT.md`.
//!
//! What each refusal looks like (v2 `code` / `message` prefix; v3 `Error.Code`):
//!
//! | condition | v2 | v3 |
//! |---|---|---|
//! | bad signature | 4100 `身份认证失败，用户身份验证失败` | `AuthFailure.SignatureFailure` |
//! | unknown SecretId, revoked credentials | 4104 | `AuthFailure.SecretIdNotFound` |
//! | timestamp skew > `max_skew` | 4500 | `AuthFailure.SignatureExpire` |
//! | reused Nonce (same SecretId, within the window) | 4500 | — |
//! | token missing or wrong (when configured) | 4100 | `AuthFailure.TokenFailure` |
//! | too many URLs | 4000 `(23100)` | `LimitExceeded.CdnPushExceedBatchLimit` |
//! | no URLs, URL without http(s)://, a `bad_urls` entry | 4000 `(9003)` | `InvalidParameter.CdnParamError` |
//! | host not in `domains` | 4000 `(9105)` | `ResourceNotFound.CdnHostNotExists` |
//! | host listed in `not_in_area` for the area | — | `InvalidParameter.CdnHostInvalidParam` |
//! | daily quota short for the whole batch | 4000 `(23101)` or 4400 | `LimitExceeded.CdnPushExceedDayLimit` |
//! | `throttle` / `auth` / `internal` fault | 4000 `(9163)` / 4100 / 6000 | `RequestLimitExceeded` / `AuthFailure.SignatureFailure` / `InternalError` |
//! | GET query > 32 KB or body > 1 MB | HTTP 501 | — |
//!
//! Admin endpoints (not part of Tencent's API): `GET /__fake/accepted` (JSON array of `{url, task_id, area,
//! time}`), `GET /__fake/rejected`, `GET /__fake/stats`, `POST /__fake/reset-day` (quotas back to full),
//! `POST /__fake/revoke` (every later call fails authentication), `POST /__fake/faults` (body = a fault script).

pub mod faults;
mod http;
pub mod v2;
pub mod v3;

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use time::{OffsetDateTime, UtcOffset};

use self::faults::{Fault, FaultScript};
use self::http::{Request, Response};
use crate::config::Api;

/// How v2 answers a push past the daily quota (both forms are seen in the wild, TENCENT.md §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QuotaErrorForm {
    /// `code` 4000 with `(23101)URL预热超出当日额度限制` in `message`.
    #[default]
    Module,
    /// `code` 4400 (超过配额).
    #[value(name = "4400")]
    Code4400,
}

/// The shape of v2's `data` on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DataShape {
    /// `[{"task_id":7,"date":"…"}]`, one entry per domain (the documented example).
    #[default]
    Array,
    /// `{"task_id":"7","count":N}` (CdnUrlPusher-style).
    Object,
}

/// What the fake serves and how it behaves.
#[derive(Clone)]
pub struct FakeConfig {
    /// Which API is served.
    pub api: Api,
    /// The one SecretId accepted (a FAKE test value, never a real one).
    pub secret_id: String,
    /// Its SecretKey (a FAKE test value).
    pub secret_key: String,
    /// When set, v2 `Token` / v3 `X-TC-Token` must equal it.
    pub token: Option<String>,
    /// Hosts on the CDN, e.g. `www.example.com`.
    pub domains: Vec<String>,
    /// URLs per call; `None` = the API default (20 on v2, 500 on v3).
    pub per_request: Option<usize>,
    /// URLs per day (per area on v3).
    pub per_day: u64,
    /// Already spent today in mainland (v3), "elsewhere".
    pub spent_mainland: u64,
    /// Already spent today overseas (v3, and v2's quota).
    pub spent_overseas: u64,
    /// Largest accepted timestamp skew.
    pub max_skew: Duration,
    /// Added to every API call.
    pub latency: Duration,
    /// The fault script, `""` = none (see [`faults`]).
    pub faults: String,
    /// v2 quota answer.
    pub quota_error: QuotaErrorForm,
    /// v2 `data` shape.
    pub data_shape: DataShape,
    /// v2 `task_id` as a JSON number (else a string).
    pub numeric_task_id: bool,
    /// How long a v3 task stays `process` before it is `done`.
    pub task_duration: Duration,
    /// URLs whose task ends `fail`.
    pub fail_urls: Vec<String>,
    /// URLs whose task ends `invalid` (origin 4xx).
    pub invalid_urls: Vec<String>,
    /// URLs refused as invalid parameters when present in a batch (for bisect tests).
    pub bad_urls: Vec<String>,
    /// `(host, area)`: the host is not accelerated in that area (v3).
    pub not_in_area: Vec<(String, String)>,
    /// DescribePushTasks says `Done` (as the official example does) instead of `done`.
    pub capitalised_status: bool,
    /// DescribePushQuota answers `UnauthorizedOperation.CdnCamUnauthorized` (a key without that permission).
    pub deny_quota: bool,
    /// Append each accepted URL as a JSON line to this file.
    pub record_file: Option<PathBuf>,
}

/// The fake SecretId of [`FakeConfig::default`].
pub const FAKE_SECRET_ID: &str = "AKIDfake0000000000000000000000000000";
/// The fake SecretKey of [`FakeConfig::default`] (a test value; it guards nothing).
pub const FAKE_SECRET_KEY: &str = "fake-secret-key-00000000000000000";

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            api: Api::V3,
            secret_id: FAKE_SECRET_ID.into(),
            secret_key: FAKE_SECRET_KEY.into(),
            token: None,
            domains: vec!["www.example.com".into(), "static.example.com".into()],
            per_request: None,
            per_day: 1000,
            spent_mainland: 0,
            spent_overseas: 0,
            max_skew: Duration::from_secs(300),
            latency: Duration::ZERO,
            faults: String::new(),
            quota_error: QuotaErrorForm::Module,
            data_shape: DataShape::Array,
            numeric_task_id: false,
            task_duration: Duration::ZERO,
            fail_urls: Vec::new(),
            invalid_urls: Vec::new(),
            bad_urls: Vec::new(),
            not_in_area: Vec::new(),
            capitalised_status: false,
            deny_quota: false,
            record_file: None,
        }
    }
}

impl fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeConfig")
            .field("api", &self.api)
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"(redacted)")
            .field("token", &self.token.as_ref().map(|_| "(redacted)"))
            .field("domains", &self.domains)
            .field("per_request", &self.per_request)
            .field("per_day", &self.per_day)
            .field("spent_mainland", &self.spent_mainland)
            .field("spent_overseas", &self.spent_overseas)
            .field("max_skew", &self.max_skew)
            .field("latency", &self.latency)
            .field("faults", &self.faults)
            .field("quota_error", &self.quota_error)
            .field("data_shape", &self.data_shape)
            .field("numeric_task_id", &self.numeric_task_id)
            .field("task_duration", &self.task_duration)
            .field("fail_urls", &self.fail_urls)
            .field("invalid_urls", &self.invalid_urls)
            .field("bad_urls", &self.bad_urls)
            .field("not_in_area", &self.not_in_area)
            .field("capitalised_status", &self.capitalised_status)
            .field("deny_quota", &self.deny_quota)
            .field("record_file", &self.record_file)
            .finish()
    }
}

/// One URL the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedUrl {
    /// The URL as submitted (after `UrlEncode`, when asked for).
    pub url: String,
    /// The task it went into.
    pub task_id: String,
    /// `mainland`, `overseas` or `global` (v2 records `overseas`).
    pub area: String,
    /// When, as Unix seconds.
    pub time: i64,
}

/// One refused call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The action (`""` when none could be read).
    pub action: String,
    /// The URLs it carried.
    pub urls: Vec<String>,
    /// Why (the fault or the API error).
    pub reason: String,
}

/// A push task, for DescribePushTasks.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) urls: Vec<String>,
    pub(crate) area: String,
    pub(crate) created: OffsetDateTime,
}

/// Mutable server state, behind one mutex.
pub(crate) struct State {
    /// Spent today: `[mainland, overseas]`.
    pub(crate) spent: [u64; 2],
    /// The CDN day (UTC+8) the counters belong to.
    pub(crate) day: String,
    /// `(SecretId, Nonce)` → Unix time first seen (v2 replay guard).
    pub(crate) nonces: HashMap<(String, String), i64>,
    pub(crate) accepted: Vec<AcceptedUrl>,
    pub(crate) rejected: Vec<Rejection>,
    pub(crate) calls: BTreeMap<String, usize>,
    pub(crate) tasks: Vec<Task>,
    pub(crate) faults: FaultScript,
    pub(crate) push_calls: u64,
    pub(crate) revoked: bool,
    next_task: u64,
    record: Option<File>,
}

/// The CDN's clock: Beijing time.
pub(crate) const CDN_OFFSET: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// `YYYY-MM-DD HH:MM:SS` in Beijing time (how Tencent prints times).
pub(crate) fn beijing(t: OffsetDateTime) -> String {
    let t = t.to_offset(CDN_OFFSET);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn cdn_day(t: OffsetDateTime) -> String {
    beijing(t)[..10].to_string()
}

/// Compares two byte strings in time independent of where they differ (signature checks).
pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl State {
    /// Records a refused call and passes its answer through.
    pub(crate) fn refuse(
        &mut self,
        action: &str,
        urls: &[String],
        reason: &str,
        resp: Response,
    ) -> Response {
        self.rejected.push(Rejection {
            action: action.into(),
            urls: urls.to_vec(),
            reason: reason.into(),
        });
        resp
    }

    /// Starts a new CDN day when the Beijing date has changed.
    pub(crate) fn roll_day(&mut self, now: OffsetDateTime) {
        let day = cdn_day(now);
        if day != self.day {
            self.day = day;
            self.spent = [0, 0];
        }
    }

    /// URLs left today in area 0 (mainland) or 1 (overseas).
    pub(crate) fn left(&self, area: usize, per_day: u64) -> u64 {
        per_day.saturating_sub(self.spent[area])
    }

    /// Creates a task for `urls`, records them as accepted, and returns the task id.
    pub(crate) fn new_task(
        &mut self,
        cfg: &FakeConfig,
        urls: &[String],
        area: &str,
        now: OffsetDateTime,
    ) -> String {
        self.next_task += 1;
        let id = match cfg.api {
            Api::V2 => self.next_task.to_string(),
            // Real v3 task ids are long digit strings, e.g. "15475444535871929928456".
            Api::V3 => format!("{}{:010}", now.unix_timestamp(), self.next_task),
        };
        for url in urls {
            let rec = AcceptedUrl {
                url: url.clone(),
                task_id: id.clone(),
                area: area.into(),
                time: now.unix_timestamp(),
            };
            if let Some(file) = self.record.as_mut() {
                let line = accepted_json(&rec);
                if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                    log::warn!("fake-cdn: cannot append to the record file: {e}");
                }
            }
            self.accepted.push(rec);
        }
        self.tasks.push(Task {
            id: id.clone(),
            urls: urls.to_vec(),
            area: area.into(),
            created: now,
        });
        id
    }
}

fn accepted_json(a: &AcceptedUrl) -> serde_json::Value {
    serde_json::json!({"url": a.url, "task_id": a.task_id, "area": a.area, "time": a.time})
}

struct Shared {
    cfg: FakeConfig,
    state: Mutex<State>,
    stop: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake CDN; dropping it stops the server.
pub struct FakeCdn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for FakeCdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCdn")
            .field("addr", &self.addr)
            .field("cfg", &self.shared.cfg)
            .finish_non_exhaustive()
    }
}

impl FakeCdn {
    /// Starts on a free loopback port.
    ///
    /// # Errors
    /// The port cannot be bound, the record file cannot be opened, or the fault script does not parse
    /// (`InvalidInput`).
    pub fn start(cfg: FakeConfig) -> std::io::Result<FakeCdn> {
        Self::start_on(cfg, 0)
    }

    /// Starts on `127.0.0.1:port` (`0` = a free port).
    ///
    /// # Errors
    /// As [`FakeCdn::start`].
    pub fn start_on(cfg: FakeConfig, port: u16) -> std::io::Result<FakeCdn> {
        let faults = FaultScript::parse(&cfg.faults)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let record = match &cfg.record_file {
            Some(p) => Some(
                File::options()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?,
            ),
            None => None,
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let addr = listener.local_addr()?;
        let now = OffsetDateTime::now_utc();
        let state = State {
            spent: [cfg.spent_mainland, cfg.spent_overseas],
            day: cdn_day(now),
            nonces: HashMap::new(),
            accepted: Vec::new(),
            rejected: Vec::new(),
            calls: BTreeMap::new(),
            tasks: Vec::new(),
            faults,
            push_calls: 0,
            revoked: false,
            next_task: 0,
            record,
        };
        let shared = Arc::new(Shared {
            cfg,
            state: Mutex::new(state),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("fake-cdn-accept".into())
            .spawn(move || accept_loop(&listener, &s))?;
        Ok(FakeCdn {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API endpoint: `http://127.0.0.1:PORT/v2/index.php` (v2) or `http://127.0.0.1:PORT/` (v3).
    #[must_use]
    pub fn endpoint(&self) -> String {
        match self.shared.cfg.api {
            Api::V2 => format!("http://{}{}", self.addr, v2::PATH),
            Api::V3 => format!("http://{}/", self.addr),
        }
    }

    /// Every accepted URL, in order, duplicates kept.
    #[must_use]
    pub fn accepted(&self) -> Vec<AcceptedUrl> {
        self.shared.state().accepted.clone()
    }

    /// The accepted URLs only, in order.
    #[must_use]
    pub fn accepted_urls(&self) -> Vec<String> {
        self.shared
            .state()
            .accepted
            .iter()
            .map(|a| a.url.clone())
            .collect()
    }

    /// Every refused call (API errors and injected faults), in order.
    #[must_use]
    pub fn rejected(&self) -> Vec<Rejection> {
        self.shared.state().rejected.clone()
    }

    /// How many calls of this action arrived (faulted and refused ones included).
    #[must_use]
    pub fn calls(&self, action: &str) -> usize {
        self.shared.state().calls.get(action).copied().unwrap_or(0)
    }

    /// How many TCP connections were accepted so far (keep-alive clients reuse one).
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.shared.next_conn.load(Ordering::SeqCst)
    }

    /// Replaces the fault script; push calls are counted from 1 again.
    ///
    /// # Errors
    /// The script does not parse; the old one stays.
    pub fn set_faults(&self, script: &str) -> Result<(), String> {
        let parsed = FaultScript::parse(script)?;
        let mut st = self.shared.state();
        st.faults = parsed;
        st.push_calls = 0;
        Ok(())
    }

    /// Revokes the credentials: every later call fails authentication.
    pub fn revoke(&self) {
        self.shared.state().revoked = true;
    }

    /// Starts a new CDN day: every quota back to full.
    pub fn reset_day(&self) {
        self.shared.state().spent = [0, 0];
    }

    /// URLs left today in `mainland` or `overseas` (`global` = the smaller of the two; v2 uses `overseas`).
    #[must_use]
    pub fn quota_left(&self, area: &str) -> u64 {
        let mut st = self.shared.state();
        st.roll_day(OffsetDateTime::now_utc());
        let per_day = self.shared.cfg.per_day;
        match area {
            "mainland" => st.left(0, per_day),
            "overseas" => st.left(1, per_day),
            "global" => st.left(0, per_day).min(st.left(1, per_day)),
            _ => 0,
        }
    }
}

impl Drop for FakeCdn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        let conns = std::mem::take(
            &mut *self
                .shared
                .conns
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for stream in conns.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            shared
                .conns
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, clone);
        }
        let s = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("fake-cdn-conn".into())
            .spawn(move || {
                serve_connection(&s, stream);
                s.conns
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            });
        if let Err(e) = spawned {
            log::warn!("fake-cdn: cannot spawn a connection thread: {e}");
        }
    }
}

/// What to do with a connection after a request.
enum Outcome {
    /// Write this response.
    Reply(Response),
    /// Close without answering.
    Drop,
    /// Write the head and half of this body, then close.
    Reset(Response),
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let req = match http::read_request(&mut reader) {
            Ok(Some(Ok(req))) => req,
            Ok(Some(Err(bad))) => {
                let _ = Response::text(bad.status, format!("{}\n", bad.message))
                    .write_to(&mut writer, false);
                break;
            }
            Ok(None) | Err(_) => break,
        };
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        match dispatch(shared, &req, &writer) {
            Outcome::Reply(resp) => {
                if resp.write_to(&mut writer, req.keep_alive).is_err() || !req.keep_alive {
                    break;
                }
            }
            Outcome::Drop => break,
            Outcome::Reset(resp) => {
                let half = &resp.body[..resp.body.len() / 2];
                let _ = writer
                    .write_all(resp.head(resp.body.len(), false).as_bytes())
                    .and_then(|()| writer.write_all(half))
                    .and_then(|()| writer.flush());
                break;
            }
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn html_page(status: u16) -> String {
    let reason = http::reason(status);
    format!(
        "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n<body><center><h1>{status} {reason}</h1></center><hr><center>stgw</center></body></html>\n"
    )
}

fn dispatch(shared: &Shared, req: &Request, stream: &TcpStream) -> Outcome {
    if let Some(admin) = req.path.strip_prefix("/__fake/") {
        return Outcome::Reply(admin_call(shared, admin, req));
    }
    let cfg = &shared.cfg;
    let (api_path, push_action) = match cfg.api {
        Api::V2 => (v2::PATH, v2::ACTION),
        Api::V3 => ("/", v3::PUSH_ACTION),
    };
    if req.path != api_path {
        return Outcome::Reply(Response::html(404, html_page(404)));
    }
    if !cfg.latency.is_zero() {
        thread::sleep(cfg.latency);
    }
    let action = match cfg.api {
        Api::V2 => v2::action_of(req),
        Api::V3 => v3::action_of(req),
    }
    .unwrap_or_default();
    let fault = {
        let mut st = shared.state();
        *st.calls.entry(action.clone()).or_insert(0) += 1;
        if action == push_action {
            st.push_calls += 1;
            let n = st.push_calls;
            st.faults.fault_for(n)
        } else {
            None
        }
    };
    let canned = || match cfg.api {
        Api::V2 => v2::canned_success(),
        Api::V3 => v3::canned_success(),
    };
    let faulted = |reason: &str| {
        let urls = match cfg.api {
            Api::V2 => v2::urls_of(req),
            Api::V3 => v3::urls_of(req),
        };
        shared.state().rejected.push(Rejection {
            action: action.clone(),
            urls,
            reason: format!("fault: {reason}"),
        });
    };
    match fault {
        None => {}
        Some(Fault::Slow(d)) => {
            thread::sleep(d);
            if client_gone(stream) {
                faulted("slow (client hung up; not processed)");
                return Outcome::Drop;
            }
        }
        Some(Fault::Timeout(d)) => {
            thread::sleep(d);
            faulted("timeout");
            return Outcome::Drop;
        }
        Some(Fault::Drop) => {
            faulted("drop");
            return Outcome::Drop;
        }
        Some(Fault::Reset) => {
            faulted("reset");
            return Outcome::Reset(Response::json(canned()));
        }
        Some(Fault::Truncated) => {
            faulted("truncated");
            let body = canned();
            let half = body.as_bytes()[..body.len() / 2].to_vec();
            return Outcome::Reply(Response {
                body: half,
                ..Response::json(String::new())
            });
        }
        Some(Fault::Html200) => {
            faulted("html200");
            return Outcome::Reply(Response::html(200, html_page(502)));
        }
        Some(Fault::Status { code, empty }) => {
            faulted(&format!("http {code}"));
            let mut resp = if empty {
                Response {
                    status: code,
                    content_type: "",
                    extra: Vec::new(),
                    body: Vec::new(),
                }
            } else {
                Response::html(code, html_page(code))
            };
            if code == 429 || code == 503 {
                resp.extra.push(("Retry-After", "1".into()));
            }
            return Outcome::Reply(resp);
        }
        Some(Fault::Throttle) => {
            faulted("throttle");
            return Outcome::Reply(match cfg.api {
                Api::V2 => v2::throttled(),
                Api::V3 => v3::error(
                    "RequestLimitExceeded",
                    "请求的次数超过了频率限制 (fake-cdn fault)",
                ),
            });
        }
        Some(Fault::Auth) => {
            faulted("auth");
            return Outcome::Reply(match cfg.api {
                Api::V2 => v2::auth_failure(),
                Api::V3 => v3::error(
                    "AuthFailure.SignatureFailure",
                    "the provided credentials could not be validated (fake-cdn fault)",
                ),
            });
        }
        Some(Fault::Internal) => {
            faulted("internal");
            return Outcome::Reply(match cfg.api {
                Api::V2 => v2::internal(),
                Api::V3 => v3::error("InternalError", "内部错误 (fake-cdn fault)"),
            });
        }
        Some(Fault::Revoke) => shared.state().revoked = true,
        Some(Fault::Exhaust) => {
            let per_day = cfg.per_day;
            shared.state().spent = [per_day, per_day];
        }
    }
    // The documented size limits of API 2.0: GET ≤ 32 KB, POST ≤ 1 MB, else HTTP 501 (TENCENT.md §1.1 step 8).
    if cfg.api == Api::V2 && (req.query.len() > 32 * 1024 || req.body.len() > 1024 * 1024) {
        shared.state().rejected.push(Rejection {
            action: action.clone(),
            urls: v2::urls_of(req),
            reason: "request too large: http 501".into(),
        });
        return Outcome::Reply(Response::html(501, html_page(501)));
    }
    let now = OffsetDateTime::now_utc();
    let mut st = shared.state();
    Outcome::Reply(match cfg.api {
        Api::V2 => v2::handle(cfg, &mut st, req, now),
        Api::V3 => v3::handle(cfg, &mut st, req, now),
    })
}

/// Whether the client closed its side while we slept (a client-side timeout).
fn client_gone(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut probe = [0u8; 1];
    let gone = match stream.peek(&mut probe) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    gone
}

fn admin_call(shared: &Shared, what: &str, req: &Request) -> Response {
    let ok = || Response::json(r#"{"ok":true}"#.into());
    match (req.method.as_str(), what) {
        ("GET", "accepted") => {
            let list: Vec<_> = shared.state().accepted.iter().map(accepted_json).collect();
            Response::json(serde_json::Value::Array(list).to_string())
        }
        ("GET", "rejected") => {
            let list: Vec<_> = shared
                .state()
                .rejected
                .iter()
                .map(
                    |r| serde_json::json!({"action": r.action, "urls": r.urls, "reason": r.reason}),
                )
                .collect();
            Response::json(serde_json::Value::Array(list).to_string())
        }
        ("GET", "stats") => {
            let mut st = shared.state();
            st.roll_day(OffsetDateTime::now_utc());
            let per_day = shared.cfg.per_day;
            let body = serde_json::json!({
                "calls": st.calls,
                "push_calls": st.push_calls,
                "accepted": st.accepted.len(),
                "rejected": st.rejected.len(),
                "tasks": st.tasks.len(),
                "revoked": st.revoked,
                "connections": shared.next_conn.load(Ordering::SeqCst),
                "quota_left": {"mainland": st.left(0, per_day), "overseas": st.left(1, per_day)},
                "per_day": per_day,
            });
            Response::json(body.to_string())
        }
        ("POST", "reset-day") => {
            shared.state().spent = [0, 0];
            ok()
        }
        ("POST", "revoke") => {
            shared.state().revoked = true;
            ok()
        }
        ("POST", "faults") => match std::str::from_utf8(&req.body)
            .map_err(|_| "fault script is not utf-8".to_string())
            .and_then(FaultScript::parse)
        {
            Ok(parsed) => {
                let mut st = shared.state();
                st.faults = parsed;
                st.push_calls = 0;
                ok()
            }
            Err(e) => Response::text(400, format!("{e}\n")),
        },
        (_, "accepted" | "rejected" | "stats" | "reset-day" | "revoke" | "faults") => {
            Response::text(405, "method not allowed\n")
        }
        _ => Response::text(404, format!("unknown admin endpoint /__fake/{what}\n")),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The `prewarm fake-cdn` command.

/// Which API `prewarm fake-cdn` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApiArg {
    /// API 2.0, `CdnOverseaPushser` on /v2/index.php.
    V2,
    /// API 3.0, `PushUrlsCache` & co. on /.
    V3,
}

/// Run a local stand-in for Tencent Cloud CDN's push API on 127.0.0.1.
///
/// It checks signatures, timestamps, batch limits, domains and daily quotas exactly like the real API, records
/// every accepted URL, and can inject faults. Point prewarm at it with PREWARM_ENDPOINT and the fake credentials
/// (TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY set to the values below). It never spends real quota and
/// never talks to Tencent.
#[derive(Clone, clap::Args)]
#[command(after_help = "\
--api v3|v2 picks the API served (default v3) and --per-day N its daily quota (default 1000).

Examples:
  prewarm fake-cdn --port 8080 --api v3 --domain www.example.com
  # in another shell:
  TENCENTCLOUD_SECRET_ID=AKIDfake0000000000000000000000000000 \\
  TENCENTCLOUD_SECRET_KEY=fake-secret-key-00000000000000000 \\
  PREWARM_ENDPOINT=http://127.0.0.1:8080/ prewarm --dir public --base-url https://www.example.com/

  # the v2 API, a small quota already half spent, calls 1-2 failing with HTTP 503, a JSON-lines log:
  prewarm fake-cdn --api v2 --per-day 40 --spent-overseas 20 --fault 503@1-2 --record pushed.jsonl

Fault rules (--fault, repeatable; push calls are numbered from 1):
  500@1-3  502@2  429@4-  503:empty@1     HTTP status, HTML (or empty) body
  slow:3000@1     sleep 3 s, then answer (dropped unprocessed if the client hung up meanwhile)
  timeout:60000@1 sleep, then close without processing
  drop@5  reset@2  truncated@3  html200@2 broken transports and bodies
  throttle@1  auth@1  internal@1          API-level errors
  revoke@4        credentials revoked from call 4 on
  random:0.2:seed=7  each push call fails with probability 0.2 (deterministic for a seed)

Admin endpoints: GET /__fake/accepted, GET /__fake/stats, POST /__fake/reset-day, POST /__fake/revoke,
POST /__fake/faults (body: a fault script).")]
pub struct FakeCdnArgs {
    /// Port on 127.0.0.1 (0 = a free port; the endpoint is printed on stdout).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Which API to serve: the command line's common `--api v3|v2` (v3 unless given), shared with the rest of
    /// prewarm's flags, so it is not a flag of its own here.
    #[arg(skip = ApiArg::V3)]
    pub api: ApiArg,
    /// A CDN host, e.g. www.example.com (repeatable) [default: www.example.com, static.example.com].
    #[arg(long = "domain", value_name = "HOST")]
    pub domains: Vec<String>,
    /// The SecretId the fake accepts. A FAKE test value — never put real credentials here.
    #[arg(long, env = "PREWARM_FAKE_SECRET_ID", hide_env_values = true, default_value = FAKE_SECRET_ID)]
    pub secret_id: String,
    /// The SecretKey the fake checks signatures with. A FAKE test value — never a real key.
    #[arg(long, env = "PREWARM_FAKE_SECRET_KEY", hide_env_values = true, default_value = FAKE_SECRET_KEY)]
    pub secret_key: String,
    /// Require this session token (v2 Token / v3 X-TC-Token). A FAKE test value.
    #[arg(long, env = "PREWARM_FAKE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// URLs per call [default: 20 on v2, 500 on v3].
    #[arg(long, value_name = "N")]
    pub per_request: Option<usize>,
    /// URLs per day (per area on v3): the common `--per-day N` (1000 unless given).
    #[arg(skip = 1000_u64)]
    pub per_day: u64,
    /// Already spent today in mainland (v3), to simulate pushes made elsewhere.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub spent_mainland: u64,
    /// Already spent today overseas (v3; also v2's quota).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub spent_overseas: u64,
    /// Added to every API call: milliseconds, or with a unit (20ms, 1s).
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_millis)]
    pub latency: Duration,
    /// A fault rule (repeatable); see below.
    #[arg(long = "fault", value_name = "RULE")]
    pub faults: Vec<String>,
    /// How v2 reports an exhausted daily quota.
    #[arg(long, value_enum, default_value_t = QuotaErrorForm::Module)]
    pub quota_error: QuotaErrorForm,
    /// Shape of v2's success data.
    #[arg(long, value_enum, default_value_t = DataShape::Array)]
    pub data_shape: DataShape,
    /// v2 task_id as a JSON number instead of a string.
    #[arg(long)]
    pub numeric_task_id: bool,
    /// How long v3 tasks stay "process": seconds, or with a unit (500ms, 2s).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_secs)]
    pub task_duration: Duration,
    /// A URL whose task ends "fail" (repeatable).
    #[arg(long = "fail-url", value_name = "URL")]
    pub fail_urls: Vec<String>,
    /// A URL whose task ends "invalid", as after an origin 4xx (repeatable).
    #[arg(long = "invalid-url", value_name = "URL")]
    pub invalid_urls: Vec<String>,
    /// A URL refused as an invalid parameter whenever a batch contains it (repeatable).
    #[arg(long = "bad-url", value_name = "URL")]
    pub bad_urls: Vec<String>,
    /// HOST:AREA — the host is not accelerated in that area, v3 (repeatable).
    #[arg(long = "not-in-area", value_name = "HOST:AREA", value_parser = parse_host_area)]
    pub not_in_area: Vec<(String, String)>,
    /// DescribePushTasks says "Done" as the official example does.
    #[arg(long)]
    pub capitalised_status: bool,
    /// DescribePushQuota is refused (a key without that CAM permission).
    #[arg(long)]
    pub deny_quota: bool,
    /// Append each accepted URL to FILE as a JSON line.
    #[arg(long = "record", value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Largest accepted clock skew of a request: seconds, or with a unit.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_secs)]
    pub max_skew: Duration,
}

fn parse_duration(v: &str, bare_ms: bool) -> Result<Duration, String> {
    let v = v.trim();
    let err = || format!("invalid duration {v:?}: expected a number, optionally with ms, s or m");
    let (num, scale_ms) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (v, if bare_ms { 1.0 } else { 1000.0 })
    };
    let n: f64 = num.trim().parse().map_err(|_| err())?;
    if !n.is_finite() || n < 0.0 || n * scale_ms > 1e12 {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(n * scale_ms / 1000.0))
}

fn parse_millis(v: &str) -> Result<Duration, String> {
    parse_duration(v, true)
}

fn parse_secs(v: &str) -> Result<Duration, String> {
    parse_duration(v, false)
}

fn parse_host_area(v: &str) -> Result<(String, String), String> {
    match v.rsplit_once(':') {
        Some((host, area @ ("mainland" | "overseas"))) if !host.is_empty() => {
            Ok((host.into(), area.into()))
        }
        _ => Err(format!(
            "invalid {v:?}: expected HOST:mainland or HOST:overseas"
        )),
    }
}

impl fmt::Debug for FakeCdnArgs {
    /// Redacts the key and token, like [`FakeConfig`]'s `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCdnArgs")
            .field("port", &self.port)
            .field("config", &self.to_config())
            .finish()
    }
}

impl FakeCdnArgs {
    /// The [`FakeConfig`] these flags describe.
    #[must_use]
    pub fn to_config(&self) -> FakeConfig {
        let base = FakeConfig::default();
        FakeConfig {
            api: match self.api {
                ApiArg::V2 => Api::V2,
                ApiArg::V3 => Api::V3,
            },
            secret_id: self.secret_id.clone(),
            secret_key: self.secret_key.clone(),
            token: self.token.clone(),
            domains: if self.domains.is_empty() {
                base.domains
            } else {
                self.domains.clone()
            },
            per_request: self.per_request,
            per_day: self.per_day,
            spent_mainland: self.spent_mainland,
            spent_overseas: self.spent_overseas,
            max_skew: self.max_skew,
            latency: self.latency,
            faults: self.faults.join(","),
            quota_error: self.quota_error,
            data_shape: self.data_shape,
            numeric_task_id: self.numeric_task_id,
            task_duration: self.task_duration,
            fail_urls: self.fail_urls.clone(),
            invalid_urls: self.invalid_urls.clone(),
            bad_urls: self.bad_urls.clone(),
            not_in_area: self.not_in_area.clone(),
            capitalised_status: self.capitalised_status,
            deny_quota: self.deny_quota,
            record_file: self.record.clone(),
        }
    }
}

/// Starts the fake, prints `fake-cdn: listening on <endpoint>` on stdout, and serves until the process is killed.
///
/// # Errors
/// A bad fault script ([`crate::Error::Usage`]), an unopenable record file or an unbindable port
/// ([`crate::Error::Runtime`]).
pub fn run_cli(args: &FakeCdnArgs) -> crate::Result<()> {
    let cfg = args.to_config();
    FaultScript::parse(&cfg.faults).map_err(|e| crate::Error::Usage(format!("fake-cdn: {e}")))?;
    let fake = FakeCdn::start_on(cfg, args.port).map_err(|e| {
        crate::Error::Runtime(format!(
            "fake-cdn: cannot start on 127.0.0.1:{}: {e}",
            args.port
        ))
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "fake-cdn: listening on {}", fake.endpoint())
        .and_then(|()| out.flush())
        .map_err(|e| crate::Error::Runtime(format!("fake-cdn: stdout: {e}")))?;
    drop(out);
    loop {
        thread::park();
    }
}
