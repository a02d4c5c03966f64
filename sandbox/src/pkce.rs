//! PKCE S256 verification (RFC 7636) and the sandbox's token randomness and hashing.
//!
//! Written independently of the app's core on purpose (`sha2` + `base64` directly) and checked
//! against the RFC's own Appendix B vector, so a shared bug cannot hide in the tests.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The SHA-256 of a secret (token, code, transaction id): the only form the state keeps.
pub type SecretHash = [u8; 32];

/// Whether `s` is 43..=128 characters of the RFC 3986 unreserved set, the rule for both the
/// verifier (RFC 7636 §4.1) and a challenge (§4.2).
pub fn is_valid_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// BASE64URL(SHA256(ASCII(verifier))) without padding.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` is well formed and its S256 transform equals `challenge`, compared without
/// an early exit.
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    if !is_valid_pkce_string(verifier) {
        return false;
    }
    constant_time_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn hash_secret(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// The OS random generator failed; the caller answers 500.
#[derive(Debug, Clone, Copy)]
pub struct RandomUnavailable;

/// `bytes` random bytes, base64url without padding (32 bytes give 43 characters).
pub fn random_token(bytes: usize) -> Result<String, RandomUnavailable> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|_| RandomUnavailable)?;
    Ok(URL_SAFE_NO_PAD.encode(&buf))
}

/// A random decimal id of `digits` digits (for `endpoint_id`-like values), no leading zero.
pub fn random_digits(digits: usize) -> Result<String, RandomUnavailable> {
    let mut buf = vec![0u8; digits];
    getrandom::fill(&mut buf).map_err(|_| RandomUnavailable)?;
    Ok(buf
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let d = if i == 0 { 1 + b % 9 } else { b % 10 };
            char::from(b'0' + d)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    /// The RFC's own octets, so the vector above is not just copied text.
    const RFC_OCTETS: [u8; 32] = [
        116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37,
        77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ];

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(URL_SAFE_NO_PAD.encode(RFC_OCTETS), RFC_VERIFIER);
        assert_eq!(s256_challenge(RFC_VERIFIER), RFC_CHALLENGE);
        assert!(verify_s256(RFC_VERIFIER, RFC_CHALLENGE));
    }

    #[test]
    fn mismatches_and_malformed_verifiers_fail() {
        assert!(!verify_s256(&RFC_VERIFIER.replace('d', "e"), RFC_CHALLENGE));
        // A corrupted copy of the vector that circulates (it does not hash to its challenge).
        assert!(!verify_s256(
            "dBjftJeZ4CVP-mJ92IqVerbcBhCJlsd4Y5hn5dO2UXw",
            "E9Melhoa2OwvFSgyb0xI6mmOdvmH0a9OWcUdP7-y1h4"
        ));
        // The plain method would compare verifier == challenge; S256 must not accept that.
        assert!(!verify_s256(RFC_CHALLENGE, RFC_CHALLENGE));
        assert!(!verify_s256("short", &s256_challenge("short")));
        let long = "a".repeat(129);
        assert!(!verify_s256(&long, &s256_challenge(&long)));
        let bad = format!("{}+", &RFC_VERIFIER[..43]);
        assert!(!verify_s256(&bad, &s256_challenge(&bad)));
    }

    #[test]
    fn pkce_string_bounds() {
        assert!(is_valid_pkce_string(&"a".repeat(43)));
        assert!(is_valid_pkce_string(&"~._-".repeat(32)));
        assert!(!is_valid_pkce_string(&"a".repeat(42)));
        assert!(!is_valid_pkce_string(&"a".repeat(129)));
        assert!(!is_valid_pkce_string(&format!("{}=", "a".repeat(43))));
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32).unwrap();
        let b = random_token(32).unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        let d = random_digits(12).unwrap();
        assert_eq!(d.len(), 12);
        assert!(!d.starts_with('0'));
    }
}
