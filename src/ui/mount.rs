//! Starts the app in place of the static shell of `index.html`, or of the page a first-load module
//! drew.
//!
//! The app is mounted into a new `#app` element that is put in the page's place once the app's
//! own page says it shows at least what the first-load module shows ([`super::ready`]), so the
//! page does not go back to "Loading…" in between; without a first-load page that is at once.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::browser::{clock, timer};
use crate::early;
use crate::ui::ready::Ready;

/// The longest the first-load module's page stays up once the app runs, whatever the app shows.
const TAKE_OVER_MS: u64 = 3_000;

pub fn mount() {
    clock::mark("rc-pkce:app-started");
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
    let waits = early::painted().is_some();
    let done = Rc::new(Cell::new(false));
    let swap: Rc<dyn Fn()> = {
        let (done, shell, root) = (Rc::clone(&done), shell.clone(), root.clone());
        Rc::new(move || {
            if !done.replace(true) {
                take_over(&shell, &root);
            }
        })
    };
    let on_ready = Rc::clone(&swap);
    let handle = leptos::mount::mount_to(root.clone(), move || {
        let ready = Ready::new();
        provide_context(ready);
        if waits {
            Effect::new(move |_| {
                if ready.get() {
                    on_ready();
                }
            });
        }
        view! { <super::App/> }
    });
    // The app lives as long as the page.
    handle.forget();
    if !waits {
        swap();
        return;
    }
    let _ = timer::set_timeout(TAKE_OVER_MS, move || swap());
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
