//! Loads the runtime configuration: `config.json` from beside `index.html` (relative to the page's
//! base, so sub-path hosting works) and the visitor's Settings from `localStorage`, and combines
//! them into the configuration the app runs with. When that configuration asks for discovery, it
//! also fetches the issuer's metadata document, once per page load; what the answer means (the
//! endpoints taken, or the error shown) is the core's to decide (`discovery::configure`).

use rc_pkce_core::config::{
    AppConfig, ConfigError, Settings, decode_settings, encode_settings, parse_config,
};
use rc_pkce_core::discovery::{self, Fetched};

use super::http;
use super::location;
use super::storage::{KeyValue, StorageError, WebStorage, keys};

/// The outcome of loading the configuration.
#[derive(Debug, Clone)]
pub enum Loaded {
    Ready {
        config: Box<AppConfig>,
        /// The visitor's Settings in effect, if any.
        settings: Option<Settings>,
        /// A problem that did not stop the app (e.g. a broken config.json overridden by Settings).
        warning: Option<ConfigError>,
    },
    Failed(ConfigError),
}

/// Fetches and validates everything. Never fails silently: every problem is a [`ConfigError`].
pub async fn load() -> Loaded {
    match combined().await {
        Loaded::Ready {
            config,
            settings,
            warning,
        } => match discover(*config).await {
            Ok(config) => Loaded::Ready {
                config: Box::new(config),
                settings,
                warning,
            },
            // Endpoints the configuration cannot know are no sign-in to offer.
            Err(e) => Loaded::Failed(e),
        },
        failed => failed,
    }
}

/// `config` with the endpoints of its issuer's metadata document, when it asks for discovery:
/// one GET, no credentials, no token; the core reads the answer.
async fn discover(config: AppConfig) -> Result<AppConfig, ConfigError> {
    let Some(url) = discovery::document_url(&config) else {
        return Ok(config);
    };
    let (answer, why) = match http::get_public(&url).await {
        Ok(response) => (Some(response), String::new()),
        Err(e) => (None, e.title()),
    };
    let fetched = match &answer {
        Some(response) => Fetched::Answered {
            status: response.status,
            body: &response.body,
        },
        None => Fetched::Failed(&why),
    };
    discovery::configure(&config, &url, fetched)
}

/// config.json and the visitor's Settings, combined.
async fn combined() -> Loaded {
    let base = location::base_url();
    let deployed = fetch_config(&base).await;
    let (settings, settings_problem) = load_settings();
    match (deployed, settings) {
        (Ok(deployed), Some(s)) => Loaded::Ready {
            config: Box::new(s.apply(&deployed)),
            settings: Some(s),
            warning: settings_problem,
        },
        (Ok(deployed), None) => Loaded::Ready {
            config: Box::new(deployed),
            settings: None,
            warning: settings_problem,
        },
        (Err(e), Some(s)) => match defaults(&base) {
            Some(d) => Loaded::Ready {
                config: Box::new(s.apply(&d)),
                settings: Some(s),
                warning: Some(e),
            },
            None => Loaded::Failed(e),
        },
        (Err(mut e), None) => {
            if let Some(lost) = settings_problem {
                e.fix = format!("{} ({} {})", e.fix, lost.problem, lost.fix);
            }
            Loaded::Failed(e)
        }
    }
}

/// A configuration with every default, for Settings to apply over when config.json is unusable.
pub fn defaults(base: &str) -> Option<AppConfig> {
    parse_config(r#"{"client_id":"unset"}"#, base).ok()
}

async fn fetch_config(base: &str) -> Result<AppConfig, ConfigError> {
    let url = format!("{base}config.json");
    let (status, body) = match prefetched(&url).await {
        Some(answer) => answer,
        None => {
            let response = http::get_fresh(&url).await.map_err(|e| ConfigError {
                field: None,
                problem: format!("config.json could not be loaded from {url}: {}", e.title()),
                fix: "Check that the site is reachable and that config.json is deployed beside index.html, then reload.".into(),
            })?;
            let text = String::from_utf8(response.body).map_err(|_| ConfigError {
                field: None,
                problem: "config.json is not UTF-8 text.".into(),
                fix: "Save it as UTF-8 JSON.".into(),
            })?;
            (response.status, text)
        }
    };
    match status {
        200 => parse_config(&body, base),
        404 => Err(ConfigError {
            field: None,
            problem: format!("config.json is missing: {url} answered 404 Not Found."),
            fix: "Deploy a config.json beside index.html containing at least {\"client_id\": \"YOUR_CLIENT_ID\"} — or enter your client ID on the Settings page.".into(),
        }),
        status => Err(ConfigError {
            field: None,
            problem: format!("config.json could not be loaded: {url} answered HTTP {status}."),
            fix: "Check the web server's configuration for config.json, then reload.".into(),
        }),
    }
}

/// boot.js starts fetching config.json while the wasm module downloads and compiles, and leaves
/// the promise on `window.rcPkceConfig` (`{url, status, body}`). Taken once; `None` when absent,
/// for another URL, or failed (the caller then fetches itself and classifies the failure).
async fn prefetched(url: &str) -> Option<(u16, String)> {
    let answer = peek_prefetched(url).await;
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::delete_property(&window, &"rcPkceConfig".into());
    }
    answer
}

/// The answer boot.js got for `url`, left in place for the app (the first-load module reads it
/// first).
pub async fn peek_prefetched(url: &str) -> Option<(u16, String)> {
    use js_sys::{Promise, Reflect};
    use wasm_bindgen::JsCast;
    let window = web_sys::window()?;
    let promise = Reflect::get(&window, &"rcPkceConfig".into())
        .ok()?
        .dyn_into::<Promise>()
        .ok()?;
    let answer = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let field = |name: &str| Reflect::get(&answer, &name.into()).ok();
    if field("url")?.as_string()? != url {
        return None;
    }
    let status = field("status")?.as_f64()?;
    let body = field("body")?.as_string()?;
    Some((status as u16, body))
}

/// The configuration when nothing about it needs explaining: config.json answered and is valid,
/// and the visitor's Settings, if any, are readable. `None` otherwise; the app then loads it
/// with [`load`], which says what is wrong. Nothing is fetched here: with discovery the endpoints
/// are still config.json's defaults, so a first-load module asks the configuration whether it may
/// act at all (`AppConfig::first_load_home`, `first_load_callback`).
pub async fn load_if_clean() -> Option<AppConfig> {
    let base = location::base_url();
    let (status, body) = peek_prefetched(&format!("{base}config.json")).await?;
    if status != 200 {
        return None;
    }
    let deployed = parse_config(&body, &base).ok()?;
    match WebStorage::local().get(keys::SETTINGS) {
        Ok(Some(text)) => decode_settings(&text).map(|s| s.apply(&deployed)),
        Ok(None) | Err(_) => Some(deployed),
    }
}

fn load_settings() -> (Option<Settings>, Option<ConfigError>) {
    let store = WebStorage::local();
    match store.get(keys::SETTINGS) {
        Ok(None) => (None, None),
        Ok(Some(text)) => match decode_settings(&text) {
            Some(s) => (Some(s), None),
            None => {
                let _ = store.remove(keys::SETTINGS);
                (
                    None,
                    Some(ConfigError {
                        field: None,
                        problem: "Your saved Settings were damaged and have been deleted.".into(),
                        fix: "Enter your client ID again on the Settings page if you had one."
                            .into(),
                    }),
                )
            }
        },
        // localStorage blocked: Settings cannot persist, but the deployed config still works.
        Err(_) => (None, None),
    }
}

/// Saves the visitor's Settings. They hold a client ID and a preset, never a token.
pub fn save_settings(settings: &Settings) -> Result<(), StorageError> {
    WebStorage::local().set(keys::SETTINGS, &encode_settings(settings))
}

/// Forgets the visitor's Settings: the deployed config applies again.
pub fn reset_settings() -> Result<(), StorageError> {
    WebStorage::local().remove(keys::SETTINGS)
}
