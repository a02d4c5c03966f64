//! One-shot timers over `setTimeout`, and the page-lifecycle hooks that wake the session after the
//! tab slept (`visibilitychange`, `online`) or was shown again from the back/forward cache
//! (`pageshow`).

use std::cell::Cell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// `setTimeout` cannot wait longer than 2^31-1 ms; a longer wait wakes early and is re-armed by the
/// session, which tolerates early ticks.
pub const MAX_DELAY_MS: u64 = i32::MAX as u64;

/// A single pending wake-up; setting it again replaces the previous one.
#[derive(Default)]
pub struct WakeTimer {
    handle: Cell<Option<i32>>,
}

impl WakeTimer {
    pub fn set(&self, delay_ms: u64, callback: impl FnOnce() + 'static) {
        self.cancel();
        self.handle.set(set_timeout(delay_ms, callback));
    }

    pub fn cancel(&self) {
        if let (Some(h), Some(w)) = (self.handle.take(), web_sys::window()) {
            w.clear_timeout_with_handle(h);
        }
    }
}

/// Runs `callback` once after `delay_ms`; returns the handle for `clearTimeout`.
pub fn set_timeout(delay_ms: u64, callback: impl FnOnce() + 'static) -> Option<i32> {
    let cb = Closure::once_into_js(callback);
    web_sys::window()?
        .set_timeout_with_callback_and_timeout_and_arguments_0(
            cb.unchecked_ref(),
            delay_ms.min(MAX_DELAY_MS) as i32,
        )
        .ok()
}

/// Calls `callback` whenever the page becomes visible again or the browser comes back online:
/// timers do not run while a laptop sleeps, so overdue work is checked then.
pub fn on_wake(callback: impl Fn() + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let cb = Closure::<dyn Fn()>::new(callback);
    let f: &js_sys::Function = cb.as_ref().unchecked_ref();
    if let Some(doc) = window.document() {
        let _ = doc.add_event_listener_with_callback("visibilitychange", f);
    }
    let _ = window.add_event_listener_with_callback("online", f);
    // The listeners live as long as the page.
    cb.forget();
}

/// Calls `callback` when the browser shows this page again from its back/forward cache
/// (`pageshow` with `persisted`): the page resumes as it was left, e.g. after Back from the
/// authorize page.
pub fn on_page_restored(callback: impl Fn() + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let cb = Closure::<dyn Fn(web_sys::Event)>::new(move |e: web_sys::Event| {
        let persisted = js_sys::Reflect::get(&e, &"persisted".into())
            .ok()
            .and_then(|v| v.as_bool());
        if persisted == Some(true) {
            callback();
        }
    });
    let _ = window.add_event_listener_with_callback("pageshow", cb.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    cb.forget();
}
