//! changed source.
