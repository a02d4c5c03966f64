#![cfg(all(target_arch = "wasm32", feature = "app"))]
//! The inspector's sequence diagram in Chromium: the component mounted into a fresh element, fed
//! an inspector record. An arrow (or note) per step, each with the id its list item links to;
//! secrets masked until revealed (in the copy too); colours that follow the page's text colour
//! (dark mode); Resource Timing read from the real `performance` (a missing entry shows no time);
//! a click on an arrow opens its step; the copy button always says what happened.

mod common;

use common::{sleep, wait_for};
use leptos::prelude::*;
use rc_pkce::browser::resource_timing;
use rc_pkce::ui::widgets::SequenceDiagram;
use rc_pkce_core::Timestamp;
use rc_pkce_core::inspector::{Field, Inspector, Step, StepKind};
use rc_pkce_core::sequence::arrow_id;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const VERIFIER: &str = "verifier-secret-0123456789-abcdefghijklmnopq";
const CODE: &str = "one-time-code-secret-0123";

fn step(kind: StepKind, title: &str, fields: Vec<Field>, url: Option<String>, at: u64) -> Step {
    Step {
        kind,
        title: title.into(),
        fields,
        at: Some(Timestamp::from_millis(at)),
        url,
    }
}

/// A sign-in record; the token request goes to `timed_url` at `timed_at`, the read to a URL this
/// page never fetched.
fn record(timed_url: &str, timed_at: u64) -> Inspector {
    let now = js_sys::Date::now() as u64;
    Inspector {
        steps: vec![
            step(
                StepKind::Pkce,
                "PKCE: verifier and S256 challenge",
                vec![
                    Field::new("code_verifier", VERIFIER, true),
                    Field::new("code_challenge", "challenge-public", false),
                ],
                None,
                now,
            ),
            step(
                StepKind::Authorize,
                "GET /authorize (browser redirect)",
                vec![Field::new("client_id", "demo", false)],
                None,
                now,
            ),
            step(
                StepKind::Callback,
                "Callback to the redirect URI",
                vec![Field::new("code", CODE, true)],
                None,
                now,
            ),
            step(
                StepKind::TokenRequest,
                "POST /token (grant_type=authorization_code)",
                vec![
                    Field::new("code", CODE, true),
                    Field::new("code_verifier", VERIFIER, true),
                ],
                Some(timed_url.to_string()),
                timed_at,
            ),
            step(
                StepKind::ApiRead,
                "GET /restapi/v1.0/account/~",
                vec![Field::new("status", "200", false)],
                Some("http://127.0.0.1:9/never-fetched".into()),
                now,
            ),
        ],
        ended: false,
    }
}

struct Mounted {
    root: web_sys::HtmlElement,
    steps: RwSignal<Inspector>,
    reveal: RwSignal<bool>,
}

fn mount(inspector: Inspector) -> Mounted {
    let document = web_sys::window().unwrap().document().unwrap();
    let root: web_sys::HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&root).unwrap();
    let steps = RwSignal::new(inspector);
    let reveal = RwSignal::new(false);
    let handle = leptos::mount::mount_to(root.clone(), move || {
        view! { <SequenceDiagram steps reveal/> }
    });
    // The test's page is thrown away with the test run; keep the view alive until then.
    std::mem::forget(handle);
    Mounted {
        root,
        steps,
        reveal,
    }
}

fn html(m: &Mounted) -> String {
    m.root.inner_html()
}

/// How often `needle` occurs in the drawn markup (e.g. one `data-step` per item).
fn count(m: &Mounted, needle: &str) -> usize {
    html(m).matches(needle).count()
}

fn query(m: &Mounted, selector: &str) -> Option<web_sys::Element> {
    m.root.query_selector(selector).unwrap()
}

fn text_of(m: &Mounted, selector: &str) -> String {
    query(m, selector)
        .and_then(|e| e.text_content())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn an_arrow_per_step_each_with_the_id_its_step_links_to() {
    let m = mount(record("http://127.0.0.1:9/none", 0));
    let svg = query(&m, "svg.sequence-svg").expect("the diagram is drawn");
    assert_eq!(svg.get_attribute("role").as_deref(), Some("img"));
    let title = svg.get_attribute("aria-labelledby").unwrap();
    assert!(query(&m, &format!("title#{title}")).is_some());
    assert_eq!(count(&m, "data-step=\""), 5);
    for n in 0..5 {
        assert!(query(&m, &format!("#{}", arrow_id(n))).is_some(), "{n}");
    }
    assert_eq!(count(&m, "class=\"seq-arrow"), 4);
    assert!(query(&m, ".seq-note").is_some(), "the PKCE derivation");

    // Updates live: a refresh adds its arrows.
    m.steps.update(|i| {
        let now = js_sys::Date::now() as u64;
        i.steps.push(step(
            StepKind::TokenRequest,
            "POST /token (grant_type=refresh_token)",
            vec![Field::new(
                "refresh_token",
                "RT-secret-refresh-0123456789",
                true,
            )],
            None,
            now,
        ));
    });
    assert!(wait_for(2000, || count(&m, "data-step=\"") == 6).await);
    assert!(!html(&m).contains("RT-secret-refresh"));
}

#[wasm_bindgen_test]
async fn secrets_are_masked_until_revealed_and_the_note_says_what_the_copy_holds() {
    let m = mount(record("http://127.0.0.1:9/none", 0));
    let masked = html(&m);
    assert!(!masked.contains(CODE), "{masked}");
    assert!(!masked.contains(&VERIFIER[..20]));
    assert!(
        masked.contains("challenge-public"),
        "public values are shown"
    );
    assert!(text_of(&m, "[data-testid=copy-note]").contains("masked"));

    m.reveal.set(true);
    assert!(wait_for(2000, || html(&m).contains(CODE)).await);
    assert!(html(&m).contains(&VERIFIER[..20]));
    assert!(text_of(&m, "[data-testid=copy-note]").contains("contains them"));

    m.reveal.set(false);
    assert!(wait_for(2000, || !html(&m).contains(CODE)).await);
}

#[wasm_bindgen_test]
async fn colours_follow_the_text_colour_so_dark_mode_applies() {
    let m = mount(record("http://127.0.0.1:9/none", 0));
    let scroll = query(&m, ".sequence-scroll").unwrap();
    // What the dark theme does through `--text`: a new text colour for the container.
    scroll
        .set_attribute("style", "color: rgb(1, 2, 3)")
        .unwrap();
    let svg = query(&m, "svg").unwrap();
    assert_eq!(
        svg.get_attribute("class").as_deref(),
        Some("sequence-svg"),
        "the class the theme's rules select"
    );
    assert!(
        svg.get_attribute("style").is_none(),
        "no inline style (CSP)"
    );
    let window = web_sys::window().unwrap();
    let line = query(&m, ".seq-arrow line").unwrap();
    let style = window.get_computed_style(&line).unwrap().unwrap();
    assert_eq!(style.get_property_value("stroke").unwrap(), "rgb(1, 2, 3)");
    let head = query(&m, ".seq-arrow polygon").unwrap();
    let style = window.get_computed_style(&head).unwrap().unwrap();
    assert_eq!(style.get_property_value("fill").unwrap(), "rgb(1, 2, 3)");
    assert!(!html(&m).contains("fill=\"#"), "no colour literal");
}

#[wasm_bindgen_test]
async fn a_request_shows_its_resource_timing_and_a_missing_entry_shows_none() {
    // Something this page really fetched (the test harness' own files).
    let entries = resource_timing::entries();
    let entry = entries
        .iter()
        .find(|e| e.duration_ms > 0.0)
        .expect("the test page fetched something")
        .clone();
    let m = mount(record(&entry.url, entry.start_ms as u64 + 1));
    let timed = text_of(&m, &format!("#{}", arrow_id(3)));
    assert!(
        timed.contains("· ") && (timed.contains(" ms") || timed.contains(" s")),
        "the token request has its time: {timed}"
    );
    let untimed = text_of(&m, &format!("#{}", arrow_id(4)));
    assert!(
        !untimed.contains(" ms") && !untimed.contains("· "),
        "no entry, no time: {untimed}"
    );
}

#[wasm_bindgen_test]
async fn selecting_an_arrow_opens_its_step() {
    let document = web_sys::window().unwrap().document().unwrap();
    // The inspector's list item for step 3 (index 2), as the panel draws it.
    let item = document.create_element("li").unwrap();
    item.set_id(&rc_pkce_core::sequence::step_id(2));
    item.set_inner_html("<details><summary>3. Callback</summary><p>…</p></details>");
    document.body().unwrap().append_child(&item).unwrap();
    let m = mount(record("http://127.0.0.1:9/none", 0));
    let text = query(&m, &format!("#{} text", arrow_id(2))).unwrap();
    let init = js_sys::Object::new();
    js_sys::Reflect::set(&init, &"bubbles".into(), &JsValue::TRUE).unwrap();
    let ctor: js_sys::Function = js_sys::Reflect::get(&js_sys::global(), &"MouseEvent".into())
        .unwrap()
        .unchecked_into();
    let args = js_sys::Array::of2(&"click".into(), &init);
    let click = js_sys::Reflect::construct(&ctor, &args).unwrap();
    text.dispatch_event(click.unchecked_ref()).unwrap();
    let details = item.query_selector("details").unwrap().unwrap();
    assert!(wait_for(2000, || details.has_attribute("open")).await);
}

#[wasm_bindgen_test]
async fn the_copy_button_always_says_what_happened() {
    let m = mount(record("http://127.0.0.1:9/none", 0));
    let button: web_sys::HtmlElement = query(&m, "[data-testid=copy-svg]")
        .unwrap()
        .unchecked_into();
    button.click();
    // Headless Chromium may refuse the clipboard to a page without focus; either way it is said.
    assert!(
        wait_for(5000, || !text_of(&m, "[data-testid=copy-result]")
            .is_empty())
        .await,
        "a result is shown"
    );
    let said = text_of(&m, "[data-testid=copy-result]");
    assert!(
        said == "Copied" || said.starts_with("Not copied: "),
        "{said}"
    );
}

#[wasm_bindgen_test]
async fn at_320_px_the_diagram_scrolls_in_its_own_box_and_the_card_does_not_overflow() {
    let document = web_sys::window().unwrap().document().unwrap();
    // The app's own stylesheet (the test page has no CSP).
    let style = document.create_element("style").unwrap();
    style.set_text_content(Some(include_str!("../style/main.css")));
    document.head().unwrap().append_child(&style).unwrap();
    let m = mount(record("http://127.0.0.1:9/none", 0));
    m.root.set_class_name("card inspector");
    m.root
        .set_attribute("style", "width: 320px; box-sizing: border-box")
        .unwrap();
    sleep(50).await;
    let scroll = query(&m, ".sequence-scroll").unwrap();
    assert!(
        scroll.scroll_width() > scroll.client_width(),
        "the diagram is wider than the screen and scrolls: {} / {}",
        scroll.scroll_width(),
        scroll.client_width()
    );
    assert!(
        m.root.scroll_width() <= 320,
        "the card around it stays 320 px wide: {}",
        m.root.scroll_width()
    );
    style.remove();
}
