//! The wall clock, read in one place and handed to the core as a [`Timestamp`].

use rc_pkce_core::Timestamp;

/// Now, from `Date.now()`.
pub fn now() -> Timestamp {
    Timestamp::from_millis(js_sys::Date::now().max(0.0) as u64)
}

/// A local date and time for display, in the browser's locale and time zone.
pub fn local_time(t: Timestamp) -> String {
    let d = js_sys::Date::new(&(t.as_millis() as f64).into());
    d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}

/// A local time of day for display.
pub fn local_time_of_day(t: Timestamp) -> String {
    let d = js_sys::Date::new(&(t.as_millis() as f64).into());
    d.to_locale_time_string("default").into()
}

/// An ISO 8601 instant from the API, shown in local time; the original text if unparseable.
pub fn local_from_iso(iso: &str) -> String {
    let ms = js_sys::Date::parse(iso);
    if ms.is_nan() {
        return iso.to_string();
    }
    let d = js_sys::Date::new(&ms.into());
    d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}

/// A User Timing mark (`performance.mark`), read by `cargo xtask bench` to time the app from the
/// outside. Marks are cheap and carry no data.
pub fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}
