//! The pipeline: collect → diff → plan → push → report.

use crate::cli::Cli;
use crate::error::ExitCode;

/// Runs a parsed command line.
///
/// # Errors
/// Whatever stops the run before a report can be made.
pub fn main(cli: Cli) -> crate::Result<ExitCode> {
    let _ = cli;
    Ok(ExitCode::Ok)
}
