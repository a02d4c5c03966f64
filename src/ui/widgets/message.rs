//! Messages for the user: what happened, the server's words, and what to do.

use leptos::prelude::*;

use crate::present::{Message, Tone, notice_message};
use crate::ui::use_driver;

/// Renders one message. Errors are announced assertively (`role="alert"`), the rest politely.
#[component]
pub fn MessageBox(message: Message, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    let role = if message.tone == Tone::Error {
        "alert"
    } else {
        "status"
    };
    view! {
        <section class=message.tone.class() role=role>
            <p class="notice-title">{message.title.clone()}</p>
            {message.detail.clone().map(|d| view! { <p class="notice-detail">{d}</p> })}
            {message.hint.clone().map(|h| view! { <p class="notice-hint">{h}</p> })}
            {children.map(|c| view! { <div class="notice-actions">{c()}</div> })}
        </section>
    }
}

/// The session's current notice (sign-out result, refused callback, ended session ...), with
/// "Try again" where a new sign-in is the way forward.
#[component]
pub fn SessionNotice() -> impl IntoView {
    let driver = use_driver();
    let view_signal = driver.view();
    move || {
        let view = view_signal.get();
        let mut out = Vec::new();
        if let Some(fatal) = view.fatal.clone() {
            out.push(
                view! {
                    <MessageBox message=Message {
                        tone: Tone::Error,
                        title: fatal,
                        detail: None,
                        hint: Some("Use an up-to-date browser with JavaScript and Web Crypto enabled.".into()),
                        try_again: false,
                    }/>
                }
                .into_any(),
            );
        }
        if let Some(problem) = view.storage_problem.clone() {
            out.push(
                view! {
                    <MessageBox message=Message {
                        tone: Tone::Error,
                        title: problem.title(),
                        detail: None,
                        hint: Some(problem.hint().to_string()),
                        try_again: false,
                    }/>
                }
                .into_any(),
            );
        }
        if let Some(notice) = view.notice.clone() {
            let message = notice_message(&notice);
            let try_again = message.try_again;
            out.push(
                view! {
                    <MessageBox message=message>
                        {try_again.then(|| {
                            view! { <button class="button primary" on:click=move |_| driver.sign_in()>"Try again"</button> }
                        })}
                        <button class="button subtle" on:click=move |_| driver.dismiss_notice()>"Dismiss"</button>
                    </MessageBox>
                }
                .into_any(),
            );
        }
        out
    }
}
