//! Integration tests: drive the built `prewarm` binary (env cleared, temp folders, a fake CDN on 127.0.0.1).
//!
//! One test binary, one module per area (ripgrep's `tests/tests.rs` layout).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod support;

mod config;
mod deploys;
mod dry_run;
mod fake_cli;
mod github;
mod push;
mod readme;
mod v3;

mod bad_input;
mod faults;
mod props;
mod secrets;
mod signals;

mod action;
mod hook;
