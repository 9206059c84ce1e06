//! push retry.
