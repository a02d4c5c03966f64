//! HTTP tests of the admin API (state, request log, faults, clock, expiry, revocation, reset), of
//! bad input anywhere, and of the binary's start-up. Each test starts its own sandbox.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use sandbox::SandboxConfig;
use serde_json::{Value, json};

const EXTENSION: &str = "/restapi/v1.0/account/~/extension/~";
const CALL_LOG: &str = "/restapi/v1.0/account/~/extension/~/call-log";

// ---- state ---------------------------------------------------------------------------------

#[tokio::test]
async fn state_lists_grants_with_the_documented_fields() {
    let sb = start().await;
    let before = sb.admin_get("/__sandbox/state").await;
    assert!(
        before["now_ms"]
            .as_u64()
            .is_some_and(|n| n > 1_700_000_000_000)
    );
    assert_eq!(before["grants"], json!([]));
    let tokens = sb.login().await;
    let state = sb.admin_get("/__sandbox/state").await;
    let g = &state["grants"][0];
    assert_eq!(g["id"], "g1");
    assert_eq!(g["client_id"], DEMO_CLIENT);
    assert_eq!(g["user"], "demo@example.com");
    assert!(
        g["created_at_ms"]
            .as_u64()
            .is_some_and(|t| t <= state["now_ms"].as_u64().unwrap_or(0))
    );
    assert_eq!(g["revoked"], false);
    assert_eq!(g["revoked_reason"], Value::Null);
    assert_eq!(g["live_access_tokens"], 1);
    assert_eq!(g["live_refresh_token"], true);
    assert_eq!(g["refresh_count"], 0);
    let text = state.to_string();
    assert!(
        !text.contains(&tokens.access) && !text.contains(&tokens.refresh),
        "no token values"
    );
}

#[tokio::test]
async fn grants_whose_tokens_all_expired_show_as_expired() {
    let sb = start_with(SandboxConfig {
        access_ttl_secs: 10,
        refresh_ttl_secs: 20,
        ..no_limits()
    })
    .await;
    sb.login().await;
    sb.advance(11).await;
    let g = &sb.grants().await[0];
    assert_eq!(
        (
            g["live_access_tokens"].clone(),
            g["live_refresh_token"].clone()
        ),
        (json!(0), json!(true))
    );
    assert_eq!(g["revoked"], false);
    sb.advance(10).await;
    let g = &sb.grants().await[0];
    assert_eq!(g["revoked"], true);
    assert_eq!(g["revoked_reason"], "expired");
}

// ---- request log ------------------------------------------------------------------------------

#[tokio::test]
async fn the_request_log_records_every_call_without_secrets() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.api(EXTENSION, &tokens.access).await;
    sb.refresh("bogus-refresh-token").await;
    let log = sb.requests().await;
    let paths: Vec<(&str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap_or(""),
                e["path"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("GET", "/restapi/oauth/authorize"),
            ("POST", "/restapi/oauth/authorize"),
            ("POST", "/restapi/oauth/token"),
            ("GET", EXTENSION),
            ("POST", "/restapi/oauth/token"),
        ]
    );
    let seqs: Vec<u64> = log.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let exchange = &log[2];
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert_eq!(exchange["status"], 200);
    assert_eq!(exchange["grant_id"], "g1");
    assert_eq!(exchange["error"], Value::Null);
    assert_eq!(exchange["authorization"], Value::Null);
    let api = &log[3];
    assert_eq!(api["authorization"], "bearer");
    assert_eq!(api["grant_id"], "g1");
    assert_eq!(api["grant_type"], Value::Null);
    let failed = &log[4];
    assert_eq!(failed["grant_type"], "refresh_token");
    assert_eq!(failed["status"], 400);
    assert_eq!(failed["error"], "invalid_grant");
    assert_eq!(failed["error_code"], "OAU-211");
    for e in &log {
        assert!(e["finished_us"].as_u64() >= e["started_us"].as_u64());
        assert!(e.get("query").is_some() && e.get("origin").is_some());
    }
    let text = serde_json::to_string(&log).unwrap_or_default();
    assert!(!text.contains(&tokens.access) && !text.contains(&tokens.refresh));
    assert!(!text.contains(VERIFIER));
    assert!(!text.contains("demo-password"));
}

#[tokio::test]
async fn secret_query_parameters_are_redacted_in_the_log() {
    let sb = start().await;
    sb.http
        .get(sb.url(&format!("{EXTENSION}?access_token=secret-value&page=2")))
        .send()
        .await
        .unwrap();
    let log = sb.requests().await;
    assert_eq!(log[0]["query"], "access_token=[redacted]&page=2");
    // The callback's code is never on a sandbox URL, but authorize errors are logged with their code.
    let response = sb
        .get_authorize(&Sb::authorize_query(
            DEMO_CLIENT,
            DEMO_REDIRECT,
            CHALLENGE,
            &[("code_challenge_method", "plain")],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let log = sb.requests().await;
    assert_eq!(log[1]["error"], "invalid_request");
}

#[tokio::test]
async fn the_request_log_can_be_cleared_and_admin_calls_are_not_logged() {
    let sb = start().await;
    sb.login().await;
    assert!(!sb.requests().await.is_empty());
    let response = sb.admin_delete("/__sandbox/requests").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    sb.admin_get("/__sandbox/state").await;
    assert!(sb.requests().await.is_empty());
    sb.http.get(sb.url("/nowhere")).send().await.unwrap();
    let log = sb.requests().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["seq"], 1);
    assert_eq!(log[0]["status"], 404);
}

// ---- faults -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_503_fault_on_the_token_endpoint_has_the_oauth_shape_then_clears() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    sb.fault(json!({"target": "token", "count": 1, "status": 503, "retry_after_secs": 7}))
        .await;
    let response = sb.exchange(&callback.code(), VERIFIER).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        header(response.headers(), "retry-after").as_deref(),
        Some("7")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["errors"][0]["errorCode"], "CMN-211");
    // The faulted request did not reach the endpoint: the code is still good.
    assert_eq!(
        sb.exchange(&callback.code(), VERIFIER).await.status(),
        StatusCode::OK
    );
    let log = sb.requests().await;
    let token_calls: Vec<&Value> = log
        .iter()
        .filter(|e| e["path"] == "/restapi/oauth/token")
        .collect();
    assert_eq!(token_calls[0]["status"], 503);
    assert_eq!(token_calls[0]["fault"], true);
    assert_eq!(token_calls[1]["fault"], false);
}

#[tokio::test]
async fn a_429_fault_on_the_call_log_has_the_ringcentral_shape() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.fault(json!({"target": "call-log", "count": 2, "status": 429, "retry_after_secs": 30}))
        .await;
    for _ in 0..2 {
        let response = sb.api(CALL_LOG, &tokens.access).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            header(response.headers(), "retry-after").as_deref(),
            Some("30")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errorCode"], "CMN-301");
        assert_eq!(body["errors"][0]["message"], "Request rate exceeded");
    }
    assert_eq!(
        sb.api(CALL_LOG, &tokens.access).await.status(),
        StatusCode::OK
    );
    // Without retry_after_secs there is no Retry-After (the app must cope).
    sb.fault(json!({"target": "call-log", "status": 429})).await;
    let response = sb.api(CALL_LOG, &tokens.access).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_none());
}

#[tokio::test]
async fn api_faults_match_any_rest_call_and_other_statuses_are_shaped() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.fault(json!({"target": "api", "count": 1, "status": 500}))
        .await;
    sb.fault(json!({"target": "extension", "count": 1, "status": 401}))
        .await;
    let (status, body) = json_of(sb.api("/restapi/v1.0/account/~", &tokens.access).await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body["errorCode"].is_string());
    let response = sb.api(EXTENSION, &tokens.access).await;
    assert_unauthorized(response, "OAU-149").await;
    assert_eq!(
        sb.api(EXTENSION, &tokens.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn faults_queue_in_order_and_can_be_listed_and_cleared() {
    let sb = start().await;
    sb.fault(json!({"target": "revoke", "count": 1, "status": 503}))
        .await;
    sb.fault(json!({"target": "revoke", "count": 1, "status": 502}))
        .await;
    sb.fault(json!({"target": "authorize", "count": 3, "status": 500}))
        .await;
    let listed = sb.admin_get("/__sandbox/faults").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    assert_eq!(listed[2]["target"], "authorize");
    assert_eq!(listed[2]["count"], 3);
    assert_eq!(
        sb.revoke("x").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(sb.revoke("x").await.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(sb.revoke("x").await.status(), StatusCode::OK);
    let listed = sb.admin_get("/__sandbox/faults").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let response = sb.admin_delete("/__sandbox/faults").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(sb.admin_get("/__sandbox/faults").await, json!([]));
    let response = sb
        .get_authorize(&Sb::authorize_query(
            DEMO_CLIENT,
            DEMO_REDIRECT,
            CHALLENGE,
            &[],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn faults_skip_preflights_and_keep_cors_headers() {
    let sb = start().await;
    sb.fault(json!({"target": "token", "status": 503})).await;
    let preflight = sb
        .http
        .request(reqwest::Method::OPTIONS, sb.url("/restapi/oauth/token"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/token"))
        .header("origin", ORIGIN)
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
}

#[tokio::test]
async fn delay_faults_add_latency_and_requests_overlap() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.admin_delete("/__sandbox/requests").await;
    sb.fault(json!({"target": "extension", "count": 2, "delay_ms": 300}))
        .await;
    let started = Instant::now();
    let (a, b) = tokio::join!(
        sb.api(EXTENSION, &tokens.access),
        sb.api(EXTENSION, &tokens.access)
    );
    let elapsed = started.elapsed();
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(550),
        "{elapsed:?}"
    );
    let log = sb.requests().await;
    assert_eq!(log.len(), 2);
    let span = |e: &Value| {
        (
            e["started_us"].as_u64().unwrap_or(0),
            e["finished_us"].as_u64().unwrap_or(0),
        )
    };
    let ((s1, f1), (s2, f2)) = (span(&log[0]), span(&log[1]));
    assert!(f1 - s1 >= 300_000 && f2 - s2 >= 300_000);
    assert!(s1 < f2 && s2 < f1, "the two requests overlapped");
    assert!(log.iter().all(|e| e["fault"] == true));
}

#[tokio::test]
async fn bad_faults_are_refused() {
    let sb = start().await;
    for bad in [
        json!({"target": "everything", "status": 503}),
        json!({"target": "token", "status": 200}),
        json!({"target": "token", "count": 0, "status": 503}),
        json!({"target": "token"}),
        json!({"target": "token", "status": 503, "bogus": 1}),
        json!({"target": "token", "delay_ms": 600_000}),
        json!([1, 2]),
    ] {
        let response = sb.admin_post("/__sandbox/faults", bad.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
    let response = sb
        .http
        .post(sb.url("/__sandbox/faults"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sb.admin_get("/__sandbox/faults").await, json!([]));
}

// ---- clock, expiry, revocation, reset --------------------------------------------------------------

#[tokio::test]
async fn the_clock_advances_virtual_time() {
    let sb = start().await;
    let before = sb.admin_get("/__sandbox/clock").await["now_ms"]
        .as_u64()
        .unwrap_or(0);
    let response = sb
        .admin_post("/__sandbox/clock", json!({"advance_secs": 3600}))
        .await;
    let body: Value = response.json().await.unwrap();
    let after = body["now_ms"].as_u64().unwrap_or(0);
    assert!(after >= before + 3_600_000 && after < before + 3_610_000);
    assert_eq!(body["offset_ms"], 3_600_000);
    let state = sb.admin_get("/__sandbox/state").await;
    assert!(state["now_ms"].as_u64().unwrap_or(0) >= after);
    assert_eq!(
        sb.admin_post("/__sandbox/clock", json!({})).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sb.admin_post("/__sandbox/clock", json!({"advance_secs": -1}))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn expire_access_tokens_expires_every_live_access_token_now() {
    let sb = start_with(no_limits()).await;
    let a = sb.login().await;
    let b = sb.login_as("second@example.com", "second-password").await;
    let response = sb
        .admin_post("/__sandbox/expire-access-tokens", json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["expired"], 2);
    assert_unauthorized(sb.api(EXTENSION, &a.access).await, "OAU-128").await;
    assert_unauthorized(sb.api(EXTENSION, &b.access).await, "OAU-128").await;
    let grants = sb.grants().await;
    assert!(
        grants
            .iter()
            .all(|g| g["live_access_tokens"] == 0 && g["live_refresh_token"] == true)
    );
    let fresh = tokens_of(sb.refresh(&a.refresh).await.json().await.unwrap());
    assert_eq!(
        sb.api(EXTENSION, &fresh.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoke_grants_revokes_one_or_all() {
    let sb = start_with(no_limits()).await;
    let a = sb.login().await;
    let b = sb.login().await;
    let c = sb.login_as("second@example.com", "second-password").await;
    let response = sb
        .admin_post("/__sandbox/revoke-grants", json!({"grant_id": "g2"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_unauthorized(sb.api(EXTENSION, &b.access).await, "OAU-213").await;
    assert_eq!(sb.api(EXTENSION, &a.access).await.status(), StatusCode::OK);
    let grants = sb.grants().await;
    assert_eq!(grants[1]["revoked_reason"], "admin");
    let response = sb
        .admin_post("/__sandbox/revoke-grants", json!({"grant_id": "g9"}))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = sb
        .admin_post("/__sandbox/revoke-grants", json!({"grant_id": "nine"}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = sb
        .http
        .post(sb.url("/__sandbox/revoke-grants"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["revoked"], 2);
    assert_unauthorized(sb.api(EXTENSION, &a.access).await, "OAU-213").await;
    assert_unauthorized(sb.api(EXTENSION, &c.access).await, "OAU-213").await;
    assert!(sb.grants().await.iter().all(|g| g["revoked"] == true));
}

#[tokio::test]
async fn reset_forgets_everything() {
    let sb = start().await;
    let tokens = sb.login().await;
    let pending = sb.sign_in(CHALLENGE).await;
    sb.fault(json!({"target": "token", "status": 503})).await;
    sb.advance(100).await;
    let response = sb.admin_post("/__sandbox/reset", json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let state = sb.admin_get("/__sandbox/state").await;
    assert_eq!(state["grants"], json!([]));
    assert_eq!(state["clock_offset_ms"], 0);
    assert_eq!(sb.admin_get("/__sandbox/faults").await, json!([]));
    assert!(sb.requests().await.is_empty());
    assert_unauthorized(sb.api(EXTENSION, &tokens.access).await, "OAU-149").await;
    assert_oauth_error(
        sb.exchange(&pending.code(), VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "OAU-106",
    )
    .await;
    // Grant numbering starts over.
    sb.login().await;
    assert_eq!(sb.grants().await[0]["id"], "g1");
}

#[tokio::test]
async fn the_admin_index_lists_the_endpoints() {
    let sb = start().await;
    let index = sb.admin_get("/__sandbox/").await;
    assert!(index["endpoints"].as_array().is_some_and(|e| e.len() >= 8));
    assert_eq!(index["base_url"], sb.base.as_str());
}

// ---- who may call it ----------------------------------------------------------------------------

/// Every state-changing admin call, each with a body it accepts.
const CHANGES: [(&str, &str, &str); 9] = [
    ("DELETE", "/__sandbox/requests", ""),
    (
        "POST",
        "/__sandbox/faults",
        r#"{"target":"token","status":503}"#,
    ),
    ("DELETE", "/__sandbox/faults", ""),
    (
        "POST",
        "/__sandbox/faults/random",
        r#"{"seed":1,"probability":1.0}"#,
    ),
    ("DELETE", "/__sandbox/faults/random", ""),
    ("POST", "/__sandbox/clock", r#"{"advance_secs":5}"#),
    ("POST", "/__sandbox/expire-access-tokens", ""),
    ("POST", "/__sandbox/revoke-grants", ""),
    ("POST", "/__sandbox/reset", ""),
];

/// One admin request as `method`, with extra headers and a body (none when empty).
async fn admin_raw(
    sb: &Sb,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = sb.http.request(method, sb.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if !body.is_empty() {
        request = request.body(body.to_owned());
    }
    request.send().await.unwrap()
}

/// Asserts the admin API's error shape with this status and `error`; returns the message.
async fn assert_admin_refusal(
    response: reqwest::Response,
    status: StatusCode,
    error: &str,
) -> String {
    let (got, body) = json_of(response).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    body["message"].as_str().unwrap_or_default().to_owned()
}

/// Nothing changed since `login`: the grant lives, no fault is queued, the clock did not move.
async fn assert_untouched(sb: &Sb, access: &str) {
    let state = sb.admin_get("/__sandbox/state").await;
    assert_eq!(state["clock_offset_ms"], 0, "{state}");
    assert_eq!(state["grants"][0]["revoked"], false, "{state}");
    assert_eq!(state["grants"][0]["live_access_tokens"], 1, "{state}");
    assert_eq!(sb.admin_get("/__sandbox/faults").await, json!([]));
    assert_eq!(
        sb.admin_get("/__sandbox/faults/random").await["armed"],
        false
    );
    assert!(!sb.requests().await.is_empty(), "the log was not cleared");
    assert_eq!(sb.api(EXTENSION, access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_name_other_than_a_loopback_one_is_refused_as_dns_rebinding() {
    let sb = start().await;
    let tokens = sb.login().await;
    let port = sb.sandbox.addr().port();
    // What a page on attacker.example sends once its name resolves to 127.0.0.1: its own name.
    let rebound = format!("attacker.example:{port}");
    for path in ["/__sandbox/state", "/__sandbox/requests"] {
        let response = admin_raw(&sb, "GET", path, &[("host", &rebound)], "").await;
        let message = assert_admin_refusal(
            response,
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_loopback",
        )
        .await;
        assert!(message.contains("DNS rebinding"), "{message}");
        assert!(message.contains(&rebound), "{message}");
    }
    for (method, path, body) in CHANGES {
        let headers = [
            ("host", rebound.as_str()),
            ("content-type", "application/json"),
        ];
        let response = admin_raw(&sb, method, path, &headers, body).await;
        assert_admin_refusal(
            response,
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_loopback",
        )
        .await;
    }
    assert_untouched(&sb, &tokens.access).await;
    // Every loopback name works, with the port or without.
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
    ] {
        let response = admin_raw(&sb, "GET", "/__sandbox/state", &[("host", &host)], "").await;
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn another_sites_page_cannot_read_or_change_anything() {
    let sb = start().await;
    let tokens = sb.login().await;
    let own = sb.base.clone();
    // Headers a browser adds to requests made by a page that is not the sandbox's.
    let pages: [&[(&str, &str)]; 6] = [
        &[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("origin", "http://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        // The app, or any dev server on localhost: same-site with a sandbox on localhost.
        &[("origin", "http://localhost:5000")],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "null")],
    ];
    for page in pages {
        for path in ["/__sandbox/state", "/__sandbox/requests"] {
            let response = admin_raw(&sb, "GET", path, page, "").await;
            assert_admin_refusal(response, StatusCode::FORBIDDEN, "cross_site").await;
        }
        for (method, path, body) in CHANGES {
            let mut headers = page.to_vec();
            headers.push(("content-type", "application/json"));
            let response = admin_raw(&sb, method, path, &headers, body).await;
            assert_admin_refusal(response, StatusCode::FORBIDDEN, "cross_site").await;
        }
    }
    assert_untouched(&sb, &tokens.access).await;
    // The sandbox's own pages and the address bar are not another site.
    let own_page = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    let response = admin_raw(&sb, "GET", "/__sandbox/state", &own_page, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    let typed = [("sec-fetch-site", "none")];
    let response = admin_raw(&sb, "GET", "/__sandbox/state", &typed, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut headers = own_page.to_vec();
    headers.push(("content-type", "application/json"));
    let response = admin_raw(
        &sb,
        "POST",
        "/__sandbox/clock",
        &headers,
        r#"{"advance_secs":1}"#,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn changes_must_declare_json_so_no_form_or_simple_request_can_make_them() {
    let sb = start().await;
    let tokens = sb.login().await;
    // What a cross-site form post or `no-cors` fetch can send without a preflight (here without
    // the Origin a browser would add, as an older or careless client might).
    for content_type in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("text/plain"),
        Some("text/plain; charset=utf-8"),
    ] {
        for (method, path, body) in CHANGES {
            let headers: Vec<(&str, &str)> =
                content_type.iter().map(|t| ("content-type", *t)).collect();
            let response = admin_raw(&sb, method, path, &headers, body).await;
            let message = assert_admin_refusal(
                response,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_required",
            )
            .await;
            assert!(message.contains("application/json"), "{message}");
        }
    }
    assert_untouched(&sb, &tokens.access).await;
    // Declared JSON, each works; an empty body means {}.
    for (method, path, body) in CHANGES {
        let headers = [("content-type", "application/json; charset=utf-8")];
        let response = admin_raw(&sb, method, path, &headers, body).await;
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
    }
}

// ---- bad input anywhere -------------------------------------------------------------------------

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let sb = start().await;
    for path in [
        "/",
        "/restapi/v1.0/account/~/extension/~/sms",
        "/restapi/oauth/introspect",
        "/__sandbox/nope",
        "/%ff%fe",
    ] {
        let (status, body) = json_of(sb.http.get(sb.url(path)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body.is_object(), "{path}: {body}");
    }
    let (_, body) = json_of(
        sb.http
            .get(sb.url("/restapi/oauth/nothing"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        body["error"], "invalid_request",
        "OAuth paths use the OAuth shape"
    );
}

#[tokio::test]
async fn wrong_methods_are_405_json() {
    let sb = start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/restapi/oauth/token"),
        (reqwest::Method::PUT, "/restapi/oauth/authorize"),
        (reqwest::Method::DELETE, "/restapi/v1.0/account/~"),
        (reqwest::Method::POST, CALL_LOG),
        (reqwest::Method::GET, "/restapi/oauth/revoke"),
        (reqwest::Method::PATCH, "/__sandbox/state"),
    ] {
        let response = sb
            .http
            .request(method.clone(), sb.url(path))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(body.is_object(), "{method} {path}");
    }
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let sb = start().await;
    let big = "x".repeat(20 * 1024);
    let response = sb
        .token(&[("grant_type", "refresh_token"), ("padding", &big)])
        .await;
    assert_oauth_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        "CMN-413",
    )
    .await;
    let response = sb
        .http
        .post(sb.url("/__sandbox/faults"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/authorize"))
        .form(&[("txn", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit is read (and then refused for what it says).
    let fits = "x".repeat(15 * 1024);
    let response = sb
        .token(&[("grant_type", "password"), ("padding", &fits)])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_forms_and_headers_do_not_break_anything() {
    let sb = start().await;
    for body in ["%%%", "&&&==&", "grant_type=%ZZ", "=x", "a=1&a=2&a=3"] {
        let response = sb
            .http
            .post(sb.url("/restapi/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{body}");
        let json: Value = response.json().await.unwrap_or(Value::Null);
        assert!(json["error"].is_string(), "{body}");
    }
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/revoke"))
        .body("token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = sb
        .http
        .get(sb.url("/restapi/oauth/authorize?%zz=%&client_id"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = sb
        .http
        .get(sb.url(EXTENSION))
        .header("authorization", vec![0xc3u8, 0x28])
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Still serving after all that.
    sb.login().await;
}

// ---- the binary --------------------------------------------------------------------------------

#[tokio::test]
async fn the_binary_prints_its_banner_and_serves() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--client",
            "extra=http://localhost:9999/cb;ReadCallLog",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut banner = Vec::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains("admin API");
            banner.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("banner in time");
    let first = banner.first().cloned().unwrap_or_default();
    let base = first
        .strip_prefix("RingCentral sandbox listening on ")
        .unwrap_or_default()
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{banner:?}");
    let text = banner.join("\n");
    assert!(text.contains(
        "client rc-pkce-demo -> http://localhost:5000/oauth2callback  (ReadAccounts, ReadCallLog)"
    ));
    assert!(text.contains("client extra -> http://localhost:9999/cb  (ReadCallLog)"));
    assert!(text.contains("sign in as demo@example.com / demo-password"));
    assert!(text.contains(&format!("admin API: {base}/__sandbox/")));
    let state: Value = reqwest::get(format!("{base}/__sandbox/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["grants"], json!([]));
    child.kill().await.expect("stop the binary");
}

#[tokio::test]
async fn the_binary_reports_a_busy_port_in_one_line() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--listen", &addr])
        .output()
        .await
        .expect("binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.contains("already in use"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn the_binary_documents_its_flags() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .arg("--help")
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--client",
        "--access-ttl",
        "--refresh-ttl",
        "--code-ttl",
        "--allow-origin",
        "--no-rate-limits",
        "--rate-limit",
        "--expose-rate-limit-headers",
        "--refresh-grace-secs",
        "--max-sessions",
        "ID=REDIRECT_URI",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--client", "no-equals-sign"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
}
