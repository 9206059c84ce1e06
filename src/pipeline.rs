//! The pipeline: collect → diff → plan → push → report, and the other subcommands around it.
//!
//! Takes a parsed [`Cli`]; returns the exit code. Order matters for the guarantees: credentials are checked and
//! every source is read completely before anything is pushed (a half-read input pushes nothing); state is saved
//! after every accepted batch (through the push sink) and compacted at the end; a dry run writes no state and
//! opens no connection to the CDN.

use std::time::{Duration, Instant};

use crate::cli::{Cli, Command, HookCommand};
use crate::clock::Clock;
use crate::config::{Format, Location, Settings, SourceSpec};
use crate::diff::{self, DiffOptions};
use crate::error::ExitCode;
use crate::plan::{self, PlanLimits, PlannedUrl};
use crate::push::{self, Provider, PushOptions, PushSink, RemoteQuota, Stop, Task, TaskState};
use crate::report::{self, QuotaReport, Report, UrlOutcome};
use crate::signal::Signals;
use crate::sources::{self, Collected};
use crate::state::{self, State, StateStore};
use crate::{Error, Result};

/// Runs a parsed command line.
///
/// # Errors
/// Whatever stops the run before a report can be made (config, input, credentials, state).
pub fn main(cli: Cli) -> Result<ExitCode> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let global = &cli.global;
    match &cli.command {
        Some(Command::Completions { shell }) => {
            crate::cli::completions(*shell);
            return Ok(ExitCode::Ok);
        }
        Some(Command::Init { path }) => {
            let path = cwd.join(path);
            crate::config::init(&path)?;
            eprintln!(
                "wrote {}: set site.domains and the sources, then try `prewarm --dry-run`",
                path.display()
            );
            return Ok(ExitCode::Ok);
        }
        Some(Command::FakeCdn(args)) => {
            // `--api` and `--per-day` are common flags: they pick the API the fake serves and its quota.
            let mut args = (**args).clone();
            if let Some(api) = global.api.as_deref() {
                args.api = match crate::config::parse_api(api)
                    .map_err(|e| Error::Usage(format!("--api: {e}")))?
                {
                    crate::config::Api::V2 => crate::fake_cdn::ApiArg::V2,
                    crate::config::Api::V3 => crate::fake_cdn::ApiArg::V3,
                };
            }
            if let Some(n) = global.per_day {
                args.per_day = n;
            }
            crate::fake_cdn::run_cli(&args)?;
            return Ok(ExitCode::Ok);
        }
        Some(Command::Hook(HookCommand::Install { repo, branch })) => {
            let path = crate::hook::install(
                &cwd.join(repo),
                branch,
                global.config.as_deref().map(|c| cwd.join(c)).as_deref(),
            )?;
            eprintln!("installed {}", path.display());
            return Ok(ExitCode::Ok);
        }
        _ => {}
    }
    let overrides = global.overrides(&cwd)?;
    let mut settings = match crate::config::resolve(global.config.as_deref(), &cwd, overrides) {
        Ok(s) => s,
        Err(e) => {
            let github = global
                .format
                .is_some_and(|f| f == crate::cli::FormatArg::Github)
                || (global.format.is_none()
                    && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"));
            if github {
                print!("{}", report::github_error(&e));
            }
            return Err(e);
        }
    };
    let format = settings.format;
    let result = match &cli.command {
        Some(Command::Hook(HookCommand::PostReceive { branch })) => {
            let stdin = std::io::stdin();
            match crate::hook::post_receive(stdin.lock(), branch, &settings)? {
                Some(range) => {
                    settings.sources = crate::hook::sources_for(&settings, &range);
                    run(&settings, Mode::Push)
                }
                None => return Ok(ExitCode::Ok),
            }
        }
        None | Some(Command::Run) => run(
            &settings,
            if settings.run.dry_run {
                Mode::DryRun
            } else {
                Mode::Push
            },
        ),
        Some(Command::Urls) => run(&settings, Mode::Urls),
        Some(Command::Baseline) => run(&settings, Mode::Baseline),
        Some(Command::Status { tasks }) => status(&settings, *tasks),
        Some(
            Command::Completions { .. }
            | Command::Init { .. }
            | Command::FakeCdn(_)
            | Command::Hook(HookCommand::Install { .. }),
        ) => Ok(ExitCode::Ok),
    };
    if let (Err(e), Format::Github) = (&result, format) {
        print!("{}", report::github_error(e));
    }
    result
}

/// What a run does after planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Print the plan.
    DryRun,
    /// Print the planned URLs, one per line.
    Urls,
    /// Push and report.
    Push,
    /// Record the fingerprints as accepted; push nothing.
    Baseline,
}

/// True when every source lists the whole site (so what is absent is gone).
fn complete_listing(settings: &Settings) -> bool {
    settings
        .sources
        .iter()
        .all(|s| matches!(s, SourceSpec::Dir { .. } | SourceSpec::Sitemap { .. }))
}

fn provider_label(settings: &Settings) -> String {
    match settings.cdn.api {
        crate::config::Api::V3 => format!(
            "tencent v3 PushUrlsCache (area {})",
            settings.cdn.area.as_str()
        ),
        crate::config::Api::V2 => "tencent v2 CdnOverseaPushser".to_string(),
    }
}

/// Runs the pipeline in `mode`.
///
/// # Errors
/// Config, input, credentials or state errors (exit 2), before anything is pushed.
pub fn run(settings: &Settings, mode: Mode) -> Result<ExitCode> {
    let clock = Clock::from_env()?;
    let signals = if mode == Mode::Push {
        Signals::install()
    } else {
        Signals::none()
    };
    let pushing = mode == Mode::Push;

    // Credentials first: a missing variable fails in a second, not after reading a million URLs.
    let mut provider: Option<Box<dyn Provider>> = None;
    if pushing {
        let creds = push::client::credentials_from_env(&settings.cdn)?;
        if settings.format == Format::Github {
            println!("::add-mask::{}", creds.secret_id);
        }
        provider = Some(push::client::provider_for(settings, creds)?);
    }

    // Every source, completely, before anything else.
    if settings.sources.is_empty() {
        return Err(Error::Usage(
            "no sources: add a [[source]] to prewarm.toml, or pass --sitemap, --dir, --changed or --git-diff".into(),
        ));
    }
    if settings.domains.is_empty() {
        return Err(Error::Usage(
            "no site.domains configured: prewarm pushes only URLs of the origins listed there"
                .into(),
        ));
    }
    log::debug!(
        "config {}; state {}; {} sources; domains {}",
        settings
            .config_path
            .as_deref()
            .map_or_else(|| "(none)".to_string(), |p| p.display().to_string()),
        settings.state.path.display(),
        settings.sources.len(),
        settings.domains.join(", ")
    );
    let started = Instant::now();
    let collected = sources::collect(settings)?;
    log::info!(
        "collected {} URLs in {:.1?}",
        collected.assets.len(),
        started.elapsed()
    );
    if let Some(path) = &settings.run.write_manifest {
        crate::manifest::Manifest::from_assets(&collected.assets, &clock.rfc3339())
            .write_path(path)?;
    }

    // State: locked for runs that write it, read-only otherwise.
    let writes_state = matches!(mode, Mode::Push | Mode::Baseline);
    let loading = Instant::now();
    let (mut store, mut state) = if writes_state {
        // Another run may hold the lock for a while (a deploy hook behind another): a signal ends the wait.
        let stop = || signals.received().is_some();
        let Some((store, state)) =
            StateStore::open_unless(&settings.state.path, settings.state.lock_timeout, &stop)?
        else {
            return Err(Error::Interrupted(signals.received().unwrap_or(2)));
        };
        (Some(store), state)
    } else {
        (None, state::load_read_only(&settings.state.path)?)
    };

    log::info!(
        "state: {} URLs loaded in {:.1?}",
        diff::Baseline::len(&state),
        loading.elapsed()
    );
    let mut report = Report::new(!pushing, provider_label(settings));
    report.warnings.clone_from(&collected.warnings);
    for w in &collected.warnings {
        log::warn!("{w}");
    }
    report.skipped = collected.skipped;
    if collected.skipped.invalid_url > 0 {
        let w = format!(
            "{} URLs skipped as invalid (not absolute http(s), too long, or unmappable; -v lists them)",
            collected.skipped.invalid_url
        );
        log::warn!("{w}");
        report.warnings.push(w);
    }
    if collected.skipped.foreign_domain > 0 {
        log::warn!(
            "{} URLs dropped: their origin is not in site.domains",
            collected.skipped.foreign_domain
        );
    }

    if mode == Mode::Baseline {
        let done = baseline(settings, collected, &mut state, store.as_mut(), &mut report);
        exiting(state);
        return done;
    }

    let complete = complete_listing(settings);
    let previous = match &settings.run.previous {
        Some(loc) => Some(load_previous(loc, settings)?),
        None => None,
    };
    let baseline: &(dyn diff::Baseline + Sync) = match &previous {
        Some(m) => m,
        None => &state,
    };
    let diffing = Instant::now();
    let changes = diff::diff(
        collected.assets,
        baseline,
        state.backlog(),
        &collected.removed_urls,
        DiffOptions {
            all: settings.run.all,
            complete,
            // Collected assets are merged by URL.
            assets_unique: true,
        },
    );
    report.skipped.unchanged += changes.unchanged;
    log::info!(
        "diff: {} new or changed, {} unchanged, {} gone, in {:.1?}",
        changes.planned.len(),
        changes.unchanged,
        changes.gone.len(),
        diffing.elapsed()
    );

    // Budget: the local ledger, capped by what the API says is left (v3), when it can tell.
    let day = clock.cdn_day(settings.quota.day_utc_offset);
    let used = state.used_on(&day);
    let local_left = settings.quota.left_after(used);
    let mut per_request = settings.quota.per_request;
    let mut remote: Option<RemoteQuota> = None;
    if let Some(p) = provider.as_mut() {
        per_request = per_request.min(p.limits().per_request);
        match p.remaining_quota() {
            Ok(q) => remote = q,
            Err(e) => {
                let w = format!(
                    "could not read the account's quota ({e}); planning with the local ledger"
                );
                log::warn!("{w}");
                report.warnings.push(w);
            }
        }
    }
    let mut budget = local_left;
    if let Some(q) = &remote {
        budget = budget.min(q.available);
        per_request = per_request
            .min(usize::try_from(q.batch).unwrap_or(usize::MAX))
            .max(1);
    }
    log::debug!("budget {budget} URLs (local {local_left}), {per_request} per request");
    let planning = Instant::now();
    let plan = plan::plan(
        changes.planned,
        PlanLimits {
            per_request,
            budget,
            max_urls: settings.run.max_urls,
            // The diff's output has each URL once.
            unique: true,
        },
    );
    log::info!(
        "plan: {} URLs in {} batches, {} deferred, in {:.1?}",
        plan.url_count(),
        plan.batch_count(),
        plan.deferred_count(),
        planning.elapsed()
    );
    if mode == Mode::Urls {
        // Only the list is printed: no report copy of a million URLs.
        print_urls(plan.urls())?;
        exiting(plan);
        exiting(state);
        return Ok(ExitCode::Ok);
    }
    report.batches = plan
        .batches()
        .iter()
        .map(|b| b.urls().map(|u| u.url().to_string()).collect())
        .collect();
    report.quota = QuotaReport {
        per_day: settings.quota.per_day,
        used_today: used,
        left_today: budget,
        reserve: settings.quota.reserve,
        day: day.clone(),
        api: remote.clone(),
    };

    let (Some(mut provider), Some(store)) = (provider, store.as_mut()) else {
        // Dry run or `urls`: print and stop; nothing written but the manifest the user asked for.
        report.deferred = plan.deferred().map(|u| u.url().to_string()).collect();
        if !report.deferred.is_empty() {
            report.warnings.push(format!(
                "{} URLs would be deferred by the daily quota",
                report.deferred.len()
            ));
        }
        report::render(&report, settings.format)?;
        exiting(plan);
        exiting(report);
        exiting(state);
        return Ok(ExitCode::Ok);
    };

    // Before the first call: everything planned is in the backlog, so a crash loses nothing; every accepted
    // batch then leaves the backlog through the journal.
    store.record_forget(&mut state, &changes.gone)?;
    store.record_backlog(
        &mut state,
        plan.taken().chain(plan.deferred()),
        &clock.rfc3339(),
    )?;

    let (batches, plan_deferred) = plan.into_batches();
    let opts = PushOptions {
        max_attempts: settings.push.max_attempts,
        interval: settings.push.interval,
        origin_bandwidth: settings.push.origin_bandwidth,
        base_backoff: settings.push.base_backoff,
        max_backoff: settings.push.max_backoff,
    };
    let total: usize = batches.iter().map(|b| b.urls.len()).sum();
    let progress = progress_bar(total, settings);
    let outcome = {
        let mut sink = Sink {
            store: &mut *store,
            state: &mut state,
            day: &day,
            clock: &clock,
            provider: provider.name(),
            signals: &signals,
            progress: progress.as_ref(),
        };
        // Pauses (interval, pacing, back-off) end early on a signal, so SIGINT during a 30 s back-off stops now;
        // the engine checks the sink before its next call and stops there.
        let mut sleeper = |d: Duration| interruptible_sleep(d, &signals);
        push::push_with(batches, provider.as_mut(), &opts, &mut sink, &mut sleeper)
    };
    if let Some(p) = progress {
        p.finish_and_clear();
    }

    report.tasks.clone_from(&outcome.tasks);
    report.rejected.clone_from(&outcome.rejected);
    let mut carried: Vec<PlannedUrl> = outcome.deferred.clone();
    carried.extend(plan_deferred);

    // --wait: follow the tasks; `fail` URLs go back to the backlog, `invalid` ones are origin errors.
    if settings.run.wait && settings.cdn.api == crate::config::Api::V2 {
        report.warnings.push(
            "--wait needs API 3.0 (DescribePushTasks); API 2.0 can't report task progress".into(),
        );
    } else if settings.run.wait && !outcome.tasks.is_empty() {
        let (outcomes, failed) = wait_for_tasks(
            provider.as_mut(),
            &outcome.tasks,
            settings.run.wait_timeout,
            &signals,
        );
        for o in &outcomes {
            if o.status == "invalid" {
                report.errors.push(format!(
                    "origin error for {} (the CDN's pull got a 4xx/5xx)",
                    o.url
                ));
            }
        }
        let failed: Vec<PlannedUrl> = failed
            .into_iter()
            .map(|u| PlannedUrl {
                from_backlog: true,
                ..crate::sources::Asset::new(u)
            })
            .collect();
        if !failed.is_empty() {
            report.warnings.push(format!(
                "{} URLs failed to warm; they go back to the backlog",
                failed.len()
            ));
            let urls: Vec<String> = failed.iter().map(|u| u.url().to_string()).collect();
            store.record_forget(&mut state, &urls)?;
        }
        carried.extend(failed);
        report.outcomes = outcomes;
    }

    store.record_backlog(&mut state, &carried, &clock.rfc3339())?;
    let task_ids: Vec<String> = outcome.tasks.iter().map(|t| t.task_id.clone()).collect();
    store.record_last_run(
        &mut state,
        state::LastRun {
            at: clock.rfc3339(),
            pushed: u64::try_from(report.pushed()).unwrap_or(u64::MAX),
            deferred: u64::try_from(carried.len()).unwrap_or(u64::MAX),
            task_ids,
        },
    )?;
    let saving = Instant::now();
    store.finish(&mut state)?;
    log::info!("state saved in {:.1?}", saving.elapsed());

    report.deferred = carried.iter().map(|u| u.url().to_string()).collect();
    let used_now = state.used_on(&day);
    report.quota.used_today = used_now;
    report.quota.left_today = budget.saturating_sub(used_now.saturating_sub(used));
    report.errors.extend(outcome.failures.iter().cloned());
    report.exit = ExitCode::Ok;
    match &outcome.stop {
        Some(Stop::Fatal(m)) => {
            if !report.errors.contains(m) {
                report.errors.push(m.clone());
            }
            report.exit = ExitCode::Runtime;
        }
        Some(Stop::Sink(m)) => {
            report.errors.push(format!("could not save state: {m}"));
            report.exit = ExitCode::Runtime;
        }
        Some(Stop::Quota(m)) => report.warnings.push(format!(
            "the CDN's daily quota ran out ({m}); the rest is deferred"
        )),
        Some(Stop::Interrupted) | None => {}
    }
    if !outcome.failures.is_empty() {
        report.exit = ExitCode::Runtime;
    }
    if !report.deferred.is_empty() {
        log::warn!("{} URLs deferred to the next run", report.deferred.len());
    }
    report::render(&report, settings.format)?;
    if let Some(sig) = signals.received() {
        return Err(Error::Interrupted(sig));
    }
    Ok(report.exit)
}

fn baseline(
    settings: &Settings,
    collected: Collected,
    state: &mut State,
    store: Option<&mut StateStore>,
    report: &mut Report,
) -> Result<ExitCode> {
    let Some(store) = store else {
        return Err(Error::Usage("baseline needs a writable state".into()));
    };
    if complete_listing(settings) {
        let seen: rustc_hash::FxHashSet<&str> =
            collected.assets.iter().map(|a| a.url.as_str()).collect();
        let gone: Vec<String> = diff::Baseline::urls(&*state)
            .filter(|u| !seen.contains(u))
            .map(str::to_string)
            .collect();
        state.forget(&gone);
    }
    state.forget(&collected.removed_urls);
    state.record_baseline(&collected.assets);
    let saving = Instant::now();
    store.finish(state)?;
    log::info!("state saved in {:.1?}", saving.elapsed());
    report.dry_run = false;
    match settings.format {
        Format::Json => {
            report.recorded = collected.assets.iter().map(|a| a.url.clone()).collect();
            report::render(report, Format::Json)?;
        }
        _ => println!(
            "baseline: recorded {} URLs as warm in {} (nothing pushed)",
            collected.assets.len(),
            settings.state.path.display()
        ),
    }
    exiting(collected);
    Ok(ExitCode::Ok)
}

fn load_previous(loc: &Location, settings: &Settings) -> Result<crate::manifest::Manifest> {
    match loc {
        Location::Path(p) => crate::manifest::load_path(p),
        Location::Url(u) => {
            let reader = sources::fetch::open(u, &settings.limits, settings.push.timeout)?;
            crate::manifest::load(reader, u)
        }
    }
}

/// Set by the binary: the process exits when the run returns, so big structures need not be freed.
static EXIT_AFTER_RUN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tells [`run`] that the process ends when it returns: it then leaves its million-entry structures to the OS
/// instead of freeing them one by one (a tenth of a large run). Library callers don't call this.
pub fn exit_after_run() {
    EXIT_AFTER_RUN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Drops `v`, or leaves it to the OS when the process is about to exit (see [`exit_after_run`]).
fn exiting<T>(v: T) {
    if EXIT_AFTER_RUN.load(std::sync::atomic::Ordering::Relaxed) {
        std::mem::forget(v);
    } else {
        drop(v);
    }
}

/// Prints one URL a line. A plan's URLs are scattered over its assets (each one two cache misses: the asset,
/// then its text), so they are read 64 at a time before any is written: the loads of a chunk overlap instead of
/// waiting behind the copies (at 1M URLs ~35 ms, ~45 ms one by one, ~140 ms through `writeln!`).
fn print_urls<'a>(mut urls: impl Iterator<Item = &'a str>) -> Result<()> {
    use std::io::Write;
    const CHUNK: usize = 64;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    // Read 64 ahead, then written: the URLs' reads (cache misses, in plan order) overlap instead of queueing
    // behind each write.
    let mut chunk: Vec<&str> = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        chunk.extend(urls.by_ref().take(CHUNK));
        if chunk.is_empty() {
            break;
        }
        for u in &chunk {
            out.write_all(u.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io("<stdout>", e))?;
        }
    }
    out.flush().map_err(|e| Error::io("<stdout>", e))
}

fn progress_bar(total: usize, settings: &Settings) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if total == 0
        || settings.format != Format::Text
        || !std::io::stderr().is_terminal()
        || log::max_level() < log::LevelFilter::Warn
    {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} pushing [{bar:30}] {pos}/{len} URLs {msg}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    Some(pb)
}

/// Sleeps `d`, in slices, returning early once a signal has arrived.
fn interruptible_sleep(d: Duration, signals: &Signals) {
    let end = Instant::now() + d;
    while signals.received().is_none() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// The pipeline's push sink: saves state after every accepted batch, watches for signals.
struct Sink<'a> {
    store: &'a mut StateStore,
    state: &'a mut State,
    day: &'a str,
    clock: &'a Clock,
    provider: &'static str,
    signals: &'a Signals,
    progress: Option<&'a indicatif::ProgressBar>,
}

impl PushSink for Sink<'_> {
    fn accepted(&mut self, task: &Task, urls: &[PlannedUrl]) -> Result<()> {
        self.store.record_batch(
            self.state,
            task,
            urls,
            self.day,
            &self.clock.rfc3339(),
            self.provider,
        )?;
        if let Some(p) = self.progress {
            p.inc(urls.len() as u64);
        }
        Ok(())
    }

    fn should_stop(&self) -> bool {
        self.signals.received().is_some()
    }
}

/// Polls `task_status` with back-off until every URL is done/fail/invalid or the timeout passes.
/// Returns the outcomes and the URLs that failed (to retry).
fn wait_for_tasks(
    provider: &mut dyn Provider,
    tasks: &[Task],
    timeout: Duration,
    signals: &Signals,
) -> (Vec<UrlOutcome>, Vec<String>) {
    let ids: Vec<String> = tasks.iter().map(|t| t.task_id.clone()).collect();
    let start = Instant::now();
    let mut delay = Duration::from_millis(200);
    let mut latest: std::collections::BTreeMap<(String, String), TaskState> =
        std::collections::BTreeMap::new();
    loop {
        match provider.task_status(&ids) {
            Ok(statuses) => {
                for s in statuses {
                    latest.insert((s.task_id, s.url), s.state);
                }
            }
            Err(e) => log::warn!("could not read task progress: {e}"),
        }
        let expected: usize = tasks.iter().map(|t| t.urls.len()).sum();
        let finished = latest
            .values()
            .filter(|s| !matches!(s, TaskState::Process))
            .count();
        if (finished >= expected && latest.len() >= expected)
            || start.elapsed() >= timeout
            || signals.received().is_some()
        {
            break;
        }
        interruptible_sleep(delay.min(timeout.saturating_sub(start.elapsed())), signals);
        delay = (delay * 2).min(Duration::from_secs(10));
    }
    let mut outcomes = Vec::new();
    let mut failed = Vec::new();
    for t in tasks {
        for u in &t.urls {
            let state = latest
                .get(&(t.task_id.clone(), u.clone()))
                .unwrap_or(&TaskState::Process);
            if *state == TaskState::Fail {
                failed.push(u.clone());
            }
            let status = state.name();
            outcomes.push(UrlOutcome {
                url: u.clone(),
                task_id: t.task_id.clone(),
                status,
            });
        }
    }
    (outcomes, failed)
}

/// `prewarm status`.
fn status(settings: &Settings, tasks: bool) -> Result<ExitCode> {
    let clock = Clock::from_env()?;
    let state = state::load_read_only(&settings.state.path)?;
    let day = clock.cdn_day(settings.quota.day_utc_offset);
    let used = state.used_on(&day);
    let left = settings.quota.left_after(used);
    let backlog = state.backlog();
    let oldest = backlog.iter().map(|b| b.since.as_str()).min();
    let recent: Vec<&state::TaskRecord> = state.tasks().iter().rev().take(20).collect();
    let mut progress: Vec<serde_json::Value> = Vec::new();
    if tasks && settings.cdn.api == crate::config::Api::V2 {
        return Err(Error::Usage(
            "status --tasks needs API 3.0 (DescribePushTasks); set cdn.api = \"v3\"".into(),
        ));
    }
    if tasks && !recent.is_empty() {
        let creds = push::client::credentials_from_env(&settings.cdn)?;
        let mut provider = push::client::provider_for(settings, creds)?;
        let ids: Vec<String> = recent.iter().map(|t| t.task_id.clone()).collect();
        match provider.task_status(&ids) {
            Ok(list) => {
                for s in list {
                    let st = s.state.name();
                    progress.push(
                        serde_json::json!({"task_id": s.task_id, "url": s.url, "status": st}),
                    );
                }
            }
            Err(e) => return Err(Error::Runtime(format!("could not read task progress: {e}"))),
        }
    }
    let last = state.last_run();
    if settings.format == Format::Json {
        let v = serde_json::json!({
            "quota": {"per_day": settings.quota.per_day, "used_today": used, "left_today": left,
                      "reserve": settings.quota.reserve, "day": day},
            "backlog": {"size": backlog.len(), "oldest": oldest, "urls": backlog.iter().map(|b| &b.url).collect::<Vec<_>>()},
            "last_run": last.map(|l| serde_json::json!({"at": l.at, "pushed": l.pushed, "deferred": l.deferred, "task_ids": l.task_ids})),
            "tasks": recent.iter().map(|t| serde_json::json!({"task_id": t.task_id, "urls": t.urls.len(), "at": t.at, "provider": t.provider})).collect::<Vec<_>>(),
            "progress": progress,
            "state": settings.state.path,
            "urls_tracked": state.len(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(ExitCode::Ok);
    }
    println!(
        "state: {} ({} URLs tracked)",
        settings.state.path.display(),
        state.len()
    );
    println!(
        "quota: {used} of {} used on CDN day {day}, {left} left",
        settings.quota.per_day
    );
    match oldest {
        Some(o) => println!("backlog: {} URLs, oldest since {o}", backlog.len()),
        None => println!("backlog: empty"),
    }
    match last {
        Some(l) => println!(
            "last run: {} — {} pushed, {} deferred, tasks: {}",
            l.at,
            l.pushed,
            l.deferred,
            if l.task_ids.is_empty() {
                "none".to_string()
            } else {
                l.task_ids.join(", ")
            }
        ),
        None => println!("last run: never"),
    }
    for t in &recent {
        println!(
            "task {} at {}: {} URLs ({})",
            t.task_id,
            t.at,
            t.urls.len(),
            t.provider
        );
    }
    for p in &progress {
        println!(
            "  {:<8} {}",
            p["status"].as_str().unwrap_or(""),
            p["url"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::Ok)
}
