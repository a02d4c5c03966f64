//! Writes text to the clipboard (`navigator.clipboard.writeText`) and says why not when the
//! browser refuses: no clipboard outside a secure context, or permission denied.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub async fn write_text(text: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or("there is no window")?;
    // Looked up rather than bound: the API is missing outside secure contexts, and a missing
    // method must be an error message, not an exception.
    let clipboard = js_sys::Reflect::get(&window.navigator(), &"clipboard".into())
        .ok()
        .filter(|c| !c.is_undefined() && !c.is_null())
        .ok_or("this browser offers no clipboard here (it needs https or localhost)")?;
    let write = js_sys::Reflect::get(&clipboard, &"writeText".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("this browser cannot write text to the clipboard")?;
    let promise = write
        .call1(&clipboard, &JsValue::from_str(text))
        .map_err(describe)?
        .dyn_into::<js_sys::Promise>()
        .map_err(|_| "the clipboard gave no answer".to_string())?;
    JsFuture::from(promise).await.map(|_| ()).map_err(describe)
}

fn describe(error: JsValue) -> String {
    let name = js_sys::Reflect::get(&error, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" => {
            "the browser refused access to the clipboard (permission denied, or the page was not focused)".into()
        }
        _ => js_sys::Reflect::get(&error, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "the clipboard refused the text".into()),
    }
}
