//! push tencent_v2.
