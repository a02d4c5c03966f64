//! The page frame: skip link, header with navigation, the main landmark and the footer.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::present::text;

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <div class="brand">
                <span class="brand-mark" aria-hidden="true">"⬡"</span>
                <span class="brand-name">"rc-pkce"</span>
                <span class="brand-tag">{text::BRAND_TAG}</span>
            </div>
            <nav aria-label="Main">
                <ul>
                    <li><A href="/" exact=true>"Home"</A></li>
                    <li><A href="/account">"Account"</A></li>
                    <li><A href="/settings">"Settings"</A></li>
                </ul>
            </nav>
        </header>
        <main id="main" tabindex="-1">{children()}</main>
        <footer class="site-footer">
            <p>{text::FOOTER}</p>
        </footer>
    }
}
