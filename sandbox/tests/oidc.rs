//! HTTP tests of the OpenID Connect provider: discovery, JWKS, ID tokens verified for real (RS256
//! against the JWKS, with the `rsa` crate), userinfo, and the admin switches that rotate keys and
//! plant one bad ID token at a time. Each test starts its own sandbox on an ephemeral port.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BoxedUint, PublicKey};
use serde_json::{Value, json};
use sha2::Sha256;

const NONCE: &str = "n-0S6_WzA2Mj";

/// A decoded compact JWS: header, claims, the signing input and the signature bytes.
#[derive(Debug, Clone)]
struct Jws {
    header: Value,
    claims: Value,
    input: String,
    signature: Vec<u8>,
}

fn decode(token: &str) -> Jws {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS: {token}");
    let json = |s: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).expect("base64url")).expect("json")
    };
    Jws {
        header: json(parts[0]),
        claims: json(parts[1]),
        input: format!("{}.{}", parts[0], parts[1]),
        signature: URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("base64url signature"),
    }
}

fn public_key(jwk: &Value) -> PublicKey {
    let bytes = |name: &str| {
        let text = jwk[name].as_str().expect("n and e are strings");
        assert!(!text.contains('='), "no padding in {name}");
        URL_SAFE_NO_PAD.decode(text).expect("base64url")
    };
    let n = BoxedUint::from_be_slice_vartime(&bytes("n"));
    let e = BoxedUint::from_be_slice_vartime(&bytes("e"));
    PublicKey::new(n, e).expect("a valid RSA public key")
}

/// Whether the JWS's RS256 signature verifies with this JWK.
fn verifies(jws: &Jws, jwk: &Value) -> bool {
    let Ok(sig) = Signature::try_from(jws.signature.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(public_key(jwk))
        .verify(jws.input.as_bytes(), &sig)
        .is_ok()
}

impl Sb {
    async fn jwks(&self) -> Value {
        let response = self.http.get(self.url("/restapi/oauth/jwks")).send().await;
        let (status, body) = json_of(response.expect("jwks")).await;
        assert_eq!(status, StatusCode::OK);
        body
    }

    /// The JWK with this kid, if listed.
    async fn jwk(&self, kid: &str) -> Option<Value> {
        self.jwks().await["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["kid"] == kid)
            .cloned()
    }

    /// GETs `path` as the app's page would (with its `Origin`), checks that the answer is CORS-enabled
    /// for it, and returns its status and JSON.
    async fn get_from_page(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .header("origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(response.headers(), "access-control-allow-origin").as_deref(),
            Some(ORIGIN),
            "{path}"
        );
        json_of(response).await
    }

    /// Signs in as the demo user with `extra` authorize parameters and exchanges the code.
    async fn login_with(&self, extra: &[(&str, &str)]) -> (Callback, Tokens) {
        let callback = self.sign_in_with(CHALLENGE, extra).await;
        let exchanged = self.exchange(&callback.code(), VERIFIER).await;
        assert_eq!(exchanged.status(), StatusCode::OK);
        (callback, tokens_of(exchanged.json().await.expect("json")))
    }

    async fn openid_login(&self) -> Tokens {
        self.login_with(&[("scope", "openid email profile"), ("nonce", NONCE)])
            .await
            .1
    }

    async fn refreshed(&self, refresh: &str) -> Tokens {
        let response = self.refresh(refresh).await;
        assert_eq!(response.status(), StatusCode::OK);
        tokens_of(response.json().await.expect("json"))
    }

    async fn bad_next(&self, defect: &str) {
        let r = self
            .admin_post("/__sandbox/oidc/bad-id-token", json!({ "defect": defect }))
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{defect}");
    }

    async fn userinfo(&self, access: &str) -> reqwest::Response {
        self.api("/restapi/oauth/userinfo", access).await
    }

    async fn now_secs(&self) -> u64 {
        self.admin_get("/__sandbox/clock").await["now_ms"]
            .as_u64()
            .expect("now_ms")
            / 1000
    }
}

fn id_token_of(tokens: &Tokens) -> Jws {
    decode(tokens.body["id_token"].as_str().expect("an id_token"))
}

/// The names of the claims that differ from a good ID token of the demo user's `openid email
/// profile` grant, issued at about `now` (within 60 s), valid for the access token's hour, with
/// `nonce` (or none).
fn bad_claims(sb: &Sb, claims: &Value, nonce: Option<&str>, now: u64) -> Vec<&'static str> {
    let user = &sandbox::seed::users()[0];
    let mut bad = Vec::new();
    let mut check = |name: &'static str, ok: bool| {
        if !ok {
            bad.push(name);
        }
    };
    check("iss", claims["iss"] == sb.base.as_str());
    check("aud", claims["aud"] == DEMO_CLIENT);
    check("azp", claims["azp"] == DEMO_CLIENT);
    let sub = DEMO_EXTENSION_ID.to_string();
    check("sub", claims["sub"].as_str() == Some(sub.as_str()));
    check(
        "account_id",
        claims["account_id"].as_str() == Some(user.account.id.to_string().as_str()),
    );
    check("email", claims["email"] == user.email.as_str());
    check("email_verified", claims["email_verified"] == true);
    check("given_name", claims["given_name"] == "Dana");
    check("family_name", claims["family_name"] == "Whitfield");
    let iat = claims["iat"].as_u64().unwrap_or_default();
    let exp = claims["exp"].as_u64().unwrap_or_default();
    let auth_time = claims["auth_time"].as_u64().unwrap_or(u64::MAX);
    check("iat", iat.abs_diff(now) <= 60);
    check("exp", exp == iat + 3600 && exp > now);
    check(
        "auth_time",
        auth_time <= now + 1 && now.saturating_sub(auth_time) < 86_400,
    );
    check("jti", claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    check(
        "nonce",
        claims.get("nonce").and_then(Value::as_str) == nonce,
    );
    bad
}

/// Asserts a good RS256 token: header, signature against the JWKS, and every claim.
async fn assert_good(sb: &Sb, jws: &Jws, nonce: Option<&str>) {
    assert_eq!(jws.header["alg"], "RS256", "{}", jws.header);
    assert_eq!(jws.header["typ"], "JWT");
    let kid = jws.header["kid"].as_str().expect("kid");
    let jwk = sb.jwk(kid).await.expect("kid listed in the JWKS");
    assert!(verifies(jws, &jwk), "signature verifies");
    let now = sb.now_secs().await;
    assert_eq!(bad_claims(sb, &jws.claims, nonce, now), Vec::<&str>::new());
}

// ---- discovery and JWKS -------------------------------------------------------------------------

#[tokio::test]
async fn discovery_names_the_sandbox_and_its_endpoints() {
    let sb = start_with(no_limits()).await;
    let (status, doc) = sb.get_from_page("/.well-known/openid-configuration").await;
    assert_eq!(status, StatusCode::OK);
    let b = &sb.base;
    assert_eq!(doc["issuer"], b.as_str());
    for (field, path) in [
        ("authorization_endpoint", "/restapi/oauth/authorize"),
        ("token_endpoint", "/restapi/oauth/token"),
        ("revocation_endpoint", "/restapi/oauth/revoke"),
        ("userinfo_endpoint", "/restapi/oauth/userinfo"),
        ("jwks_uri", "/restapi/oauth/jwks"),
    ] {
        assert_eq!(doc[field], format!("{b}{path}"), "{field}");
    }
    assert_eq!(
        doc["scopes_supported"],
        json!(["openid", "email", "profile"])
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let claims = doc["claims_supported"].as_array().unwrap();
    for c in [
        "sub",
        "iss",
        "auth_time",
        "aud",
        "exp",
        "iat",
        "jti",
        "nonce",
        "account_id",
        "email",
        "email_verified",
        "given_name",
        "family_name",
    ] {
        assert!(claims.iter().any(|x| x == c), "{c}");
    }

    // The issuer is also the callback's iss, and the endpoints really are these.
    let (callback, _) = sb.login_with(&[]).await;
    assert_eq!(callback.param("iss").as_deref(), Some(b.as_str()));
    let jwks = sb.http.get(doc["jwks_uri"].as_str().unwrap()).send().await;
    assert_eq!(jwks.unwrap().status(), StatusCode::OK);
    let userinfo = sb
        .http
        .get(doc["userinfo_endpoint"].as_str().unwrap())
        .send()
        .await;
    assert_unauthorized(userinfo.unwrap(), "AGW-401").await;
}

#[tokio::test]
async fn jwks_lists_2048_bit_rs256_signing_keys() {
    let sb = start_with(no_limits()).await;
    let (_, jwks) = sb.get_from_page("/restapi/oauth/jwks").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(
        (&k["kty"], &k["use"], &k["alg"]),
        (&json!("RSA"), &json!("sig"), &json!("RS256"))
    );
    assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(k["e"], "AQAB");
    let n = URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256, "2048-bit modulus, no leading zero");
    assert!(n[0] & 0x80 != 0);
}

// ---- ID tokens ----------------------------------------------------------------------------------

#[tokio::test]
async fn an_openid_sign_in_gets_a_verifiable_id_token_with_the_nonce() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.openid_login().await;
    let jws = id_token_of(&tokens);
    assert_good(&sb, &jws, Some(NONCE)).await;
    assert_eq!(tokens.body["owner_id"], jws.claims["sub"]);
    assert_eq!(
        tokens.body["scope"], "ReadAccounts ReadCallLog",
        "scope still reports the permissions"
    );
    // A nonce is echoed exactly, whatever it contains.
    let odd = "a b+c/é&=\"'<>";
    let (_, tokens) = sb.login_with(&[("scope", "openid"), ("nonce", odd)]).await;
    assert_eq!(id_token_of(&tokens).claims["nonce"], odd);
}

#[tokio::test]
async fn claims_follow_the_scopes() {
    let sb = start_with(no_limits()).await;
    let (_, tokens) = sb.login_with(&[("scope", "openid")]).await;
    let claims = id_token_of(&tokens).claims;
    assert_eq!(claims["sub"], DEMO_EXTENSION_ID.to_string());
    assert!(claims.get("account_id").is_some());
    for absent in [
        "email",
        "email_verified",
        "given_name",
        "family_name",
        "nonce",
    ] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
    let (_, tokens) = sb.login_with(&[("scope", "openid profile")]).await;
    let claims = id_token_of(&tokens).claims;
    assert_eq!(claims["given_name"], "Dana");
    assert!(claims.get("email").is_none());
}

#[tokio::test]
async fn without_openid_there_is_no_id_token() {
    let sb = start_with(no_limits()).await;
    for extra in [
        vec![],
        vec![("scope", "email profile")],
        vec![("nonce", NONCE)],
        vec![("scope", "ReadAccounts")],
    ] {
        let (_, tokens) = sb.login_with(&extra).await;
        assert!(tokens.body.get("id_token").is_none(), "{extra:?}");
        let refreshed = sb.refreshed(&tokens.refresh).await;
        assert!(refreshed.body.get("id_token").is_none());
    }
}

#[tokio::test]
async fn a_refresh_of_an_openid_grant_gets_a_new_id_token_without_nonce() {
    let sb = start_with(no_limits()).await;
    let first = sb.openid_login().await;
    let original = id_token_of(&first);
    sb.advance(120).await;
    let second = sb.refreshed(&first.refresh).await;
    let renewed = id_token_of(&second);
    assert_good(&sb, &renewed, None).await;
    assert_eq!(renewed.claims["auth_time"], original.claims["auth_time"]);
    assert_eq!(renewed.claims["sub"], original.claims["sub"]);
    assert_ne!(renewed.claims["jti"], original.claims["jti"]);
    assert!(renewed.claims["iat"].as_u64() >= Some(original.claims["iat"].as_u64().unwrap() + 120));
    let third = sb.refreshed(&second.refresh).await;
    assert_good(&sb, &id_token_of(&third), None).await;
}

#[tokio::test]
async fn a_grace_window_replay_repeats_the_same_id_token() {
    let config = sandbox::SandboxConfig {
        refresh_grace_secs: 10,
        ..no_limits()
    };
    let sb = start_with(config).await;
    let first = sb.openid_login().await;
    let a = sb.refreshed(&first.refresh).await;
    let b = sb.refreshed(&first.refresh).await;
    assert_eq!(a.body, b.body);
    assert!(a.body["id_token"].is_string());
}

#[tokio::test]
async fn an_overlong_or_repeated_nonce_is_refused_back_to_the_client() {
    let sb = start_with(no_limits()).await;
    let long = "n".repeat(256);
    let ok = "n".repeat(255);
    let page = sb
        .get_authorize(&Sb::authorize_query(
            DEMO_CLIENT,
            DEMO_REDIRECT,
            CHALLENGE,
            &[("scope", "openid"), ("nonce", &ok)],
        ))
        .await;
    assert_eq!(page.status(), StatusCode::OK, "255 characters are fine");
    let response = sb
        .get_authorize(&Sb::authorize_query(
            DEMO_CLIENT,
            DEMO_REDIRECT,
            CHALLENGE,
            &[("scope", "openid"), ("nonce", &long)],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let back = Callback {
        url: location(&response).unwrap(),
    };
    assert_eq!(back.param("error").as_deref(), Some("invalid_request"));
    assert!(back.param("error_description").unwrap().contains("nonce"));
    assert_eq!(back.param("state").as_deref(), Some("st-123"));
    let mut query = Sb::authorize_query(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE, &[]);
    query.push(("nonce".into(), "a".into()));
    query.push(("nonce".into(), "b".into()));
    let response = sb.get_authorize(&query).await;
    let back = Callback {
        url: location(&response).unwrap(),
    };
    assert_eq!(
        back.param("error_description").as_deref(),
        Some("Duplicated parameter [nonce]")
    );
}

// ---- key rotation -------------------------------------------------------------------------------

#[tokio::test]
async fn rotation_changes_the_kid_and_keeps_the_old_key_listed_once() {
    let sb = start_with(no_limits()).await;
    let before = sb.openid_login().await;
    let old = id_token_of(&before);
    let old_kid = old.header["kid"].as_str().unwrap().to_owned();

    let view = sb
        .admin_post("/__sandbox/oidc/rotate-keys", json!({}))
        .await;
    let (status, view) = json_of(view).await;
    assert_eq!(status, StatusCode::OK);
    let new_kid = view["current_kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(view["kids"], json!([new_kid, old_kid]));

    let after = sb.openid_login().await;
    let new = id_token_of(&after);
    assert_eq!(new.header["kid"], new_kid.as_str());
    assert_good(&sb, &new, Some(NONCE)).await;
    // The token signed before the rotation still verifies with the listed old key ...
    assert!(verifies(&old, &sb.jwk(&old_kid).await.unwrap()));
    // ... and not with the new one: they are different keys.
    assert!(!verifies(&old, &sb.jwk(&new_kid).await.unwrap()));

    // The next rotation drops it; keep_previous: false drops the replaced key at once.
    sb.admin_post("/__sandbox/oidc/rotate-keys", json!({}))
        .await;
    assert!(sb.jwk(&old_kid).await.is_none());
    let (_, view) = json_of(
        sb.admin_post(
            "/__sandbox/oidc/rotate-keys",
            json!({"keep_previous": false}),
        )
        .await,
    )
    .await;
    assert_eq!(sb.jwks().await["keys"].as_array().unwrap().len(), 1);
    assert_eq!(view["kids"].as_array().unwrap().len(), 1);
}

// ---- bad ID tokens ------------------------------------------------------------------------------

#[tokio::test]
async fn each_bad_id_token_has_exactly_its_defect_once() {
    let sb = start_with(no_limits()).await;
    let mut tokens = sb.openid_login().await;
    let kid = id_token_of(&tokens).header["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwk = sb.jwk(&kid).await.unwrap();
    for defect in [
        "bad_signature",
        "alg_none",
        "hs256",
        "wrong_aud",
        "wrong_iss",
        "wrong_nonce",
        "expired",
        "unknown_kid",
    ] {
        sb.bad_next(defect).await;
        let state = sb.admin_get("/__sandbox/oidc").await;
        assert_eq!(state["bad_id_tokens"], json!([defect]));
        tokens = sb.refreshed(&tokens.refresh).await;
        let jws = id_token_of(&tokens);
        let now = sb.now_secs().await;
        let bad = bad_claims(&sb, &jws.claims, None, now);
        let alg = jws.header["alg"].as_str().unwrap_or_default();
        let header_kid = jws.header.get("kid").and_then(Value::as_str);
        match defect {
            "bad_signature" => {
                assert_eq!((alg, header_kid), ("RS256", Some(kid.as_str())));
                assert!(bad.is_empty(), "{bad:?}");
                assert!(!verifies(&jws, &jwk), "signature altered");
                assert_eq!(jws.signature.len(), 256);
            }
            "alg_none" => {
                assert_eq!(alg, "none");
                assert!(jws.signature.is_empty());
                assert!(bad.is_empty(), "{bad:?}");
            }
            "hs256" => {
                assert_eq!(alg, "HS256");
                let mut mac = Hmac::<Sha256>::new_from_slice(DEMO_CLIENT.as_bytes()).unwrap();
                mac.update(jws.input.as_bytes());
                assert!(
                    mac.verify_slice(&jws.signature).is_ok(),
                    "HMAC with the client id"
                );
                assert!(bad.is_empty(), "{bad:?}");
            }
            "unknown_kid" => {
                assert_eq!(alg, "RS256");
                let unknown = header_kid.unwrap();
                assert!(sb.jwk(unknown).await.is_none(), "kid not listed");
                for listed in sb.jwks().await["keys"].as_array().unwrap() {
                    assert!(!verifies(&jws, listed), "no listed key verifies it");
                }
                assert!(bad.is_empty(), "{bad:?}");
            }
            _ => {
                assert_eq!((alg, header_kid), ("RS256", Some(kid.as_str())));
                assert!(verifies(&jws, &jwk), "{defect}: still properly signed");
                let expected: &[&str] = match defect {
                    "wrong_aud" => &["aud"],
                    "wrong_iss" => &["iss"],
                    "wrong_nonce" => &["nonce"],
                    "expired" => &["iat", "exp"],
                    _ => unreachable!(),
                };
                assert_eq!(bad, expected, "{defect}: {}", jws.claims);
                if defect == "expired" {
                    let exp = jws.claims["exp"].as_u64().unwrap();
                    assert!(exp + 3000 < now, "expired an hour ago");
                    assert_eq!(jws.claims["iat"].as_u64().unwrap() + 3600, exp);
                }
            }
        }
        // Used up: the next token is good again.
        assert_eq!(
            sb.admin_get("/__sandbox/oidc").await["bad_id_tokens"],
            json!([])
        );
        tokens = sb.refreshed(&tokens.refresh).await;
        assert_good(&sb, &id_token_of(&tokens), None).await;
    }
}

#[tokio::test]
async fn a_bad_token_can_be_the_code_exchange_one_and_defects_queue() {
    let sb = start_with(no_limits()).await;
    sb.bad_next("wrong_nonce").await;
    sb.bad_next("wrong_aud").await;
    let first = sb.openid_login().await;
    assert_eq!(
        id_token_of(&first).claims["nonce"],
        "not-the-nonce-you-sent"
    );
    let second = sb.openid_login().await;
    assert_eq!(id_token_of(&second).claims["aud"], "some-other-client");
    assert_good(&sb, &id_token_of(&sb.openid_login().await), Some(NONCE)).await;

    // A grant without openid does not use up a queued defect.
    sb.bad_next("expired").await;
    sb.login().await;
    assert_eq!(
        sb.admin_get("/__sandbox/oidc").await["bad_id_tokens"],
        json!(["expired"])
    );
    let r = sb.admin_delete("/__sandbox/oidc/bad-id-token").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_good(&sb, &id_token_of(&sb.openid_login().await), Some(NONCE)).await;
}

#[tokio::test]
async fn unknown_defects_are_refused() {
    let sb = start_with(no_limits()).await;
    for body in [
        json!({"defect": "nope"}),
        json!({}),
        json!({"defect": "wrong_aud", "x": 1}),
    ] {
        let r = sb
            .admin_post("/__sandbox/oidc/bad-id-token", body.clone())
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(
        sb.admin_get("/__sandbox/oidc").await["bad_id_tokens"],
        json!([])
    );
}

// ---- userinfo -----------------------------------------------------------------------------------

#[tokio::test]
async fn userinfo_answers_the_granted_claims() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.openid_login().await;
    let response = sb.userinfo(&tokens.access).await;
    assert_eq!(
        header(response.headers(), "cache-control").as_deref(),
        Some("no-store")
    );
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK);
    let user = &sandbox::seed::users()[0];
    assert_eq!(
        body,
        json!({
            "sub": DEMO_EXTENSION_ID.to_string(),
            "account_id": user.account.id.to_string(),
            "email": "demo@example.com",
            "email_verified": true,
            "given_name": "Dana",
            "family_name": "Whitfield",
        })
    );
    assert_eq!(body["sub"], id_token_of(&tokens).claims["sub"]);

    let (_, only) = sb.login_with(&[("scope", "openid")]).await;
    let (_, body) = json_of(sb.userinfo(&only.access).await).await;
    assert_eq!(
        body,
        json!({"sub": DEMO_EXTENSION_ID.to_string(), "account_id": user.account.id.to_string()})
    );

    // POST works too (OpenID Connect Core §5.3.1).
    let post = sb
        .http
        .post(sb.url("/restapi/oauth/userinfo"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::OK);
}

#[tokio::test]
async fn userinfo_refuses_bad_tokens_and_non_openid_grants() {
    let sb = start_with(no_limits()).await;
    let no_header = sb.http.get(sb.url("/restapi/oauth/userinfo")).send().await;
    assert_unauthorized(no_header.unwrap(), "AGW-401").await;
    assert_unauthorized(sb.userinfo("nope").await, "OAU-149").await;
    let tokens = sb.openid_login().await;
    assert_unauthorized(sb.userinfo(&tokens.refresh).await, "OAU-149").await;
    let renewed = sb.refreshed(&tokens.refresh).await;
    assert_unauthorized(sb.userinfo(&tokens.access).await, "OAU-213").await;
    sb.advance(3601).await;
    assert_unauthorized(sb.userinfo(&renewed.access).await, "OAU-128").await;

    let plain = sb.login().await;
    let response = sb.userinfo(&plain.access).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let www = header(response.headers(), "www-authenticate").unwrap_or_default();
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
    let (_, body) = json_of(response).await;
    assert_eq!(body["errorCode"], "InsufficientPermissions");
    assert_eq!(body["errors"][0]["errorCode"], "CMN-401");
    assert!(body["message"].as_str().unwrap().contains("openid"));
}

#[tokio::test]
async fn the_next_userinfo_can_carry_another_sub_once() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.openid_login().await;
    let r = sb
        .admin_post("/__sandbox/oidc/userinfo-sub", json!({"sub": "123"}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        sb.admin_get("/__sandbox/oidc").await["next_userinfo_sub"],
        "123"
    );
    let (_, body) = json_of(sb.userinfo(&tokens.access).await).await;
    assert_eq!(body["sub"], "123");
    assert_eq!(body["email"], "demo@example.com", "only sub differs");
    let (_, body) = json_of(sb.userinfo(&tokens.access).await).await;
    assert_eq!(body["sub"], DEMO_EXTENSION_ID.to_string());
    // Without a value it picks one that is not the user's.
    sb.admin_post("/__sandbox/oidc/userinfo-sub", json!({}))
        .await;
    let (_, body) = json_of(sb.userinfo(&tokens.access).await).await;
    assert_ne!(body["sub"], DEMO_EXTENSION_ID.to_string());
}

#[tokio::test]
async fn userinfo_preflight_allows_authorization() {
    let sb = start_with(no_limits()).await;
    let response = sb
        .http
        .request(reqwest::Method::OPTIONS, sb.url("/restapi/oauth/userinfo"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let allowed = header(response.headers(), "access-control-allow-headers").unwrap_or_default();
    assert!(
        allowed.to_ascii_lowercase().contains("authorization"),
        "{allowed}"
    );
}

#[tokio::test]
async fn the_openid_endpoints_can_fail_one_at_a_time() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.openid_login().await;
    sb.fault(json!({"target": "jwks", "status": 503})).await;
    sb.fault(json!({"target": "discovery", "status": 500}))
        .await;
    sb.fault(json!({"target": "userinfo", "reset": true})).await;
    sb.fault(json!({"target": "api", "status": 500})).await;
    let jwks = sb
        .http
        .get(sb.url("/restapi/oauth/jwks"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(jwks).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errors"][0]["errorCode"], "CMN-211");
    sb.jwks().await;
    let doc = sb
        .http
        .get(sb.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        sb.http
            .get(sb.url("/restapi/oauth/userinfo"))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .is_err(),
        "connection closed without an answer"
    );
    // The `api` fault was not taken by userinfo: it is still queued for a REST call.
    assert_eq!(sb.userinfo(&tokens.access).await.status(), StatusCode::OK);
    let faults = sb.admin_get("/__sandbox/faults").await;
    assert_eq!(faults.as_array().unwrap().len(), 1, "{faults}");
    assert_eq!(faults[0]["target"], "api");
}

// ---- request log and reset ----------------------------------------------------------------------

#[tokio::test]
async fn the_request_log_records_the_openid_endpoints() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.openid_login().await;
    sb.http
        .delete(sb.url("/__sandbox/requests"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    sb.http
        .get(sb.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    sb.jwks().await;
    sb.userinfo(&tokens.access).await;
    sb.userinfo("nope").await;
    let log: Vec<(String, u64, Value)> = sb
        .requests()
        .await
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_u64().unwrap_or_default(),
                e["error_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            ("/.well-known/openid-configuration".into(), 200, Value::Null),
            ("/restapi/oauth/jwks".into(), 200, Value::Null),
            ("/restapi/oauth/userinfo".into(), 200, Value::Null),
            ("/restapi/oauth/userinfo".into(), 401, json!("OAU-149")),
        ]
    );
    assert_eq!(sb.requests().await[2]["grant_id"], "g1");
}

#[tokio::test]
async fn reset_forgets_planted_defects_but_keeps_the_keys() {
    let sb = start_with(no_limits()).await;
    sb.admin_post("/__sandbox/oidc/rotate-keys", json!({}))
        .await;
    sb.bad_next("alg_none").await;
    sb.admin_post("/__sandbox/oidc/userinfo-sub", json!({"sub": "1"}))
        .await;
    let before = sb.admin_get("/__sandbox/oidc").await;
    sb.admin_post("/__sandbox/reset", json!({})).await;
    let after = sb.admin_get("/__sandbox/oidc").await;
    assert_eq!(after["bad_id_tokens"], json!([]));
    assert_eq!(after["next_userinfo_sub"], Value::Null);
    assert_eq!(after["kids"], before["kids"]);
}
