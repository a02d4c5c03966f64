#![cfg(target_arch = "wasm32")]
//! The WebCrypto adapter for ID token signatures, in Chromium, with keys the test generates: an
//! ID token signed with the private key verifies with the public key as the server's JWKS would
//! publish it (through the core's parsing and key choice); a changed signature or payload does
//! not; a key the browser cannot import is an error, not a "bad signature".

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rc_pkce::browser::webcrypto::{CryptoError, verify_rs256};
use rc_pkce_core::id_token::{RsaKey, key_for, parse, parse_jwks};
use serde_json::json;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A fresh RS256 key pair; resolves to `[public JWK as JSON text, sign(text) → signature bytes]`.
const KEY_PAIR: &str = r#"
const alg = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
return crypto.subtle.generateKey(alg, true, ["sign", "verify"]).then(async (pair) => {
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const sign = async (text) => new Uint8Array(await crypto.subtle.sign(alg, pair.privateKey, new TextEncoder().encode(text)));
  return [JSON.stringify(jwk), sign];
});
"#;

struct Signer {
    jwk: serde_json::Value,
    sign: js_sys::Function,
}

impl Signer {
    async fn new() -> Self {
        let make = js_sys::Function::new_no_args(KEY_PAIR);
        let pair = JsFuture::from(js_sys::Promise::from(make.call0(&JsValue::NULL).unwrap()))
            .await
            .unwrap();
        let pair = js_sys::Array::from(&pair);
        Self {
            jwk: serde_json::from_str(&pair.get(0).as_string().unwrap()).unwrap(),
            sign: pair.get(1).into(),
        }
    }

    async fn sign(&self, text: &str) -> Vec<u8> {
        let promise = self.sign.call1(&JsValue::NULL, &text.into()).unwrap();
        let bytes = JsFuture::from(js_sys::Promise::from(promise))
            .await
            .unwrap();
        js_sys::Uint8Array::new(&bytes).to_vec()
    }

    /// The server's key set: this key under `kid`, beside one that is not it.
    fn jwks(&self, kid: &str) -> String {
        let mut key = self.jwk.clone();
        key["kid"] = json!(kid);
        key["use"] = json!("sig");
        let mut other = key.clone();
        other["kid"] = json!("other");
        other["n"] = json!(URL_SAFE_NO_PAD.encode([0xc5; 256]));
        json!({ "keys": [other, key] }).to_string()
    }

    async fn id_token(&self, kid: &str) -> String {
        let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!(
            "{}.{}",
            b64(json!({"alg": "RS256", "kid": kid})),
            b64(
                json!({"iss": "https://issuer.test", "sub": "101", "aud": "client-1", "exp": 4_000_000_000u64, "iat": 1})
            )
        );
        let signature = self.sign(&input).await;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

#[wasm_bindgen_test]
async fn a_token_signed_with_the_servers_key_verifies_and_a_changed_one_does_not() {
    let signer = Signer::new().await;
    let keys = parse_jwks(&signer.jwks("k1")).expect("the generated key is usable");
    let token = parse(&signer.id_token("k1").await).unwrap();
    let key = key_for(&keys, token.kid.as_deref()).expect("the kid names the key");
    assert_eq!(
        verify_rs256(key, &token.signing_input, &token.signature).await,
        Ok(true)
    );

    let mut tampered = token.signature.clone();
    tampered[10] ^= 1;
    assert_eq!(
        verify_rs256(key, &token.signing_input, &tampered).await,
        Ok(false)
    );
    let changed_payload = token.signing_input.replacen(".e", ".f", 1);
    assert_eq!(
        verify_rs256(key, &changed_payload, &token.signature).await,
        Ok(false)
    );
    // The other key of the set (another modulus) does not verify it either.
    let other = key_for(&keys, Some("other")).unwrap();
    assert!(matches!(
        verify_rs256(other, &token.signing_input, &token.signature).await,
        Ok(false) | Err(CryptoError::KeyRefused(_))
    ));
}

#[wasm_bindgen_test]
async fn a_key_the_browser_cannot_import_is_an_error_not_a_bad_signature() {
    let malformed = RsaKey {
        kid: None,
        n: "not base64url!".into(),
        e: "AQAB".into(),
    };
    let result = verify_rs256(&malformed, "a.b", &[1; 256]).await;
    assert!(
        matches!(&result, Err(CryptoError::KeyRefused(why)) if !why.is_empty()),
        "{result:?}"
    );
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("refused the server's key")
    );
}

/// RFC 7515 Appendix A.2: the RS256 example's signing input, signature and public key
/// (A.2.1), as the RFC prints them.
const RFC_7515_A2_INPUT: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9",
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
);
const RFC_7515_A2_SIGNATURE: &str = concat!(
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw"
);
const RFC_7515_A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx",
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
);

#[wasm_bindgen_test]
async fn the_rfc_7515_rs256_example_verifies_and_a_changed_byte_does_not() {
    let jwks = json!({"keys": [{"kty": "RSA", "n": RFC_7515_A2_N, "e": "AQAB"}]}).to_string();
    let keys = parse_jwks(&jwks).expect("the RFC's 2048-bit key is usable");
    let key = key_for(&keys, None).expect("the only key");
    let signature = URL_SAFE_NO_PAD.decode(RFC_7515_A2_SIGNATURE).unwrap();
    assert_eq!(
        verify_rs256(key, RFC_7515_A2_INPUT, &signature).await,
        Ok(true)
    );
    let mut changed = signature.clone();
    changed[255] ^= 0x80;
    assert_eq!(
        verify_rs256(key, RFC_7515_A2_INPUT, &changed).await,
        Ok(false)
    );
    assert_eq!(
        verify_rs256(
            key,
            &RFC_7515_A2_INPUT.replacen("cGxl", "cGxm", 1),
            &signature
        )
        .await,
        Ok(false)
    );
}
