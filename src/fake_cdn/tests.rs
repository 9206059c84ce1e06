//! Server tests over real loopback HTTP.
