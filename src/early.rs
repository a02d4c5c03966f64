//! The hand-off between a first-load module and the app, two wasm modules on one page.
//!
//! The first-load module of the redirect URI ([`crate::first_load::callback`]) starts in a few
//! milliseconds and sends requests the app is about to send anyway: the token POST and the
//! extension and account GETs. It leaves each answer here, on
//! `window.rcPkceEarly`, and the app (its platform, [`crate::web`]) takes an answer instead of
//! asking again, but only for the identical request (method, URL, and form body or access token).
//! The object's shape is declared once, as typed bindings ([`HandOff`], [`Entry`]). The app stays the
//! one that decides: it runs the same checks on the same answer as if it had fetched it itself.
//!
//! Each answer is taken once; whatever the app has not taken once it has handled the callback is
//! dropped ([`discard_rest`]), so no token response stays reachable from JavaScript.

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::browser::http::{Outgoing, start_fetch};

/// The global both modules reach: `window.rcPkceEarly`.
const GLOBAL: &str = "rcPkceEarly";

// The hand-off's shape, declared once: both wasm modules read and write it through these typed
// bindings (each field a JS property of that name), so neither spells a property name by hand.
#[wasm_bindgen]
extern "C" {
    /// `window.rcPkceEarly`.
    #[wasm_bindgen(extends = Object)]
    type HandOff;

    /// The answers sent ahead, in the order they were sent.
    #[wasm_bindgen(method, getter)]
    fn requests(this: &HandOff) -> Option<Array>;
    #[wasm_bindgen(method, setter)]
    fn set_requests(this: &HandOff, requests: &Array);

    /// The pending authorization record, as stored, while the app has not taken it.
    #[wasm_bindgen(method, getter)]
    fn pending(this: &HandOff) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    fn set_pending(this: &HandOff, record: &str);

    /// The URL the page was loaded at, callback parameters included, while the app has not taken
    /// it: the first-load module cleans the address bar before it sends the code.
    #[wasm_bindgen(method, getter)]
    fn callback(this: &HandOff) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    fn set_callback(this: &HandOff, url: &str);

    /// The page a first-load module drew (`"home"` or `"account"`).
    #[wasm_bindgen(method, getter)]
    fn painted(this: &HandOff) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    fn set_painted(this: &HandOff, page: &str);

    /// Whether the app has put its own page in place.
    #[wasm_bindgen(method, getter, js_name = appTookOver)]
    fn app_took_over(this: &HandOff) -> Option<bool>;
    #[wasm_bindgen(method, setter, js_name = appTookOver)]
    fn set_app_took_over(this: &HandOff, took_over: bool);

    /// One answer sent ahead: the request's identity and a promise of a copy of its response.
    #[wasm_bindgen(extends = Object)]
    type Entry;

    #[wasm_bindgen(method, getter)]
    fn method(this: &Entry) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    fn set_method(this: &Entry, method: &str);
    #[wasm_bindgen(method, getter)]
    fn url(this: &Entry) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    fn set_url(this: &Entry, url: &str);
    /// The form body or bearer token: what makes two requests to one URL different.
    #[wasm_bindgen(method, getter)]
    fn credential(this: &Entry) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    fn set_credential(this: &Entry, credential: &str);
    #[wasm_bindgen(method, getter)]
    fn response(this: &Entry) -> Option<Promise>;
    #[wasm_bindgen(method, setter)]
    fn set_response(this: &Entry, response: &Promise);
    #[wasm_bindgen(method, getter)]
    fn controller(this: &Entry) -> Option<web_sys::AbortController>;
    #[wasm_bindgen(method, setter)]
    fn set_controller(this: &Entry, controller: Option<web_sys::AbortController>);
}

/// The hand-off object, created on first use.
fn hand_off() -> Option<HandOff> {
    let window = web_sys::window()?;
    let key = JsValue::from_str(GLOBAL);
    let existing = Reflect::get(&window, &key).ok()?;
    if existing.is_object() {
        return Some(existing.unchecked_into());
    }
    let created: HandOff = Object::new().unchecked_into();
    created.set_requests(&Array::new());
    Reflect::set(&window, &key, &created).ok()?;
    Some(created)
}

fn requests() -> Option<Array> {
    hand_off()?.requests()
}

/// The position of the entry for a `method` request to `url` (and with this `credential`, if
/// given).
fn find(list: &Array, method: &str, url: &str, credential: Option<&str>) -> Option<usize> {
    list.iter().position(|e| {
        let e: Entry = e.unchecked_into();
        e.method().as_deref() == Some(method)
            && e.url().as_deref() == Some(url)
            && credential.is_none_or(|c| e.credential().as_deref() == Some(c))
    })
}

/// A promise of a copy of `fetched`'s response, made in the first reaction to the fetch, before
/// anyone can read the body.
fn copy_of(fetched: &Promise) -> Result<Promise, JsValue> {
    let then: Function = Reflect::get(fetched, &"then".into())?.dyn_into()?;
    let copy = Closure::once_into_js(|r: JsValue| -> Result<JsValue, JsValue> {
        r.dyn_into::<web_sys::Response>()?
            .clone()
            .map(JsValue::from)
    });
    then.call1(fetched, &copy)?.dyn_into()
}

/// Sends `request` now, leaves a copy of its answer for the app and returns the answer for the
/// caller to read.
pub fn send_ahead(request: &Outgoing<'_>) -> Result<Promise, JsValue> {
    let (fetched, controller) = start_fetch(request)?;
    let for_app = copy_of(&fetched)?;
    // A failed fetch is the app's to report when it takes the copy; until then, a rejection nobody
    // handles yet would show as an uncaught error in the console.
    let ignore: Function = Closure::once_into_js(|_: JsValue| ()).unchecked_into();
    let catch: Function = Reflect::get(&for_app, &"catch".into())?.dyn_into()?;
    catch.call1(&for_app, &ignore)?;
    let entry: Entry = Object::new().unchecked_into();
    entry.set_method(request.method());
    entry.set_url(request.url());
    entry.set_credential(request.credential());
    entry.set_response(&for_app);
    entry.set_controller(controller);
    if let Some(list) = requests() {
        list.push(&entry);
    }
    Ok(fetched)
}

/// The answer to `request` if the first-load module sent exactly this request, and the controller
/// that aborts it. Taken once.
pub fn take(request: &Outgoing<'_>) -> Option<(Promise, Option<web_sys::AbortController>)> {
    let list = requests()?;
    let index = find(
        &list,
        request.method(),
        request.url(),
        Some(request.credential()),
    )?;
    let entry = take_at(&list, index)?;
    Some((entry.response()?, entry.controller()))
}

/// Takes the entry at `index` out of `list`.
fn take_at(list: &Array, index: usize) -> Option<Entry> {
    let entry: Entry = list.get(index as u32).unchecked_into();
    let kept: Array = list
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, e)| e)
        .collect();
    hand_off()?.set_requests(&kept);
    Some(entry)
}

/// The answer to the `method` request to `url`, whatever its credential, if no one has taken it;
/// taken once. For the first-load module when the app will never come for it.
pub fn take_unclaimed(method: &str, url: &str) -> Option<Promise> {
    let list = requests()?;
    let index = find(&list, method, url, None)?;
    take_at(&list, index)?.response()
}

/// Whether the app has taken the answer to the `method` request to `url` (or there is none).
pub fn taken(method: &str, url: &str) -> bool {
    requests().is_none_or(|list| find(&list, method, url, None).is_none())
}

/// Hands the pending authorization record (as stored) to the app. The first-load module takes it
/// out of storage before it sends the code, so that a reload of the page cannot send the code
/// again; the app takes it from here instead.
pub fn set_pending(record: &str) {
    if let Some(h) = hand_off() {
        h.set_pending(record);
    }
}

/// The pending authorization record a first-load module took out of storage. Taken once.
pub fn take_pending() -> Option<String> {
    let h = hand_off()?;
    let record = h.pending();
    // Deleted, not set to `undefined`: the record leaves no trace on the global (a binding can
    // only assign).
    let _ = Reflect::delete_property(&h, &"pending".into());
    record
}

/// Hands the callback URL to the app: the first-load module takes the code out of the address bar
/// (so it is not left there, nor in the history entry a reload or Back would load) before it
/// sends it.
pub fn set_callback(url: &str) {
    if let Some(h) = hand_off() {
        h.set_callback(url);
    }
}

/// The callback URL a first-load module took out of the address bar. Taken once.
pub fn take_callback() -> Option<String> {
    let h = hand_off()?;
    let url = h.callback();
    let _ = Reflect::delete_property(&h, &"callback".into());
    url
}

/// Drops every answer the app has not taken.
pub fn discard_rest() {
    if let Some(list) = requests() {
        list.set_length(0);
    }
}

/// [`discard_rest`] once the tasks queued now have run: requests the app has just decided to
/// send (started with `spawn_local`, so they look for their answer on their first poll, in a
/// microtask) take theirs first.
pub fn discard_rest_soon() {
    let _ = crate::browser::timer::set_timeout(0, discard_rest);
}

/// Records that the app has put its own page in place: first-load modules draw nothing after.
pub fn set_app_took_over() {
    if let Some(h) = hand_off() {
        h.set_app_took_over(true);
    }
}

/// Whether the app has put its own page in place.
pub fn app_took_over() -> bool {
    hand_off().and_then(|h| h.app_took_over()).unwrap_or(false)
}

/// Records which page a first-load module has drawn (`"home"` or `"account"`).
pub fn set_painted(page: &str) {
    if let Some(h) = hand_off() {
        h.set_painted(page);
    }
}

/// The page a first-load module has drawn, if any.
pub fn painted() -> Option<String> {
    hand_off()?.painted()
}
