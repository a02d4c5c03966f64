#![cfg(target_arch = "wasm32")]
//! How the `fetch` adapter classifies failures in Chromium, without leaving the machine: a refused
//! connection (`127.0.0.1:9`) is a `Network` error naming the origin, a non-2xx answer is a response
//! (not an error), an oversized body is refused, and a cross-origin request to a server that sends no
//! CORS headers (the runner's own server under its other loopback name) is told apart by the
//! opaque probe.
//!
//! The runner serves its page cross-origin isolated (`Cross-Origin-Embedder-Policy: require-corp`)
//! unless `WASM_BINDGEN_TEST_NO_ORIGIN_ISOLATION` is set. Under that policy the browser also blocks
//! the `no-cors` probe, so a CORS refusal can only show as `Network`; the CORS test checks the
//! classification that matches the page it runs in.

use rc_pkce::browser::http::{self, MAX_BODY_BYTES};
use rc_pkce_core::error::ErrorKind;
use rc_pkce_core::secret::RefreshToken;
use rc_pkce_core::token::{RevokeRequest, TokenRequest};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const UNREACHABLE: &str = "http://127.0.0.1:9";

fn location() -> web_sys::Location {
    web_sys::window().unwrap().location()
}

fn cross_origin_isolated() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into())
        .unwrap()
        .is_truthy()
}

/// The page's own server under the other loopback name: same server, different origin.
fn other_origin() -> String {
    let loc = location();
    let host = loc.hostname().unwrap();
    let other = match host.as_str() {
        "127.0.0.1" => "localhost",
        "localhost" => "127.0.0.1",
        other => panic!("the runner page is on an unexpected host {other}"),
    };
    format!(
        "{}//{other}:{}",
        loc.protocol().unwrap(),
        loc.port().unwrap()
    )
}

fn refresh_body() -> rc_pkce_core::token::FormBody {
    TokenRequest::Refresh {
        refresh_token: RefreshToken::new("rt-http-test"),
        client_id: "http-test-client".into(),
    }
    .form_body()
}

#[wasm_bindgen_test]
async fn a_refused_connection_is_a_network_error_naming_the_origin() {
    let error = http::post_form(&format!("{UNREACHABLE}/token"), &refresh_body())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Network);
    assert_eq!(error.origin.as_deref(), Some(UNREACHABLE));
    assert_eq!(error.status, None);
    assert!(error.is_transient());
    assert_eq!(
        error.title(),
        "Could not reach http://127.0.0.1:9: the request got no response."
    );
    // The browser's own reason is kept as a detail.
    assert!(error.server_message.is_some_and(|m| !m.is_empty()));
}

#[wasm_bindgen_test]
async fn bearer_gets_and_revokes_to_an_unreachable_server_are_network_errors_too() {
    let get = http::get_with_bearer(&format!("{UNREACHABLE}/restapi/v1.0/account/~"), "at-x")
        .await
        .unwrap_err();
    assert_eq!(get.kind, ErrorKind::Network);
    assert_eq!(get.origin.as_deref(), Some(UNREACHABLE));

    let revoke = RevokeRequest::Refresh {
        token: RefreshToken::new("rt-x"),
        client_id: "c".into(),
    };
    let post = http::post_form(&format!("{UNREACHABLE}/revoke"), &revoke.form_body())
        .await
        .unwrap_err();
    assert_eq!(post.kind, ErrorKind::Network);
}

#[wasm_bindgen_test]
async fn a_same_origin_404_is_a_response_not_an_error() {
    let url = format!("{}/rc-pkce-no-such-file.json", location().origin().unwrap());
    let response = http::get_fresh(&url).await.unwrap();
    assert_eq!(response.status, 404);
    assert!(!response.is_success());
}

#[wasm_bindgen_test]
async fn a_same_origin_form_post_gets_the_servers_status() {
    // The runner's server has no POST routes: it answers, with a client error.
    let url = format!("{}/rc-pkce-token", location().origin().unwrap());
    let response = http::post_form(&url, &refresh_body()).await.unwrap();
    assert!(
        (400..500).contains(&response.status),
        "status {}",
        response.status
    );
}

#[wasm_bindgen_test]
async fn a_body_over_the_size_limit_is_refused() {
    let size = MAX_BODY_BYTES + 1;
    let parts = js_sys::Array::of1(&JsValue::from_str(&"a".repeat(size)));
    let blob = web_sys::Blob::new_with_str_sequence(&parts).unwrap();
    let url = web_sys::Url::create_object_url_with_blob(&blob).unwrap();
    let result = http::get_fresh(&url).await;
    web_sys::Url::revoke_object_url(&url).unwrap();

    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::BadResponse);
    assert_eq!(error.status, Some(200));
    assert_eq!(
        error.server_message.as_deref(),
        Some(format!("the response is {size} bytes, more than this app accepts").as_str())
    );
}

/// A response whose body never ends and carries no length (as a chunked or compressed one may):
/// 1 MiB per pull, counted in `window.rcPkcePulls`.
fn endless_response() -> web_sys::Response {
    let make = js_sys::Function::new_no_args(
        "window.rcPkcePulls = 0; const chunk = new Uint8Array(1 << 20).fill(120); \
         return new Response(new ReadableStream({ pull(c) { window.rcPkcePulls += 1; c.enqueue(chunk); } }));",
    );
    wasm_bindgen::JsCast::unchecked_into(make.call0(&JsValue::NULL).unwrap())
}

#[wasm_bindgen_test]
async fn an_endless_body_without_a_length_is_given_up_at_the_limit() {
    let response = endless_response();
    let result = http::read_body(&response).await;
    assert!(
        matches!(result, Err(http::BodyError::TooLarge)),
        "{result:?}"
    );
    let pulls = js_sys::Reflect::get(&js_sys::global(), &"rcPkcePulls".into())
        .unwrap()
        .as_f64()
        .unwrap();
    // 2 MiB allowed: the third chunk passes the limit; a few more may be queued ahead.
    assert!(pulls <= 6.0, "read {pulls} MiB before giving up");
}

#[wasm_bindgen_test]
async fn a_body_at_the_size_limit_is_accepted() {
    let parts = js_sys::Array::of1(&JsValue::from_str(&"b".repeat(MAX_BODY_BYTES)));
    let blob = web_sys::Blob::new_with_str_sequence(&parts).unwrap();
    let url = web_sys::Url::create_object_url_with_blob(&blob).unwrap();
    let result = http::get_fresh(&url).await;
    web_sys::Url::revoke_object_url(&url).unwrap();
    assert_eq!(result.unwrap().body.len(), MAX_BODY_BYTES);
}

#[wasm_bindgen_test]
async fn a_cross_origin_server_without_cors_headers_is_classified() {
    let origin = other_origin();
    let error = http::post_form(&format!("{origin}/token"), &refresh_body())
        .await
        .unwrap_err();
    assert_eq!(error.origin.as_deref(), Some(origin.as_str()));
    if cross_origin_isolated() {
        // COEP require-corp blocks the opaque probe as well (the runner's server sends no
        // Cross-Origin-Resource-Policy), so reachability cannot be proven from this page.
        assert_eq!(error.kind, ErrorKind::Network, "{error:?}");
    } else {
        assert_eq!(error.kind, ErrorKind::Cors, "{error:?}");
        assert_eq!(
            error.title(),
            format!(
                "{origin} answered, but the browser blocked the response (CORS): it does not allow this page's origin."
            )
        );
        assert!(!error.is_transient());
    }

    // A GET with a bearer token (preflighted) is classified the same way.
    let get = http::get_with_bearer(&format!("{origin}/restapi/v1.0/account/~"), "at-x")
        .await
        .unwrap_err();
    let expected = if cross_origin_isolated() {
        ErrorKind::Network
    } else {
        ErrorKind::Cors
    };
    assert_eq!(get.kind, expected, "{get:?}");
}
