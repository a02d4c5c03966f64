//! Any other path.

use crate::ui::route::Link;
use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    crate::ui::ready::ready_when(|| true);
    view! {
        <div class="page">
            <h1>"Page not found"</h1>
            <p>"This app has a home page, an account page and settings."</p>
            <p><Link href="/">"Go to the home page"</Link></p>
        </div>
    }
}
