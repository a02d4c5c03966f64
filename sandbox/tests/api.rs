//! HTTP tests of the REST API (account, extension, call log, 401/403 shapes), CORS and rate
//! limits. Each test starts its own sandbox on an ephemeral port.

mod common;

use common::*;
use reqwest::StatusCode;
use sandbox::seed::{CALLS_LAST_24H, CALLS_PER_USER, FAX_PER_USER, INBOUND_PER_USER};
use sandbox::{ClientRegistration, RateLimits, SandboxConfig};
use serde_json::{Value, json};

const EXTENSION: &str = "/restapi/v1.0/account/~/extension/~";
const ACCOUNT: &str = "/restapi/v1.0/account/~";
const CALL_LOG: &str = "/restapi/v1.0/account/~/extension/~/call-log";

async fn get_json(sb: &Sb, path: &str, access: &str) -> (StatusCode, Value) {
    json_of(sb.api(path, access).await).await
}

// ---- resources ------------------------------------------------------------------------------

#[tokio::test]
async fn extension_info_has_ringcentral_shape() {
    let sb = start().await;
    let tokens = sb.login().await;
    let (status, body) = get_json(&sb, EXTENSION, &tokens.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], DEMO_EXTENSION_ID);
    assert_eq!(body["extensionNumber"], "101");
    assert_eq!(body["name"], "Dana Whitfield");
    assert_eq!(body["type"], "User");
    assert_eq!(body["status"], "Enabled");
    assert_eq!(body["contact"]["firstName"], "Dana");
    assert_eq!(body["contact"]["lastName"], "Whitfield");
    assert_eq!(body["contact"]["email"], "demo@example.com");
    assert_eq!(body["contact"]["company"], "Northwind Analytics");
    for field in ["businessPhone", "jobTitle", "department"] {
        assert!(
            body["contact"][field]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }
    assert!(body["account"]["id"].is_string());
    let uri = body["uri"].as_str().unwrap_or_default();
    assert!(
        uri.starts_with(&sb.base) && uri.ends_with(&format!("/extension/{DEMO_EXTENSION_ID}")),
        "{uri}"
    );
    assert_eq!(
        body["regionalSettings"]["timezone"]["name"],
        "America/Los_Angeles"
    );
    assert_eq!(body["regionalSettings"]["homeCountry"]["isoCode"], "US");
    assert!(
        body["serviceFeatures"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(body["permissions"]["admin"]["enabled"], true);
}

#[tokio::test]
async fn account_info_has_ringcentral_shape() {
    let sb = start().await;
    let tokens = sb.login().await;
    let (status, body) = get_json(&sb, ACCOUNT, &tokens.access).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["id"].is_u64());
    assert_eq!(body["mainNumber"], "+16505550100");
    assert_eq!(body["status"], "Confirmed");
    assert_eq!(body["serviceInfo"]["brand"]["id"], "1210");
    assert_eq!(body["serviceInfo"]["brand"]["name"], "RingCentral");
    assert_eq!(body["serviceInfo"]["brand"]["homeCountry"]["isoCode"], "US");
    assert!(body["serviceInfo"]["servicePlan"]["name"].is_string());
    assert!(body["serviceInfo"]["billingPlan"]["name"].is_string());
    assert_eq!(body["operator"]["extensionNumber"], "101");
    assert_eq!(body["setupWizardState"], "Completed");
    assert!(
        body["uri"]
            .as_str()
            .is_some_and(|u| u.starts_with(&sb.base))
    );
}

#[tokio::test]
async fn the_second_user_has_their_own_data() {
    let sb = start().await;
    let tokens = sb.login_as("second@example.com", "second-password").await;
    assert_eq!(tokens.body["owner_id"], "71804552004");
    let (_, ext) = get_json(&sb, EXTENSION, &tokens.access).await;
    assert_eq!(ext["name"], "Marcus Ortega");
    assert_eq!(ext["extensionNumber"], "201");
    assert_eq!(ext["contact"]["company"], "Bluefin Logistics");
    assert_eq!(ext["permissions"]["admin"]["enabled"], false);
    let (_, account) = get_json(&sb, ACCOUNT, &tokens.access).await;
    assert_eq!(account["mainNumber"], "+13125550200");
    let (_, log) = get_json(&sb, CALL_LOG, &tokens.access).await;
    let first = &log["records"][0];
    assert!(
        first["from"]["name"] == "Marcus Ortega" || first["to"]["name"] == "Marcus Ortega",
        "{first}"
    );
}

#[tokio::test]
async fn own_numeric_ids_work_and_other_ids_are_not_found() {
    let sb = start().await;
    let tokens = sb.login().await;
    let (_, ext) = get_json(&sb, EXTENSION, &tokens.access).await;
    let account_id = ext["account"]["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/restapi/v1.0/account/{account_id}/extension/{DEMO_EXTENSION_ID}");
    assert_eq!(sb.api(&path, &tokens.access).await.status(), StatusCode::OK);
    let (status, body) =
        get_json(&sb, "/restapi/v1.0/account/123/extension/~", &tokens.access).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["errorCode"], "CMN-102");
    assert_eq!(body["errors"][0]["parameterName"], "accountId");
    let (status, body) = get_json(
        &sb,
        "/restapi/v1.0/account/~/extension/999/call-log",
        &tokens.access,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["parameterName"], "extensionId");
}

// ---- call log -------------------------------------------------------------------------------

#[tokio::test]
async fn the_call_log_defaults_to_the_last_24_hours() {
    let sb = start().await;
    let tokens = sb.login().await;
    let (status, body) = get_json(&sb, CALL_LOG, &tokens.access).await;
    assert_eq!(status, StatusCode::OK);
    let records = body["records"].as_array().cloned().unwrap_or_default();
    assert_eq!(records.len(), CALLS_LAST_24H);
    assert_eq!(body["paging"]["page"], 1);
    assert_eq!(body["paging"]["perPage"], 100);
    assert_eq!(body["paging"]["totalElements"], CALLS_LAST_24H);
    assert_eq!(body["paging"]["totalPages"], 1);
    assert_eq!(body["paging"]["pageStart"], 0);
    assert_eq!(body["paging"]["pageEnd"], CALLS_LAST_24H - 1);
    assert!(
        body["navigation"]["firstPage"]["uri"]
            .as_str()
            .is_some_and(|u| u.starts_with(&sb.base))
    );
    assert!(body["navigation"].get("nextPage").is_none());
    let r = &records[0];
    for field in [
        "id",
        "uri",
        "sessionId",
        "telephonySessionId",
        "startTime",
        "type",
        "direction",
        "action",
        "result",
        "transport",
        "lastModifiedTime",
    ] {
        assert!(r[field].is_string(), "{field} in {r}");
    }
    assert!(r["duration"].is_u64());
    assert!(r["from"]["phoneNumber"].is_string() && r["to"]["phoneNumber"].is_string());
    let start = r["startTime"].as_str().unwrap_or_default();
    assert_eq!(start.len(), "2026-11-26T14:03:11.000Z".len(), "{start}");
    assert!(start.ends_with(".000Z"));
    let times: Vec<&str> = records
        .iter()
        .filter_map(|r| r["startTime"].as_str())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
}

/// A date (midnight UTC) 32 days back: covers all seeded records.
fn month_ago() -> String {
    let date = (time::OffsetDateTime::now_utc() - time::Duration::days(32)).date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[tokio::test]
async fn date_from_widens_the_window_and_paging_navigates() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    let path = format!("{CALL_LOG}?dateFrom={}&perPage=20", month_ago());
    let (status, body) = get_json(&sb, &path, &tokens.access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["paging"]["totalElements"], CALLS_PER_USER);
    assert_eq!(body["paging"]["totalPages"], 3);
    assert_eq!(body["records"].as_array().map(Vec::len), Some(20));
    let next = body["navigation"]["nextPage"]["uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        next.starts_with(&format!("{}/restapi/v1.0/account/", sb.base)) && next.contains("page=2"),
        "{next}"
    );
    assert!(next.contains("dateFrom="), "keeps the filter: {next}");
    let page2: Value = sb
        .http
        .get(&next)
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2["paging"]["page"], 2);
    assert_eq!(page2["paging"]["pageStart"], 20);
    assert_ne!(page2["records"][0]["id"], body["records"][0]["id"]);
    assert!(
        page2["navigation"]["previousPage"]["uri"]
            .as_str()
            .is_some_and(|u| u.contains("page=1"))
    );
    let last = body["navigation"]["lastPage"]["uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let page3: Value = sb
        .http
        .get(&last)
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page3["records"].as_array().map(Vec::len),
        Some(CALLS_PER_USER - 40)
    );
    assert!(page3["navigation"].get("nextPage").is_none());
}

#[tokio::test]
async fn direction_and_type_filters() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    let from = month_ago();
    let count =
        |body: &Value| body["paging"]["totalElements"].as_u64().unwrap_or(u64::MAX) as usize;
    let (_, inbound) = get_json(
        &sb,
        &format!("{CALL_LOG}?dateFrom={from}&direction=Inbound"),
        &tokens.access,
    )
    .await;
    assert_eq!(count(&inbound), INBOUND_PER_USER);
    assert!(
        inbound["records"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["direction"] == "Inbound"))
    );
    let (_, outbound) = get_json(
        &sb,
        &format!("{CALL_LOG}?dateFrom={from}&direction=Outbound"),
        &tokens.access,
    )
    .await;
    assert_eq!(count(&outbound), CALLS_PER_USER - INBOUND_PER_USER);
    let (_, fax) = get_json(
        &sb,
        &format!("{CALL_LOG}?dateFrom={from}&type=Fax"),
        &tokens.access,
    )
    .await;
    assert_eq!(count(&fax), FAX_PER_USER);
    let results: std::collections::BTreeSet<String> = outbound["records"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(inbound["records"].as_array().into_iter().flatten())
        .filter_map(|r| r["result"].as_str().map(str::to_owned))
        .collect();
    assert!(results.len() >= 6, "mixed results: {results:?}");
}

#[tokio::test]
async fn date_to_bounds_the_window_and_the_clock_moves_the_default() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    let (_, body) = get_json(
        &sb,
        &format!("{CALL_LOG}?dateFrom=2000-01-01&dateTo=2000-01-02T00:00:00.000Z"),
        &tokens.access,
    )
    .await;
    assert_eq!(body["paging"]["totalElements"], 0);
    assert!(body["records"].as_array().is_some_and(Vec::is_empty));
    // Two days later, the default window no longer holds the seeded "recent" calls.
    sb.advance(2 * 86_400).await;
    let tokens = sb.login().await;
    let (_, later) = get_json(&sb, CALL_LOG, &tokens.access).await;
    assert_eq!(
        later["paging"]["totalElements"], 0,
        "default dateFrom = now - 24 h"
    );
}

#[tokio::test]
async fn malformed_call_log_parameters_are_400_naming_the_parameter() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    for (query, name) in [
        ("dateFrom=last-week", "dateFrom"),
        ("dateFrom=2026-13-45", "dateFrom"),
        ("dateTo=tomorrow", "dateTo"),
        ("perPage=0", "perPage"),
        ("perPage=1001", "perPage"),
        ("page=-1", "page"),
        ("direction=Up", "direction"),
    ] {
        let (status, body) = get_json(&sb, &format!("{CALL_LOG}?{query}"), &tokens.access).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["errors"][0]["errorCode"], "CMN-101", "{query}");
        assert_eq!(body["errors"][0]["parameterName"], name, "{query}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(name))
        );
    }
    let (status, _) = get_json(
        &sb,
        &format!("{CALL_LOG}?perPage=1000&view=Detailed"),
        &tokens.access,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

// ---- 401 / 403 --------------------------------------------------------------------------------

#[tokio::test]
async fn missing_and_malformed_authorization_headers() {
    let sb = start().await;
    let response = sb.http.get(sb.url(EXTENSION)).send().await.unwrap();
    assert_unauthorized(response, "AGW-401").await;
    for value in [
        "Basic Zm9vOmJhcg==",
        "Bearer",
        "Bearer ",
        "Token abc",
        "Bearer a b",
    ] {
        let response = sb
            .http
            .get(sb.url(EXTENSION))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_unauthorized(response, "AGW-402").await;
    }
}

#[tokio::test]
async fn unknown_tokens_are_invalid() {
    let sb = start().await;
    assert_unauthorized(sb.api(EXTENSION, "not-a-real-token").await, "OAU-149").await;
    // A refresh token is not an access token.
    let tokens = sb.login().await;
    assert_unauthorized(sb.api(EXTENSION, &tokens.refresh).await, "OAU-149").await;
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.advance(3599).await;
    assert_eq!(
        sb.api(EXTENSION, &tokens.access).await.status(),
        StatusCode::OK
    );
    sb.advance(2).await;
    assert_unauthorized(sb.api(EXTENSION, &tokens.access).await, "OAU-128").await;
    // The refresh token still works and yields a working access token.
    let fresh = tokens_of(sb.refresh(&tokens.refresh).await.json().await.unwrap());
    assert_eq!(
        sb.api(EXTENSION, &fresh.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_client_without_a_permission_gets_403_naming_it() {
    let logs_less = ClientRegistration::public("accounts-only", DEMO_REDIRECT)
        .with_permissions(&["ReadAccounts"]);
    let sb = start_with(with_client(logs_less)).await;
    let callback = sb
        .sign_in_as(
            "accounts-only",
            DEMO_REDIRECT,
            CHALLENGE,
            "demo@example.com",
            "demo-password",
        )
        .await;
    let code = callback.code();
    let response = sb
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "accounts-only"),
        ])
        .await;
    let tokens = tokens_of(response.json().await.unwrap());
    assert_eq!(tokens.body["scope"], "ReadAccounts");
    assert_eq!(
        sb.api(EXTENSION, &tokens.access).await.status(),
        StatusCode::OK
    );
    let (status, body) = get_json(&sb, CALL_LOG, &tokens.access).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errorCode"], "InsufficientPermissions");
    assert_eq!(body["errors"][0]["errorCode"], "CMN-401");
    assert_eq!(body["errors"][0]["permissionName"], "ReadCallLog");
    assert_eq!(
        body["errors"][0]["message"],
        "[ReadCallLog] permission required"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("ReadCallLog"))
    );
}

// ---- CORS -------------------------------------------------------------------------------------

async fn preflight(
    sb: &Sb,
    path: &str,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> reqwest::Response {
    let mut request = sb
        .http
        .request(reqwest::Method::OPTIONS, sb.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method);
    if let Some(h) = headers {
        request = request.header("access-control-request-headers", h);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn preflights_from_allowed_origins_get_204_with_cors_headers() {
    let sb = start().await;
    for (path, method, headers) in [
        (CALL_LOG, "GET", Some("authorization")),
        ("/restapi/oauth/token", "POST", Some("content-type")),
        ("/restapi/oauth/revoke", "POST", None),
    ] {
        let response = preflight(&sb, path, ORIGIN, method, headers).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        let h = response.headers();
        assert_eq!(
            header(h, "access-control-allow-origin").as_deref(),
            Some(ORIGIN)
        );
        assert_eq!(
            header(h, "access-control-allow-methods").as_deref(),
            Some("GET, POST")
        );
        assert_eq!(
            header(h, "access-control-allow-headers").as_deref(),
            Some("authorization, content-type, accept")
        );
        assert_eq!(header(h, "access-control-max-age").as_deref(), Some("600"));
        assert!(h.get_all("vary").iter().any(|v| v == "Origin"));
        assert!(h.get("access-control-allow-credentials").is_none());
    }
    let log = sb.requests().await;
    assert_eq!(log.len(), 3, "preflights are logged");
    assert!(
        log.iter()
            .all(|e| e["method"] == "OPTIONS" && e["status"] == 204 && e["origin"] == ORIGIN)
    );
}

#[tokio::test]
async fn preflights_from_other_origins_or_for_other_headers_are_refused() {
    let sb = start().await;
    let response = preflight(
        &sb,
        "/restapi/oauth/token",
        "http://evil.example",
        "POST",
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = preflight(
        &sb,
        CALL_LOG,
        ORIGIN,
        "GET",
        Some("authorization, x-user-agent"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = preflight(&sb, CALL_LOG, ORIGIN, "DELETE", None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_form_token_post_is_a_simple_request_and_needs_no_preflight() {
    let sb = start().await;
    let callback = sb.sign_in(CHALLENGE).await;
    sb.admin_delete("/__sandbox/requests").await;
    let code = callback.code();
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/token"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", DEMO_CLIENT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let log = sb.requests().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["grant_type"], "authorization_code");
    assert_eq!(log[0]["origin"], ORIGIN);
}

#[tokio::test]
async fn errors_carry_cors_headers_too() {
    let sb = start().await;
    let response = sb
        .http
        .post(sb.url("/restapi/oauth/token"))
        .header("origin", ORIGIN)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", DEMO_CLIENT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let response = sb
        .http
        .get(sb.url(EXTENSION))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
}

#[tokio::test]
async fn disallowed_origins_get_no_cors_headers() {
    let sb = start().await;
    let tokens = sb.login().await;
    let response = sb
        .http
        .get(sb.url(EXTENSION))
        .bearer_auth(&tokens.access)
        .header("origin", "http://localhost:5001")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn allowed_origins_are_configurable() {
    let config = SandboxConfig {
        allowed_origins: vec!["http://127.0.0.1:8080".into(), "https://app.example".into()],
        ..SandboxConfig::default()
    };
    let sb = start_with(config).await;
    let response = preflight(
        &sb,
        "/restapi/oauth/token",
        "https://app.example",
        "POST",
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = preflight(&sb, "/restapi/oauth/token", ORIGIN, "POST", None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn rate_limit_headers_are_exposed_only_when_asked() {
    let sb = start().await;
    let tokens = sb.login().await;
    let response = sb
        .http
        .get(sb.url(EXTENSION))
        .bearer_auth(&tokens.access)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert!(
        response.headers().get("x-rate-limit-limit").is_some(),
        "sent"
    );
    assert!(
        response
            .headers()
            .get("access-control-expose-headers")
            .is_none(),
        "not exposed"
    );

    let sb = start_with(SandboxConfig {
        expose_rate_limit_headers: true,
        ..SandboxConfig::default()
    })
    .await;
    let tokens = sb.login().await;
    let response = sb
        .http
        .get(sb.url(EXTENSION))
        .bearer_auth(&tokens.access)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    let exposed = header(response.headers(), "access-control-expose-headers").unwrap_or_default();
    for name in [
        "Retry-After",
        "X-Rate-Limit-Group",
        "X-Rate-Limit-Limit",
        "X-Rate-Limit-Remaining",
        "X-Rate-Limit-Window",
    ] {
        assert!(exposed.contains(name), "{exposed}");
    }
}

#[tokio::test]
async fn the_admin_api_is_not_cors_enabled() {
    let sb = start().await;
    let response = sb
        .http
        .get(sb.url("/__sandbox/state"))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    // Refused outright: the app's page is another site (see admin.rs for the rules).
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = preflight(&sb, "/__sandbox/reset", ORIGIN, "POST", None).await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(response.status().is_client_error());
}

#[tokio::test]
async fn the_authorize_page_is_not_cors_enabled() {
    let sb = start().await;
    let query = Sb::authorize_query(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE, &[]);
    let no_cors = |response: &reqwest::Response, what: &str| {
        let h = response.headers();
        for name in [
            "access-control-allow-origin",
            "access-control-allow-methods",
            "access-control-allow-headers",
            "access-control-expose-headers",
        ] {
            assert!(h.get(name).is_none(), "{what}: {name}");
        }
        assert!(
            !h.get_all("vary").iter().any(|v| v == "Origin"),
            "{what}: vary"
        );
    };
    // The page, fetched by the app's origin (which is allowed everywhere else).
    let page = sb
        .http
        .get(sb.url("/restapi/oauth/authorize"))
        .header("origin", ORIGIN)
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    no_cors(&page, "GET");
    let txn = txn_of(&page.text().await.unwrap());
    // Its form's POST, even with an Origin: the browser navigates, nothing reads the answer.
    let decision = sb
        .http
        .post(sb.url("/restapi/oauth/authorize"))
        .header("origin", ORIGIN)
        .form(&[
            ("txn", txn.as_str()),
            ("username", "demo@example.com"),
            ("password", "demo-password"),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(decision.status(), StatusCode::SEE_OTHER);
    no_cors(&decision, "POST");
    // A preflight gets no approval either.
    for method in ["GET", "POST"] {
        let response = preflight(&sb, "/restapi/oauth/authorize", ORIGIN, method, None).await;
        assert!(response.status().is_client_error(), "{method}");
        no_cors(&response, "OPTIONS");
    }
    // An error page too.
    let bad = sb
        .http
        .get(sb.url("/restapi/oauth/authorize"))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    no_cors(&bad, "error page");
    // While the token, revoke and REST endpoints keep theirs.
    for (path, method) in [
        ("/restapi/oauth/token", "POST"),
        ("/restapi/oauth/revoke", "POST"),
        (EXTENSION, "GET"),
    ] {
        let response = preflight(&sb, path, ORIGIN, method, None).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(
            header(response.headers(), "access-control-allow-origin").as_deref(),
            Some(ORIGIN),
            "{path}"
        );
    }
}

// ---- rate limits ------------------------------------------------------------------------------

#[tokio::test]
async fn the_call_log_is_heavy_ten_per_minute() {
    let sb = start().await;
    let tokens = sb.login().await;
    for i in 0..10u32 {
        let response = sb.api(CALL_LOG, &tokens.access).await;
        assert_eq!(response.status(), StatusCode::OK, "call {i}");
        let h = response.headers();
        assert_eq!(header(h, "x-rate-limit-group").as_deref(), Some("Heavy"));
        assert_eq!(header(h, "x-rate-limit-limit").as_deref(), Some("10"));
        assert_eq!(
            header(h, "x-rate-limit-remaining"),
            Some((9 - i).to_string())
        );
        assert_eq!(header(h, "x-rate-limit-window").as_deref(), Some("60"));
    }
    let response = sb.api(CALL_LOG, &tokens.access).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(response.headers(), "retry-after").as_deref(),
        Some("60")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["errorCode"], "CMN-301");
    assert_eq!(body["errors"][0]["message"], "Request rate exceeded");
    // Other groups are unaffected.
    assert_eq!(
        sb.api(EXTENSION, &tokens.access).await.status(),
        StatusCode::OK
    );
    // Waiting out the penalty (on the virtual clock) lifts it.
    sb.advance(61).await;
    assert_eq!(
        sb.api(CALL_LOG, &tokens.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn requests_while_limited_restart_the_penalty() {
    let limits = RateLimits {
        light: 50,
        heavy: 1,
        auth: 5,
    };
    let sb = start_with(SandboxConfig {
        rate_limits: Some(limits),
        ..SandboxConfig::default()
    })
    .await;
    let tokens = sb.login().await;
    assert_eq!(
        sb.api(CALL_LOG, &tokens.access).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        sb.api(CALL_LOG, &tokens.access).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    sb.advance(50).await;
    assert_eq!(
        sb.api(CALL_LOG, &tokens.access).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    sb.advance(50).await;
    assert_eq!(
        sb.api(CALL_LOG, &tokens.access).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "penalty restarted"
    );
    sb.advance(61).await;
    assert_eq!(
        sb.api(CALL_LOG, &tokens.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn limits_are_per_user() {
    let limits = RateLimits {
        light: 2,
        heavy: 10,
        auth: 5,
    };
    let sb = start_with(SandboxConfig {
        rate_limits: Some(limits),
        ..SandboxConfig::default()
    })
    .await;
    let demo = sb.login().await;
    let second = sb.login_as("second@example.com", "second-password").await;
    for _ in 0..2 {
        assert_eq!(sb.api(ACCOUNT, &demo.access).await.status(), StatusCode::OK);
    }
    let limited = sb.api(EXTENSION, &demo.access).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(limited.headers(), "x-rate-limit-group").as_deref(),
        Some("Light")
    );
    assert_eq!(
        sb.api(ACCOUNT, &second.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_requests_are_in_the_auth_group() {
    let sb = start().await;
    let mut tokens = sb.login().await;
    for _ in 0..4 {
        let response = sb.refresh(&tokens.refresh).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(response.headers(), "x-rate-limit-group").as_deref(),
            Some("Auth")
        );
        tokens = tokens_of(response.json().await.unwrap());
    }
    let response = sb.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(response.headers(), "retry-after").is_some());
    // The refused request did not consume the refresh token.
    sb.advance(61).await;
    assert_eq!(sb.refresh(&tokens.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn rate_limits_can_be_turned_off() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    for _ in 0..15 {
        let response = sb.api(CALL_LOG, &tokens.access).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("x-rate-limit-limit").is_none());
    }
}

#[tokio::test]
async fn the_admin_reset_clears_rate_limit_counters() {
    let limits = RateLimits {
        light: 1,
        heavy: 1,
        auth: 5,
    };
    let sb = start_with(SandboxConfig {
        rate_limits: Some(limits),
        ..SandboxConfig::default()
    })
    .await;
    let tokens = sb.login().await;
    assert_eq!(
        sb.api(ACCOUNT, &tokens.access).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        sb.api(ACCOUNT, &tokens.access).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sb.admin_post("/__sandbox/reset", json!({})).await.status(),
        StatusCode::NO_CONTENT
    );
    let tokens = sb.login().await;
    assert_eq!(
        sb.api(ACCOUNT, &tokens.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn api_responses_are_not_cacheable() {
    let sb = start().await;
    let tokens = sb.login().await;
    for path in [EXTENSION, ACCOUNT, CALL_LOG] {
        let resp = sb.api(path, &tokens.access).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(
            resp.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
    }
}
