//! rc-pkce: a browser-only reference client for RingCentral's OAuth 2.0 Authorization Code flow with
//! PKCE, in Rust and WebAssembly.
//!
//! - [`rc_pkce_core`] (its own crate) decides everything: PKCE, URLs, parsing, the session machine.
//! - [`browser`] adapts browser APIs (storage, fetch, timers, history, tabs) behind small types.
//! - [`platform`] is the one trait the driver needs from outside; [`web`] implements it with the
//!   browser adapters.
//! - [`driver`] runs the core's state machine against a platform and tells an observer what to
//!   show; its host tests use a fake platform.
//! - [`api`] and [`present`] are pure: REST types and paths, and what the pages say.
//! - [`ui`] holds the Leptos components, which render signals and dispatch actions.
//! - [`first_load`] holds the small modules that run before the app on `/` and at the redirect
//!   URI (wasm files of their own, without Leptos), and [`early`] hands their requests' answers
//!   to the app.

// `ApiError` carries the user-facing explanation of a failure (a few strings); failures are rare
// and boxing them would only add noise at every `?`.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod browser;
pub mod driver;
pub mod early;
pub mod first_load;
pub mod platform;
pub mod present;
pub mod ui;
pub mod web;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Parts of the app's pages that are still waiting for the answers the first-load module already
/// drew: the callback page exchanging the code, and the "You" card loading.
const NOT_YET_DRAWN: &str = r#".page.callback .loading, .page.account section[aria-labelledby="ext-heading"][aria-busy="true"]"#;

/// The longest the first-load module's page stays up once the app runs, whatever the app shows.
const TAKE_OVER_MS: u64 = 3_000;

/// Starts the app in place of the static shell of `index.html`, or of the page the first-load
/// module drew.
///
/// The app is mounted into a new `#app` element that is put in the page's place once it shows at
/// least what the first-load module shows (so the page does not go back to "Loading…" in
/// between); without a first-load page that is at once.
pub fn mount() {
    browser::clock::mark("rc-pkce:app-started");
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let (Some(shell), Ok(root)) = (
        document.get_element_by_id("app"),
        document.create_element("div"),
    ) else {
        return;
    };
    root.set_id("app");
    let Ok(root) = root.dyn_into::<web_sys::HtmlElement>() else {
        return;
    };
    let handle = leptos::mount::mount_to(root.clone(), ui::App);
    // The app lives as long as the page.
    handle.forget();
    if early::painted().is_none() {
        take_over(&shell, &root);
        return;
    }
    let done = Rc::new(Cell::new(false));
    let observer = Rc::new(RefCell::new(None::<web_sys::MutationObserver>));
    let swap: Rc<dyn Fn(bool)> = {
        let (done, observer) = (Rc::clone(&done), Rc::clone(&observer));
        let (shell, root) = (shell.clone(), root.clone());
        Rc::new(move |force| {
            if done.get() || !(force || shows_enough(&root)) {
                return;
            }
            done.set(true);
            if let Some(o) = observer.borrow_mut().take() {
                o.disconnect();
            }
            take_over(&shell, &root);
        })
    };
    let on_change = {
        let swap = Rc::clone(&swap);
        Closure::<dyn Fn()>::new(move || swap(false))
    };
    if let Ok(o) = web_sys::MutationObserver::new(on_change.as_ref().unchecked_ref()) {
        let options = web_sys::MutationObserverInit::new();
        options.set_subtree(true);
        options.set_child_list(true);
        options.set_attributes(true);
        let _ = o.observe_with_options(&root, &options);
        *observer.borrow_mut() = Some(o);
    }
    // Called at most until the take-over (the observer is disconnected then); kept for the page.
    on_change.forget();
    let later = Rc::clone(&swap);
    let _ = browser::timer::set_timeout(TAKE_OVER_MS, move || later(true));
    swap(false);
}

/// Whether the app's page is drawn and waits for nothing the first-load module already shows.
fn shows_enough(root: &web_sys::Element) -> bool {
    matches!(root.query_selector(".page"), Ok(Some(_)))
        && matches!(root.query_selector(NOT_YET_DRAWN), Ok(None))
}

/// Puts the app's element in place of `shell`, keeping keyboard focus on the same control.
fn take_over(shell: &web_sys::Element, root: &web_sys::HtmlElement) {
    let focused = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .filter(|e| shell.contains(Some(e)))
        .and_then(|e| e.get_attribute("data-testid"));
    let _ = shell.replace_with_with_node_1(root);
    early::set_app_took_over();
    if let Some(id) = focused
        && let Ok(Some(e)) = root.query_selector(&format!("[data-testid=\"{id}\"]"))
        && let Ok(e) = e.dyn_into::<web_sys::HtmlElement>()
    {
        let _ = e.focus();
    }
}
