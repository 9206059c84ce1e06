//! Diff: keep only new or changed assets, against state or a previous manifest. Pure.
