//! Which page shows, without a router crate: the path below the app's base lives in a signal that
//! follows the address bar. Links push a history entry, Back and Forward are followed, and the
//! redirects of the driver and the pages replace the entry (so Back does not return to a page that
//! only passed the user on). Four fixed routes did not earn `leptos_router`'s 47 KB of wasm; which
//! page a path is, is decided by [`Page::at`].

use leptos::ev::MouseEvent;
use leptos::prelude::*;
use wasm_bindgen::JsValue;

use crate::browser::location;
use crate::present::{Page, link_is_current};

/// The current path below the app's base (`/`, `/account`, …), shared by every component.
#[derive(Clone, Copy)]
pub struct Route {
    path: RwSignal<String>,
    base: StoredValue<String>,
}

/// Starts following the address bar and makes the route available to every component below.
pub fn provide_route() -> Route {
    let base = location::base_path();
    let path = RwSignal::new(path_below(&base));
    let route = Route {
        path,
        base: StoredValue::new(base),
    };
    // The listener lives as long as the app: its handle is never removed.
    let _ = window_event_listener(leptos::ev::popstate, move |_| {
        path.set(path_below(&route.base.get_value()));
    });
    provide_context(route);
    route
}

/// The route of the running app.
pub fn use_route() -> Route {
    expect_context::<Route>()
}

/// The address bar's path without the base; a path outside the base is kept whole (and is no page).
fn path_below(base: &str) -> String {
    let pathname = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    match pathname.strip_prefix(base) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => pathname,
    }
}

impl Route {
    /// The page to show (tracked).
    pub fn page(&self) -> Page {
        self.path.with(|p| Page::at(p))
    }

    /// The address of `to` (a path below the base) for an `href`.
    fn href(&self, to: &str) -> String {
        format!("{}{to}", self.base.get_value())
    }

    /// Shows `to` in a new history entry (a link was followed).
    pub fn go(&self, to: &str) {
        self.set(to, false);
    }

    /// Shows `to` in place of the current history entry (a redirect).
    pub fn replace(&self, to: &str) {
        self.set(to, true);
    }

    fn set(&self, to: &str, replace: bool) {
        let window = web_sys::window();
        if let Some(history) = window.as_ref().and_then(|w| w.history().ok()) {
            let url = self.href(to);
            let _ = if replace {
                history.replace_state_with_url(&JsValue::NULL, "", Some(&url))
            } else {
                history.push_state_with_url(&JsValue::NULL, "", Some(&url))
            };
        }
        if self.path.with_untracked(|p| p != to) {
            self.path.set(to.to_string());
            if let Some(w) = window {
                w.scroll_to_with_x_and_y(0.0, 0.0);
            }
        }
    }
}

/// A link to one of the app's pages, followed without reloading and marked
/// `aria-current="page"` while that page shows (below it too, unless `exact`).
#[component]
pub fn Link(
    href: &'static str,
    #[prop(optional)] exact: bool,
    children: Children,
) -> impl IntoView {
    let route = use_route();
    let current = move || {
        route
            .path
            .with(|p| link_is_current(p, href, exact))
            .then_some("page")
    };
    // A click that asks for a new tab or window (modifier keys, middle button) is the browser's.
    let follow = move |e: MouseEvent| {
        let plain =
            e.button() == 0 && !(e.ctrl_key() || e.meta_key() || e.shift_key() || e.alt_key());
        if plain && !e.default_prevented() {
            e.prevent_default();
            route.go(href);
        }
    };
    view! { <a href=route.href(href) aria-current=current on:click=follow>{children()}</a> }
}
