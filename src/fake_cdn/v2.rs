//! fake CDN v2.
