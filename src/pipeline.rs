//! The pipeline: collect → diff → plan → push → report.
