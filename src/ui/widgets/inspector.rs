//! The PKCE inspector: every step of the last sign-in with its real values, secrets masked until
//! the user chooses to reveal them, and the same steps as a sequence diagram. Each step links to
//! its arrow in the diagram.

use leptos::prelude::*;
use rc_pkce_core::inspector::{Step, StepKind};
use rc_pkce_core::sequence::{arrow_id, step_id};

use crate::browser::clock;
use crate::ui::use_driver;
use crate::ui::widgets::SequenceDiagram;

fn explanation(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Pkce => {
            "A fresh random verifier (32 bytes from crypto.getRandomValues, base64url) stays in this tab. Only its SHA-256 hash, the challenge, goes to RingCentral."
        }
        StepKind::Authorize => {
            "The browser is sent to the authorize endpoint with these parameters. The state ties the answer to this tab."
        }
        StepKind::Callback => {
            "RingCentral redirects back with a one-time code. The app checks the state (and iss when configured) before anything else, then removes these parameters from the address bar."
        }
        StepKind::TokenRequest => {
            "The code is exchanged (or the refresh token used) with a form POST. The verifier proves this is the tab that started the sign-in; there is no client secret."
        }
        StepKind::TokenResponse => {
            "What the token endpoint answered. Tokens stay in sessionStorage (or memory) of this tab only."
        }
        StepKind::ApiRead => {
            "A REST API read with the access token in the Authorization header (never in the URL). The record keeps the token masked only."
        }
        StepKind::Revoke => {
            "The session is forgotten here first, then its token is revoked at the server, which ends the grant. The record keeps the token masked only."
        }
        StepKind::IdToken => {
            "The OpenID Connect ID token says who signed in. Before anyone is signed in the app checks it: RS256 only, the issuer, that it is meant for this app, its lifetime, the nonce this sign-in sent, and its signature with the server's published key (WebCrypto). A refresh's ID token must name the same user."
        }
    }
}

/// `ended`: the record is of a session that has ended (shown after sign-out): its secrets are
/// gone, and the panel says so.
#[component]
pub fn InspectorPanel(#[prop(optional)] ended: bool) -> impl IntoView {
    let steps = use_driver().inspector();
    let reveal = RwSignal::new(false);
    let about = if ended {
        "The steps of the sign-in that just ended, its sign-out last. Its secrets are no longer kept: they stay masked, and nothing of it is stored."
    } else {
        "Each step of the last sign-in with its real values. Kept in this tab only; secrets are masked until you reveal them."
    };
    view! {
        <section class="card inspector" aria-labelledby="inspector-heading">
            <div class="card-head">
                <h2 id="inspector-heading">"PKCE inspector"</h2>
                <button
                    class="button subtle"
                    aria-pressed=move || reveal.get().to_string()
                    on:click=move |_| reveal.update(|r| *r = !*r)
                    data-testid="reveal"
                >
                    {move || if reveal.get() { "Hide secrets" } else { "Reveal secrets" }}
                </button>
            </div>
            <p class="muted">{about}</p>
            <SequenceDiagram steps reveal/>
            {move || {
                let list = steps.get().steps;
                if list.is_empty() {
                    return view! { <p id="inspector-steps">"No sign-in recorded in this tab yet."</p> }
                        .into_any();
                }
                view! {
                    <ol class="steps" id="inspector-steps" aria-label="Steps of the sign-in">
                        {list
                            .into_iter()
                            .enumerate()
                            .map(|(index, step)| view! { <StepView index step reveal/> })
                            .collect_view()}
                    </ol>
                }
                .into_any()
            }}
        </section>
    }
}

#[component]
fn StepView(index: usize, step: Step, reveal: RwSignal<bool>) -> impl IntoView {
    let when = step.at.map(clock::local_time_of_day).unwrap_or_default();
    let fields = step.fields.clone();
    view! {
        <li class="step" id=step_id(index)>
            <details open=matches!(step.kind, StepKind::Pkce | StepKind::TokenRequest)>
                <summary>
                    <span class="step-title">{format!("{}. {}", index + 1, step.title)}</span>
                    <span class="muted">{when}</span>
                </summary>
                <p class="muted">
                    {explanation(step.kind)} " "
                    <a class="step-link" href=format!("#{}", arrow_id(index))>
                        {format!("Step {} in the diagram", index + 1)}
                    </a>
                </p>
                <table class="fields">
                    <tbody>
                        {fields
                            .into_iter()
                            .map(|f| {
                                let masked = f.masked();
                                let secret = f.secret;
                                let full = f.value.clone();
                                view! {
                                    <tr>
                                        <th scope="row">{f.name.clone()}</th>
                                        <td>
                                            <code class:secret=secret>
                                                {move || if secret && !reveal.get() { masked.clone() } else { full.clone() }}
                                            </code>
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </details>
        </li>
    }
}
