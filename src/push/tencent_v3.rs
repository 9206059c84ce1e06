//! push tencent_v3.
