//! `/settings`: a visitor of a hosted demo can use their own RingCentral app: enter its client ID,
//! pick the server, see the redirect URI to register, or reset to the deployed configuration.
//! Settings live in `localStorage` and hold no token.

use leptos::prelude::*;
use rc_pkce_core::config::{ServerPreset, Settings as SavedSettings};

use crate::browser::config_loader::{self, Loaded};
use crate::browser::location;
use crate::ui::{ConfigState, DriverHandle};

#[component]
pub fn Settings() -> impl IntoView {
    crate::ui::ready::ready_when(|| true);
    let loaded = use_context::<ConfigState>().map(|c| c.0);
    let driver = use_context::<DriverHandle>();
    let (current_client, current_preset, saved, redirect) = match &loaded {
        Some(Loaded::Ready {
            config, settings, ..
        }) => (
            config.client_id.clone(),
            config.preset().unwrap_or(ServerPreset::Production),
            settings.is_some(),
            config.redirect_uri.clone(),
        ),
        _ => (
            String::new(),
            ServerPreset::Production,
            false,
            config_loader::defaults(&location::base_url())
                .map(|d| d.redirect_uri)
                .unwrap_or_default(),
        ),
    };
    let client_id = RwSignal::new(current_client);
    let preset = RwSignal::new(current_preset);
    let error = RwSignal::new(None::<String>);
    let signed_in = move || driver.is_some_and(|d| d.view().with(|v| v.facts.is_some()));

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match SavedSettings::validate_client_id(&client_id.get_untracked()) {
            Err(e) => error.set(Some(format!("Client ID {} {}", e.problem, e.fix))),
            Ok(id) => match config_loader::save_settings(&SavedSettings {
                client_id: id,
                preset: preset.get_untracked(),
            }) {
                Ok(()) => location::reload(),
                Err(e) => error.set(Some(format!("{} {}", e.title(), e.hint()))),
            },
        }
    };
    let reset = move |_| match config_loader::reset_settings() {
        Ok(()) => location::reload(),
        Err(e) => error.set(Some(e.title())),
    };

    view! {
        <div class="page settings">
            <h1>"Settings"</h1>
            <p class="lead">
                "Try this app with your own RingCentral app: register a \"Client-side web app\" (REST API App, 3-legged OAuth, "
                "Authorization Code with PKCE, no client secret), enable \"Issue refresh tokens\", add the ReadAccounts and ReadCallLog permissions, "
                "and register the redirect URI below."
            </p>
            <section class="card" aria-labelledby="redirect-heading">
                <h2 id="redirect-heading">"Redirect URI to register"</h2>
                <p><code data-testid="redirect-uri">{redirect}</code></p>
            </section>
            <form class="card" on:submit=save novalidate=true>
                <h2>"Your app"</h2>
                {move || signed_in().then(|| view! {
                    <p class="notice notice-warning" role="status">"Sign out before changing the client ID or server."</p>
                })}
                <div class="field">
                    <label for="client-id">"Client ID"</label>
                    <input
                        id="client-id"
                        name="client_id"
                        type="text"
                        autocomplete="off"
                        spellcheck="false"
                        aria-describedby="client-id-help client-id-error"
                        aria-invalid=move || error.get().is_some().to_string()
                        prop:value=move || client_id.get()
                        on:input=move |ev| {
                            client_id.set(event_target_value(&ev));
                            error.set(None);
                        }
                    />
                    <p id="client-id-help" class="muted">"From the RingCentral Developer Console: your app → Credentials. Never enter a client secret here."</p>
                    <p id="client-id-error" class="field-error" role="alert">{move || error.get()}</p>
                </div>
                <fieldset class="field">
                    <legend>"Server"</legend>
                    {ServerPreset::ALL
                        .into_iter()
                        .map(|p| {
                            let id = format!("preset-{}", p.id());
                            view! {
                                <div class="radio">
                                    <input
                                        type="radio"
                                        name="preset"
                                        id=id.clone()
                                        value=p.id()
                                        prop:checked=move || preset.get() == p
                                        on:change=move |_| preset.set(p)
                                    />
                                    <label for=id>{p.label()} " — " <code>{p.server()}</code></label>
                                </div>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <div class="actions">
                    <button class="button primary" type="submit" disabled=signed_in>"Save and reload"</button>
                    {saved.then(|| view! {
                        <button class="button subtle" type="button" on:click=reset disabled=signed_in>
                            "Reset to the deployed configuration"
                        </button>
                    })}
                </div>
                <p class="muted">"Saved in this browser's localStorage: a client ID and a server name. No token is ever stored there."</p>
            </form>
        </div>
    }
}
