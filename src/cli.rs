//! The command line: clap derive types, logging set-up, and the map from outcomes to exit codes.
//!
//! Every value flag is an `Option` so that the file and the environment can fill it (precedence: flags >
//! `PREWARM_*` > prewarm.toml > defaults, resolved in [`crate::config::resolve`]). Secrets never come from flags:
//! they would show in process lists.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::{self, Format, Location, Overrides, RunOptions};
use crate::error::ExitCode;

const EXAMPLES: &str = "\
Examples:
  prewarm --dry-run              what would be pushed (no credentials, no CDN call)
  prewarm                        push the new and changed URLs of prewarm.toml's sources
  prewarm urls | wc -l           count the URLs a run would plan
  prewarm status                 quota used today, backlog, last run
  prewarm baseline               adopt a live site: record everything as warm, push nothing
  prewarm --changed changed.txt --dir public --base-url https://www.example.com/
  git diff --name-only HEAD~1 -- public | prewarm --changed - --dir public

Credentials come from the environment only: TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY
(and TENCENTCLOUD_TOKEN for temporary credentials).

Exit codes: 0 ok (also when URLs were deferred by quota), 1 runtime failure,
2 usage/config/input error (nothing pushed), 130/143 interrupted after saving state.";

/// Warm Tencent Cloud CDN after a deploy: prefetch only the new or changed URLs, within the daily quota.
#[derive(Debug, Parser)]
#[command(name = "prewarm", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Flags shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// For people.
    Text,
    /// One JSON object on stdout.
    Json,
    /// GitHub workflow commands, job summary and step outputs (the default when GITHUB_ACTIONS=true).
    Github,
}

/// Flags accepted before or after any subcommand.
#[derive(Debug, Args, Default)]
#[expect(clippy::struct_excessive_bools, reason = "independent switches")]
pub struct GlobalArgs {
    /// Config file [default: ./prewarm.toml when present].
    #[arg(
        short = 'c',
        long,
        global = true,
        env = "PREWARM_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,

    /// State file [default: .prewarm/state.json beside the config file].
    #[arg(long, global = true, env = "PREWARM_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Output format [default: text; github when GITHUB_ACTIONS=true].
    #[arg(long, global = true, env = "PREWARM_FORMAT", value_enum)]
    pub format: Option<FormatArg>,

    /// Collect, diff and plan, then print the plan: no push, no state write, no credentials needed.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Ignore the diff: plan every URL (the quota still applies).
    #[arg(long, global = true)]
    pub all: bool,

    /// Plan at most N URLs this run (the rest is deferred).
    #[arg(long, global = true, env = "PREWARM_MAX_URLS", value_name = "N")]
    pub max_urls: Option<usize>,

    /// Read this sitemap (file or http(s) URL) instead of the configured sources.
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub sitemap: Option<String>,

    /// Read this build folder instead of the configured sources (with --changed: the root its paths are relative to).
    #[arg(long, global = true, value_name = "PATH")]
    pub dir: Option<PathBuf>,

    /// Read this changed-file list ("-" = stdin), relative to --dir or the configured root.
    #[arg(long, global = true, value_name = "FILE|-")]
    pub changed: Option<String>,

    /// Push the files changed between two commits (git diff --name-status OLD..NEW).
    #[arg(long, global = true, value_name = "OLD..NEW")]
    pub git_diff: Option<String>,

    /// The repository for --git-diff [default: the config file's folder].
    #[arg(long, global = true, value_name = "PATH")]
    pub repo: Option<PathBuf>,

    /// The URL the --dir / --changed / --git-diff root is served at.
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,

    /// Write the fingerprint manifest here (deploy it with the site for stateless CI).
    #[arg(long, global = true, value_name = "PATH")]
    pub write_manifest: Option<PathBuf>,

    /// Diff against the previous deploy's manifest (path or URL) instead of the state file.
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub previous: Option<String>,

    /// API endpoint (loopback http allowed, e.g. a `prewarm fake-cdn`).
    #[arg(
        long,
        global = true,
        env = "PREWARM_ENDPOINT",
        value_name = "URL",
        hide_env_values = true
    )]
    pub endpoint: Option<String>,

    /// Tencent API: v3 (PushUrlsCache, live) or v2 (CdnOverseaPushser, retired 2022).
    #[arg(long, global = true, env = "PREWARM_API", value_name = "v3|v2")]
    pub api: Option<String>,

    /// v3 area: mainland, overseas or global.
    #[arg(long, global = true, env = "PREWARM_AREA", value_name = "AREA")]
    pub area: Option<String>,

    /// URLs per CDN day (overrides quota.per_day).
    #[arg(long, global = true, env = "PREWARM_PER_DAY", value_name = "N")]
    pub per_day: Option<u64>,

    /// After pushing, wait for the CDN tasks to finish and report each URL (v3).
    #[arg(long, global = true)]
    pub wait: bool,

    /// How long --wait polls [default: 5m].
    #[arg(long, global = true, value_name = "DURATION")]
    pub wait_timeout: Option<String>,

    /// No warnings on stderr, only errors (results still go to stdout).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (-vv for debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect, diff, plan, push, report (the default).
    #[command(
        after_help = "Example:\n  TENCENTCLOUD_SECRET_ID=… TENCENTCLOUD_SECRET_KEY=… prewarm run"
    )]
    Run,
    /// Print the planned URLs, one per line.
    #[command(after_help = "Example:\n  prewarm urls --all | grep /blog/")]
    Urls,
    /// Quota used and left today, the backlog, the last run and its tasks.
    #[command(after_help = "Example:\n  prewarm status --format json | jq .quota")]
    Status {
        /// Also ask the CDN for the progress of the latest tasks (v3; needs credentials).
        #[arg(long)]
        tasks: bool,
    },
    /// Record the current fingerprints as warm without pushing (adopting prewarm on a live site).
    #[command(
        after_help = "Example:\n  prewarm baseline && prewarm --dry-run   # now plans nothing"
    )]
    Baseline,
    /// Write a commented starter prewarm.toml (refuses to overwrite one).
    #[command(after_help = "Example:\n  prewarm init && $EDITOR prewarm.toml")]
    Init {
        /// Where to write it.
        #[arg(default_value = "prewarm.toml")]
        path: PathBuf,
    },
    /// Run the local stand-in CDN (try configs and CI without spending quota).
    FakeCdn(Box<crate::fake_cdn::FakeCdnArgs>),
    /// git post-deploy integration.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Print shell completions.
    #[command(after_help = "Example:\n  prewarm completions bash > /etc/bash_completion.d/prewarm")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// `prewarm hook …`.
#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Read post-receive lines (`old new ref`) on stdin and push what the branch's new commits changed.
    #[command(
        after_help = "Example (hooks/post-receive):\n  exec prewarm hook post-receive --branch main"
    )]
    PostReceive {
        /// The branch that deploys.
        #[arg(long, default_value = "main")]
        branch: String,
    },
    /// Install a post-receive hook into a repository.
    #[command(
        after_help = "Example:\n  prewarm hook install --repo /srv/git/site.git --branch main"
    )]
    Install {
        /// The repository (bare or not) [default: the current folder].
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The branch that deploys.
        #[arg(long, default_value = "main")]
        branch: String,
    },
}

impl GlobalArgs {
    /// The overrides these flags make on the config file.
    ///
    /// # Errors
    /// An invalid value (`--api v4`).
    pub fn overrides(&self, cwd: &std::path::Path) -> crate::Result<Overrides> {
        let usage = |flag: &str, e: String| crate::Error::Usage(format!("{flag}: {e}"));
        Ok(Overrides {
            state: self.state.clone(),
            format: self.format.map(|f| match f {
                FormatArg::Text => Format::Text,
                FormatArg::Json => Format::Json,
                FormatArg::Github => Format::Github,
            }),
            endpoint: self.endpoint.clone(),
            api: self
                .api
                .as_deref()
                .map(config::parse_api)
                .transpose()
                .map_err(|e| usage("--api", e))?,
            area: self
                .area
                .as_deref()
                .map(config::parse_area)
                .transpose()
                .map_err(|e| usage("--area", e))?,
            per_day: self.per_day,
            sitemap: self.sitemap.clone(),
            dir: self.dir.clone(),
            changed: self.changed.clone(),
            git_diff: self.git_diff.clone(),
            base_url: self.base_url.clone(),
            repo: self.repo.clone(),
            run: RunOptions {
                dry_run: self.dry_run,
                all: self.all,
                max_urls: self.max_urls,
                write_manifest: self.write_manifest.as_ref().map(|p| cwd.join(p)),
                previous: self.previous.as_ref().map(|p| {
                    if p.starts_with("http://") || p.starts_with("https://") {
                        Location::Url(p.clone())
                    } else {
                        Location::Path(cwd.join(p))
                    }
                }),
                wait: self.wait,
                wait_timeout: match &self.wait_timeout {
                    Some(t) => config::parse_duration(t).map_err(|e| usage("--wait-timeout", e))?,
                    None => config::defaults::WAIT_TIMEOUT,
                },
            },
        })
    }
}

/// Sets up `log` for the `prewarm` target: `-q` errors only, default warnings, `-v` info, `-vv` debug;
/// `RUST_LOG` overrides. Lines read `prewarm: warning: …`.
pub fn init_logging(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => log::LevelFilter::Error,
        (false, 0) => log::LevelFilter::Warn,
        (false, 1) => log::LevelFilter::Info,
        (false, _) => log::LevelFilter::Debug,
    };
    let mut b = env_logger::Builder::new();
    b.filter_level(log::LevelFilter::Warn)
        .filter_module("prewarm", level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        b.write_style(env_logger::WriteStyle::Never);
    }
    b.format(|buf, record| {
        let level = match record.level() {
            log::Level::Error => "error",
            log::Level::Warn => "warning",
            log::Level::Info => "info",
            log::Level::Debug => "debug",
            log::Level::Trace => "trace",
        };
        writeln!(buf, "prewarm: {level}: {}", record.args())
    });
    let _ = b.try_init();
}

/// Runs the command line; returns the process exit code.
#[must_use]
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.quiet, cli.global.verbose);
    crate::pipeline::exit_after_run();
    let code = match crate::pipeline::main(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                ExitCode::Ok
            } else {
                eprintln!("prewarm: error: {e}");
                e.exit_code()
            }
        }
    };
    std::process::ExitCode::from(code as u8)
}

fn is_broken_pipe(e: &crate::Error) -> bool {
    matches!(e, crate::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Writes completions for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "prewarm", &mut std::io::stdout());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        // Catches clashing flags (a subcommand's own --api against the common one), bad defaults, …
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_share_the_common_flags() {
        let c = Cli::try_parse_from(["prewarm", "urls", "--config", "x.toml", "--max-urls", "3"])
            .unwrap();
        assert!(matches!(c.command, Some(Command::Urls)));
        assert_eq!(
            c.global.config.as_deref(),
            Some(std::path::Path::new("x.toml"))
        );
        assert_eq!(c.global.max_urls, Some(3));
        let c = Cli::try_parse_from(["prewarm", "--api", "v2", "fake-cdn", "--port", "0"]).unwrap();
        assert!(matches!(c.command, Some(Command::FakeCdn(_))));
        assert_eq!(c.global.api.as_deref(), Some("v2"));
        assert!(
            Cli::try_parse_from(["prewarm", "-q", "-v"]).is_err(),
            "-q and -v conflict"
        );
    }
}
