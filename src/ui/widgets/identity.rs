//! The "Verified identity" card of an OpenID Connect sign-in: who the verified ID token says
//! signed in, and whether the userinfo endpoint agrees (the driver holds its answer to the ID
//! token's subject).

use leptos::prelude::*;
use rc_pkce_core::Timestamp;
use rc_pkce_core::id_token::Claims;

use crate::browser::clock;
use crate::present::{Message, text, userinfo_problem_message};
use crate::ui::use_driver;
use crate::ui::widgets::MessageBox;

/// The userinfo answer as the card shows it.
#[derive(Debug, Clone, PartialEq)]
enum Info {
    Loading,
    Confirmed(String),
    Failed(Message),
}

#[component]
pub fn IdentityCard(identity: Claims) -> impl IntoView {
    let driver = use_driver();
    let info = RwSignal::new(Info::Loading);
    let d = driver.get();
    leptos::task::spawn_local(async move {
        let shown = match d.userinfo().await {
            Ok(answer) => Info::Confirmed(text::userinfo_summary(&answer)),
            Err(problem) => Info::Failed(userinfo_problem_message(&problem)),
        };
        let _ = info.try_set(shown);
    });
    let when = |secs: u64| clock::local_time(Timestamp::from_secs(secs));
    let rows = text::identity_rows(&identity, when)
        .into_iter()
        .map(|(label, value, testid)| {
            view! {
                <dt>{label}</dt>
                <dd data-testid=testid>{text::shown(value)}</dd>
            }
        })
        .collect_view();
    view! {
        <section class="card identity" aria-labelledby="identity-heading" data-testid="identity">
            <h2 id="identity-heading">{text::IDENTITY_HEADING}</h2>
            <p class="verified" data-testid="identity-verified">{text::IDENTITY_VERIFIED}</p>
            <dl class="facts">{rows}</dl>
            {move || match info.get() {
                Info::Loading => view! { <p class="loading" role="status">{text::LOADING_USERINFO}</p> }.into_any(),
                Info::Confirmed(summary) => view! { <p data-testid="userinfo">{summary}</p> }.into_any(),
                Info::Failed(message) => view! { <div data-testid="userinfo-problem"><MessageBox message/></div> }.into_any(),
            }}
        </section>
    }
}
