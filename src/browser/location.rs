//! The address bar: reading the current URL, the app's base, replacing history entries (so a code
//! never stays in the address bar or in history) and leaving for the authorize page.

use wasm_bindgen::JsValue;

/// The full current URL.
pub fn href() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

/// The app's base URL with a trailing slash, e.g. `https://example.github.io/rc-pkce/`.
///
/// trunk writes the public URL into the boot script's `data-base` (a `<base>` element would be
/// blocked by the CSP's `base-uri 'none'`); without it, the directory of the current page.
pub fn base_url() -> String {
    let window = web_sys::window();
    let origin = window
        .as_ref()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    let data_base = window
        .as_ref()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("script[data-base]").ok().flatten())
        .and_then(|e| e.get_attribute("data-base"))
        .filter(|b| b.starts_with('/'));
    if let Some(base) = data_base {
        let base = if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        };
        return format!("{origin}{base}");
    }
    let here = rc_pkce_core::url::without_query(&href()).to_string();
    match here.rfind('/') {
        Some(i) => here[..=i].to_string(),
        None => format!("{here}/"),
    }
}

/// The base path for the router: `""` at the root, `/sub/path` under a sub-path.
pub fn base_path() -> String {
    let base = base_url();
    let path = rc_pkce_core::url::HttpUrl::parse(&base)
        .map(|u| u.rest)
        .unwrap_or_default();
    path.trim_end_matches('/').to_string()
}

/// True when `url` is the app's redirect URI path (`<base>oauth2callback`), with or without a query.
pub fn is_callback(url: &str) -> bool {
    rc_pkce_core::url::without_query(url) == format!("{}oauth2callback", base_url())
}

/// Replaces the current history entry's URL without navigating.
pub fn replace_url(url: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(url));
    }
}

/// Takes the callback's parameters out of the address bar (and the history entry): the bare
/// redirect URI stays.
pub fn clean_callback_address() {
    replace_url(&format!("{}oauth2callback", base_url()));
}

/// Leaves the app for `url` (the authorize endpoint).
pub fn navigate_away(url: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    window
        .location()
        .assign(url)
        .map_err(|e| super::storage::js_error_text(&e))
}

/// Reloads the page (after Settings change the configuration).
pub fn reload() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}
