//! The library's error type and the process exit codes of DESIGN.md.
//!
//! Errors carry what a user needs to fix the problem: the file, the line and column (or byte offset), the key,
//! the URL or the API code. They never carry a secret.

use std::fmt;
use std::path::PathBuf;

/// Where in an input file something went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// 1-based line and column.
    LineCol { line: usize, col: usize },
    /// 0-based byte offset (for binary or decompressed input).
    Offset(u64),
    /// Nothing more precise than the file.
    Unknown,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LineCol { line, col } => write!(f, ":{line}:{col}"),
            Self::Offset(o) => write!(f, " (byte {o})"),
            Self::Unknown => Ok(()),
        }
    }
}

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line or the environment is unusable.
    #[error("{0}")]
    Usage(String),

    /// The config file is unusable; `file:line:col: message`.
    #[error("{}{}: {message}", file.display(), position)]
    Config {
        file: PathBuf,
        position: Position,
        message: String,
    },

    /// An input (sitemap, changed list, manifest, …) is malformed; `source:line:col: message`.
    #[error("{source_name}{position}: {message}")]
    Input {
        source_name: String,
        position: Position,
        message: String,
    },

    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A remote input could not be fetched.
    #[error("{url}: {message}")]
    Fetch { url: String, message: String },

    /// The state file is damaged, of an unknown version or locked by another run.
    #[error("{}: {message}", path.display())]
    State { path: PathBuf, message: String },

    /// A required credential is missing from the environment.
    #[error("{0}")]
    Credentials(String),

    /// The CDN refused the credentials or the account cannot push; the run stopped.
    #[error("{0}")]
    Auth(String),

    /// The push failed after its retries (or for another runtime reason).
    #[error("{0}")]
    Runtime(String),

    /// The run was interrupted by a signal after saving state.
    #[error("interrupted by {}", if *.0 == 2 { "SIGINT" } else { "SIGTERM" })]
    Interrupted(i32),
}

impl Error {
    /// Shorthand for an [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The process exit code for this error (DESIGN.md "Exit codes").
    #[must_use]
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_)
            | Self::Config { .. }
            | Self::Input { .. }
            | Self::Io { .. }
            | Self::Fetch { .. }
            | Self::State { .. }
            | Self::Credentials(_) => ExitCode::Input,
            Self::Auth(_) | Self::Runtime(_) => ExitCode::Runtime,
            Self::Interrupted(2) => ExitCode::Sigint,
            Self::Interrupted(_) => ExitCode::Sigterm,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Process exit codes, as documented in the README and DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success, including nothing to do and URLs deferred by quota.
    Ok = 0,
    /// Runtime failure: credentials refused, or errors persisted after retries.
    Runtime = 1,
    /// Usage, config or input error: nothing was pushed.
    Input = 2,
    /// Interrupted by SIGINT after writing state.
    Sigint = 130,
    /// Interrupted by SIGTERM after writing state.
    Sigterm = 143,
}
