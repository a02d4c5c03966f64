#![cfg(target_arch = "wasm32")]
//! The first-load module's home page and the app's home page are one page: both are drawn in
//! Chromium from the same configuration and compared in a normalised form, so the two cannot drift
//! apart (the app takes the first-load page's place without anything moving).
//!
//! The test runner answers paths from the package directory, so `/config.json` is this
//! repository's file.

mod common;

use common::sleep;
use rc_pkce::browser::http;
use rc_pkce::browser::location;
use rc_pkce::first_load::pages;
use rc_pkce_core::config::parse_config;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// `node` as text that ignores what may differ without the page looking different: attribute
/// order, whitespace between elements, comments (Leptos' markers), empty attribute-less
/// placeholders, and how a link's address is written (compared resolved).
fn normalised(node: &web_sys::Node) -> String {
    let mut out = String::new();
    let mut child = node.first_child();
    while let Some(c) = child {
        out.push_str(&one(&c));
        child = c.next_sibling();
    }
    out
}

fn one(node: &web_sys::Node) -> String {
    match node.node_type() {
        web_sys::Node::TEXT_NODE => {
            let text = node.text_content().unwrap_or_default();
            let words: Vec<&str> = text.split_whitespace().collect();
            if words.is_empty() {
                String::new()
            } else {
                format!("{}\n", words.join(" "))
            }
        }
        web_sys::Node::ELEMENT_NODE => {
            let e: &web_sys::Element = node.unchecked_ref();
            let inner = normalised(node);
            let mut names: Vec<String> = e
                .get_attribute_names()
                .iter()
                .filter_map(|n| n.as_string())
                .collect();
            names.sort();
            if names.is_empty() && inner.is_empty() {
                return String::new();
            }
            let attrs: Vec<String> = names
                .iter()
                .map(|n| {
                    let value = if n == "href" {
                        js_sys::Reflect::get(e, &"href".into())
                            .ok()
                            .and_then(|v| v.as_string())
                            .unwrap_or_default()
                    } else {
                        e.get_attribute(n).unwrap_or_default()
                    };
                    format!(" {n}={value:?}")
                })
                .collect();
            let tag = e.tag_name().to_ascii_lowercase();
            format!("<{tag}{}>\n{inner}</{tag}>\n", attrs.concat())
        }
        _ => String::new(),
    }
}

fn clean_storage() {
    let w = web_sys::window().unwrap();
    for store in [w.session_storage(), w.local_storage()] {
        if let Ok(Some(s)) = store {
            let _ = s.clear();
        }
    }
}

#[wasm_bindgen_test]
async fn the_first_load_home_page_is_the_apps_home_page() {
    clean_storage();
    let body = document().body().unwrap();
    let base = location::base_url();
    let config_text = http::get_fresh(&format!("{base}config.json"))
        .await
        .unwrap();
    let config = parse_config(&String::from_utf8(config_text.body).unwrap(), &base).unwrap();

    // The first-load module draws into `#app`.
    let first = document().create_element("div").unwrap();
    first.set_id("app");
    body.append_child(&first).unwrap();
    let home = pages::home(&config).unwrap();
    pages::show(pages::Current::Home, home.page).unwrap();
    let drawn_first = normalised(&first);
    first.remove_attribute("id").unwrap();

    // The app, from the same configuration file, on the same (signed-out) route.
    let app = document().create_element("div").unwrap();
    body.append_child(&app).unwrap();
    let handle = leptos::mount::mount_to(app.clone().unchecked_into(), rc_pkce::ui::App);
    let mut waited = 0;
    while app
        .query_selector(".page.home [data-testid=sign-in]")
        .unwrap()
        .is_none()
    {
        assert!(waited < 10_000, "the app never drew its home page");
        sleep(50).await;
        waited += 50;
    }
    let drawn_app = normalised(&app);
    drop(handle);
    first.remove();
    app.remove();

    assert!(
        drawn_first.contains("data-testid=\"sign-in\""),
        "{drawn_first}"
    );
    if drawn_first != drawn_app {
        let first_lines: Vec<&str> = drawn_first.lines().collect();
        let app_lines: Vec<&str> = drawn_app.lines().collect();
        let at = first_lines
            .iter()
            .zip(&app_lines)
            .position(|(a, b)| a != b)
            .unwrap_or(first_lines.len().min(app_lines.len()));
        let around =
            |lines: &[&str]| lines[at.saturating_sub(3)..(at + 4).min(lines.len())].join("\n");
        panic!(
            "the pages differ from line {at}:\n--- first-load module\n{}\n--- app\n{}",
            around(&first_lines),
            around(&app_lines)
        );
    }
}
