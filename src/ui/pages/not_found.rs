//! Any other path.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    crate::ui::ready::ready_when(|| true);
    view! {
        <div class="page">
            <h1>"Page not found"</h1>
            <p>"This app has a home page, an account page and settings."</p>
            <p><A href="/">"Go to the home page"</A></p>
        </div>
    }
}
