//! The config.json validator on arbitrary text: never panics; whatever it accepts is https or
//! loopback, and has a client ID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rc_pkce_core::config::{content_security_policy, parse_config};
use rc_pkce_core::url::HttpUrl;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(c) = parse_config(text, "https://app.example/") {
        assert!(!c.client_id.is_empty());
        for url in [&c.authorize_endpoint, &c.token_endpoint, &c.revoke_endpoint, &c.api_base] {
            let u = HttpUrl::parse(url).expect("accepted endpoints parse");
            assert!(u.is_https() || u.is_loopback(), "{url}");
        }
        let csp = content_security_policy(&c);
        assert!(!csp.contains("'unsafe-inline'"));
    }
});
