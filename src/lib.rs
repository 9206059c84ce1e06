//! prewarm: warm a CDN after a static-site deploy.
//!
//! The pipeline, one module per stage (see `../shared/DESIGN.md`):
//!
//! 1. [`sources`] read manifests (sitemaps, build folders, changed-file lists, git diffs) into [`sources::Asset`]s,
//!    every URL normalised and checked against `site.domains` by [`url`];
//! 2. [`diff`] keeps the new or changed ones against durable [`state`] (or a previous deploy's [`manifest`]);
//! 3. [`plan`] orders them by priority and cuts them into quota-aware batches;
//! 4. [`push`] signs and submits the batches through a [`push::Provider`] (Tencent API 3.0 or 2.0);
//! 5. [`report`] renders the outcome as text, JSON or GitHub annotations.
//!
//! [`pipeline::run`] strings the stages together; `src/main.rs` only parses flags and maps errors to exit codes.

pub mod cli;
pub mod clock;
pub mod config;
pub mod diff;
pub mod error;
pub mod fake_cdn;
pub mod hook;
pub mod manifest;
pub mod pipeline;
pub mod plan;
pub mod push;
pub mod report;
pub mod secret;
pub mod signal;
pub mod sources;
pub mod state;
pub mod url;
pub mod urlmap;

pub use error::{Error, Result};
