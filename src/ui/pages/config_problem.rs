//! Shown when the configuration cannot be used: which field is wrong and how to fix it.

use leptos::prelude::*;

use crate::browser::config_loader::Loaded;
use crate::browser::location;
use crate::ui::ConfigState;
use crate::ui::route::Link;

#[component]
pub fn ConfigProblem() -> impl IntoView {
    crate::ui::ready::ready_when(|| true);
    let error = use_context::<ConfigState>().and_then(|c| match c.0 {
        Loaded::Failed(e) => Some(e),
        Loaded::Ready { .. } => None,
    });
    view! {
        <div class="page config-problem">
            <h1>"This app is not configured yet"</h1>
            {error.map(|e| {
                view! {
                    <section class="notice notice-error" role="alert" data-testid="config-error">
                        {e.field.clone().map(|f| view! { <p class="notice-title">"Problem with " <code>{f}</code></p> })}
                        <p class="notice-detail" data-testid="config-problem">{e.problem.clone()}</p>
                        <p class="notice-hint" data-testid="config-fix">{e.fix.clone()}</p>
                    </section>
                }
            })}
            <p>
                "The app reads " <code>"config.json"</code> " from beside " <code>"index.html"</code>
                ". The smallest working file is " <code>"{\"client_id\": \"YOUR_CLIENT_ID\"}"</code> "."
            </p>
            <div class="actions">
                <button class="button primary" on:click=move |_| location::reload()>"Reload"</button>
                <Link href="/settings">"Enter a client ID on the Settings page instead"</Link>
            </div>
        </div>
    }
}
