//! The extension and account cards. Each loads on its own (so the two requests run in parallel),
//! with its own loading, error and retry state.

use leptos::prelude::*;
use rc_pkce_core::error::ApiError;

use crate::api::{ACCOUNT_PATH, Account, EXTENSION_PATH, Extension};
use crate::present::Message;
use crate::ui::use_driver;
use crate::ui::widgets::MessageBox;

/// The state of one section's data.
#[derive(Debug, Clone, PartialEq)]
pub enum Load<T> {
    Loading,
    Ready(T),
    Failed(ApiError),
}

/// Starts loading `path` into `state` now, and returns a function that loads it again.
pub fn loader<T>(path: &'static str, state: RwSignal<Load<T>>) -> impl Fn() + Clone + 'static
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let driver = use_driver();
    let load = move || {
        state.set(Load::Loading);
        let d = driver.get();
        leptos::task::spawn_local(async move {
            let result = d.api_get::<T>(path).await;
            let _ = state.try_set(match result {
                Ok(v) => Load::Ready(v),
                Err(e) => Load::Failed(e),
            });
        });
    };
    load();
    load
}

fn row(label: &'static str, value: Option<String>, testid: &'static str) -> impl IntoView {
    view! {
        <dt>{label}</dt>
        <dd data-testid=testid>{value.filter(|v| !v.is_empty()).unwrap_or_else(|| "—".into())}</dd>
    }
}

/// Starts the extension request (the page starts both cards' requests together).
pub fn load_extension(state: RwSignal<Load<Extension>>) -> impl Fn() + Clone + 'static {
    loader(EXTENSION_PATH, state)
}

/// Starts the account request.
pub fn load_account(state: RwSignal<Load<Account>>) -> impl Fn() + Clone + 'static {
    loader(ACCOUNT_PATH, state)
}

/// The loading and failed states both cards share; `ready` renders the data.
fn section_body<T>(
    state: RwSignal<Load<T>>,
    loading: &'static str,
    reload: impl Fn() + Clone + Send + Sync + 'static,
    ready: impl Fn(T) -> AnyView + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
{
    move || match state.get() {
        Load::Loading => view! { <p class="loading" role="status">{loading}</p> }.into_any(),
        Load::Failed(e) => {
            let reload = reload.clone();
            view! {
                <MessageBox message=Message::from_error(&e)>
                    <button class="button" on:click=move |_| reload()>"Retry"</button>
                </MessageBox>
            }
            .into_any()
        }
        Load::Ready(data) => ready(data),
    }
}

#[component]
pub fn ExtensionCard(
    state: RwSignal<Load<Extension>>,
    reload: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let busy = move || state.with(|s| matches!(s, Load::Loading)).to_string();
    view! {
        <section class="card" aria-labelledby="ext-heading" aria-busy=busy>
            <h2 id="ext-heading">"You"</h2>
            {section_body(state, "Loading your extension…", reload, |ext| {
                view! {
                    <p class="big-name" data-testid="user-name">{ext.display_name()}</p>
                    {crate::browser::clock::mark("rc-pkce:account-name")}
                    <dl class="facts">
                        {row("Extension number", ext.extension_number.clone(), "extension-number")}
                        {row("Email", ext.contact.email.clone(), "email")}
                        {row("Type", ext.kind.clone(), "extension-type")}
                        {row("Status", ext.status.clone(), "extension-status")}
                        {row("Job title", ext.contact.job_title.clone(), "job-title")}
                    </dl>
                }
                .into_any()
            })}
        </section>
    }
}

/// The account; the company name comes from the user's contact record, which is where RingCentral
/// keeps it.
#[component]
pub fn AccountCard(
    state: RwSignal<Load<Account>>,
    extension: RwSignal<Load<Extension>>,
    reload: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let busy = move || state.with(|s| matches!(s, Load::Loading)).to_string();
    view! {
        <section class="card" aria-labelledby="acct-heading" aria-busy=busy>
            <h2 id="acct-heading">"Your account"</h2>
            {section_body(state, "Loading your account…", reload, move |acct| {
                let company = acct.company_name.clone().or_else(|| match extension.get() {
                    Load::Ready(ext) => ext.contact.company,
                    _ => None,
                });
                view! {
                    <dl class="facts">
                        {row("Company", company, "company")}
                        {row("Main number", acct.main_number.clone(), "main-number")}
                        {row("Brand", acct.service_info.brand.name.clone(), "brand")}
                        {row("Service plan", acct.service_info.service_plan.name.clone(), "plan")}
                        {row("Status", acct.status.clone(), "account-status")}
                    </dl>
                }
                .into_any()
            })}
        </section>
    }
}
