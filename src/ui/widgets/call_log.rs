//! Recent calls, paged, for a range the user picks. The call log is in RingCentral's Heavy
//! rate-limit group: pages are cached, nothing polls, and after a 429 the widget says when the
//! user can try again instead of sending more requests.

use leptos::prelude::*;
use rc_pkce_core::error::ApiError;

use crate::api::{CallLogPage, Range, call_log_path, format_duration};
use crate::browser::clock;
use crate::present::{CallLogCache, Message, countdown};
use crate::ui::widgets::{Load, MessageBox};
use crate::ui::{use_driver, use_now};

#[component]
pub fn CallLog() -> impl IntoView {
    let driver = use_driver();
    let range = RwSignal::new(Range::Week);
    let page = RwSignal::new(1u32);
    let state = RwSignal::new(Load::<CallLogPage>::Loading);
    let cache = StoredValue::new(CallLogCache::default());
    let blocked = RwSignal::new(None::<rc_pkce_core::Timestamp>);
    let now = use_now();

    let show = move |force: bool| {
        let (r, p) = (range.get_untracked(), page.get_untracked());
        let t = clock::now();
        if !force && let Some(cached) = cache.with_value(|c| c.get(r, p).cloned()) {
            state.set(Load::Ready(cached));
            return;
        }
        if let Some(until) = cache.with_value(|c| c.blocked_until(t)) {
            blocked.set(Some(until));
            return;
        }
        if force {
            cache.update_value(|c| c.clear_pages());
        }
        state.set(Load::Loading);
        let d = driver.get();
        leptos::task::spawn_local(async move {
            let result: Result<CallLogPage, ApiError> =
                d.api_get(&call_log_path(r, p, clock::now())).await;
            match result {
                Ok(data) => {
                    cache.update_value(|c| c.put(r, p, data.clone()));
                    let _ = state.try_set(Load::Ready(data));
                }
                Err(e) => {
                    cache.update_value(|c| c.failed(&e, clock::now()));
                    let _ = blocked.try_set(cache.with_value(|c| c.blocked_until(clock::now())));
                    let _ = state.try_set(Load::Failed(e));
                }
            }
        });
    };
    show(false);

    let on_range = move |ev| {
        if let Some(r) = Range::from_id(&event_target_value(&ev)) {
            range.set(r);
            page.set(1);
            show(false);
        }
    };
    let is_blocked = move || blocked.get().is_some_and(|t| t > now.get());
    let has_next = move || matches!(state.get(), Load::Ready(p) if p.has_next());

    view! {
        <section class="card calls" aria-labelledby="calls-heading">
            <div class="card-head">
                <h2 id="calls-heading">"Recent calls"</h2>
                <div class="controls">
                    <label for="range">"Show"</label>
                    <select id="range" on:change=on_range data-testid="range">
                        {Range::ALL
                            .into_iter()
                            .map(|r| view! { <option value=r.id() selected=move || range.get() == r>{r.label()}</option> })
                            .collect_view()}
                    </select>
                    <button class="button subtle" on:click=move |_| show(true) disabled=is_blocked data-testid="calls-refresh">
                        "Reload"
                    </button>
                </div>
            </div>
            {move || {
                let n = now.get();
                blocked.get().filter(|t| *t > n).map(|t| {
                    view! {
                        <p class="notice notice-warning" role="status" data-testid="calls-blocked">
                            {format!(
                                "RingCentral allows 10 call-log requests a minute. You can load calls again at {} (in {}).",
                                clock::local_time_of_day(t),
                                countdown(n, t)
                            )}
                        </p>
                    }
                })
            }}
            {move || match state.get() {
                Load::Loading => view! { <p class="loading" role="status">"Loading calls…"</p> }.into_any(),
                Load::Failed(e) => view! {
                    <MessageBox message=Message::from_error(&e)>
                        <button class="button" on:click=move |_| show(true) disabled=is_blocked>"Retry"</button>
                    </MessageBox>
                }
                .into_any(),
                Load::Ready(data) if data.records.is_empty() => {
                    view! { <p data-testid="no-calls">{format!("No calls in the {}.", range.get_untracked().label().to_ascii_lowercase())}</p> }
                        .into_any()
                }
                Load::Ready(data) => view! { <CallTable data/> }.into_any(),
            }}
            <nav class="pager" aria-label="Call pages">
                <button
                    class="button subtle"
                    disabled=move || page.get() <= 1
                    on:click=move |_| {
                        page.update(|p| *p = p.saturating_sub(1).max(1));
                        show(false);
                    }
                >
                    "Previous"
                </button>
                <span aria-live="polite" data-testid="page">{move || format!("Page {}", page.get())}</span>
                <button
                    class="button subtle"
                    disabled=move || !has_next()
                    on:click=move |_| {
                        page.update(|p| *p += 1);
                        show(false);
                    }
                    data-testid="next-page"
                >
                    "Next"
                </button>
            </nav>
        </section>
    }
}

#[component]
fn CallTable(data: CallLogPage) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Calls">
            <table class="call-table" data-testid="calls">
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Direction"</th>
                        <th scope="col">"From"</th>
                        <th scope="col">"To"</th>
                        <th scope="col">"Result"</th>
                        <th scope="col">"Duration"</th>
                    </tr>
                </thead>
                <tbody>
                    {data
                        .records
                        .into_iter()
                        .map(|c| {
                            let time = c.start_time.as_deref().map(clock::local_from_iso).unwrap_or_default();
                            let direction = c.direction.clone().unwrap_or_default();
                            let class = format!("dir dir-{}", direction.to_ascii_lowercase());
                            view! {
                                <tr class="call-row">
                                    <td>{time}</td>
                                    <td><span class=class>{direction}</span></td>
                                    <td>{c.from.describe()}</td>
                                    <td>{c.to.describe()}</td>
                                    <td>{c.result.clone().unwrap_or_default()}</td>
                                    <td>{c.duration.map(format_duration).unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
