//! RS256 signature checks by the browser's WebCrypto (`crypto.subtle`), for ID tokens: the core
//! takes the token apart, checks its claims and picks the key
//! ([`rc_pkce_core::id_token`]); this adapter only imports that key and reports whether the
//! signature over the signing input is valid.

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use rc_pkce_core::id_token::RsaKey;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why no answer could be had: the browser has no WebCrypto (not a secure context), or it refused
/// the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    Unavailable,
    /// The browser's message, e.g. for a modulus that is not a valid RSA key.
    KeyRefused(String),
    Failed(String),
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable => f.write_str(
                "this browser offers no WebCrypto here (the page must be served over https or from localhost)",
            ),
            Self::KeyRefused(why) => write!(f, "the browser refused the server's key: {why}"),
            Self::Failed(why) => write!(f, "the signature check failed to run: {why}"),
        }
    }
}

/// Whether `signature` is a valid RSASSA-PKCS1-v1_5 / SHA-256 signature of `signing_input` by
/// `key`. `Ok(false)` is a bad signature; `Err` says the check could not be made.
pub async fn verify_rs256(
    key: &RsaKey,
    signing_input: &str,
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let subtle = subtle().ok_or(CryptoError::Unavailable)?;
    let algorithm = object(&[
        ("name", "RSASSA-PKCS1-v1_5".into()),
        ("hash", "SHA-256".into()),
    ]);
    let jwk = object(&[
        ("kty", "RSA".into()),
        ("n", key.n.as_str().into()),
        ("e", key.e.as_str().into()),
        ("alg", "RS256".into()),
        ("ext", true.into()),
    ]);
    let usages = Array::of1(&"verify".into());
    let import = call(
        &subtle,
        "importKey",
        &[
            "jwk".into(),
            jwk.into(),
            algorithm.clone().into(),
            false.into(),
            usages.into(),
        ],
    )
    .map_err(CryptoError::KeyRefused)?;
    let imported = JsFuture::from(import)
        .await
        .map_err(|e| CryptoError::KeyRefused(describe(&e)))?;
    let verify = call(
        &subtle,
        "verify",
        &[
            algorithm.into(),
            imported,
            Uint8Array::from(signature).into(),
            Uint8Array::from(signing_input.as_bytes()).into(),
        ],
    )
    .map_err(CryptoError::Failed)?;
    let valid = JsFuture::from(verify)
        .await
        .map_err(|e| CryptoError::Failed(describe(&e)))?;
    Ok(valid.as_bool() == Some(true))
}

fn subtle() -> Option<JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
    Reflect::get(&crypto, &"subtle".into())
        .ok()
        .filter(|s| !s.is_undefined() && !s.is_null())
}

fn object(fields: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&o, &(*name).into(), value);
    }
    o
}

/// Calls `subtle.<method>(...args)`; a synchronous throw is an error like a rejection.
fn call(subtle: &JsValue, method: &str, args: &[JsValue]) -> Result<Promise, String> {
    let f: js_sys::Function = Reflect::get(subtle, &method.into())
        .map_err(|e| describe(&e))?
        .dyn_into()
        .map_err(|_| format!("crypto.subtle.{method} is missing"))?;
    let args: Array = args.iter().collect();
    let out = Reflect::apply(&f, subtle, &args).map_err(|e| describe(&e))?;
    out.dyn_into::<Promise>()
        .map_err(|_| format!("crypto.subtle.{method} returned no promise"))
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}
