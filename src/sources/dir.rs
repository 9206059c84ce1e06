//! dir source.
