//! `/`: what the app does, which server and client it is configured for, and the sign-in button;
//! after a sign-out, the PKCE inspector of the sign-in that ended. A signed-in visitor goes
//! straight to the account page.

use leptos::prelude::*;
use rc_pkce_core::session::Phase;

use crate::browser::config_loader::Loaded;
use crate::present::{Message, Tone, text};
use crate::ui::route::{Link, use_route};
use crate::ui::widgets::{InspectorPanel, MessageBox, SessionNotice};
use crate::ui::{ConfigState, use_driver};

#[component]
pub fn Home() -> impl IntoView {
    crate::ui::ready::ready_when(|| true);
    let driver = use_driver();
    let view_signal = driver.view();
    let config = driver.get().config.clone();
    let route = use_route();
    Effect::new(move |_| {
        if matches!(
            view_signal.with(|v| v.phase),
            Phase::SignedIn | Phase::Refreshing
        ) {
            route.replace("/account");
        }
    });
    let busy = move || view_signal.with(|v| v.phase == Phase::Authorizing);
    let inspector = driver.inspector();
    // The button is in the DOM and wired once this effect runs after the first render.
    Effect::new(move |_| crate::browser::clock::mark("rc-pkce:sign-in-ready"));
    let server = text::server(config.preset().map(|p| p.label()), &config.server);
    view! {
        <div class="page home">
            <h1>{text::HOME_TITLE}</h1>
            <p class="lead">{text::HOME_LEAD}</p>
            <ConfigWarning/>
            <SessionNotice/>
            <section class="card" aria-labelledby="target-heading">
                <h2 id="target-heading">{text::TARGET_HEADING}</h2>
                <dl class="facts">
                    <dt>{text::FACT_SERVER}</dt>
                    <dd data-testid="server">{server}</dd>
                    <dt>{text::FACT_CLIENT_ID}</dt>
                    <dd data-testid="client-id"><code>{config.client_id.clone()}</code></dd>
                    <dt>{text::FACT_REDIRECT_URI}</dt>
                    <dd><code>{config.redirect_uri.clone()}</code></dd>
                </dl>
                <div class="actions">
                    <button class="button primary big" on:click=move |_| driver.sign_in() disabled=busy data-testid="sign-in">
                        {move || if busy() { text::SIGNING_IN } else { text::SIGN_IN }}
                    </button>
                    <Link href="/settings">{text::OWN_CLIENT}</Link>
                </div>
            </section>
            // After a sign-out, the sign-in that ended, its revoke included.
            {move || {
                inspector
                    .with(|i| i.ended && !i.steps.is_empty())
                    .then(|| view! { <InspectorPanel ended=true/> })
            }}
        </div>
    }
}

/// A configuration problem the app could work around (a broken config.json replaced by the
/// visitor's Settings, or damaged Settings that were deleted).
#[component]
fn ConfigWarning() -> impl IntoView {
    let warning = use_context::<ConfigState>().and_then(|c| match c.0 {
        Loaded::Ready { warning, .. } => warning,
        Loaded::Failed(_) => None,
    });
    warning.map(|w| {
        let title = match &w.field {
            Some(f) => format!("Configuration problem with `{f}`: {}", w.problem),
            None => format!("Configuration problem: {}", w.problem),
        };
        view! {
            <MessageBox message=Message { tone: Tone::Warning, title, detail: None, hint: Some(w.fix.clone()), try_again: false }/>
        }
    })
}
