//! Integration tests: drive the built `prewarm` binary (env cleared, temp folders, a fake CDN on 127.0.0.1).
//!
//! One test binary, one module per area (ripgrep's `tests/tests.rs` layout).

mod support;

mod config;
mod dry_run;
mod push;

mod action;
mod hook;
