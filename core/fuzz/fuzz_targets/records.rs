//! The storage record decoders on arbitrary text: a damaged record is an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rc_pkce_core::record::{decode_inspector, decode_pending, decode_session};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = decode_session(text);
    let _ = decode_pending(text);
    let _ = decode_inspector(text);
});
