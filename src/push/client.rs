//! push client.
