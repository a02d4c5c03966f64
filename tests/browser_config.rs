#![cfg(target_arch = "wasm32")]
//! Loading the runtime configuration in Chromium: `get_fresh` reads a document through a real
//! `fetch` (served from a Blob URL), the core's `parse_config` accepts or rejects what came back,
//! `config_loader::load()` resolves `config.json` against the page's base and says precisely when it
//! is missing, and the visitor's Settings go to `localStorage` (no token) and combine with the
//! deployed configuration as documented. An issuer's discovery document is fetched with
//! `get_public`: no cookies, no referrer, no token.
//!
//! The test runner serves its page at `/` and answers other paths from the package directory, so
//! `/config.json` is this repository's own file; a `script[data-base]` element points the loader at
//! a directory that does not exist to get a 404.

use rc_pkce::browser::config_loader::{self, Loaded};
use rc_pkce::browser::http;
use rc_pkce::browser::location;
use rc_pkce::browser::storage::keys;
use rc_pkce_core::config::{
    AppConfig, ConfigError, DEVTEST_SERVER, ServerPreset, Settings, TokenStorage, encode_settings,
    parse_config,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MISSING_DIR: &str = "/rc-pkce-test-missing/";

/// A `blob:` URL that serves `text`; revoke it with [`revoke`].
fn blob_url(text: &str) -> String {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let blob = web_sys::Blob::new_with_str_sequence(&parts).unwrap();
    web_sys::Url::create_object_url_with_blob(&blob).unwrap()
}

fn revoke(url: &str) {
    web_sys::Url::revoke_object_url(url).unwrap();
}

fn origin() -> String {
    web_sys::window().unwrap().location().origin().unwrap()
}

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

/// Adds a non-executing `<script data-base=...>` as trunk's boot script would carry it.
fn set_data_base(base: &str) -> web_sys::Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let script = document.create_element("script").unwrap();
    script.set_attribute("type", "application/json").unwrap();
    script.set_attribute("data-base", base).unwrap();
    document.body().unwrap().append_child(&script).unwrap();
    script
}

/// Fetches a document with `get_fresh` and parses it as the loader would.
async fn fetch_and_parse(text: &str) -> Result<AppConfig, ConfigError> {
    let url = blob_url(text);
    let response = http::get_fresh(&url).await;
    revoke(&url);
    let response = response.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, text.as_bytes());
    parse_config(
        &String::from_utf8(response.body).unwrap(),
        &location::base_url(),
    )
}

fn missing_config_error() -> ConfigError {
    ConfigError {
        field: None,
        problem: format!(
            "config.json is missing: {}{MISSING_DIR}config.json answered 404 Not Found.",
            origin()
        ),
        fix: "Deploy a config.json beside index.html containing at least {\"client_id\": \"YOUR_CLIENT_ID\"} — or enter your client ID on the Settings page.".into(),
    }
}

#[wasm_bindgen_test]
async fn get_fresh_returns_status_and_body_of_a_blob() {
    let text = "{\"client_id\": \"blob-client\", \"note\": \"ünïcödé\"}";
    let url = blob_url(text);
    let response = http::get_fresh(&url).await;
    revoke(&url);
    let response = response.unwrap();
    assert_eq!(response.status, 200);
    assert!(response.is_success());
    assert_eq!(response.body, text.as_bytes());
    assert_eq!(response.retry_after, None);
}

#[wasm_bindgen_test]
async fn a_fetched_config_parses_to_the_expected_app_config() {
    let base = location::base_url();
    let config = fetch_and_parse(
        r#"{
            "client_id": "blob-client",
            "server": "https://platform.devtest.ringcentral.com/",
            "token_storage": "memory",
            "scope": "ReadAccounts ReadCallLog",
            "prompt": "login"
        }"#,
    )
    .await
    .unwrap();
    assert_eq!(
        config,
        AppConfig {
            client_id: "blob-client".into(),
            server: DEVTEST_SERVER.into(),
            redirect_uri: format!("{base}oauth2callback"),
            authorize_endpoint: format!("{DEVTEST_SERVER}/restapi/oauth/authorize"),
            token_endpoint: format!("{DEVTEST_SERVER}/restapi/oauth/token"),
            revoke_endpoint: format!("{DEVTEST_SERVER}/restapi/oauth/revoke"),
            api_base: format!("{DEVTEST_SERVER}/restapi/v1.0"),
            scope: Some("ReadAccounts ReadCallLog".into()),
            issuer: None,
            token_storage: TokenStorage::Memory,
            prompt: Some("login".into()),
            ui_locales: None,
            brand_id: None,
            display: None,
            discovery: false,
            explicit: vec![],
            iss_optional: true,
            jwks_uri: format!("{DEVTEST_SERVER}/restapi/oauth/jwks"),
            openid: false,
            userinfo_endpoint: format!("{DEVTEST_SERVER}/restapi/oauth/userinfo"),
        }
    );
}

#[wasm_bindgen_test]
async fn fetched_configs_with_mistakes_are_rejected_naming_the_field() {
    let missing = fetch_and_parse(r#"{"server": "https://platform.ringcentral.com"}"#)
        .await
        .unwrap_err();
    assert_eq!(missing.field.as_deref(), Some("client_id"));
    assert_eq!(missing.problem, "is missing.");

    let unknown = fetch_and_parse(r#"{"client_id": "abc", "clientid": "abc"}"#)
        .await
        .unwrap_err();
    assert_eq!(unknown.field.as_deref(), Some("clientid"));
    assert_eq!(unknown.problem, "is not a setting this app knows.");
    assert!(
        unknown.fix.starts_with("Did you mean `client_id`?"),
        "{}",
        unknown.fix
    );

    let secret = fetch_and_parse(r#"{"client_id": "abc", "client_secret": "s3cr3t"}"#)
        .await
        .unwrap_err();
    assert_eq!(secret.field.as_deref(), Some("client_secret"));
    assert!(
        secret.problem.contains("must not have a client secret"),
        "{}",
        secret.problem
    );

    let broken = fetch_and_parse("{\"client_id\": ").await.unwrap_err();
    assert_eq!(broken.field, None);
    assert!(broken.problem.starts_with("config.json is not valid JSON"));
}

#[wasm_bindgen_test]
async fn load_reports_a_missing_config_json_as_a_404_at_the_base() {
    let script = set_data_base(MISSING_DIR);
    let base = location::base_url();
    let loaded = config_loader::load().await;
    script.remove();

    assert_eq!(base, format!("{}{MISSING_DIR}", origin()));
    match loaded {
        Loaded::Failed(e) => assert_eq!(e, missing_config_error()),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn load_at_the_page_directory_reads_and_validates_the_served_config_json() {
    // The runner serves the repository's config.json at /config.json.
    let base = location::base_url();
    assert_eq!(base, format!("{}/", origin()));
    let served = http::get_fresh(&format!("{base}config.json"))
        .await
        .unwrap();
    assert_eq!(
        served.status, 200,
        "config.json is not served beside the page"
    );
    let expected = parse_config(&String::from_utf8(served.body).unwrap(), &base);

    match (config_loader::load().await, expected) {
        (
            Loaded::Ready {
                config,
                settings,
                warning,
            },
            Ok(expected),
        ) => {
            assert_eq!(*config, expected);
            assert_eq!(settings, None);
            assert_eq!(warning, None);
            assert_eq!(config.redirect_uri, format!("{base}oauth2callback"));
        }
        (Loaded::Failed(e), Err(expected)) => assert_eq!(e, expected),
        (loaded, expected) => panic!("load() gave {loaded:?}, parse_config gave {expected:?}"),
    }
}

#[wasm_bindgen_test]
fn settings_are_saved_to_local_storage_without_tokens_and_reset_removes_them() {
    let settings = Settings {
        client_id: "settings-client-42".into(),
        preset: ServerPreset::Devtest,
    };
    config_loader::save_settings(&settings).unwrap();
    let stored = local_storage().get_item(keys::SETTINGS).unwrap().unwrap();
    assert_eq!(stored, encode_settings(&settings));

    let json: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let mut fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["client_id", "preset"]);
    assert_eq!(json["client_id"], "settings-client-42");
    assert!(!stored.to_ascii_lowercase().contains("token"));
    // Nothing went to sessionStorage.
    let session = web_sys::window()
        .unwrap()
        .session_storage()
        .unwrap()
        .unwrap();
    assert_eq!(session.get_item(keys::SETTINGS).unwrap(), None);

    config_loader::reset_settings().unwrap();
    assert_eq!(local_storage().get_item(keys::SETTINGS).unwrap(), None);
}

#[wasm_bindgen_test]
async fn saved_settings_keep_the_app_usable_when_config_json_is_missing() {
    let settings = Settings {
        client_id: "settings-over-defaults".into(),
        preset: ServerPreset::Devtest,
    };
    config_loader::save_settings(&settings).unwrap();
    let script = set_data_base(MISSING_DIR);
    let loaded = config_loader::load().await;
    script.remove();
    config_loader::reset_settings().unwrap();

    let Loaded::Ready {
        config,
        settings: in_effect,
        warning,
    } = loaded
    else {
        panic!("expected Ready, got {loaded:?}");
    };
    assert_eq!(in_effect, Some(settings));
    assert_eq!(warning, Some(missing_config_error()));
    assert_eq!(config.client_id, "settings-over-defaults");
    assert_eq!(config.server, DEVTEST_SERVER);
    assert_eq!(
        config.token_endpoint,
        format!("{DEVTEST_SERVER}/restapi/oauth/token")
    );
    assert_eq!(
        config.redirect_uri,
        format!("{}{MISSING_DIR}oauth2callback", origin())
    );
}

#[wasm_bindgen_test]
async fn damaged_settings_are_deleted_when_loading() {
    local_storage()
        .set_item(keys::SETTINGS, "{\"client_id\": \"has spaces in it\"")
        .unwrap();
    let script = set_data_base(MISSING_DIR);
    let loaded = config_loader::load().await;
    script.remove();
    let left = local_storage().get_item(keys::SETTINGS).unwrap();
    local_storage().remove_item(keys::SETTINGS).unwrap();

    assert_eq!(left, None, "damaged Settings were kept");
    match loaded {
        Loaded::Failed(e) => {
            let expected = missing_config_error();
            assert_eq!(e.problem, expected.problem);
            // The deleted Settings are not forgotten silently: the fix says so too.
            assert!(e.fix.starts_with(&expected.fix), "{}", e.fix);
            assert!(
                e.fix
                    .contains("Your saved Settings were damaged and have been deleted."),
                "{}",
                e.fix
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn damaged_settings_over_a_good_config_json_become_a_warning() {
    local_storage()
        .set_item(
            keys::SETTINGS,
            "{\"client_id\": \"two words\", \"preset\": \"devtest\"}",
        )
        .unwrap();
    let loaded = config_loader::load().await;
    let left = local_storage().get_item(keys::SETTINGS).unwrap();
    local_storage().remove_item(keys::SETTINGS).unwrap();

    assert_eq!(left, None, "damaged Settings were kept");
    match loaded {
        Loaded::Ready {
            settings, warning, ..
        } => {
            assert_eq!(settings, None);
            let warning = warning.expect("no warning about the damaged Settings");
            assert_eq!(
                warning.problem,
                "Your saved Settings were damaged and have been deleted."
            );
        }
        Loaded::Failed(e) => panic!("the repository's config.json did not load: {e}"),
    }
}

/// The discovery GET carries nothing of the visitor's: no cookies, no referrer, no token.
#[wasm_bindgen_test]
async fn a_public_document_is_fetched_without_credentials() {
    let text = r#"{"issuer":"https://idp.example"}"#;
    let url = blob_url(text);
    let request = http::Outgoing::Public { url: &url }
        .to_request(None)
        .unwrap();
    assert_eq!(request.method(), "GET");
    assert_eq!(request.credentials(), web_sys::RequestCredentials::Omit);
    assert_eq!(
        request.referrer_policy(),
        web_sys::ReferrerPolicy::NoReferrer
    );
    let headers = request.headers();
    assert_eq!(headers.get("authorization").unwrap(), None);
    assert_eq!(
        headers.get("accept").unwrap().as_deref(),
        Some("application/json")
    );
    let response = http::get_public(&url).await;
    revoke(&url);
    let response = response.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, text.as_bytes());
}
