//! A sign-in the app never took over.
//!
//! At the redirect URI a first-load module exchanges the code before the app has loaded, and leaves
//! the answer for the app (`src/early.rs`). The app is the one that stores a session. If it never
//! starts (its module fails to load or to run), or the tab is closed before it takes the answer,
//! nothing would keep those tokens, and nothing would end their grant: a live refresh token for
//! days that no one can use or sign out of. So a token answer no app took is revoked at the
//! server the sign-in was bound to; this says with what request.

use crate::Timestamp;
use crate::binding::ServerBinding;
use crate::token::{FormBody, RevokeRequest, parse_token_response};

/// The revocation that ends an unclaimed sign-in's grant.
#[derive(Debug)]
pub struct Undo {
    pub endpoint: String,
    pub body: FormBody,
}

/// The revocation for the token `answer` (a 2xx body) of a sign-in bound to `binding`, or `None`
/// when the answer holds no usable tokens, so no grant was handed out that needs ending.
pub fn undo_sign_in(answer: &[u8], binding: &ServerBinding, now: Timestamp) -> Option<Undo> {
    let tokens = parse_token_response(answer, now).ok()?;
    Some(Undo {
        endpoint: binding.revoke_endpoint.clone(),
        body: RevokeRequest::for_tokens(&tokens, &binding.client_id).form_body(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

    fn bound() -> ServerBinding {
        ServerBinding {
            client_id: "client-a".into(),
            token_endpoint: "https://a.example/restapi/oauth/token".into(),
            revoke_endpoint: "https://a.example/restapi/oauth/revoke".into(),
            api_base: "https://a.example".into(),
            issuer: None,
            iss_optional: false,
        }
    }

    #[test]
    fn the_grant_is_ended_by_its_refresh_token_at_its_own_server() {
        let answer = br#"{"access_token":"AT","token_type":"bearer","expires_in":3600,
            "refresh_token":"RT","refresh_token_expires_in":604800}"#;
        let undo = undo_sign_in(answer, &bound(), NOW).expect("tokens to revoke");
        assert_eq!(undo.endpoint, "https://a.example/restapi/oauth/revoke");
        assert_eq!(
            undo.body.expose(),
            "token=RT&token_type_hint=refresh_token&client_id=client-a"
        );
        assert!(!format!("{undo:?}").contains("RT"));
    }

    #[test]
    fn without_a_refresh_token_the_access_token_is_revoked() {
        let answer = br#"{"access_token":"AT","token_type":"bearer","expires_in":3600}"#;
        let undo = undo_sign_in(answer, &bound(), NOW).expect("tokens to revoke");
        assert_eq!(
            undo.body.expose(),
            "token=AT&token_type_hint=access_token&client_id=client-a"
        );
    }

    #[test]
    fn an_answer_without_tokens_needs_no_revocation() {
        for answer in [
            &br#"{"error":"invalid_grant","error_description":"used"}"#[..],
            b"<html>502</html>",
            b"",
            br#"{"access_token":"","token_type":"bearer"}"#,
        ] {
            assert!(undo_sign_in(answer, &bound(), NOW).is_none(), "{answer:?}");
        }
    }
}
