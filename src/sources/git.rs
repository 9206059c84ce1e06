//! git source.
