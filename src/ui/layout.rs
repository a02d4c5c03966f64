//! The page frame: skip link, header with navigation, the main landmark and the footer.

use leptos::prelude::*;

use crate::present::text;
use crate::ui::route::Link;

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
                    <li><Link href="/" exact=true>{text::NAV_HOME}</Link></li>
                    <li><Link href="/account">{text::NAV_ACCOUNT}</Link></li>
                    <li><Link href="/settings">{text::NAV_SETTINGS}</Link></li>
                </ul>
            </nav>
        </header>
        <main id="main" tabindex="-1">{children()}</main>
        <footer class="site-footer">
            <p>{text::FOOTER}</p>
        </footer>
    }
}
