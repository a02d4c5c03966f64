//! Newtypes for every secret-bearing string: the PKCE verifier, the `state`, the authorization code
//! and the tokens.
//!
//! Their `Debug` never shows the value (so a stray `{:?}` in a log line leaks nothing), their memory
//! is zeroed when dropped, and the only way to the text is the explicit [`AccessToken::expose`]-style
//! call. None of them is `Clone` except where the protocol really needs a second copy.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(PartialEq, Eq, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value that came from outside (storage, a URL, a response). Validation, where
            /// the value has a format, is the caller's job.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret text, for putting on the wire. Never log or display it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            pub fn len(&self) -> usize {
                self.0.len()
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted, {} chars>)"), self.0.len())
            }
        }
    };
}

secret_string!(
    /// An OAuth 2.0 authorization code. Single use: it is consumed by the token request.
    AuthorizationCode
);
secret_string!(
    /// A bearer access token.
    AccessToken
);
secret_string!(
    /// A refresh token. RingCentral's are single use: each refresh returns a new one.
    RefreshToken
);

secret_string!(
    /// An OpenID Connect ID token as the token endpoint sent it (a JWS). Not a credential for the
    /// API, but it carries the user's personal data: it is shown only in the inspector, masked.
    IdTokenText
);

// Requests in flight, the stored session and the cross-tab channel each need a copy of the tokens.
impl Clone for AccessToken {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl Clone for IdTokenText {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl Clone for RefreshToken {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// Compares two secrets without an early exit on the first differing byte, so the time taken does
/// not tell an attacker how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A short, non-reversible preview of a secret for the inspector's masked view: the first and last
/// four characters and the length.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 12 {
        return format!("{} ({} chars)", "•".repeat(chars.len().min(8)), chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail} ({} chars)", chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = "very-secret-token-value";
        let shown = [
            format!("{:?}", AccessToken::new(secret)),
            format!("{:?}", RefreshToken::new(secret)),
            format!("{:?}", AuthorizationCode::new(secret)),
            format!("{:#?}", Some(AccessToken::new(secret))),
        ];
        for s in shown {
            assert!(!s.contains(secret), "{s}");
            assert!(s.contains("redacted"), "{s}");
        }
    }

    #[test]
    fn serde_is_transparent_for_storage() {
        let t = RefreshToken::new("abc");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"abc\"");
        let back: RefreshToken = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(back.expose(), "abc");
    }

    #[test]
    fn constant_time_eq_matches_plain_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn mask_hides_the_middle() {
        assert_eq!(mask("abcdefghijklmnop"), "abcd…mnop (16 chars)");
        assert_eq!(mask("short"), "••••• (5 chars)");
        assert!(!mask("0123456789abcdefXYZ").contains("89ab"));
    }
}
