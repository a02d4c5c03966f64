//! The page frame: skip link, header with navigation, the main landmark and the footer.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <div class="brand">
                <span class="brand-mark" aria-hidden="true">"⬡"</span>
                <span class="brand-name">"rc-pkce"</span>
                <span class="brand-tag">"RingCentral sign-in with PKCE"</span>
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
            <p>
                "A public OAuth 2.0 client: no client secret, tokens only in this tab. "
                "Authorization Code + PKCE (RFC 7636), revocation (RFC 7009)."
            </p>
        </footer>
    }
}
