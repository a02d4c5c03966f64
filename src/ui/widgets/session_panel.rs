//! The session panel: what the app holds (scope, owner, token lifetimes as live countdowns), the
//! refresh state, how many tabs share the session, and a "Refresh now" button.

use leptos::prelude::*;
use rc_pkce_core::session::Phase;

use crate::browser::clock;
use crate::browser::tabs::Support;
use crate::present::countdown;
use crate::ui::{use_driver, use_now};

#[component]
pub fn SessionPanel() -> impl IntoView {
    let driver = use_driver();
    let view_signal = driver.view();
    let now = use_now();
    let refresh = move |_| driver.refresh_now();
    let refreshing = move || view_signal.with(|v| v.phase == Phase::Refreshing);
    view! {
        <section class="card session-panel" aria-labelledby="session-heading">
            <h2 id="session-heading">"Session"</h2>
            {move || {
                let v = view_signal.get();
                let now = now.get();
                let Some(facts) = v.facts.clone() else {
                    return view! { <p>"Not signed in."</p> }.into_any();
                };
                let access = facts
                    .expires_at
                    .map(|t| format!("{} (at {})", countdown(now, t), clock::local_time_of_day(t)))
                    .unwrap_or_else(|| "not stated by the server".into());
                let refresh_expiry = match (facts.has_refresh_token, facts.refresh_expires_at) {
                    (false, _) => "no refresh token issued".to_string(),
                    (true, Some(t)) => format!("{} (on {})", countdown(now, t), clock::local_time(t)),
                    (true, None) => "not stated by the server".into(),
                };
                let next_refresh = v
                    .refresh_due_at
                    .filter(|_| facts.has_refresh_token)
                    .map(|t| countdown(now, t))
                    .unwrap_or_else(|| "—".into());
                let tabs = match &v.tab_support {
                    Support::Shared => match v.tabs_sharing {
                        0 | 1 => "this tab only".to_string(),
                        n => format!("{n} tabs share this session (one refreshes, all follow)"),
                    },
                    Support::NotShared => "this tab only — tokens are kept in this tab's memory, so no other tab has them".to_string(),
                    Support::SingleTab(api) => format!(
                        "this tab only — the browser lacks {api}, so duplicated tabs refresh independently and may sign each other out"
                    ),
                };
                view! {
                    <dl class="facts">
                        <dt>"Granted scope"</dt>
                        <dd data-testid="scope">{facts.scope.clone().unwrap_or_else(|| "(none stated)".into())}</dd>
                        <dt>"Owner ID"</dt>
                        <dd data-testid="owner-id">{facts.owner_id.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>"Access token expires in"</dt>
                        <dd data-testid="access-expiry" data-expires-at=facts.expires_at.map(|t| t.as_millis().to_string())>{access}</dd>
                        <dt>"Next automatic refresh in"</dt>
                        <dd data-testid="next-refresh">{next_refresh}</dd>
                        <dt>"Refresh token expires in"</dt>
                        <dd data-testid="refresh-expiry">{refresh_expiry}</dd>
                        <dt>"Refreshes so far"</dt>
                        <dd data-testid="generation">{facts.generation.to_string()}</dd>
                        <dt>"Tabs"</dt>
                        <dd data-testid="tabs">{tabs}</dd>
                    </dl>
                    {v.problem.clone().map(|p| {
                        let when = v.retry_at.map(|t| format!(" Next attempt in {}.", countdown(now, t))).unwrap_or_default();
                        view! {
                            <p class="notice notice-warning" role="status" data-testid="refresh-problem">
                                {format!("Refreshing failed: {}{when} Your session is kept meanwhile.", p.title())}
                            </p>
                        }
                    })}
                }
                .into_any()
            }}
            <div class="actions">
                <button class="button" on:click=refresh disabled=refreshing data-testid="refresh-now">
                    {move || if refreshing() { "Refreshing…" } else { "Refresh now" }}
                </button>
            </div>
        </section>
    }
}
