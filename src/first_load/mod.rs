//! The first-load modules: what runs before the app, in small wasm modules of their own without
//! Leptos, one per route that needs speed: `src/bin/rc-pkce-home.rs` ([`home`]) so that a first
//! visit has a working sign-in button after a small download, and `src/bin/rc-pkce-callback.rs`
//! ([`callback`]) so that a return from RingCentral shows who signed in without waiting for the
//! app. boot.js loads the one for the current route, if any, and then the app.
//!
//! They act only where nothing needs explaining and the configuration lets them
//! (`AppConfig::first_load_home`/`first_load_callback`: not with discovery, whose endpoints only
//! the app reads; at the redirect URI not with OpenID Connect, whose ID token the app verifies
//! before any API call); otherwise they leave the page to the app:
//! - at `/`, signed out, with a clean configuration: it draws the home page and its sign-in button
//!   starts the sign-in exactly as the app's does (the core's `authorize::start` and session
//!   machine, the same records in the same storage);
//! - at the redirect URI with a callback the core accepts: it sends the token POST the core asks
//!   for and, with its answer, the extension and account GETs, and draws the account page with
//!   the user's name (the account card waits for the app). It draws nothing before that: on a
//!   fast network a frame drawn in between costs more time than it shows. The app takes those
//!   answers from [`crate::early`] and runs its own checks on them. The module stores no session;
//!   the one record it touches is the pending authorization, which it moves from storage to the
//!   hand-off before it sends the code (single use, as in the app), so the app's session machine
//!   stays the only authority.
//!
//! boot.js starts the app when they return: at `/` after the button works, at the redirect URI
//! once the name is drawn (or the module gave up) or a short head start is over, and never before
//! the token POST is sent, so the code is never sent twice.

mod dom;
pub mod pages;
pub mod unclaimed;

use std::rc::Rc;

use futures_util::future::{Either, select};
use rc_pkce_core::SystemEntropy;
use rc_pkce_core::authorize;
use rc_pkce_core::callback::carries_response_parameters;
use rc_pkce_core::config::{AppConfig, TokenStorage};
use rc_pkce_core::inspector::Inspector;
use rc_pkce_core::record::{decode_pending, encode_inspector, encode_pending};
use rc_pkce_core::session::{Effect, Event, Phase, Session};
use rc_pkce_core::token::parse_token_response;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::api::{ACCOUNT_PATH, EXTENSION_PATH, Extension};
use crate::browser::config_loader::load_if_clean;
use crate::browser::http::{Outgoing, read_body};
use crate::browser::storage::{KeyValue, WebStorage, keys};
use crate::browser::{clock, location};
use crate::early;

/// Whether no session is stored: the home page is then the signed-out one.
fn signed_out(config: &AppConfig) -> bool {
    match config.token_storage {
        // A page load starts with an empty memory store.
        TokenStorage::Memory => true,
        TokenStorage::Session => matches!(WebStorage::session().get(keys::SESSION), Ok(None)),
    }
}

/// At `/`: draws the signed-out home page with a working sign-in button, and returns once it
/// works (or at once when the page is the app's to draw).
pub async fn home() {
    if rc_pkce_core::url::without_query(&location::href()) != location::base_url() {
        return;
    }
    let Some(config) = load_if_clean().await else {
        return;
    };
    // The core says when only the app can act (the endpoints in a discovery document, say).
    if !config.first_load_home() {
        return;
    }
    // Storage the sign-in cannot use is the app's to explain, and so is why the last session
    // ended (the app shows that notice on this page).
    let session_store = WebStorage::session();
    if !signed_out(&config)
        || session_store.get(keys::PENDING).is_err()
        || !matches!(session_store.get(keys::ENDED), Ok(None))
    {
        return;
    }
    let Ok(page) = pages::home(&config) else {
        return;
    };
    let config = Rc::new(config);
    let (button, problem) = (page.button.clone(), page.problem.clone());
    let on_click = Closure::<dyn Fn()>::new(move || sign_in(&config, &button, &problem));
    page.button
        .set_onclick(Some(on_click.as_ref().unchecked_ref()));
    // The handler lives as long as the page (the app replaces the button, not the page).
    on_click.forget();
    if pages::show(pages::Current::Home, page.page).is_ok() {
        early::set_painted("home");
        clock::mark("rc-pkce:sign-in-ready");
    }
}

/// The app's sign-in (`Driver::sign_in`) before the app is here: the same core calls, and the
/// same session machine deciding. Its only effects at this step are storing the pending record
/// and leaving for the authorize page; their outcomes go back to it as events, as the driver
/// reports them (driver test `a_pending_record_storage_refuses_keeps_the_tab_here…`).
fn sign_in(config: &AppConfig, button: &web_sys::HtmlButtonElement, problem: &web_sys::Element) {
    let show = |title: &str, hint: Option<&str>| {
        if let Ok(p) = pages::problem(title, hint) {
            problem.replace_children_with_node_1(&p);
        }
    };
    let now = clock::now();
    let binding = config.binding();
    let started = match authorize::start(
        &config.authorize_request(),
        &binding,
        &mut SystemEntropy,
        now,
    ) {
        Ok(s) => s,
        Err(e) => return show(&e.to_string(), None),
    };
    if config.token_storage == TokenStorage::Session {
        let record = Inspector::start(&started, now);
        let _ = WebStorage::session().set(keys::INSPECTOR, &encode_inspector(&record));
    }
    // One `handle` call per event kind, each with its event written out: the machine's dispatch
    // is inlined, so this module links only the transitions it can reach.
    let mut session = Session::without_record(binding);
    let started = Event::SignInStarted {
        pending: started.pending,
        url: started.url,
    };
    for effect in session.handle(started, now) {
        let Effect::StorePending(p) = effect else {
            continue;
        };
        let stored = WebStorage::session().set(keys::PENDING, &encode_pending(&p));
        for effect in session.handle(Event::PendingStored(stored), now) {
            let Effect::Navigate(url) = effect else {
                continue;
            };
            button.set_disabled(true);
            button.set_text_content(Some(crate::present::text::SIGNING_IN));
            if let Err(e) = location::navigate_away(&url) {
                let why = format!("{} {e}", crate::present::text::NAVIGATION_REFUSED);
                session.handle(Event::BrowserFailed(why), now);
            }
        }
    }
    if session.phase() != Phase::Authorizing {
        button.set_disabled(false);
        button.set_text_content(Some(crate::present::text::SIGN_IN));
    }
    if let Some(e) = session.storage_problem() {
        show(&e.title(), Some(e.hint()));
    } else if let Some(why) = session.fatal() {
        show(why, None);
    }
}

/// At the redirect URI: sends the token POST the core asks for, then with its answer the account
/// GETs, and draws the name; returns when that is done or after [`HEAD_START_MS`], whichever comes
/// first (the rest then goes on alongside the app).
pub async fn callback() {
    clock::mark("rc-pkce:first-load-started");
    let url = location::href();
    if !location::is_callback(&url) || !carries_response_parameters(&url) {
        return;
    }
    let Some(config) = load_if_clean().await else {
        return;
    };
    // Not with endpoints from a discovery document, nor with an ID token to verify first.
    if !config.first_load_callback() || !signed_out(&config) {
        return;
    }
    let store = WebStorage::session();
    let Some(record) = store.get(keys::PENDING).ok().flatten() else {
        return;
    };
    let Ok(pending) = decode_pending(&record) else {
        return;
    };
    // A sign-in that sent a nonce expects an ID token, which only the app verifies (the
    // configuration may have changed since it started).
    if pending.nonce.is_some() {
        return;
    }
    // The session machine decides, as in the app: the token request it asks for, or none (it
    // refuses the callback, and the app says why).
    let callback = Event::CallbackReceived {
        url: url.clone(),
        pending: Some(pending),
    };
    // Its steps are the app's to record, when its session handles the same callback.
    let mut session = Session::without_record(config.binding());
    let asked = session.handle(callback, clock::now()).into_iter();
    let Some(body) = asked
        .filter_map(|e| match e {
            Effect::PostToken { body, .. } => Some(body),
            _ => None,
        })
        .next()
    else {
        return;
    };
    // The code leaves the address bar before it is sent, so it stays neither there nor in the
    // history entry, even if the app never starts; the app gets the URL from the hand-off.
    early::set_callback(&url);
    location::clean_callback_address();
    // Single use, as in the app: over to the app (whose session takes it from the hand-off) and
    // out of storage before the code is sent, so a reload cannot send it again.
    early::set_pending(&record);
    if store.remove(keys::PENDING).is_err() {
        return;
    }
    let sent = early::send_ahead(&Outgoing::Form {
        url: &config.token_endpoint,
        body: body.expose(),
    });
    drop(body);
    let Ok(answer) = sent else { return };
    // From here the server may hand out tokens: if the app never takes them, they are revoked.
    unclaimed::watch(config.binding());
    clock::mark("rc-pkce:token-post-sent");
    // The app starts once the name is drawn (or the module gave up), or after a head start at
    // most: its start-up takes the main thread for tens of milliseconds, which on a fast network
    // would otherwise delay every step here.
    let account = Box::pin(async move {
        if let Some(extension) = request_account(config, answer).await {
            draw(extension).await;
        }
    });
    if let Either::Right((_, unfinished)) = select(account, Box::pin(sleep(HEAD_START_MS))).await {
        wasm_bindgen_futures::spawn_local(unfinished);
    }
}

/// How long the app waits at most for the first-load module at the redirect URI.
const HEAD_START_MS: u64 = 250;

/// Resolves after `ms` milliseconds.
async fn sleep(ms: u64) {
    let (done, elapsed) = futures_channel::oneshot::channel::<()>();
    let _ = crate::browser::timer::set_timeout(ms, move || {
        let _ = done.send(());
    });
    let _ = elapsed.await;
}

/// Reads the token answer and, if the app has not taken it yet, GETs the extension and account;
/// returns the extension's answer.
async fn request_account(config: AppConfig, answer: js_sys::Promise) -> Option<js_sys::Promise> {
    let bytes = success_body(answer).await?;
    let tokens = parse_token_response(&bytes, clock::now()).ok()?;
    // The app took the token answer before it came: it is running and asks for these itself.
    if early::taken("POST", &config.token_endpoint) {
        return None;
    }
    unclaimed::answered(&bytes);
    let get = |path: &str| {
        let url = format!("{}{path}", config.api_base);
        early::send_ahead(&Outgoing::Bearer {
            url: &url,
            token: tokens.access_token.expose(),
        })
    };
    // The account answer is the app's to read: drawing the name needs only the extension.
    let (Ok(extension), Ok(_)) = (get(EXTENSION_PATH), get(ACCOUNT_PATH)) else {
        return None;
    };
    Some(extension)
}

/// Draws the account page with the user's name when the extension's answer comes.
async fn draw(extension: js_sys::Promise) {
    let Some(ext) = json::<Extension>(extension).await else {
        return;
    };
    // Once the app has the page, the page is the app's; with no app coming, it is boot.js's error.
    if early::app_took_over() || unclaimed::abandoned() {
        return;
    }
    let Ok(page) = pages::account(&ext) else {
        return;
    };
    if pages::show(pages::Current::Account, page).is_err() {
        return;
    }
    early::set_painted("account");
    clock::mark("rc-pkce:account-name");
}
/// The body of a 2xx answer.
async fn success_body(answer: js_sys::Promise) -> Option<Vec<u8>> {
    let response: web_sys::Response = JsFuture::from(answer).await.ok()?.dyn_into().ok()?;
    if !response.ok() {
        return None;
    }
    read_body(&response).await.ok()
}

async fn json<T: DeserializeOwned>(answer: js_sys::Promise) -> Option<T> {
    serde_json::from_slice(&success_body(answer).await?).ok()
}
