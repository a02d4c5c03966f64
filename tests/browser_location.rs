#![cfg(target_arch = "wasm32")]
//! The address-bar adapter in Chromium: `base_url()` is the current page's directory unless the
//! boot script carries `data-base` (then origin + that path, with one trailing slash), `base_path()`
//! is what the router mounts under, and `replace_url` rewrites the current history entry (same
//! origin only) without adding an entry or reloading the page.
//!
//! Every test puts the page's URL and DOM back as it found them: the runner reads its results from
//! this page.

use rc_pkce::browser::location;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn window() -> web_sys::Window {
    web_sys::window().unwrap()
}

fn origin() -> String {
    window().location().origin().unwrap()
}

fn history_length() -> u32 {
    window().history().unwrap().length().unwrap()
}

/// Adds a non-executing `<script data-base=...>`; the caller removes it.
fn add_data_base(base: &str) -> web_sys::Element {
    let document = window().document().unwrap();
    let script = document.create_element("script").unwrap();
    script.set_attribute("type", "application/json").unwrap();
    script.set_attribute("data-base", base).unwrap();
    document.body().unwrap().append_child(&script).unwrap();
    script
}

/// A value only this page instance holds: gone if the page reloads.
fn mark_page(value: &str) {
    js_sys::Reflect::set(
        &js_sys::global(),
        &"__rcPkceLocationMarker".into(),
        &value.into(),
    )
    .unwrap();
}

fn page_mark() -> Option<String> {
    js_sys::Reflect::get(&js_sys::global(), &"__rcPkceLocationMarker".into())
        .unwrap()
        .as_string()
}

#[wasm_bindgen_test]
fn without_data_base_the_base_is_the_directory_of_the_page() {
    let loc = window().location();
    let path = loc.pathname().unwrap();
    let dir = &path[..=path.rfind('/').unwrap()];
    assert_eq!(location::base_url(), format!("{}{dir}", origin()));
    assert!(location::base_url().ends_with('/'));
    assert_eq!(location::href(), loc.href().unwrap());
    // The runner's page is at the root.
    assert_eq!(location::base_path(), "");
}

#[wasm_bindgen_test]
fn the_base_follows_the_page_into_a_sub_directory_ignoring_query_and_fragment() {
    let original = location::href();
    let length = history_length();
    location::replace_url(&format!(
        "{}/apps/rc-pkce/index.html?code=x/y#frag/ment",
        origin()
    ));
    let base = location::base_url();
    let path = location::base_path();
    location::replace_url(&original);

    assert_eq!(base, format!("{}/apps/rc-pkce/", origin()));
    assert_eq!(path, "/apps/rc-pkce");
    assert_eq!(location::href(), original);
    assert_eq!(history_length(), length);
}

#[wasm_bindgen_test]
fn data_base_sets_base_url_and_base_path() {
    let script = add_data_base("/sub/");
    let base = location::base_url();
    let path = location::base_path();
    script.remove();

    assert_eq!(base, format!("{}/sub/", origin()));
    assert_eq!(path, "/sub");
    // Removed: back to the page's directory.
    assert_eq!(location::base_url(), format!("{}/", origin()));
}

#[wasm_bindgen_test]
fn data_base_gets_one_trailing_slash_and_must_be_a_path() {
    let script = add_data_base("/deep/sub");
    let nested = (location::base_url(), location::base_path());
    script.remove();
    assert_eq!(nested.0, format!("{}/deep/sub/", origin()));
    assert_eq!(nested.1, "/deep/sub");

    // An absolute URL (another origin) or a relative path is not a base: it is ignored.
    for bad in ["https://evil.example/", "sub/", ""] {
        let script = add_data_base(bad);
        let base = location::base_url();
        script.remove();
        assert_eq!(base, format!("{}/", origin()), "data-base={bad:?}");
    }
}

#[wasm_bindgen_test]
fn replace_url_changes_the_address_without_a_history_entry_or_reload() {
    let original = location::href();
    let length = history_length();
    mark_page("before-replace");

    let with_query = format!("{}/?code=abc&state=xyz", origin());
    location::replace_url(&with_query);
    let after_query = (location::href(), window().location().search().unwrap());
    let length_after_query = history_length();

    let without_query = format!("{}/", origin());
    location::replace_url(&without_query);
    let after_clean = (location::href(), window().location().search().unwrap());

    location::replace_url(&original);

    assert_eq!(after_query.0, with_query);
    assert_eq!(after_query.1, "?code=abc&state=xyz");
    assert_eq!(length_after_query, length);
    assert_eq!(after_clean.0, without_query);
    assert_eq!(after_clean.1, "");
    assert_eq!(history_length(), length);
    assert_eq!(location::href(), original);
    assert_eq!(page_mark().as_deref(), Some("before-replace"));
}

#[wasm_bindgen_test]
fn replace_url_to_another_origin_is_refused_quietly() {
    let original = location::href();
    let length = history_length();
    // history.replaceState throws a SecurityError for another origin; the adapter ignores it.
    location::replace_url("https://example.invalid/steal?code=abc");
    assert_eq!(location::href(), original);
    assert_eq!(history_length(), length);
}
