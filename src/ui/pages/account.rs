//! `/account`: who is signed in (extension and account, loaded in parallel), recent calls, the
//! session panel, the PKCE inspector, and Sign out. Without a session it returns to `/`, where the
//! reason is shown.

use leptos::prelude::*;
use rc_pkce_core::session::Phase;

use crate::present::text;
use crate::ui::ready::ready_when;
use crate::ui::route::use_route;
use crate::ui::use_driver;
use crate::ui::widgets::{
    AccountCard, CallLog, ExtensionCard, IdentityCard, InspectorPanel, Load, SessionNotice,
    SessionPanel, load_account, load_extension,
};

#[component]
pub fn Account() -> impl IntoView {
    let driver = use_driver();
    let view_signal = driver.view();
    let route = use_route();
    // A memo, so the page below is built once per sign-in: every refresh changes the session view
    // (phase, expiry, generation), and rebuilding would reload all three cards each time.
    let signed_in = Memo::new(move |_| {
        matches!(
            view_signal.with(|v| v.phase),
            Phase::SignedIn | Phase::Refreshing
        )
    });
    Effect::new(move |_| {
        if !signed_in.get() {
            route.replace("/");
        }
    });
    move || {
        if !signed_in.get() {
            return ().into_any();
        }
        let extension = RwSignal::new(Load::Loading);
        let account = RwSignal::new(Load::Loading);
        // Both requests start here, together.
        let reload_extension = load_extension(extension);
        let reload_account = load_account(account);
        // Drawn once the user's extension is in (or failed): what the first-load page shows.
        ready_when(move || !matches!(extension.get(), Load::Loading));
        // Read once per sign-in, like the page: a refresh's newer ID token is the same user's.
        let identity = view_signal
            .with_untracked(|v| v.identity.clone())
            .map(|identity| view! { <IdentityCard identity/> });
        view! {
            <div class="page account">
                <div class="page-head">
                    <h1>{text::ACCOUNT_TITLE}</h1>
                    <button class="button" on:click=move |_| driver.sign_out() data-testid="sign-out">"Sign out"</button>
                </div>
                <SessionNotice/>
                <div class="grid">
                    <ExtensionCard state=extension reload=reload_extension/>
                    <AccountCard state=account extension reload=reload_account/>
                </div>
                {identity}
                <CallLog/>
                <div class="grid">
                    <SessionPanel/>
                    <InspectorPanel/>
                </div>
            </div>
        }
        .into_any()
    }
}
