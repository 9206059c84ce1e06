//! Durable state: accepted fingerprints, the quota ledger, the backlog, recent tasks.
