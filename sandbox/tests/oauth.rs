//! HTTP tests of the OAuth endpoints: authorize + sign-in form, token (code and refresh), revoke,
//! and the per-user session limit. Each test starts its own sandbox on an ephemeral port.

mod common;

use common::*;
use reqwest::StatusCode;
use sandbox::{ClientRegistration, SandboxConfig};
use serde_json::{Value, json};

// ---- authorize ------------------------------------------------------------------------------

#[tokio::test]
async fn authorize_serves_a_sign_in_form_that_works_without_javascript() {
    let sb = start().await;
    let response = sb
        .get_authorize(&Sb::authorize_query(
            DEMO_CLIENT,
            DEMO_REDIRECT,
            CHALLENGE,
            &[],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers().clone();
    assert_eq!(
        header(&h, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&h, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&h, "x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        header(&h, "referrer-policy").as_deref(),
        Some("no-referrer")
    );
    let csp = header(&h, "content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self' http://localhost:5000"),
        "{csp}"
    );
    let html = response.text().await.unwrap_or_default();
    assert!(html.contains("<form method=\"post\" action=\"/restapi/oauth/authorize\""));
    assert!(html.contains("name=\"username\"") && html.contains("<label for=\"username\">"));
    assert!(
        html.contains("type=\"password\"")
            && html.contains("name=\"password\"")
            && html.contains("<label for=\"password\">")
    );
    assert!(
        html.contains("name=\"decision\" value=\"allow\"")
            && html.contains("name=\"decision\" value=\"deny\"")
    );
    assert!(html.contains("rc-pkce demo"), "shows the app's name");
    assert!(
        html.contains("ReadAccounts") && html.contains("ReadCallLog"),
        "shows the requested access"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(!html.contains("demo@example.com"), "pre-fills nothing");
    assert!(txn_of(&html).len() >= 32, "carries a hidden transaction");
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_never_a_redirect() {
    let sb = start().await;
    let response = sb
        .get_authorize(&Sb::authorize_query("nope", DEMO_REDIRECT, CHALLENGE, &[]))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    assert_eq!(
        header(response.headers(), "x-frame-options").as_deref(),
        Some("DENY")
    );
    let html = response.text().await.unwrap_or_default();
    assert!(html.contains("invalid_client") && html.contains("<!DOCTYPE html>"));
}

#[tokio::test]
async fn authorize_errors_are_json_for_non_browser_clients() {
    let sb = start().await;
    let mut query = Sb::authorize_query(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE, &[]);
    query.retain(|(k, _)| k != "client_id");
    let response = sb
        .http
        .get(sb.url("/restapi/oauth/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("location").is_none());
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "OAU-123",
    )
    .await;
}

#[tokio::test]
async fn redirect_uri_mismatch_is_an_error_page_not_a_redirect() {
    let sb = start().await;
    for bad in [
        "http://localhost:5000/oauth2callback/",
        "http://evil.example/cb",
        "http://localhost:5000/OAuth2Callback",
    ] {
        let query = Sb::authorize_query(DEMO_CLIENT, bad, CHALLENGE, &[]);
        let response = sb
            .http
            .get(sb.url("/restapi/oauth/authorize"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert!(response.headers().get("location").is_none(), "{bad}");
        assert_oauth_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "OAU-109",
        )
        .await;
    }
}

#[tokio::test]
async fn duplicated_client_id_is_an_error_page() {
    let sb = start().await;
    let mut query = Sb::authorize_query(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE, &[]);
    query.push(("client_id".into(), "other".into()));
    let response = sb
        .http
        .get(sb.url("/restapi/oauth/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("location").is_none());
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "OAU-111",
    )
    .await;
}

/// Asserts an error redirect back to the demo client with the state and `iss`.
async fn assert_error_redirect(sb: &Sb, extra: &[(&str, &str)], error: &str) {
    let response = sb
        .get_authorize(&Sb::authorize_query(
            DEMO_CLIENT,
            DEMO_REDIRECT,
            CHALLENGE,
            extra,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND, "{extra:?}");
    let callback = Callback {
        url: location(&response).expect("location"),
    };
    assert!(callback.url.as_str().starts_with(DEMO_REDIRECT));
    assert_eq!(callback.param("error").as_deref(), Some(error), "{extra:?}");
    assert!(
        callback
            .param("error_description")
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(callback.param("state").as_deref(), Some("st-123"));
    assert_eq!(callback.param("iss").as_deref(), Some(sb.base.as_str()));
    assert!(callback.param("code").is_none());
}

#[tokio::test]
async fn missing_pkce_is_refused_with_a_redirect() {
    let sb = start().await;
    assert_error_redirect(&sb, &[("code_challenge", "")], "invalid_request").await;
    assert_error_redirect(
        &sb,
        &[("code_challenge", ""), ("code_challenge_method", "")],
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn plain_and_missing_challenge_methods_are_refused() {
    let sb = start().await;
    assert_error_redirect(
        &sb,
        &[("code_challenge_method", "plain")],
        "invalid_request",
    )
    .await;
    assert_error_redirect(&sb, &[("code_challenge_method", "")], "invalid_request").await;
    assert_error_redirect(&sb, &[("code_challenge_method", "s256")], "invalid_request").await;
}

#[tokio::test]
async fn malformed_challenges_are_refused() {
    let sb = start().await;
    let short = "a".repeat(42);
    let long = "a".repeat(129);
    let bad_chars = format!("{}+/", "a".repeat(41));
    for challenge in [short.as_str(), long.as_str(), bad_chars.as_str()] {
        assert_error_redirect(&sb, &[("code_challenge", challenge)], "invalid_request").await;
    }
    // 43 and 128 unreserved characters are fine.
    for len in [43, 128] {
        let ok = "A~._-".repeat(26)[..len].to_owned();
        let response = sb
            .get_authorize(&Sb::authorize_query(DEMO_CLIENT, DEMO_REDIRECT, &ok, &[]))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn other_response_types_are_refused() {
    let sb = start().await;
    assert_error_redirect(
        &sb,
        &[("response_type", "token")],
        "unsupported_response_type",
    )
    .await;
    assert_error_redirect(&sb, &[("response_type", "")], "invalid_request").await;
}

#[tokio::test]
async fn prompt_none_cannot_succeed_without_a_session() {
    let sb = start().await;
    assert_error_redirect(&sb, &[("prompt", "none")], "login_required").await;
}

#[tokio::test]
async fn scope_is_ignored_permissions_come_from_the_registration() {
    let sb = start_with(no_limits()).await;
    let query = Sb::authorize_query(
        DEMO_CLIENT,
        DEMO_REDIRECT,
        CHALLENGE,
        &[("scope", "EditAccounts SuperUser")],
    );
    let response = sb.get_authorize(&query).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap_or_default();
    assert!(!html.contains("SuperUser"));
    let tokens = sb.login().await;
    assert_eq!(tokens.body["scope"], "ReadAccounts ReadCallLog");
}

#[tokio::test]
async fn allow_redirects_with_code_state_iss_and_expires_in() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    assert!(
        callback
            .url
            .as_str()
            .starts_with("http://localhost:5000/oauth2callback?")
    );
    assert!(callback.code().len() >= 43);
    assert_eq!(callback.param("state").as_deref(), Some("st-123"));
    assert_eq!(callback.param("expires_in").as_deref(), Some("60"));
    assert_eq!(callback.param("iss").as_deref(), Some(sb.base.as_str()));
    assert!(sb.base.starts_with("http://127.0.0.1:"));
}

#[tokio::test]
async fn callback_expires_in_follows_the_code_ttl() {
    let sb = start_with(SandboxConfig {
        code_ttl_secs: 7,
        ..SandboxConfig::default()
    })
    .await;
    let callback = sb.sign_in(CHALLENGE).await;
    assert_eq!(callback.param("expires_in").as_deref(), Some("7"));
}

#[tokio::test]
async fn username_comparison_is_case_insensitive() {
    let sb = start().await;
    let callback = sb
        .sign_in_as(
            DEMO_CLIENT,
            DEMO_REDIRECT,
            CHALLENGE,
            "  Demo@Example.COM ",
            "demo-password",
        )
        .await;
    assert!(!callback.code().is_empty());
}

#[tokio::test]
async fn wrong_password_shows_the_form_again_and_the_request_survives() {
    let sb = start().await;
    let txn = sb.open_sign_in(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE).await;
    let response = sb
        .post_decision(&[
            ("txn", &txn),
            ("username", "demo@example.com"),
            ("password", "nope"),
            ("decision", "allow"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap_or_default();
    assert!(html.contains("Incorrect email or password"));
    assert_eq!(txn_of(&html), txn, "same pending request");
    assert!(
        !html.contains("value=\"demo@example.com\""),
        "pre-fills nothing"
    );
    let response = sb
        .post_decision(&[
            ("txn", &txn),
            ("username", "demo@example.com"),
            ("password", "demo-password"),
            ("decision", "allow"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = Callback {
        url: location(&response).unwrap(),
    };
    assert_eq!(callback.param("state").as_deref(), Some("st-123"));
}

#[tokio::test]
async fn empty_credentials_and_unknown_users_show_the_form_again() {
    let sb = start().await;
    let txn = sb.open_sign_in(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE).await;
    let response = sb
        .post_decision(&[("txn", &txn), ("decision", "allow")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap_or_default()
            .contains("Enter your email and password")
    );
    let response = sb
        .post_decision(&[
            ("txn", &txn),
            ("username", "who@example.com"),
            ("password", "demo-password"),
            ("decision", "allow"),
        ])
        .await;
    assert!(
        response
            .text()
            .await
            .unwrap_or_default()
            .contains("Incorrect email or password")
    );
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_the_state() {
    let sb = start().await;
    let txn = sb.open_sign_in(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE).await;
    let response = sb
        .post_decision(&[("txn", &txn), ("decision", "deny")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = Callback {
        url: location(&response).unwrap(),
    };
    assert_eq!(callback.param("error").as_deref(), Some("access_denied"));
    assert_eq!(callback.param("state").as_deref(), Some("st-123"));
    assert_eq!(callback.param("iss").as_deref(), Some(sb.base.as_str()));
    assert!(callback.param("code").is_none());
}

#[tokio::test]
async fn a_sign_in_transaction_is_single_use() {
    let sb = start().await;
    let txn = sb.open_sign_in(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE).await;
    let allow = [
        ("txn", txn.as_str()),
        ("username", "demo@example.com"),
        ("password", "demo-password"),
        ("decision", "allow"),
    ];
    assert_eq!(
        sb.post_decision(&allow).await.status(),
        StatusCode::SEE_OTHER
    );
    let again = sb.post_decision(&allow).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.headers().get("location").is_none());
    let unknown = sb
        .post_decision(&[("txn", "made-up"), ("decision", "deny")])
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_missing_decision_shows_the_form_with_400() {
    let sb = start().await;
    let txn = sb.open_sign_in(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE).await;
    let response = sb
        .post_decision(&[("txn", &txn), ("decision", "maybe")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap_or_default()
            .contains("Choose Allow or Deny")
    );
}

#[tokio::test]
async fn a_sign_in_page_expires_after_ten_minutes() {
    let sb = start().await;
    let txn = sb.open_sign_in(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE).await;
    sb.advance(601).await;
    let response = sb
        .post_decision(&[("txn", &txn), ("decision", "deny")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

// ---- token: authorization_code ----------------------------------------------------------------

#[tokio::test]
async fn code_exchange_returns_ringcentral_token_fields() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    let response = sb.exchange(&callback.code(), VERIFIER).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control").as_deref(),
        Some("no-store")
    );
    assert_eq!(
        header(response.headers(), "pragma").as_deref(),
        Some("no-cache")
    );
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap_or_default();
    let refresh = body["refresh_token"].as_str().unwrap_or_default();
    assert!(access.len() >= 43 && refresh.len() >= 43 && access != refresh);
    assert!(
        access
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["refresh_token_expires_in"], 604_800);
    assert_eq!(body["scope"], "ReadAccounts ReadCallLog");
    assert_eq!(body["owner_id"], DEMO_EXTENSION_ID.to_string());
    assert!(body["endpoint_id"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(body["session_id"].as_str().is_some_and(|e| !e.is_empty()));
}

#[tokio::test]
async fn lifetimes_follow_the_config_and_can_be_shortened_per_request() {
    let config = SandboxConfig {
        access_ttl_secs: 900,
        refresh_ttl_secs: 7200,
        ..no_limits()
    };
    let sb = start_with(config).await;
    let tokens = sb.login().await;
    assert_eq!(tokens.body["expires_in"], 900);
    assert_eq!(tokens.body["refresh_token_expires_in"], 7200);
    let response = sb
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh),
            ("client_id", DEMO_CLIENT),
            ("access_token_ttl", "600"),
            ("refresh_token_ttl", "999999"),
        ])
        .await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["refresh_token_expires_in"], 7200, "cannot be extended");
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant_and_burns_the_code() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    let response = sb.exchange(&callback.code(), &verifier(1)).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-114",
    )
    .await;
    let response = sb.exchange(&callback.code(), VERIFIER).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-106",
    )
    .await;
    assert!(sb.grants().await.is_empty(), "no grant was created");
}

#[tokio::test]
async fn the_plain_transform_does_not_pass_s256() {
    let sb = start().await;
    // A client that (wrongly) sent its verifier as the challenge and then the same verifier.
    let plain = verifier(7);
    let callback = sb.sign_in(&plain).await;
    let response = sb.exchange(&callback.code(), &plain).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-114",
    )
    .await;
}

#[tokio::test]
async fn a_fresh_verifier_pair_works() {
    let sb = start().await;
    let v = verifier(3);
    let callback = sb.sign_in(&challenge_of(&v)).await;
    assert_eq!(
        sb.exchange(&callback.code(), &v).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn missing_verifier_code_or_redirect_uri_is_invalid_request() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    let code = callback.code();
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", DEMO_REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", DEMO_CLIENT),
    ];
    for missing in ["code_verifier", "code", "redirect_uri"] {
        let form: Vec<_> = base
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let response = sb.token(&form).await;
        let body = assert_oauth_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "OAU-101",
        )
        .await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap_or_default()
                .contains(missing)
        );
    }
    // Empty values count as omitted (RFC 6749 §3.1).
    let mut form = base.to_vec();
    form[3] = ("code_verifier", "");
    assert_oauth_error(
        sb.token(&form).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "OAU-101",
    )
    .await;
    // The code is still good after those refusals.
    assert_eq!(sb.exchange(&code, VERIFIER).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_its_tokens() {
    let sb = start_with(no_limits()).await;
    let callback = sb.sign_in(CHALLENGE).await;
    let first = tokens_of(
        sb.exchange(&callback.code(), VERIFIER)
            .await
            .json()
            .await
            .unwrap(),
    );
    assert_eq!(
        sb.api("/restapi/v1.0/account/~/extension/~", &first.access)
            .await
            .status(),
        StatusCode::OK
    );
    let again = sb.exchange(&callback.code(), VERIFIER).await;
    assert_oauth_error(again, StatusCode::BAD_REQUEST, "invalid_grant", "OAU-106").await;
    assert_unauthorized(
        sb.api("/restapi/v1.0/account/~/extension/~", &first.access)
            .await,
        "OAU-213",
    )
    .await;
    assert_oauth_error(
        sb.refresh(&first.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-211",
    )
    .await;
    let grants = sb.grants().await;
    assert_eq!(grants[0]["revoked"], true);
    assert_eq!(grants[0]["revoked_reason"], "code_reuse");
    assert_eq!(grants[0]["live_access_tokens"], 0);
    assert_eq!(grants[0]["live_refresh_token"], false);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    sb.advance(61).await;
    let response = sb.exchange(&callback.code(), VERIFIER).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-108",
    )
    .await;
}

#[tokio::test]
async fn a_code_is_good_until_its_lifetime_ends() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    sb.advance(55).await;
    assert_eq!(
        sb.exchange(&callback.code(), VERIFIER).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn redirect_uri_mismatch_at_the_token_endpoint() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    let code = callback.code();
    let response = sb
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:5000/other"),
            ("code_verifier", VERIFIER),
            ("client_id", DEMO_CLIENT),
        ])
        .await;
    let body = assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-109",
    )
    .await;
    assert_eq!(body["error_description"], "Redirect URIs do not match");
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_refused() {
    let other = ClientRegistration::public("other-app", DEMO_REDIRECT);
    let sb = start_with(with_client(other)).await;
    let callback = sb.sign_in(CHALLENGE).await;
    let code = callback.code();
    let response = sb
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "other-app"),
        ])
        .await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-110",
    )
    .await;
}

#[tokio::test]
async fn client_id_is_required_and_must_be_registered() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    let code = callback.code();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", DEMO_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    assert_oauth_error(
        sb.token(&form).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "OAU-123",
    )
    .await;
    form.push(("client_id", "unknown-app"));
    assert_oauth_error(
        sb.token(&form).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "OAU-153",
    )
    .await;
}

#[tokio::test]
async fn client_credentials_are_refused_for_public_clients() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    let code = callback.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", DEMO_REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", DEMO_CLIENT),
    ];
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/token"))
        .basic_auth(DEMO_CLIENT, Some("secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "OAU-146",
    )
    .await;
    let mut with_secret = form.to_vec();
    with_secret.push(("client_secret", "s"));
    assert_oauth_error(
        sb.token(&with_secret).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "OAU-146",
    )
    .await;
}

#[tokio::test]
async fn unsupported_and_missing_grant_types() {
    let sb = start().await;
    for grant in [
        "password",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        let response = sb
            .token(&[("grant_type", grant), ("client_id", DEMO_CLIENT)])
            .await;
        assert_oauth_error(
            response,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "OAU-112",
        )
        .await;
    }
    let response = sb.token(&[("client_id", DEMO_CLIENT)]).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "OAU-101",
    )
    .await;
}

#[tokio::test]
async fn duplicated_parameters_are_refused() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    let code = callback.code();
    let response = sb
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code", "other"),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", DEMO_CLIENT),
        ])
        .await;
    let body = assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "OAU-111",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("[code]")
    );
}

#[tokio::test]
async fn an_unknown_code_is_invalid_grant() {
    let sb = start().await;
    let response = sb
        .exchange("never-issued-code-0123456789abcdefghijklmnop", VERIFIER)
        .await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-106",
    )
    .await;
}

#[tokio::test]
async fn the_token_endpoint_wants_a_form() {
    let sb = start().await;
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/token"))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
        "OAU-101",
    )
    .await;
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', b'&'])
        .send()
        .await
        .unwrap();
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "OAU-101",
    )
    .await;
}

// ---- token: refresh_token ---------------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_and_kills_the_old_pair() {
    let sb = start_with(no_limits()).await;
    let first = sb.login().await;
    let response = sb.refresh(&first.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control").as_deref(),
        Some("no-store")
    );
    let second = tokens_of(response.json().await.unwrap());
    assert_ne!(second.access, first.access);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(second.body["token_type"], "bearer");
    assert_eq!(second.body["owner_id"], first.body["owner_id"]);
    assert_eq!(second.body["scope"], first.body["scope"]);
    assert_unauthorized(
        sb.api("/restapi/v1.0/account/~/extension/~", &first.access)
            .await,
        "OAU-213",
    )
    .await;
    assert_eq!(
        sb.api("/restapi/v1.0/account/~/extension/~", &second.access)
            .await
            .status(),
        StatusCode::OK
    );
    let grants = sb.grants().await;
    assert_eq!(grants.len(), 1, "a refresh continues the same grant");
    assert_eq!(grants[0]["refresh_count"], 1);
    assert_eq!(grants[0]["live_access_tokens"], 1);
    assert_eq!(grants[0]["revoked"], false);
}

#[tokio::test]
async fn reusing_an_old_refresh_token_revokes_the_whole_grant() {
    let sb = start_with(no_limits()).await;
    let first = sb.login().await;
    let second = tokens_of(sb.refresh(&first.refresh).await.json().await.unwrap());
    let reuse = sb.refresh(&first.refresh).await;
    assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant", "OAU-211").await;
    assert_unauthorized(
        sb.api("/restapi/v1.0/account/~", &second.access).await,
        "OAU-213",
    )
    .await;
    assert_oauth_error(
        sb.refresh(&second.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-211",
    )
    .await;
    let grants = sb.grants().await;
    assert_eq!(grants[0]["revoked_reason"], "refresh_token_reuse");
    assert_eq!(grants[0]["live_refresh_token"], false);
}

#[tokio::test]
async fn the_refresh_grace_window_returns_the_same_pair_then_closes() {
    let sb = start_with(SandboxConfig {
        refresh_grace_secs: 10,
        ..no_limits()
    })
    .await;
    let first = sb.login().await;
    let second: Value = sb.refresh(&first.refresh).await.json().await.unwrap();
    sb.advance(5).await;
    let again: Value = sb.refresh(&first.refresh).await.json().await.unwrap();
    assert_eq!(again["access_token"], second["access_token"]);
    assert_eq!(again["refresh_token"], second["refresh_token"]);
    sb.advance(6).await;
    assert_oauth_error(
        sb.refresh(&first.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-211",
    )
    .await;
    assert_eq!(
        sb.grants().await[0]["revoked_reason"],
        "refresh_token_reuse"
    );
}

#[tokio::test]
async fn strict_by_default_an_immediate_repeat_refresh_revokes() {
    let sb = start_with(no_limits()).await;
    let first = sb.login().await;
    assert_eq!(sb.refresh(&first.refresh).await.status(), StatusCode::OK);
    assert_eq!(
        sb.refresh(&first.refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let sb = start_with(SandboxConfig {
        refresh_ttl_secs: 100,
        access_ttl_secs: 50,
        ..no_limits()
    })
    .await;
    let tokens = sb.login().await;
    sb.advance(101).await;
    let response = sb.refresh(&tokens.refresh).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-210",
    )
    .await;
    let grants = sb.grants().await;
    assert_eq!(grants[0]["revoked_reason"], "expired");
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client_and_kind() {
    let other = ClientRegistration::public("other-app", DEMO_REDIRECT);
    let sb = start_with(with_client(other)).await;
    let tokens = sb.login().await;
    let response = sb
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh),
            ("client_id", "other-app"),
        ])
        .await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-110",
    )
    .await;
    // An access token is not a refresh token.
    assert_oauth_error(
        sb.refresh(&tokens.access).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-211",
    )
    .await;
    assert_oauth_error(
        sb.refresh("made-up-token").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-211",
    )
    .await;
    let response = sb
        .token(&[("grant_type", "refresh_token"), ("client_id", DEMO_CLIENT)])
        .await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "OAU-101",
    )
    .await;
    // The refused attempts did not hurt the grant.
    assert_eq!(sb.refresh(&tokens.refresh).await.status(), StatusCode::OK);
}

// ---- revoke ------------------------------------------------------------------------------------

#[tokio::test]
async fn revoking_the_access_token_ends_the_whole_session() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    let response = sb.revoke(&tokens.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control").as_deref(),
        Some("no-store")
    );
    assert_unauthorized(
        sb.api("/restapi/v1.0/account/~", &tokens.access).await,
        "OAU-213",
    )
    .await;
    assert_oauth_error(
        sb.refresh(&tokens.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-211",
    )
    .await;
    let grants = sb.grants().await;
    assert_eq!(grants[0]["revoked"], true);
    assert_eq!(grants[0]["revoked_reason"], "revoked");
}

#[tokio::test]
async fn revoking_the_refresh_token_ends_the_whole_session() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    assert_eq!(sb.revoke(&tokens.refresh).await.status(), StatusCode::OK);
    assert_unauthorized(
        sb.api("/restapi/v1.0/account/~", &tokens.access).await,
        "OAU-213",
    )
    .await;
    let grants = sb.grants().await;
    assert_eq!(grants[0]["live_access_tokens"], 0);
    assert_eq!(grants[0]["live_refresh_token"], false);
    // Revoking again, or revoking nonsense, is still 200 (RFC 7009 §2.2).
    assert_eq!(sb.revoke(&tokens.refresh).await.status(), StatusCode::OK);
    assert_eq!(sb.revoke("never-issued").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoke_needs_a_token_and_checks_the_client() {
    let other = ClientRegistration::public("other-app", DEMO_REDIRECT);
    let sb = start_with(with_client(other)).await;
    let tokens = sb.login().await;
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/revoke"))
        .form(&[("client_id", DEMO_CLIENT)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "OAU-101",
    )
    .await;
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/revoke"))
        .form(&[("token", "x"), ("client_id", "nope")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "OAU-153",
    )
    .await;
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/revoke"))
        .form(&[
            ("token", tokens.access.as_str()),
            ("client_id", "other-app"),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-110",
    )
    .await;
    assert_eq!(sb.grants().await[0]["revoked"], false);
    // client_id is optional.
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/revoke"))
        .form(&[("token", tokens.access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sb.grants().await[0]["revoked"], true);
}

// ---- sessions ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_sixth_sign_in_evicts_the_oldest_session() {
    let sb = start_with(no_limits()).await;
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(sb.login().await);
    }
    assert_unauthorized(
        sb.api("/restapi/v1.0/account/~", &sessions[0].access).await,
        "OAU-213",
    )
    .await;
    assert_oauth_error(
        sb.refresh(&sessions[0].refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-211",
    )
    .await;
    for s in &sessions[1..] {
        assert_eq!(
            sb.api("/restapi/v1.0/account/~", &s.access).await.status(),
            StatusCode::OK
        );
    }
    let grants = sb.grants().await;
    assert_eq!(grants.len(), 6);
    assert_eq!(grants[0]["revoked_reason"], "evicted");
    assert_eq!(grants.iter().filter(|g| g["revoked"] == false).count(), 5);
    // Another user's sessions are counted separately.
    let other = sb.login_as("second@example.com", "second-password").await;
    assert_eq!(
        sb.api("/restapi/v1.0/account/~", &sessions[1].access)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        sb.api("/restapi/v1.0/account/~", &other.access)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_session_limit_is_configurable() {
    let sb = start_with(SandboxConfig {
        max_sessions_per_user_client: 1,
        ..no_limits()
    })
    .await;
    let first = sb.login().await;
    let second = sb.login().await;
    assert_unauthorized(
        sb.api("/restapi/v1.0/account/~", &first.access).await,
        "OAU-213",
    )
    .await;
    assert_eq!(
        sb.api("/restapi/v1.0/account/~", &second.access)
            .await
            .status(),
        StatusCode::OK
    );
}
