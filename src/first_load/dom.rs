//! A few lines of DOM building for the first-load module, which has no framework. Text always goes
//! in as text nodes, never as HTML, so nothing from the server or the configuration is parsed.

use wasm_bindgen::JsValue;
use web_sys::{Document, Element, Node};

pub type Built<T> = Result<T, JsValue>;

pub fn document() -> Built<Document> {
    web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))
}

/// `<tag attr=value ...>children</tag>`.
pub fn el(tag: &str, attrs: &[(&str, &str)], children: Vec<Node>) -> Built<Element> {
    let e = document()?.create_element(tag)?;
    for (name, value) in attrs {
        e.set_attribute(name, value)?;
    }
    for child in children {
        e.append_child(&child)?;
    }
    Ok(e)
}

/// An element as a child node.
pub fn node(e: Element) -> Node {
    e.into()
}

/// A text node.
pub fn text(s: &str) -> Built<Node> {
    Ok(document()?.create_text_node(s).into())
}

/// An element holding only `s`.
pub fn with_text(tag: &str, attrs: &[(&str, &str)], s: &str) -> Built<Element> {
    el(tag, attrs, vec![text(s)?])
}
