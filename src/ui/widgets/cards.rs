//! The extension and account cards. Each loads on its own (so the two requests run in parallel),
//! with its own loading, error and retry state.

use leptos::prelude::*;
use rc_pkce_core::error::ApiError;

use crate::api::{ACCOUNT_PATH, Account, EXTENSION_PATH, Extension};
use crate::present::{Message, text};
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

fn rows(rows: [text::Row; 5]) -> impl IntoView {
    rows.into_iter()
        .map(|(label, value, testid)| {
            view! {
                <dt>{label}</dt>
                <dd data-testid=testid>{text::shown(value)}</dd>
            }
        })
        .collect_view()
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
            <h2 id="ext-heading">{text::YOU_HEADING}</h2>
            {section_body(state, text::LOADING_EXTENSION, reload, |ext| {
                view! {
                    <p class="big-name" data-testid="user-name">{ext.display_name()}</p>
                    {crate::browser::clock::mark("rc-pkce:account-name")}
                    <dl class="facts">
                        {rows(text::extension_rows(&ext))}
                    </dl>
                }
                .into_any()
            })}
        </section>
    }
}

/// The account.
#[component]
pub fn AccountCard(
    state: RwSignal<Load<Account>>,
    extension: RwSignal<Load<Extension>>,
    reload: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let busy = move || state.with(|s| matches!(s, Load::Loading)).to_string();
    view! {
        <section class="card" aria-labelledby="acct-heading" aria-busy=busy>
            <h2 id="acct-heading">{text::ACCOUNT_HEADING}</h2>
            {section_body(state, text::LOADING_ACCOUNT, reload, move |acct| {
                let ext = match extension.get() {
                    Load::Ready(ext) => Some(ext),
                    _ => None,
                };
                view! {
                    <dl class="facts">
                        {rows(text::account_rows(&acct, ext.as_ref()))}
                    </dl>
                }
                .into_any()
            })}
        </section>
    }
}
