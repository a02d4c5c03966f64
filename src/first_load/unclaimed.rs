//! The sign-in the redirect URI's first-load module started, when the app never takes it over.
//!
//! The module exchanges the code before the app has loaded; only the app stores a session. If the
//! page goes away first (`pagehide`), or boot.js reports that the app could not start
//! ([`abandon`]), the token answer no one took is revoked at the server the sign-in was bound to,
//! as the core says ([`rc_pkce_core::handoff`]), and the secrets left for the app leave the
//! hand-off global. `pagehide` leaves no time to read an answer, so the revocation is made ready as
//! soon as the answer is read, and dropped once the app has taken the answer.

use std::cell::RefCell;

use rc_pkce_core::binding::ServerBinding;
use rc_pkce_core::handoff::{Undo, undo_sign_in};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::browser::http::start_keepalive_post;
use crate::browser::{clock, timer};
use crate::early;

thread_local! {
    static WATCH: RefCell<Option<Watch>> = const { RefCell::new(None) };
}

struct Watch {
    binding: ServerBinding,
    /// The revocation for the token answer, once read, while the app has not taken the answer.
    undo: Option<Undo>,
    /// boot.js reported that the app will not start: [`abandon`] has the answer now.
    abandoned: bool,
}

/// How often to look whether the app has taken the answer, to drop the revocation made ready.
const CHECK_MS: u64 = 500;

/// Starts watching the token POST just sent for a sign-in bound to `binding`.
pub fn watch(binding: ServerBinding) {
    WATCH.with(|w| {
        *w.borrow_mut() = Some(Watch {
            binding,
            undo: None,
            abandoned: false,
        })
    });
    let Some(window) = web_sys::window() else {
        return;
    };
    let on_pagehide = Closure::<dyn Fn()>::new(revoke_if_unclaimed);
    let _ =
        window.add_event_listener_with_callback("pagehide", on_pagehide.as_ref().unchecked_ref());
    on_pagehide.forget();
}

/// Whether the app has the token answer (or there is none to have).
fn claimed(binding: &ServerBinding) -> bool {
    early::taken("POST", &binding.token_endpoint)
}

/// The token answer's 2xx `body` has been read: while the app has not taken it, its revocation
/// is kept ready.
pub fn answered(body: &[u8]) {
    let ready = WATCH.with(|w| {
        let mut w = w.borrow_mut();
        let Some(w) = w.as_mut().filter(|w| !w.abandoned && !claimed(&w.binding)) else {
            return false;
        };
        w.undo = undo_sign_in(body, &w.binding, clock::now());
        w.undo.is_some()
    });
    if ready {
        drop_once_claimed();
    }
}

/// Drops the revocation once the app has taken the answer: its session keeps those tokens now.
fn drop_once_claimed() {
    let _ = timer::set_timeout(CHECK_MS, || {
        let waiting = WATCH.with(|w| {
            let mut w = w.borrow_mut();
            let Some(w) = w.as_mut().filter(|w| w.undo.is_some()) else {
                return false;
            };
            if claimed(&w.binding) {
                w.undo = None;
            }
            w.undo.is_some()
        });
        if waiting {
            drop_once_claimed();
        }
    });
}

/// On `pagehide`: the page goes before the app took the tokens, so they are revoked.
fn revoke_if_unclaimed() {
    let undo = WATCH.with(|w| {
        let mut w = w.borrow_mut();
        let w = w.as_mut()?;
        if claimed(&w.binding) {
            w.undo = None;
        }
        w.undo.take()
    });
    if let Some(undo) = undo {
        let _ = start_keepalive_post(&undo.endpoint, undo.body.expose());
    }
}

/// Whether boot.js has reported that the app will not start: the page is its error then.
pub fn abandoned() -> bool {
    WATCH.with(|w| w.borrow().as_ref().is_some_and(|w| w.abandoned))
}

/// boot.js could not start the app: clears what was left for it on the hand-off global, revokes
/// the tokens of the sign-in this module started, and returns what to tell the user (nothing if
/// no code was exchanged).
pub async fn abandon() -> Option<&'static str> {
    drop(early::take_pending());
    drop(early::take_callback());
    let binding = WATCH.with(|w| {
        let mut w = w.borrow_mut();
        let w = w.as_mut()?;
        w.abandoned = true;
        w.undo = None;
        Some(w.binding.clone())
    });
    let answer = binding
        .as_ref()
        .and_then(|b| early::take_unclaimed("POST", &b.token_endpoint));
    early::discard_rest();
    let body = super::success_body(answer?).await?;
    let undo = undo_sign_in(&body, &binding?, clock::now())?;
    let revoked = match start_keepalive_post(&undo.endpoint, undo.body.expose()) {
        Ok(sent) => JsFuture::from(sent)
            .await
            .ok()
            .and_then(|r| r.dyn_into::<web_sys::Response>().ok())
            .is_some_and(|r| r.ok()),
        Err(_) => false,
    };
    Some(if revoked {
        crate::present::text::SIGN_IN_UNDONE
    } else {
        crate::present::text::SIGN_IN_NOT_UNDONE
    })
}
