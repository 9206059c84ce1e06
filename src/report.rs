//! Report: what a run did, rendered as text for people, one JSON object for scripts, or GitHub workflow
//! commands + a Markdown job summary + step outputs.
//!
//! Takes a finished [`Report`]; writes to stdout (and, for GitHub, to `$GITHUB_STEP_SUMMARY` and
//! `$GITHUB_OUTPUT`). Never prints a secret: nothing secret is in a report.

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use crate::config::Format;
use crate::error::ExitCode;
use crate::push::{Rejected, RemoteQuota, Task};
use crate::sources::Skipped;

/// The quota as the run saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QuotaReport {
    /// `quota.per_day`.
    pub per_day: u64,
    /// Spent today by prewarm (local ledger), this run included.
    pub used_today: u64,
    /// Left today for prewarm (after reserve; capped by the API's figure when known).
    pub left_today: u64,
    /// `quota.reserve`.
    pub reserve: u64,
    /// The CDN day (`YYYY-MM-DD` at `quota.day_utc_offset`).
    pub day: String,
    /// What the API said (v3 DescribePushQuota), when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<RemoteQuota>,
}

/// One URL's final state after `--wait`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlOutcome {
    /// URL.
    pub url: String,
    /// Task id.
    pub task_id: String,
    /// `done`, `fail` (back to the backlog), `invalid` (origin error, not retried), `process` (timed out waiting).
    pub status: String,
}

/// What a run did (the JSON report of DESIGN.md, plus `warnings`, `provider` and `outcomes`).
///
/// The JSON's `urls` (every planned URL, in submission order) is serialised from `batches`: a million-URL plan
/// keeps one copy of its URLs in the report, not two.
#[derive(Debug, Clone)]
pub struct Report {
    /// Nothing was pushed or written.
    pub dry_run: bool,
    /// The backend (`tencent-v3 PushUrlsCache (area overseas)`).
    pub provider: String,
    /// The batches as planned (URLs in submission order).
    pub batches: Vec<Vec<String>>,
    /// URLs `prewarm baseline` recorded as warm (the JSON's `urls` there; it plans no batches).
    pub recorded: Vec<String>,
    /// Accepted tasks.
    pub tasks: Vec<Task>,
    /// Held back by quota (or failure), carried to the next run.
    pub deferred: Vec<String>,
    /// Refused by the API.
    pub rejected: Vec<Rejected>,
    /// Dropped, by reason.
    pub skipped: Skipped,
    /// The quota.
    pub quota: QuotaReport,
    /// Errors (a non-empty list means exit 1 or 2).
    pub errors: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Per-URL outcomes after `--wait`.
    pub outcomes: Vec<UrlOutcome>,
    /// The exit code the run ends with (not in the JSON).
    pub exit: ExitCode,
}

/// The planned URLs of a report, serialised as one flat list.
struct FlatUrls<'a>(&'a Report);

impl Serialize for FlatUrls<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.urls().chain(&self.0.recorded))
    }
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("Report", 13)?;
        m.serialize_field("dry_run", &self.dry_run)?;
        m.serialize_field("provider", &self.provider)?;
        m.serialize_field("urls", &FlatUrls(self))?;
        m.serialize_field("batches", &self.batches)?;
        m.serialize_field("tasks", &self.tasks)?;
        m.serialize_field("deferred", &self.deferred)?;
        m.serialize_field("rejected", &self.rejected)?;
        m.serialize_field("skipped", &self.skipped)?;
        m.serialize_field("quota", &self.quota)?;
        m.serialize_field("errors", &self.errors)?;
        m.serialize_field("warnings", &self.warnings)?;
        if self.outcomes.is_empty() {
            m.skip_field("outcomes")?;
        } else {
            m.serialize_field("outcomes", &self.outcomes)?;
        }
        m.end()
    }
}

impl Report {
    /// An empty report.
    #[must_use]
    pub fn new(dry_run: bool, provider: String) -> Self {
        Self {
            dry_run,
            provider,
            batches: Vec::new(),
            recorded: Vec::new(),
            tasks: Vec::new(),
            deferred: Vec::new(),
            rejected: Vec::new(),
            skipped: Skipped::default(),
            quota: QuotaReport::default(),
            errors: Vec::new(),
            warnings: Vec::new(),
            outcomes: Vec::new(),
            exit: ExitCode::Ok,
        }
    }

    /// The planned URLs in submission order.
    pub fn urls(&self) -> impl Iterator<Item = &String> {
        self.batches.iter().flatten()
    }

    /// How many URLs are planned.
    #[must_use]
    pub fn url_count(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }

    /// URLs accepted by the CDN.
    #[must_use]
    pub fn pushed(&self) -> usize {
        self.tasks.iter().map(|t| t.urls.len()).sum()
    }
}

/// Renders `report` to stdout in `format`.
///
/// # Errors
/// stdout or a GitHub file could not be written.
pub fn render(report: &Report, format: Format) -> crate::Result<()> {
    let out = match format {
        Format::Text => text(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into());
            s.push('\n');
            s
        }
        Format::Github => {
            github_files(report)?;
            github(report)
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| crate::Error::io("<stdout>", e))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The text report.
#[must_use]
pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let n = r.url_count();
    if r.dry_run {
        let _ = writeln!(
            s,
            "dry run: nothing pushed, no state written ({})",
            r.provider
        );
        let _ = writeln!(
            s,
            "plan: {} in {}",
            plural(n, "URL", "URLs"),
            plural(r.batches.len(), "batch", "batches")
        );
        for (i, b) in r.batches.iter().enumerate() {
            let _ = writeln!(s, "batch {} ({}):", i + 1, plural(b.len(), "URL", "URLs"));
            for u in b {
                let _ = writeln!(s, "  {u}");
            }
        }
    } else {
        let _ = writeln!(
            s,
            "pushed {} in {} ({})",
            plural(r.pushed(), "URL", "URLs"),
            plural(r.tasks.len(), "task", "tasks"),
            r.provider
        );
        for t in &r.tasks {
            let _ = writeln!(
                s,
                "task {} ({}):",
                t.task_id,
                plural(t.urls.len(), "URL", "URLs")
            );
            for u in &t.urls {
                let _ = writeln!(s, "  {u}");
            }
        }
    }
    if !r.rejected.is_empty() {
        let _ = writeln!(s, "rejected ({}):", r.rejected.len());
        for x in &r.rejected {
            let _ = writeln!(s, "  {}  ({})", x.url, x.reason);
        }
    }
    if !r.outcomes.is_empty() {
        let _ = writeln!(s, "task outcomes:");
        for o in &r.outcomes {
            let _ = writeln!(s, "  {:<8} {}", o.status, o.url);
        }
    }
    if !r.deferred.is_empty() {
        let _ = writeln!(s, "deferred to the next run ({}):", r.deferred.len());
        for u in r.deferred.iter().take(50) {
            let _ = writeln!(s, "  {u}");
        }
        if r.deferred.len() > 50 {
            let _ = writeln!(
                s,
                "  … and {} more (see --format json)",
                r.deferred.len() - 50
            );
        }
    }
    let k = &r.skipped;
    let parts: Vec<String> = [
        (k.unchanged, "unchanged"),
        (k.foreign_domain, "foreign domain"),
        (k.invalid_url, "invalid URL"),
        (k.excluded, "excluded"),
        (k.missing_file, "missing file"),
        (k.outside_root, "outside root"),
    ]
    .iter()
    .filter(|(c, _)| *c > 0)
    .map(|(c, what)| format!("{c} {what}"))
    .collect();
    if !parts.is_empty() {
        let _ = writeln!(s, "skipped: {}", parts.join(", "));
    }
    let q = &r.quota;
    let _ = write!(
        s,
        "quota: {} of {} used on CDN day {}, {} left",
        q.used_today, q.per_day, q.day, q.left_today
    );
    if q.reserve > 0 {
        let _ = write!(s, " (reserve {})", q.reserve);
    }
    if let Some(a) = &q.api {
        let _ = write!(
            s,
            "; before the run the API reported {} of {} available ({}, ≤{} per call)",
            a.available, a.total, a.area, a.batch
        );
    }
    s.push('\n');
    for e in &r.errors {
        let _ = writeln!(s, "error: {e}");
    }
    s
}

/// GitHub's step-summary limit is 1 MiB; stay well under it.
const SUMMARY_LIMIT: usize = 900 * 1024;
/// How many URLs a summary list shows before cutting.
const SUMMARY_LIST: usize = 100;

/// Escapes a workflow-command message (`%`, CR, LF).
#[must_use]
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property (also `:` and `,`).
#[must_use]
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub workflow commands for the report (stdout).
#[must_use]
pub fn github(r: &Report) -> String {
    let mut s = String::new();
    let k = &r.skipped;
    let planned = r.url_count() + r.deferred.len();
    let _ = writeln!(
        s,
        "::group::collect ({} URLs read)",
        planned as u64 + k.unchanged
    );
    let _ = writeln!(
        s,
        "dropped: {} foreign domain, {} invalid URL, {} excluded, {} missing file, {} outside root",
        k.foreign_domain, k.invalid_url, k.excluded, k.missing_file, k.outside_root
    );
    let _ = writeln!(s, "::endgroup::");
    let _ = writeln!(
        s,
        "::group::diff ({planned} new or changed, {} unchanged)",
        k.unchanged
    );
    let _ = writeln!(s, "::endgroup::");
    let _ = writeln!(
        s,
        "::group::plan ({} URLs, {} batches)",
        r.url_count(),
        r.batches.len()
    );
    for (i, b) in r.batches.iter().enumerate() {
        let _ = writeln!(s, "batch {}: {}", i + 1, b.join(" "));
    }
    let _ = writeln!(s, "::endgroup::");
    if !r.dry_run {
        let _ = writeln!(
            s,
            "::group::push ({} URLs accepted in {} tasks)",
            r.pushed(),
            r.tasks.len()
        );
        for t in &r.tasks {
            let _ = writeln!(s, "task {}: {} URLs", t.task_id, t.urls.len());
        }
        let _ = writeln!(s, "::endgroup::");
    }
    for w in &r.warnings {
        let _ = writeln!(s, "::warning::{}", escape_data(w));
    }
    if r.skipped.foreign_domain > 0 {
        let _ = writeln!(
            s,
            "::warning::{} URLs dropped: their origin is not in site.domains",
            r.skipped.foreign_domain
        );
    }
    if !r.deferred.is_empty() {
        let _ = writeln!(
            s,
            "::warning::{} URLs deferred to the next run (daily quota or failures); they go first then",
            r.deferred.len()
        );
    }
    for x in &r.rejected {
        let _ = writeln!(
            s,
            "::error::rejected {}: {}",
            escape_data(&x.url),
            escape_data(&x.reason)
        );
    }
    for e in &r.errors {
        let _ = writeln!(s, "::error::{}", escape_data(e));
    }
    s.push_str(&text(r));
    s
}

/// An `::error` line for a failed run, with `file=`/`line=`/`col=` for input errors.
#[must_use]
pub fn github_error(e: &crate::Error) -> String {
    use crate::error::Position;
    let (file, pos) = match e {
        crate::Error::Config { file, position, .. } => {
            (Some(file.display().to_string()), Some(position))
        }
        crate::Error::Input {
            source_name,
            position,
            ..
        } => (Some(source_name.clone()), Some(position)),
        crate::Error::Io { path, .. } | crate::Error::State { path, .. } => {
            (Some(path.display().to_string()), None)
        }
        _ => (None, None),
    };
    let mut props = Vec::new();
    if let Some(f) = file {
        props.push(format!("file={}", escape_property(&f)));
    }
    if let Some(Position::LineCol { line, col }) = pos {
        props.push(format!("line={line}"));
        props.push(format!("col={col}"));
    }
    let props = if props.is_empty() {
        String::new()
    } else {
        format!(" {}", props.join(","))
    };
    format!("::error{props}::{}\n", escape_data(&e.to_string()))
}

/// The Markdown job summary.
#[must_use]
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## prewarm{}\n",
        if r.dry_run { " (dry run)" } else { "" }
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| provider | {} |", r.provider);
    let _ = writeln!(
        s,
        "| planned | {} URLs in {} batches |",
        r.url_count(),
        r.batches.len()
    );
    let _ = writeln!(
        s,
        "| pushed | {} URLs in {} tasks |",
        r.pushed(),
        r.tasks.len()
    );
    let _ = writeln!(s, "| deferred | {} |", r.deferred.len());
    let _ = writeln!(s, "| rejected | {} |", r.rejected.len());
    let _ = writeln!(
        s,
        "| quota left today | {} of {} (CDN day {}) |",
        r.quota.left_today, r.quota.per_day, r.quota.day
    );
    if let Some(a) = &r.quota.api {
        let _ = writeln!(
            s,
            "| API quota before the run | {} of {} available ({}) |",
            a.available, a.total, a.area
        );
    }
    let _ = writeln!(s, "| skipped unchanged | {} |", r.skipped.unchanged);
    if !r.tasks.is_empty() {
        let _ = writeln!(s, "\n### Tasks\n");
        for t in r.tasks.iter().take(SUMMARY_LIST) {
            let _ = writeln!(s, "- `{}`: {} URLs", t.task_id, t.urls.len());
        }
        if r.tasks.len() > SUMMARY_LIST {
            let _ = writeln!(
                s,
                "- … and {} more tasks (full list in the JSON report)",
                r.tasks.len() - SUMMARY_LIST
            );
        }
    }
    let lists: [(&str, usize, Box<dyn Iterator<Item = &String>>); 2] = [
        ("Deferred", r.deferred.len(), Box::new(r.deferred.iter())),
        ("Pushed", r.url_count(), Box::new(r.urls())),
    ];
    for (title, len, list) in lists {
        if len == 0 || (title == "Pushed" && r.dry_run) {
            continue;
        }
        let _ = writeln!(s, "\n### {title}\n");
        for u in list.take(SUMMARY_LIST) {
            let _ = writeln!(s, "- {u}");
        }
        if len > SUMMARY_LIST {
            let _ = writeln!(
                s,
                "- … and {} more (full list: `prewarm --format json`)",
                len - SUMMARY_LIST
            );
        }
    }
    if !r.rejected.is_empty() {
        let _ = writeln!(s, "\n### Rejected\n");
        for x in r.rejected.iter().take(SUMMARY_LIST) {
            let _ = writeln!(s, "- {}: {}", x.url, x.reason);
        }
    }
    for e in &r.errors {
        let _ = writeln!(s, "\n**error:** {e}");
    }
    if s.len() > SUMMARY_LIMIT {
        let mut cut = SUMMARY_LIMIT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n\n… summary cut to stay under GitHub's 1 MiB limit; the JSON report has everything\n");
    }
    s
}

/// Appends `name<<DELIM … DELIM` lines (the multi-line-safe form) to `$GITHUB_OUTPUT`.
fn output_lines(name: &str, value: &str) -> String {
    let mut delim = format!("prewarm_{}", rand::random::<u64>());
    while value.contains(&delim) {
        delim.push('_');
    }
    format!("{name}<<{delim}\n{value}\n{delim}\n")
}

fn append(var: &str, text: &str) -> crate::Result<()> {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| crate::Error::io(&path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| crate::Error::io(&path, e))
}

/// Writes the job summary and the step outputs (`pushed`, `deferred`, `task-ids`, `exit-code`).
///
/// # Errors
/// One of the files could not be written.
pub fn github_files(r: &Report) -> crate::Result<()> {
    append("GITHUB_STEP_SUMMARY", &summary(r))?;
    let ids: Vec<&str> = r.tasks.iter().map(|t| t.task_id.as_str()).collect();
    let mut out = String::new();
    out.push_str(&output_lines("pushed", &r.pushed().to_string()));
    out.push_str(&output_lines("deferred", &r.deferred.len().to_string()));
    out.push_str(&output_lines("task-ids", &ids.join("\n")));
    out.push_str(&output_lines("exit-code", &(r.exit as u8).to_string()));
    append("GITHUB_OUTPUT", &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new(false, "tencent-v3".into());
        let urls: Vec<String> = vec![
            "https://www.example.com/".into(),
            "https://www.example.com/a".into(),
        ];
        r.batches = vec![urls.clone()];
        r.tasks = vec![Task {
            task_id: "7".into(),
            urls,
        }];
        r.deferred = vec!["https://www.example.com/b".into()];
        r.quota = QuotaReport {
            per_day: 1000,
            used_today: 2,
            left_today: 998,
            reserve: 0,
            day: "2026-12-01".into(),
            api: None,
        };
        r
    }

    #[test]
    fn json_has_the_design_keys() {
        let v: serde_json::Value = serde_json::to_value(sample()).unwrap();
        for k in [
            "dry_run", "urls", "batches", "tasks", "deferred", "rejected", "skipped", "quota",
            "errors",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["tasks"][0]["task_id"], "7");
        assert_eq!(v["quota"]["left_today"], 998);
        assert_eq!(v["skipped"]["unchanged"], 0);
        assert_eq!(
            v["urls"],
            serde_json::json!(["https://www.example.com/", "https://www.example.com/a"])
        );
        assert_eq!(v["batches"], serde_json::json!([v["urls"].clone()]));
        assert!(v.get("outcomes").is_none(), "no --wait, no outcomes");
    }

    #[test]
    fn text_names_tasks_and_deferred() {
        let t = text(&sample());
        assert!(t.starts_with("pushed 2 URLs in 1 task"), "{t}");
        assert!(t.contains("task 7 (2 URLs):"));
        assert!(t.contains("deferred to the next run (1):"));
        assert!(t.contains("quota: 2 of 1000 used on CDN day 2026-12-01, 998 left"));
    }

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("C:\\x,y"), "C%3A\\x%2Cy");
        let e = crate::Error::Input {
            source_name: "fixtures/bad.xml".into(),
            position: crate::error::Position::LineCol { line: 3, col: 7 },
            message: "unexpected end".into(),
        };
        assert_eq!(
            github_error(&e),
            "::error file=fixtures/bad.xml,line=3,col=7::fixtures/bad.xml:3:7: unexpected end\n"
        );
    }

    #[test]
    fn summary_is_cut_under_the_limit() {
        let mut r = sample();
        r.deferred = (0..200_000)
            .map(|i| format!("https://www.example.com/page-{i}-{}", "x".repeat(20)))
            .collect();
        r.rejected = (0..50)
            .map(|i| Rejected {
                url: format!("u{i}"),
                reason: "r".into(),
            })
            .collect();
        let s = summary(&r);
        assert!(s.len() <= SUMMARY_LIMIT + 200, "{}", s.len());
        assert!(s.contains("… and 199900 more"));
    }

    #[test]
    fn outputs_use_the_multiline_form() {
        let o = output_lines("task-ids", "1\n2");
        let mut lines = o.lines();
        let head = lines.next().unwrap();
        let delim = head.strip_prefix("task-ids<<").unwrap();
        assert_eq!(lines.collect::<Vec<_>>(), vec!["1", "2", delim]);
    }
}
