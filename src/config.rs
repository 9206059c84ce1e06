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

impl QuotaSettings {
    /// What prewarm may still spend on a CDN day on which `used` URLs were pushed (after the reserve).
    #[must_use]
    pub fn left_after(&self, used: u64) -> u64 {
        self.per_day
            .saturating_sub(self.reserve)
            .saturating_sub(used)
    }
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
    pub const TOKEN_ENVS: [&str; 3] = [
        "TENCENTCLOUD_TOKEN",
        "TENCENTCLOUD_SECURITY_TOKEN",
        "TENCENTCLOUD_SESSION_TOKEN",
    ];
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
            run: RunOptions {
                wait_timeout: defaults::WAIT_TIMEOUT,
                ..RunOptions::default()
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The file: raw serde structs, every field optional, unknown keys refused.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Position, Result};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    site: Option<RawSite>,
    #[serde(default, rename = "source")]
    sources: Vec<Spanned<RawSource>>,
    #[serde(default, rename = "priority")]
    priority_rules: Vec<RawPriorityRule>,
    quota: Option<RawQuota>,
    cdn: Option<RawCdn>,
    push: Option<RawPush>,
    state: Option<RawState>,
    limits: Option<RawLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    domains: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: Spanned<String>,
    path: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    root: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    pretty_urls: Option<bool>,
    hidden: Option<bool>,
    priority: Option<i64>,
    file: Option<Spanned<String>>,
    repo: Option<Spanned<String>>,
    range: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPriorityRule {
    glob: Spanned<String>,
    priority: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    per_request: Option<Spanned<i64>>,
    per_day: Option<Spanned<i64>>,
    day_utc_offset: Option<Spanned<String>>,
    reserve: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCdn {
    provider: Option<Spanned<String>>,
    api: Option<Spanned<String>>,
    area: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    action: Option<String>,
    method: Option<Spanned<String>>,
    signature_method: Option<Spanned<String>>,
    region: Option<String>,
    secret_id_env: Option<Spanned<String>>,
    secret_key_env: Option<Spanned<String>>,
    layer: Option<String>,
    user_agent: Option<String>,
    url_encode: Option<bool>,
    headers: Option<std::collections::BTreeMap<String, String>>,
    // Refused with a pointer to the environment: secrets never live in the file.
    secret_id: Option<Spanned<toml::Value>>,
    secret_key: Option<Spanned<toml::Value>>,
    token: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPush {
    interval: Option<Spanned<String>>,
    origin_bandwidth: Option<Spanned<String>>,
    max_attempts: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    base_backoff: Option<Spanned<String>>,
    max_backoff: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<String>,
    lock_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_sitemap_depth: Option<Spanned<i64>>,
    max_decompressed_bytes: Option<Spanned<String>>,
    max_url_len: Option<Spanned<i64>>,
    max_fetch_bytes: Option<Spanned<String>>,
}

/// Overrides from flags and `PREWARM_*` variables (clap has already applied flag > env), applied over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--state`.
    pub state: Option<PathBuf>,
    /// `--format` (`GITHUB_ACTIONS=true` picks github when unset).
    pub format: Option<Format>,
    /// `--endpoint` / `PREWARM_ENDPOINT`.
    pub endpoint: Option<String>,
    /// `--api` / `PREWARM_API`.
    pub api: Option<Api>,
    /// `--area` / `PREWARM_AREA`.
    pub area: Option<Area>,
    /// `--per-day` / `PREWARM_PER_DAY`.
    pub per_day: Option<u64>,
    /// `--sitemap` (replaces the configured sources).
    pub sitemap: Option<String>,
    /// `--dir`.
    pub dir: Option<PathBuf>,
    /// `--changed` (`-` = stdin).
    pub changed: Option<String>,
    /// `--git-diff OLD..NEW`.
    pub git_diff: Option<String>,
    /// `--base-url` for `--dir` / `--changed` / `--git-diff`.
    pub base_url: Option<String>,
    /// `--repo` for `--git-diff` (default: the config file's folder).
    pub repo: Option<PathBuf>,
    /// Per-run options.
    pub run: RunOptions,
}

/// Reads the config file (when there is one) and applies the overrides.
///
/// `config` is `--config` / `PREWARM_CONFIG`; without it `./prewarm.toml` is used when present, and defaults
/// otherwise. `cwd` anchors relative flag paths.
///
/// # Errors
/// An unreadable or invalid file, or an invalid override: [`Error::Config`] (file, line, column) or
/// [`Error::Usage`].
pub fn resolve(config: Option<&Path>, cwd: &Path, overrides: Overrides) -> Result<Settings> {
    let path = match config {
        Some(p) => Some(cwd.join(p)),
        None => Some(cwd.join("prewarm.toml")).filter(|p| p.is_file()),
    };
    let (raw, base_dir, text) = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let raw = parse_raw(&text, p)?;
            let dir = p
                .parent()
                .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
            (raw, dir, text)
        }
        None => (RawConfig::default(), cwd.to_path_buf(), String::new()),
    };
    let file = path.clone().unwrap_or_else(|| cwd.join("prewarm.toml"));
    let ctx = Ctx {
        file: &file,
        text: &text,
        base: &base_dir,
    };
    let mut s = ctx.build(raw)?;
    s.config_path = path;
    apply_overrides(&mut s, cwd, overrides)?;
    Ok(s)
}

/// Parses config text (for tests and `init`'s self-check).
///
/// # Errors
/// As [`resolve`].
pub fn from_str(text: &str, file: &Path) -> Result<Settings> {
    let raw = parse_raw(text, file)?;
    let base = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut s = Ctx {
        file,
        text,
        base: &base,
    }
    .build(raw)?;
    s.config_path = Some(file.to_path_buf());
    Ok(s)
}

fn parse_raw(text: &str, file: &Path) -> Result<RawConfig> {
    toml::from_str::<RawConfig>(text).map_err(|e| {
        let position = e
            .span()
            .map_or(Position::Unknown, |sp| line_col(text, sp.start));
        let mut message = e.message().trim().to_string();
        // toml names an unknown key itself; for a value of the wrong type, name the key it belongs to.
        if let Some(key) = e.span().and_then(|sp| key_at(text, sp.start)).filter(|k| {
            !message.contains(&format!("`{k}`")) && !message.starts_with("unknown field")
        }) {
            message = format!("`{key}`: {message}");
        }
        Error::Config {
            file: file.to_path_buf(),
            position,
            message,
        }
    })
}

/// The dotted key (`quota.per_day`) whose value starts at or covers `offset`: the `key =` on that line, under the
/// nearest `[table]` / `[[table]]` header above it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('#') || key.starts_with('[') {
        return None;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

/// 1-based line and column of a byte offset.
#[must_use]
pub fn line_col(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    Position::LineCol { line, col }
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    base: &'a Path,
}

impl Ctx<'_> {
    fn err<T>(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Result<T> {
        Err(Error::Config {
            file: self.file.to_path_buf(),
            position: line_col(self.text, span.start),
            message: message.into(),
        })
    }

    fn positive(&self, v: &Spanned<i64>, key: &str) -> Result<u64> {
        match u64::try_from(*v.get_ref()) {
            Ok(n) if n > 0 => Ok(n),
            _ => self.err(
                v.span(),
                format!(
                    "`{key}` must be a whole number greater than 0, got {}",
                    v.get_ref()
                ),
            ),
        }
    }

    fn non_negative(&self, v: &Spanned<i64>, key: &str) -> Result<u64> {
        u64::try_from(*v.get_ref()).or_else(|_| {
            self.err(
                v.span(),
                format!("`{key}` must not be negative, got {}", v.get_ref()),
            )
        })
    }

    fn duration(&self, v: &Spanned<String>, key: &str) -> Result<Duration> {
        parse_duration(v.get_ref()).or_else(|e| self.err(v.span(), format!("`{key}`: {e}")))
    }

    fn bytes(&self, v: &Spanned<String>, key: &str) -> Result<u64> {
        parse_bytes(v.get_ref()).or_else(|e| self.err(v.span(), format!("`{key}`: {e}")))
    }

    fn path(&self, p: &str) -> PathBuf {
        self.base.join(p)
    }

    fn build(&self, raw: RawConfig) -> Result<Settings> {
        let mut s = Settings::with_defaults(self.base.to_path_buf());
        if let Some(site) = raw.site {
            for d in site.domains.unwrap_or_default() {
                let origin = normalise_origin(d.get_ref())
                    .or_else(|e| self.err(d.span(), format!("`domains`: {e}")))?;
                if !s.domains.contains(&origin) {
                    s.domains.push(origin);
                }
            }
        }
        if let Some(q) = raw.quota {
            if let Some(v) = &q.per_request {
                s.quota.per_request =
                    usize::try_from(self.positive(v, "quota.per_request")?).unwrap_or(usize::MAX);
            }
            if let Some(v) = &q.per_day {
                s.quota.per_day = self.positive(v, "quota.per_day")?;
            }
            if let Some(v) = &q.reserve {
                s.quota.reserve = self.non_negative(v, "quota.reserve")?;
            }
            if let Some(v) = &q.day_utc_offset {
                s.quota.day_utc_offset = crate::clock::parse_offset(v.get_ref())
                    .or_else(|e| self.err(v.span(), format!("`quota.day_utc_offset`: {e}")))?;
            }
            if s.quota.reserve >= s.quota.per_day {
                let span = q.reserve.as_ref().map_or(0..0, Spanned::span);
                return self.err(
                    span,
                    format!(
                        "`quota.reserve` ({}) leaves nothing of `quota.per_day` ({})",
                        s.quota.reserve, s.quota.per_day
                    ),
                );
            }
        }
        if let Some(c) = raw.cdn {
            self.cdn(&mut s.cdn, c)?;
        }
        if let Some(p) = raw.push {
            if let Some(v) = &p.interval {
                s.push.interval = self.duration(v, "push.interval")?;
            }
            if let Some(v) = &p.origin_bandwidth {
                s.push.origin_bandwidth =
                    if v.get_ref().trim().is_empty() {
                        None
                    } else {
                        Some(parse_bandwidth(v.get_ref()).or_else(|e| {
                            self.err(v.span(), format!("`push.origin_bandwidth`: {e}"))
                        })?)
                    };
            }
            if let Some(v) = &p.max_attempts {
                s.push.max_attempts = u32::try_from(self.positive(v, "push.max_attempts")?)
                    .unwrap_or(u32::MAX)
                    .min(20);
            }
            if let Some(v) = &p.timeout {
                s.push.timeout = self.duration(v, "push.timeout")?;
            }
            if let Some(v) = &p.connect_timeout {
                s.push.connect_timeout = self.duration(v, "push.connect_timeout")?;
            }
            if let Some(v) = &p.base_backoff {
                s.push.base_backoff = self.duration(v, "push.base_backoff")?;
            }
            if let Some(v) = &p.max_backoff {
                s.push.max_backoff = self.duration(v, "push.max_backoff")?;
            }
        }
        if let Some(st) = raw.state {
            if let Some(p) = st.path {
                s.state.path = self.path(&p);
            }
            if let Some(v) = &st.lock_timeout {
                s.state.lock_timeout = self.duration(v, "state.lock_timeout")?;
            }
        }
        if let Some(l) = raw.limits {
            if let Some(v) = &l.max_sitemap_depth {
                s.limits.max_sitemap_depth =
                    usize::try_from(self.positive(v, "limits.max_sitemap_depth")?)
                        .unwrap_or(usize::MAX);
            }
            if let Some(v) = &l.max_url_len {
                s.limits.max_url_len =
                    usize::try_from(self.positive(v, "limits.max_url_len")?).unwrap_or(usize::MAX);
            }
            if let Some(v) = &l.max_decompressed_bytes {
                s.limits.max_decompressed_bytes = self.bytes(v, "limits.max_decompressed_bytes")?;
            }
            if let Some(v) = &l.max_fetch_bytes {
                s.limits.max_fetch_bytes = self.bytes(v, "limits.max_fetch_bytes")?;
            }
        }
        for r in raw.priority_rules {
            if let Err(e) = globset::Glob::new(r.glob.get_ref()) {
                return self.err(r.glob.span(), format!("`priority.glob`: {e}"));
            }
            s.priority_rules.push(PriorityRule {
                glob: r.glob.into_inner(),
                priority: r.priority,
            });
        }
        for src in raw.sources {
            let span = src.span();
            let spec = self.source(src.into_inner(), &s.domains, span)?;
            s.sources.push(spec);
        }
        Ok(s)
    }

    fn cdn(&self, cdn: &mut CdnSettings, c: RawCdn) -> Result<()> {
        for (key, v) in [
            ("secret_id", &c.secret_id),
            ("secret_key", &c.secret_key),
            ("token", &c.token),
        ] {
            if let Some(v) = v {
                return self.err(v.span(), format!(
                    "`cdn.{key}` is not read from the config file: secrets live in the environment \
                     (TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_TOKEN); remove the line, \
                     and rotate the key if the file was ever committed"
                ));
            }
        }
        if let Some(p) = c.provider.as_ref().filter(|p| p.get_ref() != "tencent") {
            return self.err(
                p.span(),
                format!(
                    "`cdn.provider`: unknown provider {:?} (known: \"tencent\")",
                    p.get_ref()
                ),
            );
        }
        if let Some(v) = &c.api {
            cdn.api = parse_api(v.get_ref())
                .or_else(|e| self.err(v.span(), format!("`cdn.api`: {e}")))?;
        }
        if let Some(v) = &c.area {
            cdn.area = parse_area(v.get_ref())
                .or_else(|e| self.err(v.span(), format!("`cdn.area`: {e}")))?;
        }
        cdn.endpoint = default_endpoint(cdn.api).to_string();
        if let Some(v) = c
            .endpoint
            .as_ref()
            .filter(|v| !v.get_ref().trim().is_empty())
        {
            if url::Url::parse(v.get_ref().trim()).is_err() {
                return self.err(
                    v.span(),
                    format!("`cdn.endpoint`: not a URL: {:?}", v.get_ref()),
                );
            }
            cdn.endpoint = v.get_ref().trim().to_string();
        }
        if let Some(v) = c.action {
            cdn.action = v;
        }
        if let Some(v) = &c.method {
            cdn.method = match v.get_ref().to_ascii_uppercase().as_str() {
                "GET" => Method::Get,
                "POST" => Method::Post,
                other => {
                    return self.err(
                        v.span(),
                        format!("`cdn.method`: expected \"POST\" or \"GET\", got {other:?}"),
                    );
                }
            };
        }
        if let Some(v) = &c.signature_method {
            cdn.signature_method = match v.get_ref().as_str() {
                "HmacSHA1" => SignatureMethod::HmacSha1,
                "HmacSHA256" => SignatureMethod::HmacSha256,
                other => {
                    return self.err(v.span(), format!("`cdn.signature_method`: expected \"HmacSHA1\" or \"HmacSHA256\", got {other:?}"));
                }
            };
        }
        cdn.region = c.region.filter(|r| !r.is_empty());
        for (key, v, slot) in [
            ("secret_id_env", &c.secret_id_env, &mut cdn.secret_id_env),
            ("secret_key_env", &c.secret_key_env, &mut cdn.secret_key_env),
        ] {
            if let Some(v) = v {
                if !is_env_name(v.get_ref()) {
                    return self.err(v.span(), format!(
                        "`cdn.{key}` names an environment variable (like \"TENCENTCLOUD_SECRET_KEY\"), \
                         not a value; put the secret itself in that variable"
                    ));
                }
                v.get_ref().clone_into(slot);
            }
        }
        cdn.layer = c.layer.filter(|l| !l.is_empty());
        cdn.user_agent = c.user_agent.filter(|l| !l.is_empty());
        cdn.url_encode = c.url_encode.unwrap_or(false);
        cdn.headers = c.headers.unwrap_or_default().into_iter().collect();
        Ok(())
    }

    fn source(
        &self,
        r: RawSource,
        domains: &[String],
        span: std::ops::Range<usize>,
    ) -> Result<SourceSpec> {
        let kind = r.kind.get_ref().as_str();
        let allowed: &[&str] = match kind {
            "sitemap" => &["path", "url", "priority"],
            "dir" => &[
                "root",
                "base_url",
                "include",
                "exclude",
                "pretty_urls",
                "hidden",
                "priority",
            ],
            "changed" => &[
                "file",
                "root",
                "base_url",
                "include",
                "exclude",
                "pretty_urls",
                "hidden",
                "priority",
            ],
            "git" => &[
                "repo",
                "range",
                "prefix",
                "root",
                "base_url",
                "include",
                "exclude",
                "pretty_urls",
                "hidden",
                "priority",
            ],
            other => {
                return self.err(r.kind.span(), format!(
                    "unknown source kind {other:?} (expected \"sitemap\", \"dir\", \"changed\" or \"git\")"
                ));
            }
        };
        let present = [
            ("path", r.path.is_some()),
            ("url", r.url.is_some()),
            ("root", r.root.is_some()),
            ("base_url", r.base_url.is_some()),
            ("include", r.include.is_some()),
            ("exclude", r.exclude.is_some()),
            ("pretty_urls", r.pretty_urls.is_some()),
            ("hidden", r.hidden.is_some()),
            ("file", r.file.is_some()),
            ("repo", r.repo.is_some()),
            ("range", r.range.is_some()),
            ("prefix", r.prefix.is_some()),
        ];
        if let Some((key, _)) = present.iter().find(|(k, p)| *p && !allowed.contains(k)) {
            return self.err(
                span,
                format!(
                    "`{key}` does not apply to a {kind} source (its keys: {})",
                    allowed.join(", ")
                ),
            );
        }
        let priority = r.priority.unwrap_or(0);
        let mapping = |root_default: Option<&str>| -> Result<Mapping> {
            let root = match (&r.root, root_default) {
                (Some(v), _) => self.path(v.get_ref()),
                (None, Some(d)) => self.path(d),
                (None, None) => {
                    return self.err(span.clone(), format!("a {kind} source needs `root`"));
                }
            };
            let base_url = match &r.base_url {
                Some(v) => normalise_base_url(v.get_ref())
                    .or_else(|e| self.err(v.span(), format!("`base_url`: {e}")))?,
                None => match domains.first() {
                    Some(d) => format!("{d}/"),
                    None => {
                        return self.err(
                            span.clone(),
                            format!("a {kind} source needs `base_url` (or set `site.domains`)"),
                        );
                    }
                },
            };
            Ok(Mapping {
                root,
                base_url,
                include: r.include.clone().unwrap_or_default(),
                exclude: r.exclude.clone().unwrap_or_default(),
                pretty_urls: r.pretty_urls.unwrap_or(true),
                hidden: r.hidden.unwrap_or(false),
            })
        };
        let check_globs = |m: &Mapping| -> Result<()> {
            for g in m.include.iter().chain(&m.exclude) {
                if let Err(e) = globset::Glob::new(g) {
                    return self.err(span.clone(), format!("bad glob {g:?}: {e}"));
                }
            }
            Ok(())
        };
        Ok(match kind {
            "sitemap" => {
                let location = match (&r.path, &r.url) {
                    (Some(p), None) => Location::Path(self.path(p.get_ref())),
                    (None, Some(u)) => {
                        let v = u.get_ref().trim();
                        if !(v.starts_with("http://") || v.starts_with("https://"))
                            || url::Url::parse(v).is_err()
                        {
                            return self.err(
                                u.span(),
                                format!("`url`: expected an http(s) URL, got {v:?}"),
                            );
                        }
                        Location::Url(v.to_string())
                    }
                    (Some(_), Some(u)) => {
                        return self
                            .err(u.span(), "a sitemap source takes `path` or `url`, not both");
                    }
                    (None, None) => {
                        return self.err(span, "a sitemap source needs `path` or `url`");
                    }
                };
                SourceSpec::Sitemap { location, priority }
            }
            "dir" => {
                let m = mapping(None)?;
                check_globs(&m)?;
                SourceSpec::Dir {
                    mapping: m,
                    priority,
                }
            }
            "changed" => {
                let m = mapping(None)?;
                check_globs(&m)?;
                let file = match &r.file {
                    Some(f) if f.get_ref() == "-" => None,
                    Some(f) => Some(self.path(f.get_ref())),
                    None => {
                        return self.err(
                            span,
                            "a changed source needs `file` (a path, or \"-\" for stdin)",
                        );
                    }
                };
                SourceSpec::Changed {
                    file,
                    mapping: m,
                    priority,
                }
            }
            _ => {
                let Some(range) = &r.range else {
                    return self.err(span, "a git source needs `range` (\"OLD..NEW\")");
                };
                let prefix = r
                    .prefix
                    .as_ref()
                    .map(|p| PathBuf::from(p.get_ref()))
                    .unwrap_or_default();
                let repo = r
                    .repo
                    .as_ref()
                    .map_or_else(|| self.base.to_path_buf(), |p| self.path(p.get_ref()));
                let root_default = repo.join(&prefix);
                let mut m = mapping(root_default.to_str())?;
                if r.root.is_none() {
                    m.root = root_default;
                }
                check_globs(&m)?;
                SourceSpec::Git {
                    repo,
                    range: range.get_ref().clone(),
                    prefix,
                    mapping: m,
                    priority,
                }
            }
        })
    }
}

fn apply_overrides(s: &mut Settings, cwd: &Path, o: Overrides) -> Result<()> {
    if let Some(p) = o.state.clone() {
        s.state.path = cwd.join(p);
    }
    if let Some(api) = o.api {
        if api != s.cdn.api && s.cdn.endpoint == default_endpoint(s.cdn.api) {
            s.cdn.endpoint = default_endpoint(api).to_string();
        }
        s.cdn.api = api;
    }
    if let Some(a) = o.area {
        s.cdn.area = a;
    }
    if let Some(e) = o.endpoint.clone().filter(|e| !e.trim().is_empty()) {
        url::Url::parse(e.trim()).map_err(|_| {
            Error::Usage(format!("--endpoint / PREWARM_ENDPOINT: not a URL: {e:?}"))
        })?;
        s.cdn.endpoint = e.trim().to_string();
    }
    if let Some(n) = o.per_day {
        if n == 0 {
            return Err(Error::Usage("--per-day must be greater than 0".into()));
        }
        s.quota.per_day = n;
    }
    s.format = o.format.unwrap_or_else(|| {
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            Format::Github
        } else {
            Format::Text
        }
    });
    // --sitemap / --dir / --changed / --git-diff replace the configured sources for this run.
    let replacing =
        o.sitemap.is_some() || o.dir.is_some() || o.changed.is_some() || o.git_diff.is_some();
    if replacing {
        let base_url = match &o.base_url {
            Some(b) => {
                Some(normalise_base_url(b).map_err(|e| Error::Usage(format!("--base-url: {e}")))?)
            }
            None => s
                .sources
                .iter()
                .find_map(|src| match src {
                    SourceSpec::Dir { mapping, .. }
                    | SourceSpec::Changed { mapping, .. }
                    | SourceSpec::Git { mapping, .. } => Some(mapping.base_url.clone()),
                    SourceSpec::Sitemap { .. } => None,
                })
                .or_else(|| s.domains.first().map(|d| format!("{d}/"))),
        };
        let configured_root = s.sources.iter().find_map(|src| match src {
            SourceSpec::Dir { mapping, .. } | SourceSpec::Changed { mapping, .. } => {
                Some(mapping.root.clone())
            }
            _ => None,
        });
        let need_base = || {
            base_url.clone().ok_or_else(|| {
                Error::Usage(
                    "--dir, --changed and --git-diff need --base-url (or site.domains)".into(),
                )
            })
        };
        let mapping = |root: PathBuf| -> Result<Mapping> {
            Ok(Mapping {
                root,
                base_url: need_base()?,
                include: vec![],
                exclude: vec![],
                pretty_urls: true,
                hidden: false,
            })
        };
        let mut sources = Vec::new();
        if let Some(sm) = o.sitemap.clone() {
            let location = if sm.starts_with("http://") || sm.starts_with("https://") {
                Location::Url(sm)
            } else {
                Location::Path(cwd.join(sm))
            };
            sources.push(SourceSpec::Sitemap {
                location,
                priority: 0,
            });
        }
        // With --changed, --dir only names the root the listed paths are relative to.
        if let (Some(d), None) = (o.dir.clone(), &o.changed) {
            sources.push(SourceSpec::Dir {
                mapping: mapping(cwd.join(d))?,
                priority: 0,
            });
        }
        if let Some(c) = o.changed.clone() {
            let root = o.dir_root_for_changed(cwd, configured_root.clone());
            let file = if c == "-" { None } else { Some(cwd.join(c)) };
            sources.push(SourceSpec::Changed {
                file,
                mapping: mapping(root)?,
                priority: 0,
            });
        }
        if let Some(range) = o.git_diff.clone() {
            if !range.contains("..") {
                return Err(Error::Usage(format!(
                    "--git-diff expects OLD..NEW, got {range:?}"
                )));
            }
            let repo = o
                .repo
                .clone()
                .map_or_else(|| s.base_dir.clone(), |r| cwd.join(r));
            let root = configured_root.clone().unwrap_or_else(|| repo.clone());
            let prefix = root
                .strip_prefix(&repo)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            sources.push(SourceSpec::Git {
                repo,
                range,
                prefix,
                mapping: mapping(root)?,
                priority: 0,
            });
        }
        s.sources = sources;
    }
    if s.domains.is_empty() {
        // No [site] domains: admit the origins the sources are configured for.
        for src in &s.sources {
            let origin = match src {
                SourceSpec::Dir { mapping, .. }
                | SourceSpec::Changed { mapping, .. }
                | SourceSpec::Git { mapping, .. } => normalise_origin(&mapping.base_url).ok(),
                SourceSpec::Sitemap {
                    location: Location::Url(u),
                    ..
                } => normalise_origin(u).ok(),
                SourceSpec::Sitemap { .. } => None,
            };
            if let Some(o) = origin.filter(|o| !s.domains.contains(o)) {
                s.domains.push(o);
            }
        }
    }
    s.run = o.run;
    Ok(())
}

impl Overrides {
    fn dir_root_for_changed(&self, cwd: &Path, configured: Option<PathBuf>) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| cwd.join(d))
            .or(configured)
            .unwrap_or_else(|| cwd.to_path_buf())
    }
}

/// The default endpoint of an API.
#[must_use]
pub fn default_endpoint(api: Api) -> &'static str {
    match api {
        Api::V2 => defaults::ENDPOINT_V2,
        Api::V3 => defaults::ENDPOINT_V3,
    }
}

/// `v2` / `v3`.
///
/// # Errors
/// Anything else.
pub fn parse_api(v: &str) -> std::result::Result<Api, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "v3" | "3" => Ok(Api::V3),
        "v2" | "2" => Ok(Api::V2),
        other => Err(format!(
            "expected \"v3\" (PushUrlsCache) or \"v2\" (CdnOverseaPushser), got {other:?}"
        )),
    }
}

/// `mainland` / `overseas` / `global`.
///
/// # Errors
/// Anything else.
pub fn parse_area(v: &str) -> std::result::Result<Area, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "mainland" => Ok(Area::Mainland),
        "overseas" => Ok(Area::Overseas),
        "global" => Ok(Area::Global),
        other => Err(format!(
            "expected \"mainland\", \"overseas\" or \"global\", got {other:?}"
        )),
    }
}

fn is_env_name(v: &str) -> bool {
    let mut chars = v.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Normalises an origin (`https://WWW.Example.com:443/` → `https://www.example.com`).
///
/// # Errors
/// Not an http(s) URL, or one with a path, query or credentials.
pub fn normalise_origin(v: &str) -> std::result::Result<String, String> {
    let u = url::Url::parse(v.trim()).map_err(|e| format!("{v:?} is not a URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "{v:?}: only http:// and https:// origins can be warmed"
        ));
    }
    if u.host_str().is_none() || !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "{v:?}: expected an origin like \"https://www.example.com\""
        ));
    }
    Ok(u.origin().ascii_serialization())
}

fn normalise_base_url(v: &str) -> std::result::Result<String, String> {
    let mut u = url::Url::parse(v.trim()).map_err(|e| format!("{v:?} is not a URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!(
            "{v:?}: expected an http(s) URL like \"https://www.example.com/\""
        ));
    }
    u.set_query(None);
    u.set_fragment(None);
    let mut s = u.to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

/// Parses `30s`, `500ms`, `2m`, `1h`, `0` (seconds when no unit).
///
/// # Errors
/// Any other form.
pub fn parse_duration(v: &str) -> std::result::Result<Duration, String> {
    let t = v.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a duration like \"30s\" or \"500ms\", got {v:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "expected a duration like \"30s\" or \"500ms\", got {v:?}"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("duration out of range: {v:?}"))
}

/// Parses sizes: `256MiB`, `10MB`, `4096` (bytes).
///
/// # Errors
/// Any other form.
pub fn parse_bytes(v: &str) -> std::result::Result<u64, String> {
    let t = v.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a size like \"256MiB\", got {v:?}"))?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "expected a size like \"256MiB\" or \"10MB\", got {v:?}"
            ));
        }
    };
    let bytes = n * mult;
    if bytes.is_finite() && (1.0..1.8e19).contains(&bytes) {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "range checked above"
        )]
        Ok(bytes as u64)
    } else {
        Err(format!("size out of range: {v:?}"))
    }
}

/// Parses a bandwidth: `50MB/s`, `10MiB/s`, `100Mbit/s` → bytes per second.
///
/// # Errors
/// Any other form.
pub fn parse_bandwidth(v: &str) -> std::result::Result<u64, String> {
    let t = v.trim();
    let bad = || format!("expected a bandwidth like \"50MB/s\" or \"100Mbit/s\", got {v:?}");
    let per_s = t.strip_suffix("/s").ok_or_else(bad)?;
    for (suffix, mult) in [
        ("Gbit", 1e9 / 8.0),
        ("Mbit", 1e6 / 8.0),
        ("Kbit", 1e3 / 8.0),
    ] {
        if let Some(num) = per_s.strip_suffix(suffix) {
            let n: f64 = num.trim().parse().map_err(|_| bad())?;
            let b = n * mult;
            if b.is_finite() && b >= 1.0 {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "positive, finite"
                )]
                return Ok(b as u64);
            }
            return Err(bad());
        }
    }
    parse_bytes(per_s).map_err(|_| bad())
}

/// Build folders `prewarm init` looks for, in order.
pub const BUILD_DIRS: [&str; 5] = ["public", "dist", "_site", "build", "out"];

/// The commented starter file `prewarm init` writes; `root` is the detected build folder.
#[must_use]
pub fn starter(root: Option<&str>) -> String {
    let (root_line, note) = match root {
        Some(r) => (format!("root = \"{r}\""), format!("# detected build folder: {r}/\n")),
        None => ("root = \"public\"".to_string(), "# no build folder found (looked for public/, dist/, _site/, build/, out/): set `root`\n".to_string()),
    };
    format!(
        r#"# prewarm.toml: which URLs to warm on Tencent Cloud CDN after a deploy.
# Reference: README.md ("Configuration"). Commented lines show the defaults.
{note}
[site]
# Origins prewarm may push; URLs of any other origin are dropped (they would waste quota).
domains = ["https://www.example.com"]

# A build folder: every file becomes a URL under base_url; its content hash is its fingerprint.
[[source]]
kind = "dir"
{root_line}
base_url = "https://www.example.com/"
# include = ["**/*"]
exclude = ["**/*.map"]
# pretty_urls = true          # blog/index.html -> https://www.example.com/blog/
# hidden = false              # dot-files stay out
# priority = 0                # higher goes first when the quota is short

# A sitemap (file, URL, index, gzip, plain text or robots.txt):
# [[source]]
# kind = "sitemap"
# path = "public/sitemap.xml"   # or url = "https://www.example.com/sitemap.xml"

# A changed-file list, e.g. `git diff --name-only` ("-" = stdin):
# [[source]]
# kind = "changed"
# file = "changed.txt"
# root = "public"
# base_url = "https://www.example.com/"

# Glob rules over the URL path, added to the source priority:
# [[priority]]
# glob = "/blog/**"
# priority = 10

[quota]
# per_request = 20            # URLs per API call
# per_day = 1000              # URLs per CDN day
# day_utc_offset = "+08:00"   # the CDN's day boundary (Beijing time)
# reserve = 0                 # leave this many for manual pushes

[cdn]
# provider = "tencent"
# api = "v3"                  # v3 = PushUrlsCache (live); v2 = CdnOverseaPushser (retired by Tencent in 2022)
# area = "overseas"           # v3: mainland | overseas | global (global spends both quotas)
# endpoint = ""               # default per api; PREWARM_ENDPOINT overrides; http only for loopback
# action = "CdnOverseaPushser"  # v2 only
# method = "POST"             # POST | GET
# signature_method = "HmacSHA1"  # v2: HmacSHA1 | HmacSHA256
# region = ""                 # v2: sent and signed when set
# secret_id_env = "TENCENTCLOUD_SECRET_ID"    # credentials come from the environment only
# secret_key_env = "TENCENTCLOUD_SECRET_KEY"
# layer = ""                  # v3 Layer ("middle" for the middle tier)
# user_agent = ""             # v3 UserAgent for origin pulls
# url_encode = false          # v3 UrlEncode; prewarm's URLs are already percent-encoded: on would double-encode
# headers = {{ "X-Prewarm" = "1" }}  # v3 Headers sent to the origin

[push]
# interval = "0s"             # pause between batches
# origin_bandwidth = ""       # e.g. "50MB/s": space batches by the bytes they pull from the origin
# max_attempts = 4
# timeout = "30s"
# connect_timeout = "10s"
# base_backoff = "500ms"
# max_backoff = "30s"

[state]
# path = ".prewarm/state.json"  # relative to this file
# lock_timeout = "60s"

[limits]
# max_sitemap_depth = 5
# max_decompressed_bytes = "256MiB"
# max_url_len = 2000
# max_fetch_bytes = "256MiB"
"#
    )
}

/// Writes the starter file; refuses to overwrite.
///
/// # Errors
/// The file exists, or can't be written.
pub fn init(path: &Path) -> Result<String> {
    if path.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; not overwriting it",
            path.display()
        )));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = BUILD_DIRS.iter().copied().find(|d| dir.join(d).is_dir());
    let text = starter(root);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| Error::io(path, e))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings> {
        from_str(text, Path::new("/site/prewarm.toml"))
    }

    fn err(text: &str) -> String {
        parse(text)
            .map(|_| ())
            .expect_err("should fail")
            .to_string()
    }

    #[test]
    fn defaults_without_a_file() {
        let s = parse("").unwrap();
        assert_eq!(s.quota.per_request, 20);
        assert_eq!(s.quota.per_day, 1000);
        assert_eq!(s.quota.day_utc_offset.whole_hours(), 8);
        assert_eq!(s.cdn.api, Api::V3);
        assert_eq!(s.cdn.area, Area::Overseas);
        assert_eq!(s.cdn.endpoint, "https://cdn.tencentcloudapi.com/");
        assert_eq!(s.state.path, Path::new("/site/.prewarm/state.json"));
        assert_eq!(s.push.max_attempts, 4);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = err("[site]\ndomains = [\"https://a.example\"]\n\n[quota]\nper_dya = 5\n");
        assert!(
            e.starts_with("/site/prewarm.toml:5:1: unknown field `per_dya`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let e = err("[quota]\nper_day = \"lots\"\n");
        assert!(
            e.starts_with("/site/prewarm.toml:2:11: `quota.per_day`: invalid type"),
            "{e}"
        );
        let e = err(
            "[site]\ndomains = [\"https://a.example\"]\n[[source]]\nkind = \"dir\"\nroot = 5\n",
        );
        assert!(
            e.starts_with("/site/prewarm.toml:5:8: `source.root`: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn zero_and_negative_quota() {
        let e = err("[quota]\nper_day = 0\n");
        assert_eq!(
            e,
            "/site/prewarm.toml:2:11: `quota.per_day` must be a whole number greater than 0, got 0"
        );
        let e = err("[quota]\nper_request = -3\n");
        assert!(
            e.contains("`quota.per_request` must be a whole number greater than 0, got -3"),
            "{e}"
        );
        let e = err("[quota]\nreserve = -1\n");
        assert!(e.contains("must not be negative"), "{e}");
        let e = err("[quota]\nper_day = 10\nreserve = 10\n");
        assert!(e.contains("leaves nothing"), "{e}");
    }

    #[test]
    fn secrets_in_the_file_are_refused() {
        let e = err("[cdn]\nsecret_key = \"Gu5t9xGARNpq86cd98joQYCN3EXAMPLE\"\n");
        assert!(
            e.starts_with(
                "/site/prewarm.toml:2:14: `cdn.secret_key` is not read from the config file"
            ),
            "{e}"
        );
        assert!(e.contains("TENCENTCLOUD_SECRET_KEY"));
        assert!(!e.contains("Gu5t9x"), "the value must not be echoed: {e}");
        let e = err("[cdn]\nsecret_key_env = \"Gu5t9xGARNpq86cd98joQYCN3EXAMPLE\"\n");
        assert!(e.contains("names an environment variable"), "{e}");
        assert!(!e.contains("Gu5t9x"), "{e}");
    }

    #[test]
    fn sources_resolve_relative_to_the_file() {
        let s = parse(
            "[site]\ndomains=[\"https://WWW.Example.com:443/\"]\n[[source]]\nkind=\"dir\"\nroot=\"public\"\n\
             [[source]]\nkind=\"sitemap\"\npath=\"public/sitemap.xml\"\n[[source]]\nkind=\"changed\"\nfile=\"-\"\nroot=\"public\"\n",
        )
        .unwrap();
        assert_eq!(s.domains, vec!["https://www.example.com"]);
        match &s.sources[0] {
            SourceSpec::Dir { mapping, .. } => {
                assert_eq!(mapping.root, Path::new("/site/public"));
                assert_eq!(mapping.base_url, "https://www.example.com/");
                assert!(mapping.pretty_urls && !mapping.hidden);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.sources[1],
            SourceSpec::Sitemap {
                location: Location::Path("/site/public/sitemap.xml".into()),
                priority: 0
            }
        );
        assert!(matches!(
            &s.sources[2],
            SourceSpec::Changed { file: None, .. }
        ));
    }

    #[test]
    fn source_kind_and_keys_are_checked() {
        let e = err("[[source]]\nkind = \"ftp\"\n");
        assert!(
            e.starts_with("/site/prewarm.toml:2:8: unknown source kind \"ftp\""),
            "{e}"
        );
        let e = err("[[source]]\nkind = \"sitemap\"\npath = \"a.xml\"\nroot = \"public\"\n");
        assert!(
            e.contains("`root` does not apply to a sitemap source"),
            "{e}"
        );
        let e = err("[[source]]\nkind = \"dir\"\nroot = \"public\"\n");
        assert!(e.contains("needs `base_url`"), "{e}");
        let e = err("[[source]]\nkind = \"sitemap\"\nurl = \"ftp://x/y.xml\"\n");
        assert!(e.contains("expected an http(s) URL"), "{e}");
    }

    #[test]
    fn durations_sizes_bandwidths() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_bytes("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_bandwidth("50MB/s").unwrap(), 50_000_000);
        assert_eq!(parse_bandwidth("100Mbit/s").unwrap(), 12_500_000);
        assert!(parse_bandwidth("50MB").is_err());
        let e = err("[push]\ninterval = \"often\"\n");
        assert!(
            e.starts_with("/site/prewarm.toml:2:12: `push.interval`"),
            "{e}"
        );
    }

    #[test]
    fn the_starter_covers_every_key_and_parses() {
        let text = starter(Some("dist"));
        parse(&text).unwrap();
        // Uncomment every commented TOML line (`# key = value`, `# [[table]]`): every key must be a real one.
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)) =>
                {
                    rest.find("  #").map_or(rest, |i| &rest[..i]).to_string()
                }
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let s = parse(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(
            s.cdn.headers,
            vec![("X-Prewarm".to_string(), "1".to_string())]
        );
        assert_eq!(
            s.priority_rules,
            vec![PriorityRule {
                glob: "/blog/**".into(),
                priority: 10
            }]
        );
        assert_eq!(s.sources.len(), 3);
    }

    fn is_key(k: &str) -> bool {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    }

    #[test]
    fn init_refuses_to_overwrite_and_detects_the_build_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("_site")).unwrap();
        let p = dir.path().join("prewarm.toml");
        let text = init(&p).unwrap();
        assert!(text.contains("root = \"_site\""));
        let e = init(&p).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
    }

    #[test]
    fn overrides_replace_sources_and_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("prewarm.toml"),
            "[site]\ndomains=[\"https://www.example.com\"]\n[quota]\nper_day=50\n[[source]]\nkind=\"sitemap\"\npath=\"s.xml\"\n",
        )
        .unwrap();
        let o = Overrides {
            per_day: Some(7),
            dir: Some("public".into()),
            api: Some(Api::V2),
            ..Overrides::default()
        };
        let s = resolve(None, dir.path(), o).unwrap();
        assert_eq!(s.quota.per_day, 7);
        assert_eq!(s.cdn.endpoint, defaults::ENDPOINT_V2);
        assert_eq!(s.sources.len(), 1);
        assert!(
            matches!(&s.sources[0], SourceSpec::Dir { mapping, .. } if mapping.base_url == "https://www.example.com/")
        );
    }
}
