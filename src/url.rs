//! URL admission: only valid, percent-encoded absolute http(s) URLs under `site.domains` get through.
//!
//! Also maps files under a build root to URLs (`blog/post/index.html` → `https://www.example.com/blog/post/`),
//! shared by the `dir`, `changed` and `git` sources.
