//! sitemap source.
