#![cfg(target_arch = "wasm32")]
//! The hand-off between a first-load module and the app (`rc_pkce::early`) in Chromium: an answer
//! sent ahead is served to the app (through its platform, `rc_pkce::web`) only for the identical
//! request, once, with the whole body for both readers and without a second `fetch`; what is not
//! taken can be dropped; the pending record is handed over once.
//!
//! The test runner answers paths from the package directory, so `/config.json` is this
//! repository's file.

use rc_pkce::browser::http::{HttpResponse, Outgoing, read_body};
use rc_pkce::early;
use rc_pkce::platform::{Platform, Request};
use rc_pkce::web::WebPlatform;
use rc_pkce_core::config::parse_config;
use rc_pkce_core::error::ApiError;
use rc_pkce_core::secret::RefreshToken;
use rc_pkce_core::token::TokenRequest;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn url(query: &str) -> String {
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    // A query of its own per test, so Resource Timing counts each test's fetches apart.
    format!("{origin}/config.json?{query}")
}

fn fetches_of(url: &str) -> u32 {
    web_sys::window()
        .unwrap()
        .performance()
        .unwrap()
        .get_entries_by_name(url)
        .length()
}

/// What the app does with a request: the early answer if the first-load module sent this very
/// request, else a fetch.
async fn app_sends(request: Request) -> Result<HttpResponse, ApiError> {
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    let config = parse_config(
        r#"{"client_id": "early-test", "server": "http://127.0.0.1:5001"}"#,
        &format!("{origin}/"),
    )
    .unwrap();
    WebPlatform::new(&config).take_early_or_send(&request).await
}

fn bearer(url: &str, token: &str) -> Request {
    Request::Bearer {
        url: url.into(),
        token: token.into(),
    }
}

fn config_json() -> Vec<u8> {
    include_bytes!("../config.json").to_vec()
}

#[wasm_bindgen_test]
async fn an_answer_is_served_once_and_only_for_the_identical_request() {
    let url = url("identical");
    let other = format!("{url}-other");
    let sent = early::send_ahead(&Outgoing::Bearer {
        url: &url,
        token: "token-1",
    })
    .unwrap();
    assert!(!early::taken("GET", &url));
    for different in [
        Outgoing::Bearer {
            url: &url,
            token: "token-2",
        },
        Outgoing::Bearer {
            url: &other,
            token: "token-1",
        },
        Outgoing::Form {
            url: &url,
            body: "token-1",
        },
        Outgoing::Fresh { url: &url },
    ] {
        assert!(early::take(&different).is_none(), "{different:?}");
    }
    // The module that sent it reads the answer...
    let response: web_sys::Response = JsFuture::from(sent).await.unwrap().dyn_into().unwrap();
    assert_eq!(read_body(&response).await.unwrap(), config_json());
    // ...and the app gets its own copy, whole, without asking again.
    let answer = app_sends(bearer(&url, "token-1")).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, config_json());
    assert!(early::taken("GET", &url));
    assert_eq!(
        fetches_of(&url),
        1,
        "the app's request was served from the hand-off"
    );
    // Taken once: the same request again goes to the network.
    assert!(
        early::take(&Outgoing::Bearer {
            url: &url,
            token: "token-1"
        })
        .is_none()
    );
    let again = app_sends(bearer(&url, "token-1")).await.unwrap();
    assert_eq!(again.body, config_json());
    assert_eq!(fetches_of(&url), 2);
}

#[wasm_bindgen_test]
async fn what_the_app_does_not_take_is_dropped() {
    let url = url("dropped");
    let _ = early::send_ahead(&Outgoing::Form {
        url: &url,
        body: "code=abc",
    })
    .unwrap();
    assert!(!early::taken("POST", &url));
    early::discard_rest();
    assert!(early::taken("POST", &url));
    assert!(
        early::take(&Outgoing::Form {
            url: &url,
            body: "code=abc"
        })
        .is_none()
    );
}

#[wasm_bindgen_test]
async fn a_failed_fetch_reaches_the_app_as_a_network_error() {
    let url = "http://127.0.0.1:9/restapi/oauth/token";
    let body = TokenRequest::Refresh {
        refresh_token: RefreshToken::new("rt-early"),
        client_id: "early-test".into(),
    }
    .form_body();
    let sent = early::send_ahead(&Outgoing::Form {
        url,
        body: body.expose(),
    })
    .unwrap();
    assert!(JsFuture::from(sent).await.is_err());
    let error = app_sends(Request::Form {
        url: url.into(),
        body,
    })
    .await
    .unwrap_err();
    assert_eq!(error.kind, rc_pkce_core::error::ErrorKind::Network);
    assert!(early::taken("POST", url));
}

#[wasm_bindgen_test]
fn the_pending_record_is_handed_over_once() {
    assert_eq!(early::take_pending(), None);
    early::set_pending("{\"v\":1}");
    assert_eq!(early::take_pending().as_deref(), Some("{\"v\":1}"));
    assert_eq!(early::take_pending(), None);
}

#[wasm_bindgen_test]
fn the_drawn_page_and_the_take_over_are_recorded() {
    early::set_painted("home");
    assert_eq!(early::painted().as_deref(), Some("home"));
    assert!(!early::app_took_over());
    early::set_app_took_over();
    assert!(early::app_took_over());
}
