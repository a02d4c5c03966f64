//! The PKCE inspector's steps drawn as a sequence diagram (built by `rc_pkce_core::sequence`),
//! with the copy-as-SVG button. Selecting an arrow goes to its step in the list, which is the
//! diagram's text equivalent.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rc_pkce_core::inspector::Inspector;
use rc_pkce_core::sequence::{Diagram, step_id};
use wasm_bindgen::JsCast;

use crate::browser::{clipboard, resource_timing};

#[component]
pub fn SequenceDiagram(steps: RwSignal<Inspector>, reveal: RwSignal<bool>) -> impl IntoView {
    // The timings are read whenever the steps change: the entry of a request is there by the
    // time its answer is recorded.
    let svg = Memo::new(move |_| {
        let diagram = steps.with(Diagram::of);
        diagram
            .with_timings(&resource_timing::entries())
            .svg(reveal.get())
    });
    let copied = RwSignal::new(String::new());
    let copy = move |_| {
        let text = svg.get_untracked();
        copied.set(String::new());
        spawn_local(async move {
            copied.set(match clipboard::write_text(&text).await {
                Ok(()) => "Copied".to_string(),
                Err(e) => format!("Not copied: {e}."),
            });
        });
    };
    view! {
        <figure class="sequence" aria-labelledby="sequence-caption">
            <figcaption id="sequence-caption" class="muted">
                "The same steps as a sequence diagram, with each request's time as this browser measured it. "
                <a href="#inspector-steps">"The numbered step list"</a>
                " is its text version; selecting an arrow opens its step."
            </figcaption>
            // Focusable, so a keyboard can scroll it when it is wider than the screen.
            <div
                class="sequence-scroll"
                tabindex="0"
                role="region"
                aria-label="Sequence diagram, scrolls sideways"
                data-testid="sequence"
                on:click=go_to_step
                inner_html=move || svg.get()
            ></div>
            <div class="sequence-actions">
                <button class="button subtle" on:click=copy data-testid="copy-svg">
                    "Copy diagram as SVG"
                </button>
                <span class="muted" data-testid="copy-note">
                    {move || {
                        if reveal.get() {
                            "Secrets are revealed, so the copy contains them."
                        } else {
                            "Secrets stay masked in the copy."
                        }
                    }}
                </span>
                <span aria-live="polite" class="sequence-copied" data-testid="copy-result">
                    {move || copied.get()}
                </span>
            </div>
        </figure>
    }
}

/// A click on an arrow opens its step in the list and moves focus there. A pointer convenience:
/// the arrows are not focusable (the drawing is one image), the list is what a keyboard reaches.
fn go_to_step(ev: leptos::ev::MouseEvent) {
    let Some(target) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    let Some(index) = target
        .closest("[data-step]")
        .ok()
        .flatten()
        .and_then(|g| g.get_attribute("data-step"))
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return;
    };
    let Some(item) = document().get_element_by_id(&step_id(index)) else {
        return;
    };
    if let Ok(Some(details)) = item.query_selector("details") {
        let _ = details.set_attribute("open", "");
    }
    item.scroll_into_view();
    if let Some(summary) = item
        .query_selector("summary")
        .ok()
        .flatten()
        .and_then(|s| s.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = summary.focus();
    }
}
