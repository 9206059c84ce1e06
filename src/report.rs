//! Report: text for people, JSON for scripts, GitHub annotations and job summary.
