//! PKCE (RFC 7636): the code verifier and its S256 challenge.
//!
//! Only S256 exists here. `plain` would send the verifier itself through the browser's address bar,
//! which is the one place PKCE assumes an attacker can read, so there is no way to ask for it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::random::{Entropy, EntropyError};

/// RFC 7636 §4.1 bounds on the verifier's length, in characters.
pub const MIN_VERIFIER_LEN: usize = 43;
pub const MAX_VERIFIER_LEN: usize = 128;
/// 32 random octets, base64url without padding, as RFC 7636 §4.1 recommends: 43 characters.
pub const DEFAULT_VERIFIER_LEN: usize = 43;

/// The only challenge method this client knows.
pub const CHALLENGE_METHOD: &str = "S256";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PkceError {
    #[error("a PKCE code verifier must be 43 to 128 characters long, not {0}")]
    Length(usize),
    #[error("a PKCE code verifier may only hold A-Z a-z 0-9 - . _ ~ (found {0:?})")]
    Charset(char),
    #[error(transparent)]
    Entropy(#[from] EntropyError),
}

/// RFC 3986 "unreserved" characters, the verifier's whole alphabet.
pub fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// Checks the RFC 7636 §4.1 length and charset rules on a verifier or challenge string.
pub fn check_verifier_syntax(s: &str) -> Result<(), PkceError> {
    if let Some(bad) = s.chars().find(|c| !is_unreserved(*c)) {
        return Err(PkceError::Charset(bad));
    }
    let len = s.len();
    if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&len) {
        return Err(PkceError::Length(len));
    }
    Ok(())
}

/// A PKCE code verifier: high-entropy, secret until the token request, used once.
///
/// Deliberately not `Clone`: one pending authorization owns one verifier.
#[derive(PartialEq, Eq, Zeroize, ZeroizeOnDrop, Deserialize)]
#[serde(try_from = "String")]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// The recommended verifier: 32 CSPRNG octets as 43 base64url characters.
    pub fn generate(rng: &mut impl Entropy) -> Result<Self, PkceError> {
        Self::generate_with_len(rng, DEFAULT_VERIFIER_LEN)
    }

    /// A verifier of `len` characters. Each character carries 6 random bits (base64url of fresh
    /// CSPRNG octets), so 43 characters hold 258 bits.
    pub fn generate_with_len(rng: &mut impl Entropy, len: usize) -> Result<Self, PkceError> {
        if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&len) {
            return Err(PkceError::Length(len));
        }
        // The fewest octets whose base64url text reaches `len` characters (32 for 43).
        let mut bytes = vec![0u8; 3 * (len - 1) / 4 + 1];
        rng.fill(&mut bytes)?;
        let mut text = URL_SAFE_NO_PAD.encode(&bytes);
        bytes.zeroize();
        text.truncate(len);
        Ok(Self(text))
    }

    /// Accepts a verifier read back from storage, re-checking the RFC rules.
    pub fn parse(text: impl Into<String>) -> Result<Self, PkceError> {
        let text = text.into();
        check_verifier_syntax(&text)?;
        Ok(Self(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A second owner of the same verifier, for the core's own retry of an exchange. Not `Clone`,
    /// so that copies stay visible in review.
    pub(crate) fn duplicate(&self) -> Self {
        Self(self.0.clone())
    }

    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge(s256(&self.0))
    }
}

impl TryFrom<String> for CodeVerifier {
    type Error = PkceError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl Serialize for CodeVerifier {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodeVerifier(<redacted, {} chars>)", self.0.len())
    }
}

/// `BASE64URL(SHA256(ASCII(verifier)))`, RFC 7636 §4.2.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// The SHA-256 digest, exposed so the inspector can show the intermediate step.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The S256 code challenge sent in the authorize request. Public by design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn method(&self) -> &'static str {
        CHALLENGE_METHOD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::{BrokenEntropy, SeededEntropy};
    use proptest::prelude::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            verifier.challenge().as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(verifier.challenge().method(), "S256");
    }

    #[test]
    fn rfc7636_appendix_b_octets_encode_to_the_vector_verifier() {
        // The 32 octets listed in Appendix B.
        let octets: [u8; 32] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        struct Fixed([u8; 32]);
        impl Entropy for Fixed {
            fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
                dest.copy_from_slice(&self.0[..dest.len()]);
                Ok(())
            }
        }
        let v = CodeVerifier::generate(&mut Fixed(octets)).unwrap();
        assert_eq!(v.expose(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    }

    #[test]
    fn default_verifier_is_43_chars() {
        let v = CodeVerifier::generate(&mut SeededEntropy(7)).unwrap();
        assert_eq!(v.expose().len(), 43);
        check_verifier_syntax(v.expose()).unwrap();
    }

    #[test]
    fn length_outside_43_to_128_is_refused() {
        for len in [0, 42, 129, 1000] {
            assert_eq!(
                CodeVerifier::generate_with_len(&mut SeededEntropy(1), len).unwrap_err(),
                PkceError::Length(len)
            );
        }
        assert_eq!(
            CodeVerifier::parse("a".repeat(42)).unwrap_err(),
            PkceError::Length(42)
        );
        assert!(CodeVerifier::parse("a".repeat(128)).is_ok());
    }

    #[test]
    fn reserved_characters_are_refused() {
        let mut s = "a".repeat(50);
        s.push('+');
        assert_eq!(CodeVerifier::parse(s).unwrap_err(), PkceError::Charset('+'));
        assert_eq!(
            CodeVerifier::parse(format!("{}é", "a".repeat(50))).unwrap_err(),
            PkceError::Charset('é')
        );
    }

    #[test]
    fn a_failing_random_source_is_an_error_not_a_weak_verifier() {
        assert!(matches!(
            CodeVerifier::generate(&mut BrokenEntropy),
            Err(PkceError::Entropy(_))
        ));
    }

    #[test]
    fn debug_is_redacted_and_serde_rechecks() {
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert!(!format!("{v:?}").contains("dBjf"));
        let json = serde_json::to_string(&v).unwrap();
        let back: CodeVerifier = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
        assert!(serde_json::from_str::<CodeVerifier>("\"too-short\"").is_err());
    }

    proptest! {
        #[test]
        fn generated_verifiers_meet_rfc7636(seed in any::<u64>(), len in MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN) {
            let v = CodeVerifier::generate_with_len(&mut SeededEntropy(seed | 1), len).unwrap();
            prop_assert_eq!(v.expose().len(), len);
            prop_assert!(v.expose().chars().all(is_unreserved));
            // base64url uses 64 symbols: 6 bits a character, so >= 256 bits at the minimum length.
            prop_assert!(len * 6 >= 256);
            let c = v.challenge();
            prop_assert_eq!(c.as_str().len(), 43);
            prop_assert!(c.as_str().chars().all(is_unreserved));
        }

        #[test]
        fn system_verifiers_are_distinct(_i in 0u8..20) {
            let a = CodeVerifier::generate(&mut crate::SystemEntropy).unwrap();
            let b = CodeVerifier::generate(&mut crate::SystemEntropy).unwrap();
            prop_assert_ne!(a.expose(), b.expose());
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = CodeVerifier::parse(s);
        }
    }
}
