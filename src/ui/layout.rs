//! The page frame: skip link, header with navigation, the main landmark and the footer.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::present::text;

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">{text::SKIP_TO_CONTENT}</a>
        <header class="site-header">
            <div class="brand">
                <span class="brand-mark" aria-hidden="true">{text::BRAND_MARK}</span>
                <span class="brand-name">{text::BRAND_NAME}</span>
                <span class="brand-tag">{text::BRAND_TAG}</span>
            </div>
            <nav aria-label=text::NAV_LABEL>
                <ul>
                    <li><A href="/" exact=true>{text::NAV_HOME}</A></li>
                    <li><A href="/account">{text::NAV_ACCOUNT}</A></li>
                    <li><A href="/settings">{text::NAV_SETTINGS}</A></li>
                </ul>
            </nav>
        </header>
        <main id="main" tabindex="-1">{children()}</main>
        <footer class="site-footer">
            <p>{text::FOOTER}</p>
        </footer>
    }
}
