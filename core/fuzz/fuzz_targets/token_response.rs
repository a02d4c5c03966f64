//! The token response parser on arbitrary bodies: never panics, and what it accepts is sane.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rc_pkce_core::Timestamp;
use rc_pkce_core::token::{MAX_LIFETIME_SECS, parse_token_response};

fuzz_target!(|data: &[u8]| {
    let now = Timestamp::from_secs(1_800_000_000);
    if let Ok(t) = parse_token_response(data, now) {
        assert!(!t.access_token.is_empty());
        if let Some(e) = t.expires_at {
            assert!(e > now);
            assert!(t.expires_in.unwrap() <= MAX_LIFETIME_SECS);
        }
        assert!(t.refresh_expires_at.is_none() || t.refresh_token.is_some());
    }
});
