#![cfg(target_arch = "wasm32")]
//! Randomness and PKCE in the browser: `SystemEntropy` really draws from `crypto.getRandomValues`
//! (including buffers larger than its 65 536-byte limit per call), and verifiers, challenges and
//! `state` values made in Chromium are well-formed and fresh. The S256 challenge is checked against
//! Chromium's own `crypto.subtle.digest("SHA-256")` and `btoa`, an implementation independent of
//! the Rust `sha2` and `base64` crates the core uses.

use js_sys::{Function, Promise, Reflect, Uint8Array};
use rc_pkce_core::authorize::{self, AuthorizeRequest};
use rc_pkce_core::pkce::{self, CodeVerifier, is_unreserved};
use rc_pkce_core::url::{parse_query, query_of};
use rc_pkce_core::{Entropy, SystemEntropy, Timestamp};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// SHA-256 of `data` by `crypto.subtle.digest`.
async fn browser_sha256(data: &[u8]) -> Vec<u8> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
    let subtle = Reflect::get(&crypto, &"subtle".into()).unwrap();
    assert!(
        !subtle.is_undefined(),
        "crypto.subtle is missing (not a secure context?)"
    );
    let digest: Function = Reflect::get(&subtle, &"digest".into())
        .unwrap()
        .unchecked_into();
    let promise: Promise = digest
        .call2(&subtle, &"SHA-256".into(), &Uint8Array::from(data))
        .unwrap()
        .unchecked_into();
    let buffer = JsFuture::from(promise).await.unwrap();
    Uint8Array::new(&buffer).to_vec()
}

/// base64url without padding, by the browser's `btoa`.
fn browser_base64url(data: &[u8]) -> String {
    let encode = Function::new_with_args(
        "bytes",
        "return btoa(String.fromCharCode(...bytes)).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '')",
    );
    encode
        .call1(&JsValue::NULL, &Uint8Array::from(data))
        .unwrap()
        .as_string()
        .unwrap()
}

/// `BASE64URL(SHA256(ASCII(verifier)))` computed entirely by the browser.
async fn browser_s256(verifier: &str) -> String {
    browser_base64url(&browser_sha256(verifier.as_bytes()).await)
}

fn now() -> Timestamp {
    Timestamp::from_millis(js_sys::Date::now() as u64)
}

fn request() -> AuthorizeRequest {
    AuthorizeRequest {
        endpoint: "https://platform.ringcentral.com/restapi/oauth/authorize".into(),
        client_id: "browser-test-client".into(),
        redirect_uri: "http://127.0.0.1:8080/oauth2callback".into(),
        ..Default::default()
    }
}

#[wasm_bindgen_test]
fn system_entropy_fills_buffers_with_fresh_bytes() {
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    SystemEntropy.fill(&mut a).unwrap();
    SystemEntropy.fill(&mut b).unwrap();
    assert_ne!(a, [0u8; 64]);
    assert_ne!(b, [0u8; 64]);
    assert_ne!(a, b);
    // 64 random bytes are not all one value, and 32 of the positions do not coincide by chance.
    assert!(a.iter().any(|x| *x != a[0]));
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(same < 32, "{same} of 64 positions equal");
}

#[wasm_bindgen_test]
fn system_entropy_fills_buffers_beyond_the_get_random_values_limit() {
    // crypto.getRandomValues refuses more than 65 536 bytes per call; the backend must split.
    let mut big = vec![0u8; 200_000];
    SystemEntropy.fill(&mut big).unwrap();
    for (i, part) in big.chunks(65_536).enumerate() {
        assert!(part.iter().any(|x| *x != 0), "chunk {i} left zeroed");
    }
    // Every byte value shows up in 200 000 uniform bytes (missing one has odds below 1e-300).
    let mut seen = [false; 256];
    for x in &big {
        seen[*x as usize] = true;
    }
    assert!(seen.iter().all(|s| *s), "some byte values never occur");
    // The tail is not a copy of the head.
    assert_ne!(big[..65_536], big[big.len() - 65_536..]);
}

#[wasm_bindgen_test]
async fn the_browser_check_reproduces_the_rfc_7636_vector() {
    // Proves the browser-side helpers themselves before they judge the core.
    assert_eq!(
        browser_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").await,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[wasm_bindgen_test]
async fn generated_verifiers_are_rfc_7636_and_their_challenge_matches_web_crypto() {
    let mut previous = Vec::new();
    for _ in 0..8 {
        let verifier = CodeVerifier::generate(&mut SystemEntropy).unwrap();
        let text = verifier.expose().to_string();
        assert_eq!(text.len(), 43);
        assert!(text.chars().all(is_unreserved), "{text}");
        pkce::check_verifier_syntax(&text).unwrap();

        let challenge = verifier.challenge();
        assert_eq!(challenge.method(), "S256");
        assert_eq!(challenge.as_str(), browser_s256(&text).await);
        assert_eq!(
            pkce::sha256(text.as_bytes()).to_vec(),
            browser_sha256(text.as_bytes()).await
        );
        assert!(!previous.contains(&text), "a verifier repeated");
        previous.push(text);
    }
}

#[wasm_bindgen_test]
async fn longer_verifiers_from_the_browser_also_match_web_crypto() {
    let verifier = CodeVerifier::generate_with_len(&mut SystemEntropy, 128).unwrap();
    assert_eq!(verifier.expose().len(), 128);
    assert!(verifier.expose().chars().all(is_unreserved));
    assert_eq!(
        verifier.challenge().as_str(),
        browser_s256(verifier.expose()).await
    );
}

#[wasm_bindgen_test]
async fn authorize_start_in_the_browser_sends_the_web_crypto_challenge_and_fresh_state() {
    let first =
        authorize::start(&request(), &Default::default(), &mut SystemEntropy, now()).unwrap();
    let second =
        authorize::start(&request(), &Default::default(), &mut SystemEntropy, now()).unwrap();

    for started in [&first, &second] {
        let verifier = started.pending.verifier.expose();
        assert_eq!(verifier.len(), 43);
        assert!(verifier.chars().all(is_unreserved));
        let state = started.pending.state.expose();
        // 32 random octets in base64url.
        assert_eq!(state.len(), 43);
        assert!(state.chars().all(is_unreserved));

        let query = parse_query(query_of(&started.url).unwrap());
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("code_challenge"), browser_s256(verifier).await);
        assert_eq!(get("code_challenge_method"), "S256");
        assert_eq!(get("state"), state);
        assert_eq!(get("client_id"), "browser-test-client");
        assert!(
            !started.url.contains(verifier),
            "the verifier leaked into the URL"
        );
        assert_eq!(started.challenge.as_str(), get("code_challenge"));
    }
    assert_ne!(first.pending.state.expose(), second.pending.state.expose());
    assert_ne!(
        first.pending.verifier.expose(),
        second.pending.verifier.expose()
    );
    assert_ne!(first.url, second.url);
}
