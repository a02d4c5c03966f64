//! `/oauth2callback`: where RingCentral sends the browser back. The driver has already cleaned the
//! address bar and handed the callback to the session (which checks the state and issuer and
//! exchanges the code); this page shows the progress, and errors with "Try again". A callback that arrives while signed in (Back, reload, a replayed link) sends
//! nothing and returns to the account.

use leptos::prelude::*;
use rc_pkce_core::session::Phase;

use crate::browser::clock;
use crate::present::countdown;
use crate::ui::ready::ready_when;
use crate::ui::route::{Link, use_route};
use crate::ui::widgets::SessionNotice;
use crate::ui::{use_driver, use_now};

#[component]
pub fn Callback() -> impl IntoView {
    let driver = use_driver();
    let view_signal = driver.view();
    let route = use_route();
    // Signed in without a notice, this page only passes the user on to `/account`.
    let leaves = move || {
        view_signal
            .with(|v| matches!(v.phase, Phase::SignedIn | Phase::Refreshing) && v.notice.is_none())
    };
    // Drawn once the exchange is over (the first-load module shows no "Signing you in…"), unless
    // it is about to leave: then the account page says when it is drawn, so the first-load
    // module's page (which already shows the name) is not replaced by this one on the way.
    ready_when(move || view_signal.with(|v| v.phase != Phase::Exchanging) && !leaves());
    // The callback itself was handled by `Driver::start` before the first render; this page only
    // shows how it goes.
    Effect::new(move |_| {
        if leaves() {
            route.replace("/account");
        }
    });
    let now = use_now();
    view! {
        <div class="page callback">
            {move || {
                let v = view_signal.get();
                match v.phase {
                    Phase::Exchanging => {
                        let retry = v.problem.clone().map(|p| {
                            let when = v.retry_at.map(|t| countdown(now.get(), t)).unwrap_or_default();
                            view! {
                                <p class="notice notice-warning" role="status" data-testid="exchange-problem">
                                    {format!("{} Trying again in {when}.", p.title())}
                                </p>
                            }
                        });
                        view! {
                            <h1 aria-live="polite">"Signing you in…"</h1>
                            <p class="loading" role="status">"Checking the response and exchanging the one-time code for tokens."</p>
                            {retry}
                        }
                        .into_any()
                    }
                    Phase::SignedIn | Phase::Refreshing => view! {
                        <h1>"You are signed in"</h1>
                        <SessionNotice/>
                        <p><Link href="/account">"Continue to your account"</Link></p>
                    }
                    .into_any(),
                    _ => view! {
                        <h1>"Sign-in did not complete"</h1>
                        <SessionNotice/>
                        <p class="muted">{format!("Checked at {}.", clock::local_time_of_day(clock::now()))}</p>
                    }
                    .into_any(),
                }
            }}
        </div>
    }
}
