//! statcache.
