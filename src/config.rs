//! Configuration: `prewarm.toml` + `PREWARM_*` environment + flags → one resolved [`Settings`].
//!
//! Precedence: flags > environment > file > defaults. The file is parsed with `deny_unknown_fields`, so an unknown
//! key or a wrong type is an error naming the key, the file and the line. Relative paths resolve against the config
//! file's folder. Secrets are never read from the file: a value that looks like one is refused.

use std::path::PathBuf;
use std::time::Duration;

use time::UtcOffset;

/// Where a sitemap (or robots.txt) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file.
    Path(PathBuf),
    /// An `http(s)://` URL.
    Url(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(p) => write!(f, "{}", p.display()),
            Self::Url(u) => f.write_str(u),
        }
    }
}

/// How files under a root map to URLs (shared by `dir`, `changed` and `git` sources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The build folder (absolute).
    pub root: PathBuf,
    /// The URL the root is served at, ending in `/`.
    pub base_url: String,
    /// globset patterns, relative to the root; empty = everything.
    pub include: Vec<String>,
    /// globset patterns, relative to the root.
    pub exclude: Vec<String>,
    /// `blog/index.html` → `blog/` (and `about.html` stays `about.html`).
    pub pretty_urls: bool,
    /// Include dot-files and dot-folders (off by default).
    pub hidden: bool,
}

/// One `[[source]]`.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// `kind = "sitemap"`: a sitemap, sitemap index, plain-text sitemap or robots.txt.
    Sitemap {
        /// File or URL.
        location: Location,
        /// Source priority (higher goes first).
        priority: i64,
    },
    /// `kind = "dir"`: every file of a build folder.
    Dir {
        /// Root, base URL and filters.
        mapping: Mapping,
        /// Source priority.
        priority: i64,
    },
    /// `kind = "changed"`: a changed-file list (`git diff --name-only`), from a file or stdin.
    Changed {
        /// The list; `None` = stdin (`-`).
        file: Option<PathBuf>,
        /// Root, base URL and filters.
        mapping: Mapping,
        /// Source priority.
        priority: i64,
    },
    /// `kind = "git"`: `git diff --name-status OLD..NEW` in a repository.
    Git {
        /// The repository (work tree or bare).
        repo: PathBuf,
        /// `OLD..NEW`.
        range: String,
        /// The build root inside the repository (relative path, `""` = the repository root).
        prefix: PathBuf,
        /// Base URL and filters (`mapping.root` is the build root on disk, used for sizes when present).
        mapping: Mapping,
        /// Source priority.
        priority: i64,
    },
}

/// A glob-based priority rule (`[[priority]]`): URLs whose path matches get this priority added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityRule {
    /// A glob over the URL path, e.g. `/blog/**`.
    pub glob: String,
    /// Added to the source priority.
    pub priority: i64,
}

/// `[quota]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaSettings {
    /// URLs per API call.
    pub per_request: usize,
    /// URLs per CDN day.
    pub per_day: u64,
    /// The CDN's day boundary.
    pub day_utc_offset: UtcOffset,
    /// Left for manual pushes.
    pub reserve: u64,
}

/// Which Tencent API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// API 2.0, `CdnOverseaPushser` (retired by Tencent in 2022; the seed contract).
    V2,
    /// API 3.0, `PushUrlsCache` (the live API).
    V3,
}

/// v3 `Area`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Mainland China.
    Mainland,
    /// Outside mainland China (what CdnOverseaPushser did).
    Overseas,
    /// Both; spends both quotas.
    Global,
}

impl Area {
    /// The API's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mainland => "mainland",
            Self::Overseas => "overseas",
            Self::Global => "global",
        }
    }
}

/// HTTP method for API calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET, parameters in the query string.
    Get,
    /// POST (form for v2, JSON for v3).
    Post,
}

impl Method {
    /// `GET` / `POST`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// v2 signature method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    /// The default.
    HmacSha1,
    /// `SignatureMethod=HmacSHA256`.
    HmacSha256,
}

/// `[cdn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnSettings {
    /// `v3` (default) or `v2`.
    pub api: Api,
    /// v3 area.
    pub area: Area,
    /// The API endpoint (the per-API default when not configured).
    pub endpoint: String,
    /// v2 action (`CdnOverseaPushser`).
    pub action: String,
    /// GET or POST.
    pub method: Method,
    /// v2 signature method.
    pub signature_method: SignatureMethod,
    /// v2 `Region`, sent and signed when set.
    pub region: Option<String>,
    /// Env var holding the SecretId.
    pub secret_id_env: String,
    /// Env var holding the SecretKey.
    pub secret_key_env: String,
    /// v3 `Layer`.
    pub layer: Option<String>,
    /// v3 `UserAgent`.
    pub user_agent: Option<String>,
    /// v3 `UrlEncode` (off: prewarm's URLs are already percent-encoded; on would double-encode).
    pub url_encode: bool,
    /// v3 `Headers`: origin request headers.
    pub headers: Vec<(String, String)>,
}

/// `[push]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    /// Pause between batches.
    pub interval: Duration,
    /// Bytes per second the origin can serve for prefetches; batches are spaced by their known sizes.
    pub origin_bandwidth: Option<u64>,
    /// Attempts per batch (first try included).
    pub max_attempts: u32,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// First retry back-off (doubles, with jitter, capped by `max_backoff`).
    pub base_backoff: Duration,
    /// Back-off cap.
    pub max_backoff: Duration,
}

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// The state file (absolute).
    pub path: PathBuf,
    /// How long a second run waits for the lock.
    pub lock_timeout: Duration,
}

/// `[limits]`: guards against hostile input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLimits {
    /// Sitemap index nesting depth.
    pub max_sitemap_depth: usize,
    /// Decompressed bytes per gzip member (gzip-bomb guard).
    pub max_decompressed_bytes: u64,
    /// Longest URL kept.
    pub max_url_len: usize,
    /// Bytes fetched per remote document.
    pub max_fetch_bytes: u64,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON object on stdout.
    Json,
    /// GitHub workflow commands + job summary + outputs.
    Github,
}

/// Per-run options from the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// Everything but the push and the state write.
    pub dry_run: bool,
    /// Ignore the diff.
    pub all: bool,
    /// Cap on URLs planned this run.
    pub max_urls: Option<usize>,
    /// Write the fingerprint manifest here.
    pub write_manifest: Option<PathBuf>,
    /// Diff against this previous manifest (path or URL) instead of state.
    pub previous: Option<Location>,
    /// Wait for the CDN tasks to finish (v3).
    pub wait: bool,
    /// How long `--wait` polls.
    pub wait_timeout: Duration,
}

/// The resolved configuration: no `Option`s left to default.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file read, if any.
    pub config_path: Option<PathBuf>,
    /// The folder relative paths resolve against.
    pub base_dir: PathBuf,
    /// Allowed origins, normalised (`https://www.example.com`).
    pub domains: Vec<String>,
    /// The sources, in order.
    pub sources: Vec<SourceSpec>,
    /// Glob priority rules.
    pub priority_rules: Vec<PriorityRule>,
    /// `[quota]`.
    pub quota: QuotaSettings,
    /// `[cdn]`.
    pub cdn: CdnSettings,
    /// `[push]`.
    pub push: PushSettings,
    /// `[state]`.
    pub state: StateSettings,
    /// `[limits]`.
    pub limits: InputLimits,
    /// Output format.
    pub format: Format,
    /// Per-run options.
    pub run: RunOptions,
}

/// Defaults, read through one place.
pub mod defaults {
    use std::time::Duration;

    /// URLs per API call (CdnOverseaPushser's documented limit).
    pub const PER_REQUEST: usize = 20;
    /// URLs per CDN day.
    pub const PER_DAY: u64 = 1000;
    /// Beijing time.
    pub const DAY_UTC_OFFSET: &str = "+08:00";
    /// v3 endpoint.
    pub const ENDPOINT_V3: &str = "https://cdn.tencentcloudapi.com/";
    /// v2 endpoint.
    pub const ENDPOINT_V2: &str = "https://cdn.api.qcloud.com/v2/index.php";
    /// v2 action.
    pub const ACTION_V2: &str = "CdnOverseaPushser";
    /// Env var names, as Tencent's CLI and SDKs spell them.
    pub const SECRET_ID_ENV: &str = "TENCENTCLOUD_SECRET_ID";
    /// See [`SECRET_ID_ENV`].
    pub const SECRET_KEY_ENV: &str = "TENCENTCLOUD_SECRET_KEY";
    /// Token env vars, in order of preference (tccli, terraform, third-party).
    pub const TOKEN_ENVS: [&str; 3] = ["TENCENTCLOUD_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN", "TENCENTCLOUD_SESSION_TOKEN"];
    /// Attempts per batch.
    pub const MAX_ATTEMPTS: u32 = 4;
    /// Whole-request timeout.
    pub const TIMEOUT: Duration = Duration::from_secs(30);
    /// Connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// First back-off.
    pub const BASE_BACKOFF: Duration = Duration::from_millis(500);
    /// Back-off cap.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
    /// State file, relative to the config file.
    pub const STATE_PATH: &str = ".prewarm/state.json";
    /// Lock wait.
    pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
    /// Sitemap index nesting.
    pub const MAX_SITEMAP_DEPTH: usize = 5;
    /// Gzip-bomb guard: 256 MiB decompressed per document.
    pub const MAX_DECOMPRESSED_BYTES: u64 = 256 * 1024 * 1024;
    /// Longest URL kept (what most CDNs and browsers accept).
    pub const MAX_URL_LEN: usize = 2000;
    /// Bytes fetched per remote document (compressed).
    pub const MAX_FETCH_BYTES: u64 = 256 * 1024 * 1024;
    /// `--wait` timeout.
    pub const WAIT_TIMEOUT: Duration = Duration::from_secs(300);
}

impl Settings {
    /// Settings with every default and no sources (tests and `fake-cdn`).
    #[must_use]
    pub fn with_defaults(base_dir: PathBuf) -> Self {
        Self {
            config_path: None,
            state: StateSettings {
                path: base_dir.join(defaults::STATE_PATH),
                lock_timeout: defaults::LOCK_TIMEOUT,
            },
            base_dir,
            domains: Vec::new(),
            sources: Vec::new(),
            priority_rules: Vec::new(),
            quota: QuotaSettings {
                per_request: defaults::PER_REQUEST,
                per_day: defaults::PER_DAY,
                day_utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC),
                reserve: 0,
            },
            cdn: CdnSettings {
                api: Api::V3,
                area: Area::Overseas,
                endpoint: defaults::ENDPOINT_V3.to_string(),
                action: defaults::ACTION_V2.to_string(),
                method: Method::Post,
                signature_method: SignatureMethod::HmacSha1,
                region: None,
                secret_id_env: defaults::SECRET_ID_ENV.to_string(),
                secret_key_env: defaults::SECRET_KEY_ENV.to_string(),
                layer: None,
                user_agent: None,
                url_encode: false,
                headers: Vec::new(),
            },
            push: PushSettings {
                interval: Duration::ZERO,
                origin_bandwidth: None,
                max_attempts: defaults::MAX_ATTEMPTS,
                timeout: defaults::TIMEOUT,
                connect_timeout: defaults::CONNECT_TIMEOUT,
                base_backoff: defaults::BASE_BACKOFF,
                max_backoff: defaults::MAX_BACKOFF,
            },
            limits: InputLimits {
                max_sitemap_depth: defaults::MAX_SITEMAP_DEPTH,
                max_decompressed_bytes: defaults::MAX_DECOMPRESSED_BYTES,
                max_url_len: defaults::MAX_URL_LEN,
                max_fetch_bytes: defaults::MAX_FETCH_BYTES,
            },
            format: Format::Text,
            run: RunOptions { wait_timeout: defaults::WAIT_TIMEOUT, ..RunOptions::default() },
        }
    }
}
