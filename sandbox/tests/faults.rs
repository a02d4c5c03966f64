//! HTTP tests of the fault kinds a flaky network produces: a connection closed without an answer
//! (`reset`), a delay the client gives up on (the endpoint must then never run), and the seeded
//! random share of failures for refreshes and REST reads (`/__sandbox/faults/random`). Each test
//! starts its own sandbox on loopback.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const EXTENSION: &str = "/restapi/v1.0/account/~/extension/~";
const ACCOUNT: &str = "/restapi/v1.0/account/~";

/// A client that opens a fresh connection for every request, so a closed connection is never
/// mistaken for a stale pooled one (and retried) by the client.
fn fresh_client() -> Client {
    Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client")
}

fn refresh_form(refresh_token: &str) -> [(&'static str, String); 3] {
    [
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.to_owned()),
        ("client_id", DEMO_CLIENT.to_owned()),
    ]
}

/// A refresh sent by `client` (which may give up early); the response or the client's error.
async fn refresh_with(
    sb: &Sb,
    client: &Client,
    refresh_token: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    client
        .post(sb.url("/restapi/oauth/token"))
        .header("accept", "application/json")
        .form(&refresh_form(refresh_token))
        .send()
        .await
}

async fn random_report(sb: &Sb) -> Value {
    sb.admin_get("/__sandbox/faults/random").await
}

async fn arm(sb: &Sb, config: Value) {
    let r = sb.admin_post("/__sandbox/faults/random", config).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Token-endpoint entries of the request log that are not code exchanges.
async fn refresh_entries(sb: &Sb) -> Vec<Value> {
    sb.requests()
        .await
        .into_iter()
        .filter(|e| e["path"] == "/restapi/oauth/token" && e["grant_type"] != "authorization_code")
        .collect()
}

// ---- reset -------------------------------------------------------------------------------------

#[tokio::test]
async fn a_reset_fault_closes_the_connection_without_an_answer() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.fault(json!({"target": "extension", "reset": true}))
        .await;
    let client = fresh_client();
    let outcome = client
        .get(sb.url(EXTENSION))
        .bearer_auth(&tokens.access)
        .send()
        .await;
    let error = outcome.expect_err("no response at all, not an HTTP error");
    assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");
    // Used up: the next call is answered normally.
    assert_eq!(
        sb.api(EXTENSION, &tokens.access).await.status(),
        StatusCode::OK
    );
    let log = sb.requests().await;
    let reset = log
        .iter()
        .find(|e| e["path"] == EXTENSION && e["fault"] == true)
        .expect("the reset is logged");
    assert_eq!(reset["status"], 444, "{reset}");
    assert_eq!(reset["error"], "connection_reset", "{reset}");
}

#[tokio::test]
async fn a_reset_refresh_never_reaches_the_endpoint() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.fault(json!({"target": "token", "reset": true, "delay_ms": 100}))
        .await;
    let started = Instant::now();
    let outcome = refresh_with(&sb, &fresh_client(), &tokens.refresh).await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(100));
    // Nothing rotated: the same refresh token is good, and presenting it is not reuse.
    assert_eq!(sb.grants().await[0]["refresh_count"], 0);
    let response = sb.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let grant = &sb.grants().await[0];
    assert_eq!(grant["refresh_count"], 1);
    assert_eq!(grant["revoked"], false);
}

#[tokio::test]
async fn reset_faults_are_validated_and_listed() {
    let sb = start().await;
    for bad in [
        json!({"target": "token", "reset": true, "status": 503}),
        json!({"target": "token", "reset": true, "retry_after_secs": 5}),
        json!({"target": "token", "reset": "yes"}),
    ] {
        let response = sb.admin_post("/__sandbox/faults", bad.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    sb.fault(json!({"target": "api", "count": 2, "reset": true}))
        .await;
    let listed = sb.admin_get("/__sandbox/faults").await;
    assert_eq!(listed[0]["reset"], true);
    assert_eq!(listed[0]["count"], 2);
}

// ---- delays the client gives up on ---------------------------------------------------------------

#[tokio::test]
async fn a_delayed_refresh_is_not_processed_when_the_client_gives_up() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.fault(json!({"target": "token", "delay_ms": 1500})).await;
    // The client gives up after 300 ms, as the app does after 30 s; the fault's wait goes on.
    let impatient = Client::builder()
        .timeout(Duration::from_millis(300))
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client");
    let outcome = refresh_with(&sb, &impatient, &tokens.refresh).await;
    assert!(outcome.err().is_some_and(|e| e.is_timeout()));
    assert!(
        sb.admin_get("/__sandbox/faults").await == json!([]),
        "taken"
    );
    // Well past the fault's delay: the endpoint would have run by now.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let grant = &sb.grants().await[0];
    assert_eq!(grant["refresh_count"], 0, "no token was rotated: {grant}");
    assert_eq!(grant["revoked"], false);
    assert!(
        refresh_entries(&sb).await.is_empty(),
        "the abandoned request was never answered"
    );
    // So the app's retry with the same refresh token is a first use, not reuse.
    let response = sb.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let grant = &sb.grants().await[0];
    assert_eq!(grant["refresh_count"], 1);
    assert_eq!(grant["revoked"], false);
    assert_eq!(grant["revoked_reason"], Value::Null);
}

#[tokio::test]
async fn a_delayed_refresh_whose_client_waits_is_processed_after_the_delay() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.fault(json!({"target": "token", "delay_ms": 400})).await;
    let started = Instant::now();
    let response = refresh_with(&sb, &fresh_client(), &tokens.refresh)
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let log = refresh_entries(&sb).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["grant_type"], "refresh_token");
    assert_eq!(log[0]["fault"], true);
    assert_eq!(sb.grants().await[0]["refresh_count"], 1);
}

#[tokio::test]
async fn a_delayed_read_whose_client_gives_up_is_never_answered() {
    let sb = start().await;
    let tokens = sb.login().await;
    sb.fault(json!({"target": "api", "delay_ms": 1000})).await;
    let impatient = Client::builder()
        .timeout(Duration::from_millis(200))
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client");
    let outcome = impatient
        .get(sb.url(ACCOUNT))
        .bearer_auth(&tokens.access)
        .send()
        .await;
    assert!(outcome.err().is_some_and(|e| e.is_timeout()));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let reads: Vec<Value> = sb
        .requests()
        .await
        .into_iter()
        .filter(|e| e["path"] == ACCOUNT)
        .collect();
    assert!(reads.is_empty(), "{reads:?}");
}

// ---- random faults -------------------------------------------------------------------------------

#[tokio::test]
async fn random_faults_hit_refreshes_but_not_code_exchanges() {
    let sb = start_with(no_limits()).await;
    arm(
        &sb,
        json!({"seed": 1, "probability": 1.0, "targets": ["refresh"], "kinds": ["unavailable"]}),
    )
    .await;
    // A code exchange is a token request too, but not a refresh: untouched.
    let tokens = sb.login().await;
    assert_eq!(
        sb.api(EXTENSION, &tokens.access).await.status(),
        StatusCode::OK,
        "reads are not armed"
    );
    let response = sb.refresh(&tokens.refresh).await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "temporarily_unavailable");
    let log = refresh_entries(&sb).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["grant_type"], "refresh_token", "{:?}", log[0]);
    assert_eq!(log[0]["fault"], true);
    assert_eq!(sb.grants().await[0]["refresh_count"], 0);

    let report = random_report(&sb).await;
    assert_eq!(report["armed"], true);
    assert_eq!(report["seen"], json!({"refresh": 1}));
    assert_eq!(report["injected"], json!({"unavailable": 1}));
    assert_eq!(report["by_target"], json!({"refresh": {"unavailable": 1}}));
    assert_eq!(report["config"]["seed"], 1);
    assert_eq!(report["config"]["timeout_ms"], 35_000);
    assert_eq!(report["config"]["retry_after_secs"], 60);
    assert_eq!(report["config"]["close_connections"], true);

    // Off: the report stays, requests pass, and the token the fault kept from the endpoint works.
    let response = sb.admin_delete("/__sandbox/faults/random").await;
    assert_eq!(response.status(), StatusCode::OK);
    let last: Value = response.json().await.unwrap();
    assert_eq!(last["armed"], false);
    assert_eq!(last["injected"], json!({"unavailable": 1}));
    assert_eq!(sb.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    assert_eq!(random_report(&sb).await["seen"], json!({"refresh": 1}));
}

#[tokio::test]
async fn random_rate_limits_and_resets_hit_rest_reads() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    arm(
        &sb,
        json!({"seed": 3, "probability": 1.0, "targets": ["api-read"],
               "kinds": ["rate-limited"], "retry_after_secs": 4}),
    )
    .await;
    let response = sb.api(EXTENSION, &tokens.access).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(response.headers(), "retry-after").as_deref(),
        Some("4")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errorCode"], "CMN-301");
    // Refreshes are not armed.
    assert_eq!(sb.refresh(&tokens.refresh).await.status(), StatusCode::OK);

    arm(
        &sb,
        json!({"seed": 3, "probability": 1.0, "targets": ["api-read"], "kinds": ["reset"]}),
    )
    .await;
    let outcome = fresh_client()
        .get(sb.url(ACCOUNT))
        .bearer_auth(&tokens.access)
        .send()
        .await;
    assert!(outcome.is_err(), "{outcome:?}");
    let report = random_report(&sb).await;
    assert_eq!(report["seen"], json!({"api-read": 1}), "re-arming restarts");
    assert_eq!(report["injected"], json!({"reset": 1}));
}

#[tokio::test]
async fn a_random_timeout_leaves_the_refresh_unanswered_and_unprocessed() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    arm(
        &sb,
        json!({"seed": 8, "probability": 1.0, "targets": ["refresh"], "kinds": ["timeout"],
               "timeout_ms": 400, "limits": {"timeout": 1}}),
    )
    .await;
    // This client would wait for ever: it still gets no answer, only a closed connection.
    let started = Instant::now();
    let outcome = refresh_with(&sb, &fresh_client(), &tokens.refresh).await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(sb.grants().await[0]["refresh_count"], 0);
    // The limit is reached: the next refresh is drawn but not faulted.
    assert_eq!(sb.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    let report = random_report(&sb).await;
    assert_eq!(report["seen"], json!({"refresh": 2}));
    assert_eq!(report["injected"], json!({"timeout": 1}));
    let grant = &sb.grants().await[0];
    assert_eq!(
        (grant["refresh_count"].clone(), grant["revoked"].clone()),
        (json!(1), json!(false))
    );
}

/// The statuses 30 REST reads get under `seed` (0 for a closed connection).
async fn read_statuses(seed: u64) -> Vec<u16> {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    arm(
        &sb,
        json!({"seed": seed, "probability": 0.5, "targets": ["api-read"],
               "kinds": ["unavailable", "rate-limited", "reset"]}),
    )
    .await;
    let client = fresh_client();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let outcome = client
            .get(sb.url(EXTENSION))
            .bearer_auth(&tokens.access)
            .send()
            .await;
        statuses.push(outcome.map_or(0, |r| r.status().as_u16()));
    }
    let report = random_report(&sb).await;
    let injected: u64 = report["injected"]
        .as_object()
        .map(|o| o.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    assert_eq!(
        injected,
        statuses.iter().filter(|&&s| s != 200).count() as u64,
        "{report}"
    );
    statuses
}

#[tokio::test]
async fn random_faults_repeat_for_a_seed() {
    let first = read_statuses(2026).await;
    assert_eq!(first, read_statuses(2026).await);
    assert_ne!(first, read_statuses(2027).await);
    for status in [0, 200, 429, 503] {
        assert!(first.contains(&status), "{status} in {first:?}");
    }
}

#[tokio::test]
async fn bad_random_faults_are_refused_and_reset_disarms() {
    let sb = start().await;
    for bad in [
        json!({}),
        json!({"probability": 0.5}),
        json!({"seed": 1}),
        json!({"seed": 1, "probability": 2}),
        json!({"seed": -1, "probability": 0.5}),
        json!({"seed": 1, "probability": 0.5, "targets": []}),
        json!({"seed": 1, "probability": 0.5, "targets": ["token"]}),
        json!({"seed": 1, "probability": 0.5, "kinds": ["explode"]}),
        json!({"seed": 1, "probability": 0.5, "kinds": ["reset", "reset"]}),
        json!({"seed": 1, "probability": 0.5, "timeout_ms": 120_000}),
        json!({"seed": 1, "probability": 0.5, "kinds": ["reset"], "limits": {"timeout": 1}}),
        json!({"seed": 1, "probability": 0.5, "bogus": true}),
    ] {
        let response = sb.admin_post("/__sandbox/faults/random", bad.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
    let report = random_report(&sb).await;
    assert_eq!(report["armed"], false);
    assert_eq!(report["config"], Value::Null);

    arm(&sb, json!({"seed": 1, "probability": 1.0})).await;
    assert_eq!(random_report(&sb).await["armed"], true);
    let response = sb.admin_post("/__sandbox/reset", json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let report = random_report(&sb).await;
    assert_eq!(report["armed"], false);
    assert_eq!(report["config"], Value::Null);
    // And DELETE /__sandbox/faults clears the random mode with the queue.
    arm(&sb, json!({"seed": 1, "probability": 1.0})).await;
    let response = sb.admin_delete("/__sandbox/faults").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(random_report(&sb).await["armed"], false);
}

#[tokio::test]
async fn random_faults_close_connections_unless_told_otherwise() {
    let sb = start_with(no_limits()).await;
    let tokens = sb.login().await;
    let connection = |r: &reqwest::Response| header(r.headers(), "connection");
    let before = sb.api(EXTENSION, &tokens.access).await;
    assert_eq!(
        connection(&before),
        None,
        "keep-alive when nothing is armed"
    );
    // Armed with probability 0: nothing fails, but no connection is kept for reuse, so a browser
    // cannot resend a reset request on a reused connection by itself.
    arm(&sb, json!({"seed": 4, "probability": 0.0})).await;
    let armed = sb.api(EXTENSION, &tokens.access).await;
    assert_eq!(armed.status(), StatusCode::OK);
    assert_eq!(connection(&armed).as_deref(), Some("close"));
    let token = sb.refresh(&tokens.refresh).await;
    assert_eq!(token.status(), StatusCode::OK);
    assert_eq!(connection(&token).as_deref(), Some("close"));
    arm(
        &sb,
        json!({"seed": 4, "probability": 0.0, "close_connections": false}),
    )
    .await;
    assert_eq!(connection(&sb.api(EXTENSION, &tokens.access).await), None);
    arm(&sb, json!({"seed": 4, "probability": 0.0})).await;
    sb.admin_delete("/__sandbox/faults/random").await;
    assert_eq!(
        connection(&sb.api(EXTENSION, &tokens.access).await),
        None,
        "disarmed"
    );
}
