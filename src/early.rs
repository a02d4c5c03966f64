//! The hand-off between a first-load module and the app, two wasm modules on one page.
//!
//! The first-load module of the redirect URI ([`crate::first_load::callback`]) starts in a few
//! milliseconds and sends requests the app is about to send anyway: the token POST and the
//! extension and account GETs. It leaves each answer here, on
//! `window.rcPkceEarly`, and the app's HTTP adapter takes an answer instead of asking again, but
//! only for the identical request (method, URL, and form body or access token). The app stays the
//! one that decides: it runs the same checks on the same answer as if it had fetched it itself.
//!
//! Each answer is taken once; whatever the app has not taken once it has handled the callback is
//! dropped ([`discard_rest`]), so no token response stays reachable from JavaScript.

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::browser::http::{Outgoing, start_fetch};

const GLOBAL: &str = "rcPkceEarly";

fn hand_off() -> Option<Object> {
    let window = web_sys::window()?;
    let key = JsValue::from_str(GLOBAL);
    match Reflect::get(&window, &key).ok()?.dyn_into::<Object>() {
        Ok(o) => Some(o),
        Err(_) => {
            let o = Object::new();
            Reflect::set(&o, &"requests".into(), &Array::new()).ok()?;
            Reflect::set(&window, &key, &o).ok()?;
            Some(o)
        }
    }
}

fn requests() -> Option<Array> {
    Reflect::get(hand_off()?.as_ref(), &"requests".into())
        .ok()?
        .dyn_into()
        .ok()
}

/// Sets `field` of the hand-off object.
fn set(field: &str, value: &JsValue) {
    if let Some(o) = hand_off() {
        let _ = Reflect::set(&o, &field.into(), value);
    }
}

fn text(entry: &JsValue, field: &str) -> Option<String> {
    Reflect::get(entry, &field.into()).ok()?.as_string()
}

/// The position of the entry for a `method` request to `url` (and with this `credential`, if
/// given).
fn find(list: &Array, method: &str, url: &str, credential: Option<&str>) -> Option<usize> {
    list.iter().position(|e| {
        text(&e, "method").as_deref() == Some(method)
            && text(&e, "url").as_deref() == Some(url)
            && credential.is_none_or(|c| text(&e, "credential").as_deref() == Some(c))
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
    let entry = Object::new();
    for (field, value) in [
        ("method", JsValue::from_str(request.method())),
        ("url", JsValue::from_str(request.url())),
        ("credential", JsValue::from_str(request.credential())),
        ("response", for_app.into()),
        (
            "controller",
            controller.map(JsValue::from).unwrap_or(JsValue::NULL),
        ),
    ] {
        Reflect::set(&entry, &field.into(), &value)?;
    }
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
    let entry = list.get(index as u32);
    let kept: Array = list
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, e)| e)
        .collect();
    Reflect::set(hand_off()?.as_ref(), &"requests".into(), &kept).ok()?;
    let promise = Reflect::get(&entry, &"response".into())
        .ok()?
        .dyn_into::<Promise>()
        .ok()?;
    let controller = Reflect::get(&entry, &"controller".into())
        .ok()
        .and_then(|c| c.dyn_into::<web_sys::AbortController>().ok());
    Some((promise, controller))
}

/// Whether the app has taken the answer to the `method` request to `url` (or there is none).
pub fn taken(method: &str, url: &str) -> bool {
    requests().is_none_or(|list| find(&list, method, url, None).is_none())
}

/// Hands the pending authorization record (as stored) to the app. The first-load module takes it
/// out of storage before it sends the code, so that a reload of the page cannot send the code
/// again; the app takes it from here instead.
pub fn set_pending(record: &str) {
    set("pending", &JsValue::from_str(record));
}

/// The pending authorization record a first-load module took out of storage. Taken once.
pub fn take_pending() -> Option<String> {
    let o = hand_off()?;
    let record = text(o.as_ref(), "pending");
    let _ = Reflect::delete_property(&o, &"pending".into());
    record
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
    set("appTookOver", &JsValue::TRUE);
}

/// Whether the app has put its own page in place.
pub fn app_took_over() -> bool {
    hand_off()
        .and_then(|o| Reflect::get(&o, &"appTookOver".into()).ok())
        .is_some_and(|v| v.is_truthy())
}

/// Records which page a first-load module has drawn (`"home"` or `"account"`).
pub fn set_painted(page: &str) {
    set("painted", &JsValue::from_str(page));
}

/// The page a first-load module has drawn, if any.
pub fn painted() -> Option<String> {
    text(hand_off()?.as_ref(), "painted")
}
