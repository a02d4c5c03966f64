//! The callback parser on arbitrary URLs, with and without a pending authorization and an issuer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rc_pkce_core::Timestamp;
use rc_pkce_core::authorize::{PendingAuthorization, StateToken};
use rc_pkce_core::callback::{CallbackOutcome, parse_callback};
use rc_pkce_core::pkce::CodeVerifier;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let pending = PendingAuthorization {
        state: StateToken::from_stored("Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"),
        verifier: CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap(),
        redirect_uri: "http://localhost:5000/oauth2callback".into(),
        client_id: "c".into(),
        created_at: Timestamp::from_secs(1_000),
    };
    let now = Timestamp::from_secs(1_100);
    for url in [text.to_string(), format!("http://localhost:5000/oauth2callback?{text}")] {
        if let Ok(CallbackOutcome::Code { code, state, .. }) = parse_callback(&url, Some(&pending), None, now) {
            assert!(!code.is_empty());
            assert_eq!(state, pending.state.expose());
        }
        let _ = parse_callback(&url, Some(&pending), Some("http://127.0.0.1:5001"), now);
        assert!(parse_callback(&url, None, None, now).is_err(), "nothing is accepted without a pending record");
    }
});
