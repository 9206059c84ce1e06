//! The fake CDN: a local stand-in for Tencent's API on 127.0.0.1.
pub mod v2;
pub mod v3;

/// Placeholder until the fake CDN lands.
#[derive(Debug, clap::Args)]
pub struct FakeCdnArgs {}
