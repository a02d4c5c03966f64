//! The session with OpenID Connect: an ID token checked before anyone is signed in, the key set
//! fetched and kept, a refresh's ID token held to the sign-in's. The signature itself is the
//! browser's answer ([`Event::SignatureChecked`]), so tokens here carry any signature bytes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;
use crate::authorize::{AuthorizeRequest, start};
use crate::error::parse_error_response;
use crate::id_token::IdTokenError;
use crate::id_token::{CHECKS, Refusal};
use crate::inspector::StepKind;
use crate::random::testing::SeededEntropy;
use crate::token::parse_token_response;
use crate::url::{form_encode, parse_query, query_of};

const T0: Timestamp = Timestamp::from_secs(1_800_000_000);
const CB: &str = "http://localhost:5000/oauth2callback";
const ISSUER: &str = "http://127.0.0.1:5001";
const JWKS: &str = "http://127.0.0.1:5001/restapi/oauth/jwks";

fn binding() -> ServerBinding {
    ServerBinding {
        client_id: "demo".into(),
        token_endpoint: "http://127.0.0.1:5001/restapi/oauth/token".into(),
        revoke_endpoint: "http://127.0.0.1:5001/restapi/oauth/revoke".into(),
        api_base: "http://127.0.0.1:5001/restapi/v1.0".into(),
        issuer: Some(ISSUER.into()),
        iss_optional: false,
    }
}

fn session() -> Session {
    let mut s = Session::new(binding()).with_key_set(JWKS);
    s.handle(
        Event::Restored {
            stored: None,
            discarded: None,
        },
        T0,
    );
    s
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt(header: Value, claims: &Value) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(&[5; 256])
    )
}

fn claims(nonce: &str) -> Value {
    let now = T0.as_millis() / 1000;
    json!({
        "iss": ISSUER, "sub": "101", "aud": "demo", "azp": "demo",
        "iat": now, "exp": now + 3600, "auth_time": now - 5, "nonce": nonce,
        "email": "jane@example.com", "email_verified": true, "given_name": "Jane",
    })
}

fn rs256(kid: &str) -> Value {
    json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
}

fn token_answer(id_token: Option<&str>, access: &str, now: Timestamp) -> TokenSet {
    let mut body = json!({
        "access_token": access, "token_type": "bearer", "expires_in": 3600,
        "refresh_token": format!("R-{access}"), "refresh_token_expires_in": 604800,
        "scope": "openid ReadAccounts", "owner_id": "101",
    });
    if let Some(t) = id_token {
        body["id_token"] = t.into();
    }
    parse_token_response(body.to_string().as_bytes(), now).unwrap()
}

/// The token endpoint's answer to request `id`, with `id_token` (or none), at `at`.
fn answer(
    s: &mut Session,
    id: u64,
    id_token: Option<&str>,
    access: &str,
    at: Timestamp,
) -> Vec<Effect> {
    s.handle(
        Event::TokenResponse {
            id,
            result: Ok(token_answer(id_token, access, at)),
        },
        at,
    )
}

/// The browser's verdict on signature check `id`, at `at`.
fn checked(s: &mut Session, id: u64, result: Result<bool, String>, at: Timestamp) -> Vec<Effect> {
    s.handle(Event::SignatureChecked { id, result }, at)
}

/// The key set's answer to fetch `id`, at `at`.
fn keys_answer(
    s: &mut Session,
    id: u64,
    result: Result<String, ApiError>,
    at: Timestamp,
) -> Vec<Effect> {
    s.handle(Event::KeysFetched { id, result }, at)
}

fn jwks(kids: &[&str]) -> String {
    let keys: Vec<Value> = kids
        .iter()
        .map(|kid| json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(&[0xc5; 256]), "e": "AQAB"}))
        .collect();
    json!({ "keys": keys }).to_string()
}

/// Starts an OpenID sign-in and comes back with a code: the session waits for the token answer.
/// Returns the nonce sent and the token request's id.
fn exchanging(s: &mut Session, seed: u64) -> (String, u64) {
    let request = AuthorizeRequest {
        endpoint: "http://127.0.0.1:5001/restapi/oauth/authorize".into(),
        client_id: "demo".into(),
        redirect_uri: CB.into(),
        scope: Some("openid".into()),
        openid: true,
        ..Default::default()
    };
    let started = start(&request, &binding(), &mut SeededEntropy(seed), T0).unwrap();
    let nonce = started.pending.nonce.as_ref().unwrap().expose().to_string();
    let url = format!(
        "{CB}?{}",
        form_encode([
            ("code", "C"),
            ("state", started.pending.state.expose()),
            ("iss", ISSUER),
        ])
    );
    let fx = s.handle(
        Event::CallbackReceived {
            url,
            pending: Some(started.pending),
        },
        T0,
    );
    let id = fx
        .iter()
        .find_map(|e| match e {
            Effect::PostToken { id, .. } => Some(*id),
            _ => None,
        })
        .expect("the code is exchanged");
    (nonce, id)
}

fn keys_fetch(fx: &[Effect]) -> Option<u64> {
    fx.iter().find_map(|e| match e {
        Effect::FetchKeys { id, url } => {
            assert_eq!(url, JWKS);
            Some(*id)
        }
        _ => None,
    })
}

fn signature_check(fx: &[Effect]) -> Option<(u64, Option<String>, String)> {
    fx.iter().find_map(|e| match e {
        Effect::CheckSignature {
            id,
            key,
            signing_input,
            signature,
        } => {
            assert_eq!(signature, &[5; 256]);
            Some((*id, key.kid.clone(), signing_input.clone()))
        }
        _ => None,
    })
}

/// Nothing of a signed-in session: no account shown, no session stored.
fn signs_nobody_in(fx: &[Effect]) -> bool {
    !fx.iter()
        .any(|e| matches!(e, Effect::ShowAccount | Effect::StoreSession(_)))
}

fn revokes(fx: &[Effect]) -> bool {
    fx.iter().any(|e| matches!(e, Effect::PostRevoke { .. }))
}

fn id_token_step(fx: &[Effect]) -> Option<&crate::inspector::Step> {
    fx.iter().find_map(|e| match e {
        Effect::Record(step) if step.kind == StepKind::IdToken => Some(step),
        _ => None,
    })
}

fn field<'a>(step: &'a crate::inspector::Step, name: &str) -> &'a str {
    &step
        .fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name} in {step:?}"))
        .value
}

/// Runs an OpenID sign-in whose token is signed with key `kid` to the end.
fn signed_in(s: &mut Session, kid: &str, seed: u64) {
    let (nonce, id) = exchanging(s, seed);
    let token = jwt(rs256(kid), &claims(&nonce));
    let fx = answer(s, id, Some(&token), "AT1", T0);
    let fx = match keys_fetch(&fx) {
        Some(id) => keys_answer(s, id, Ok(jwks(&[kid])), T0),
        None => fx,
    };
    let (id, _, _) = signature_check(&fx).expect("the signature is checked");
    checked(s, id, Ok(true), T0);
    assert!(s.is_signed_in());
}

#[test]
fn an_openid_sign_in_sends_a_nonce_of_its_own() {
    let request = AuthorizeRequest {
        endpoint: "http://127.0.0.1:5001/restapi/oauth/authorize".into(),
        client_id: "demo".into(),
        redirect_uri: CB.into(),
        scope: Some("openid email".into()),
        openid: true,
        ..Default::default()
    };
    let a = start(&request, &binding(), &mut SeededEntropy(1), T0).unwrap();
    let b = start(&request, &binding(), &mut SeededEntropy(2), T0).unwrap();
    let params: Vec<(String, String)> = parse_query(query_of(&a.url).unwrap());
    let sent = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let nonce = a.pending.nonce.as_ref().unwrap().expose();
    assert_eq!(sent("nonce").as_deref(), Some(nonce));
    assert_eq!(sent("scope").as_deref(), Some("openid email"));
    assert!(nonce.len() >= 43, "256 bits");
    assert_ne!(nonce, a.pending.state.expose());
    assert_ne!(nonce, b.pending.nonce.as_ref().unwrap().expose());
    let plain = AuthorizeRequest {
        openid: false,
        ..request
    };
    let c = start(&plain, &binding(), &mut SeededEntropy(1), T0).unwrap();
    assert!(c.pending.nonce.is_none() && !c.url.contains("nonce="));
}

#[test]
fn nobody_is_signed_in_before_the_id_token_is_verified() {
    let mut s = session();
    let (nonce, id) = exchanging(&mut s, 1);
    let token = jwt(rs256("k1"), &claims(&nonce));
    let fx = answer(&mut s, id, Some(&token), "AT1", T0);
    assert!(signs_nobody_in(&fx), "{fx:?}");
    assert_eq!(s.phase(), Phase::Exchanging);
    let fetch = keys_fetch(&fx).expect("the key set is fetched");
    let fx = keys_answer(&mut s, fetch, Ok(jwks(&["k0", "k1"])), T0);
    assert!(signs_nobody_in(&fx));
    let (check, kid, input) = signature_check(&fx).expect("the signature is checked");
    assert_eq!(kid.as_deref(), Some("k1"), "the key the header names");
    assert_eq!(input, token.rsplit_once('.').unwrap().0);
    let fx = checked(&mut s, check, Ok(true), T0);
    assert!(s.is_signed_in());
    assert!(fx.iter().any(|e| matches!(e, Effect::ShowAccount)));
    let stored = fx
        .iter()
        .find_map(|e| match e {
            Effect::StoreSession(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    let identity = stored.identity.expect("who signed in is kept");
    assert_eq!(identity.sub, "101");
    assert_eq!(identity.email.as_deref(), Some("jane@example.com"));
    assert!(
        stored.tokens.id_token.is_none(),
        "the token itself is not kept"
    );
    assert_eq!(s.identity().map(|c| c.sub.as_str()), Some("101"));
    let step = id_token_step(&fx).expect("the inspector shows the checks");
    for check in CHECKS.iter().filter(|c| **c != "same sign-in") {
        assert_eq!(field(step, &format!("check {check}")), "passed", "{check}");
    }
    assert_eq!(field(step, "sub"), "101");
    assert_eq!(field(step, "kid"), "k1");
}

/// Runs a sign-in whose ID token is `token` (`None`: no ID token) and returns the effects of the
/// token answer and the refusal.
fn refused_at_once(token: impl Fn(&str) -> Option<String>) -> (Vec<Effect>, Refusal) {
    let mut s = session();
    let (nonce, id) = exchanging(&mut s, 1);
    let fx = answer(&mut s, id, token(&nonce).as_deref(), "AT1", T0);
    assert!(!s.is_signed_in() && s.phase() == Phase::SignedOut);
    assert!(signs_nobody_in(&fx) && revokes(&fx), "{fx:?}");
    assert!(keys_fetch(&fx).is_none() && signature_check(&fx).is_none());
    let Some(Notice::IdTokenRefused(refusal)) = s.notice().cloned() else {
        panic!("no refusal: {:?}", s.notice());
    };
    let step = id_token_step(&fx).expect("recorded");
    assert_eq!(
        field(step, &format!("check {}", refusal.check())),
        refusal.to_string()
    );
    (fx, refusal)
}

/// Makes the ID token of a sign-in from its nonce (`None`: no ID token).
type MakeToken = dyn Fn(&str) -> Option<String>;

#[test]
fn a_bad_id_token_is_refused_with_the_check_that_failed() {
    let now = T0.as_millis() / 1000;
    let with = |key: &'static str, value: Value| {
        move |nonce: &str| {
            let mut c = claims(nonce);
            c[key] = value.clone();
            Some(jwt(rs256("k1"), &c))
        }
    };
    let cases: Vec<(Box<MakeToken>, &str)> = vec![
        (Box::new(|_: &str| None), "present"),
        (Box::new(|_: &str| Some("not.a-jwt".into())), "form"),
        (
            Box::new(|n: &str| Some(jwt(json!({"alg": "none"}), &claims(n)))),
            "alg",
        ),
        (
            Box::new(|n: &str| Some(jwt(json!({"alg": "HS256"}), &claims(n)))),
            "alg",
        ),
        (
            Box::new(with("iss", json!("https://issuer.invalid"))),
            "iss",
        ),
        (Box::new(with("aud", json!("some-other-client"))), "aud"),
        (Box::new(with("azp", json!("some-other-client"))), "azp"),
        (Box::new(with("exp", json!(now - 600))), "exp"),
        (Box::new(with("iat", json!(now + 3600))), "iat"),
        (Box::new(with("nonce", json!("replayed"))), "nonce"),
    ];
    for (token, check) in cases {
        let (_, refusal) = refused_at_once(token);
        assert_eq!(refusal.check(), check, "{refusal}");
    }
    let (_, refusal) = refused_at_once(|n| {
        let mut c = claims(n);
        c.as_object_mut().unwrap().remove("nonce");
        Some(jwt(rs256("k1"), &c))
    });
    assert_eq!(refusal, Refusal::Token(IdTokenError::NonceMissing));
}

/// A sign-in waiting for the key set; returns the session and the fetch's id.
fn waiting_for_keys(kid: &str) -> (Session, u64) {
    let mut s = session();
    let (nonce, id) = exchanging(&mut s, 1);
    let token = jwt(rs256(kid), &claims(&nonce));
    let fx = answer(&mut s, id, Some(&token), "AT1", T0);
    let fetch = keys_fetch(&fx).unwrap();
    (s, fetch)
}

#[test]
fn a_signature_that_does_not_verify_signs_nobody_in() {
    for (verdict, expected) in [
        (Ok(false), Refusal::BadSignature),
        (
            Err("no WebCrypto".to_string()),
            Refusal::CannotVerify("no WebCrypto".into()),
        ),
    ] {
        let (mut s, fetch) = waiting_for_keys("k1");
        let fx = keys_answer(&mut s, fetch, Ok(jwks(&["k1"])), T0);
        let (check, _, _) = signature_check(&fx).unwrap();
        let fx = checked(&mut s, check, verdict, T0);
        assert!(signs_nobody_in(&fx) && revokes(&fx));
        assert_eq!(s.notice(), Some(&Notice::IdTokenRefused(expected)));
        assert_eq!(refusal_check(&s), "signature");
    }
}

fn refusal_check(s: &Session) -> &'static str {
    match s.notice() {
        Some(Notice::IdTokenRefused(r) | Notice::RefreshedIdTokenRefused(r)) => r.check(),
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn a_key_the_server_does_not_publish_is_refused_after_one_fetch() {
    let (mut s, fetch) = waiting_for_keys("k9");
    let fx = keys_answer(&mut s, fetch, Ok(jwks(&["k1", "k2"])), T0);
    assert!(
        keys_fetch(&fx).is_none(),
        "fetched just now: no second fetch"
    );
    assert!(signs_nobody_in(&fx) && revokes(&fx));
    assert_eq!(
        s.notice(),
        Some(&Notice::IdTokenRefused(Refusal::UnknownKey(Some(
            "k9".into()
        ))))
    );
    let (mut s, fetch) = waiting_for_keys("k1");
    keys_answer(
        &mut s,
        fetch,
        Ok(r#"{"keys":[{"kty":"EC","crv":"P-256"}]}"#.into()),
        T0,
    );
    assert_eq!(refusal_check(&s), "key");
}

#[test]
fn the_key_set_is_kept_and_fetched_again_once_for_a_rotated_key() {
    let mut s = session();
    signed_in(&mut s, "k1", 1);
    s.handle(Event::SignOutRequested, T0);
    // The same key: no fetch, the kept set answers.
    let (nonce, id) = exchanging(&mut s, 2);
    let fx = answer(
        &mut s,
        id,
        Some(&jwt(rs256("k1"), &claims(&nonce))),
        "AT2",
        T0,
    );
    assert!(keys_fetch(&fx).is_none());
    let (check, _, _) = signature_check(&fx).unwrap();
    checked(&mut s, check, Ok(true), T0);
    assert!(s.is_signed_in());
    s.handle(Event::SignOutRequested, T0);
    // The server rotated to k2: the kept set lacks it, so it is fetched once more.
    let (nonce, id) = exchanging(&mut s, 3);
    let fx = answer(
        &mut s,
        id,
        Some(&jwt(rs256("k2"), &claims(&nonce))),
        "AT3",
        T0,
    );
    let fetch = keys_fetch(&fx).expect("fetched again");
    let fx = keys_answer(&mut s, fetch, Ok(jwks(&["k2"])), T0);
    let (check, kid, _) = signature_check(&fx).unwrap();
    assert_eq!(kid.as_deref(), Some("k2"));
    checked(&mut s, check, Ok(true), T0);
    assert!(s.is_signed_in());
}

#[test]
fn a_key_set_out_of_reach_is_fetched_again_with_backoff_then_refused() {
    let (mut s, mut fetch) = waiting_for_keys("k1");
    let down = || parse_error_response(503, None, b"", T0);
    let mut now = T0;
    for attempt in 1..MAX_EXCHANGE_ATTEMPTS {
        let fx = keys_answer(&mut s, fetch, Err(down()), now);
        assert!(signs_nobody_in(&fx) && !revokes(&fx), "attempt {attempt}");
        assert_eq!(s.phase(), Phase::Exchanging);
        assert!(s.problem().is_some());
        let at = s.retry_at().expect("a retry is due");
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::WakeAt(t) if *t == at))
        );
        now = at;
        let fx = s.handle(Event::Tick, now);
        fetch = keys_fetch(&fx).expect("fetched again");
    }
    let fx = keys_answer(&mut s, fetch, Err(down()), now);
    assert!(signs_nobody_in(&fx) && revokes(&fx));
    assert!(matches!(
        s.notice(),
        Some(Notice::IdTokenRefused(Refusal::KeysUnreachable { .. }))
    ));
    // A 404 is no passing failure: refused at once.
    let (mut s, fetch) = waiting_for_keys("k1");
    keys_answer(
        &mut s,
        fetch,
        Err(parse_error_response(404, None, b"", T0)),
        T0,
    );
    assert_eq!(refusal_check(&s), "key");
}

#[test]
fn leaving_a_sign_in_under_check_revokes_its_tokens_and_late_answers_change_nothing() {
    let (mut s, fetch) = waiting_for_keys("k1");
    let fx = s.handle(Event::SignOutRequested, T0);
    assert!(revokes(&fx), "{fx:?}");
    assert_eq!(s.phase(), Phase::SignedOut);
    let fx = keys_answer(&mut s, fetch, Ok(jwks(&["k1"])), T0);
    assert!(fx.is_empty() && !s.is_signed_in());
    let fx = checked(&mut s, fetch + 1, Ok(true), T0);
    assert!(fx.is_empty() && !s.is_signed_in());
}

#[test]
fn a_sign_in_without_openid_ignores_an_id_token() {
    let mut s = session();
    let (p, _) = {
        let r = AuthorizeRequest {
            endpoint: "http://127.0.0.1:5001/restapi/oauth/authorize".into(),
            client_id: "demo".into(),
            redirect_uri: CB.into(),
            ..Default::default()
        };
        let st = start(&r, &binding(), &mut SeededEntropy(4), T0).unwrap();
        (st.pending, st.url)
    };
    let url = format!(
        "{CB}?{}",
        form_encode([("code", "C"), ("state", p.state.expose()), ("iss", ISSUER)])
    );
    let fx = s.handle(
        Event::CallbackReceived {
            url,
            pending: Some(p),
        },
        T0,
    );
    let id = fx
        .iter()
        .find_map(|e| match e {
            Effect::PostToken { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap();
    let fx = answer(&mut s, id, Some("a.b.c"), "AT1", T0);
    assert!(s.is_signed_in() && keys_fetch(&fx).is_none());
    assert!(s.identity().is_none());
}

/// A signed-in OpenID session with key k1 kept, and its refresh POST's id.
fn refreshing() -> (Session, u64) {
    let mut s = session();
    signed_in(&mut s, "k1", 1);
    s.handle(Event::RefreshRequested, T0);
    let fx = s.handle(Event::RefreshLockGranted, T0);
    let id = fx
        .iter()
        .find_map(|e| match e {
            Effect::PostToken { id, .. } => Some(*id),
            _ => None,
        })
        .expect("refresh POST");
    (s, id)
}

fn refreshed_claims(sub: &str) -> Value {
    let now = T0.as_millis() / 1000;
    let mut c = claims("");
    c.as_object_mut().unwrap().remove("nonce");
    c["sub"] = sub.into();
    c["iat"] = (now + 60).into();
    c["exp"] = (now + 3660).into();
    c
}

#[test]
fn a_refresh_with_a_new_id_token_of_the_same_user_keeps_the_session() {
    let (mut s, id) = refreshing();
    let later = T0.plus_secs(60);
    let token = jwt(rs256("k1"), &refreshed_claims("101"));
    let fx = answer(&mut s, id, Some(&token), "AT2", later);
    assert!(s.is_signed_in());
    assert_eq!(
        s.current().unwrap().tokens.access_token.expose(),
        "AT2",
        "the new tokens are in use"
    );
    let (check, _, _) = signature_check(&fx).expect("checked with the kept key");
    let fx = checked(&mut s, check, Ok(true), later);
    assert!(s.is_signed_in());
    assert_eq!(s.identity().unwrap().iat, later.as_millis() / 1000);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::StoreSession(x) if x.identity.is_some()))
    );
    let step = id_token_step(&fx).unwrap();
    assert_eq!(field(step, "check same sign-in"), "passed");
    assert!(step.fields.iter().all(|f| f.name != "check nonce"));
}

#[test]
fn a_refresh_without_an_id_token_keeps_the_identity() {
    let (mut s, id) = refreshing();
    let fx = answer(&mut s, id, None, "AT2", T0);
    assert!(s.is_signed_in() && signature_check(&fx).is_none());
    assert_eq!(s.identity().unwrap().sub, "101");
}

#[test]
fn a_refresh_whose_id_token_names_another_user_ends_the_session_everywhere() {
    let (mut s, id) = refreshing();
    let token = jwt(rs256("k1"), &refreshed_claims("666"));
    let fx = answer(&mut s, id, Some(&token), "AT2", T0);
    assert!(!s.is_signed_in());
    assert!(revokes(&fx));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Publish(Broadcast::SignedOut { .. })))
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::StoreEnded(_))));
    assert_eq!(
        s.notice(),
        Some(&Notice::RefreshedIdTokenRefused(Refusal::Token(
            IdTokenError::ChangedOnRefresh("subject (sub)")
        )))
    );
    // A forged signature on a refresh ends it too.
    let (mut s, id) = refreshing();
    let token = jwt(rs256("k1"), &refreshed_claims("101"));
    let fx = answer(&mut s, id, Some(&token), "AT2", T0);
    let (check, _, _) = signature_check(&fx).unwrap();
    let fx = checked(&mut s, check, Ok(false), T0);
    assert!(!s.is_signed_in() && revokes(&fx));
    assert_eq!(refusal_check(&s), "signature");
}

#[test]
fn a_refresh_whose_key_set_is_out_of_reach_keeps_the_session() {
    let (mut s, id) = refreshing();
    let token = jwt(rs256("k2"), &refreshed_claims("101"));
    let fx = answer(&mut s, id, Some(&token), "AT2", T0);
    let fetch = keys_fetch(&fx).expect("k2 is not kept: fetched");
    let fx = keys_answer(
        &mut s,
        fetch,
        Err(ApiError::network(ISSUER, "connection reset")),
        T0,
    );
    assert!(s.is_signed_in(), "a dropped connection ends no session");
    assert!(!revokes(&fx));
    assert_eq!(s.identity().unwrap().sub, "101");
    let step = id_token_step(&fx).unwrap();
    assert!(field(step, "check key").starts_with("not checked"));
}

proptest::proptest! {
    /// Whatever one claim the checks read is changed to, or whatever the browser says of the
    /// signature, only the untouched token with a valid signature signs anyone in, and nothing is
    /// read from the API before it is.
    #[test]
    fn only_a_verified_token_signs_anyone_in(
        claim in proptest::sample::select(vec!["iss", "aud", "azp", "nonce", "exp", "iat", "none"]),
        value in "[a-z0-9:/.-]{0,24}",
        shift in -100_000i64..100_000,
        valid in proptest::bool::ANY,
    ) {
        let mut s = session();
        let (nonce, id) = exchanging(&mut s, 7);
        let mut c = claims(&nonce);
        let now = (T0.as_millis() / 1000) as i64;
        let untouched = match claim {
            "exp" | "iat" => {
                c[claim] = json!(now + shift);
                (claim == "exp" && shift > -120) || (claim == "iat" && shift <= 120)
            }
            "none" => true,
            _ => {
                let kept = c[claim].as_str() == Some(value.as_str());
                c[claim] = json!(value);
                kept
            }
        };
        let fx = s.handle(
            Event::TokenResponse { id, result: Ok(token_answer(Some(&jwt(rs256("k1"), &c)), "AT1", T0)) },
            T0,
        );
        proptest::prop_assert!(signs_nobody_in(&fx));
        let mut fx = fx;
        if let Some(fetch) = keys_fetch(&fx) {
            fx = s.handle(Event::KeysFetched { id: fetch, result: Ok(jwks(&["k1"])) }, T0);
            proptest::prop_assert!(signs_nobody_in(&fx));
        }
        if let Some((check, _, _)) = signature_check(&fx) {
            fx = s.handle(Event::SignatureChecked { id: check, result: Ok(valid) }, T0);
        }
        proptest::prop_assert_eq!(s.is_signed_in(), untouched && valid, "{} = {:?}", claim, c[claim]);
        proptest::prop_assert_eq!(
            fx.iter().any(|e| matches!(e, Effect::ShowAccount)),
            untouched && valid
        );
    }
}

#[test]
fn a_refresh_whose_key_set_is_missing_or_broken_keeps_the_session() {
    for answer_keys in [
        Err(parse_error_response(404, None, b"", T0)),
        Ok(r#"{"keys":[]}"#.to_string()),
    ] {
        let (mut s, id) = refreshing();
        let token = jwt(rs256("k2"), &refreshed_claims("101"));
        let fx = answer(&mut s, id, Some(&token), "AT2", T0);
        let fetch = keys_fetch(&fx).expect("k2 is not kept: fetched");
        let fx = keys_answer(&mut s, fetch, answer_keys, T0);
        assert!(s.is_signed_in() && !revokes(&fx), "{fx:?}");
        assert_eq!(s.current().unwrap().tokens.access_token.expose(), "AT2");
        let step = id_token_step(&fx).unwrap();
        assert!(field(step, "check key").starts_with("not checked"));
    }
}
