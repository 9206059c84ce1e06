//! fake CDN v3.
