//! The error parser on arbitrary status, Retry-After and body: never panics, always explains.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rc_pkce_core::Timestamp;
use rc_pkce_core::error::{MAX_RETRY_AFTER_SECS, parse_error_response};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]);
    let split = (data[2] as usize).min(data.len() - 3);
    let (retry, body) = data[3..].split_at(split);
    let retry = std::str::from_utf8(retry).ok();
    let e = parse_error_response(status, retry, body, Timestamp::from_secs(1_800_000_000));
    assert!(!e.title().is_empty());
    assert!(!e.hint().is_empty());
    assert!(e.retry_after_secs.is_none_or(|s| s <= MAX_RETRY_AFTER_SECS));
});
