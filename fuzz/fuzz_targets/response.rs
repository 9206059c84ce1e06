//! Fuzz target: the API reply parsers (`tencent_v2::parse_response`, `tencent_v3::parse_reply` and the readers of
//! its `Response`: `parse_submitted`, `parse_quota`, `parse_tasks`).
//!
//! Takes the fuzzer's bytes: the first two pick the HTTP status (100..=599) and the v3 area, the rest is the body
//! (lossy UTF-8, as the HTTP client hands it over). It must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prewarm::config::Area;
use prewarm::push::{tencent_v2, tencent_v3};

fuzz_target!(|data: &[u8]| {
    let (status, area, body) = match data {
        [a, b, rest @ ..] => {
            let status = 100 + (u16::from(*a) * 2 + u16::from(*b & 1)) % 500;
            let area = match b % 3 {
                0 => Area::Mainland,
                1 => Area::Overseas,
                _ => Area::Global,
            };
            (status, area, rest)
        }
        _ => return,
    };
    let body = String::from_utf8_lossy(body);
    let _ = tencent_v2::parse_response(status, &body);
    if let Ok(r) = tencent_v3::parse_reply(status, &body, area) {
        let _ = tencent_v3::parse_submitted(&r);
        let _ = tencent_v3::parse_quota(&r, area);
        let _ = tencent_v3::parse_tasks(&r);
    }
});
