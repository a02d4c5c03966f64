#![cfg(target_arch = "wasm32")]
//! The storage adapter against Chromium's real `sessionStorage` and `localStorage`: values land in
//! the store the adapter names and nowhere else, `TokenStore` keeps tokens where its mode says (and
//! never in `localStorage`), a full store is reported as `QuotaExceeded`, and a store the browser
//! refuses (a `SecurityError` on access) is reported as `Unavailable` with text for the user.
//!
//! All tests share one page, so each clears the keys it touched before it ends.

use js_sys::{Function, Object, Reflect};
use rc_pkce::browser::config_loader;
use rc_pkce::browser::storage::{
    KeyValue, MemoryStorage, StorageError, StoreKind, TokenStore, WebStorage, keys,
};
use rc_pkce_core::Timestamp;
use rc_pkce_core::config::{ServerPreset, Settings, TokenStorage};
use rc_pkce_core::record::{decode_session, encode_session};
use rc_pkce_core::secret::{AccessToken, RefreshToken};
use rc_pkce_core::session::StoredSession;
use rc_pkce_core::token::TokenSet;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn session_storage() -> web_sys::Storage {
    web_sys::window()
        .unwrap()
        .session_storage()
        .unwrap()
        .unwrap()
}

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

/// Every key and value in a store, read directly through web_sys.
fn entries(store: &web_sys::Storage) -> Vec<(String, String)> {
    let n = store.length().unwrap();
    (0..n)
        .filter_map(|i| store.key(i).unwrap())
        .map(|k| {
            let v = store.get_item(&k).unwrap().unwrap_or_default();
            (k, v)
        })
        .collect()
}

fn sample_session(access: &str, refresh: &str) -> StoredSession {
    StoredSession {
        grant_id: "grant-storage-test".into(),
        generation: 3,
        tab_key: rc_pkce_core::tabs::TabKey::from_bytes([3; 32]),
        binding: rc_pkce_core::binding::ServerBinding::default(),
        tokens: TokenSet {
            access_token: AccessToken::new(access),
            issued_at: Timestamp::from_secs(1_800_000_000),
            expires_in: Some(3600),
            expires_at: Some(Timestamp::from_secs(1_800_003_600)),
            refresh_token: Some(RefreshToken::new(refresh)),
            refresh_expires_in: Some(604_800),
            refresh_expires_at: Some(Timestamp::from_secs(1_800_604_800)),
            scope: Some("ReadAccounts".into()),
            owner_id: Some("owner-1".into()),
            endpoint_id: None,
            id_token: None,
        },
        identity: None,
    }
}

#[wasm_bindgen_test]
fn session_web_storage_round_trips_through_session_storage_only() {
    let key = "rc-pkce.test.session-round-trip";
    let store = WebStorage::session();
    assert_eq!(store.kind(), StoreKind::Session);
    assert_eq!(store.get(key), Ok(None));

    store.set(key, "value ✓ 1").unwrap();
    assert_eq!(store.get(key), Ok(Some("value ✓ 1".into())));
    assert_eq!(
        session_storage().get_item(key).unwrap().as_deref(),
        Some("value ✓ 1")
    );
    assert_eq!(local_storage().get_item(key).unwrap(), None);

    store.set(key, "value 2").unwrap();
    assert_eq!(
        session_storage().get_item(key).unwrap().as_deref(),
        Some("value 2")
    );

    store.remove(key).unwrap();
    assert_eq!(store.get(key), Ok(None));
    assert_eq!(session_storage().get_item(key).unwrap(), None);
    // Removing what is not there is not an error.
    assert_eq!(store.remove(key), Ok(()));
}

#[wasm_bindgen_test]
fn local_web_storage_round_trips_through_local_storage_only() {
    let key = "rc-pkce.test.local-round-trip";
    let store = WebStorage::local();
    assert_eq!(store.kind(), StoreKind::Local);
    assert_eq!(store.get(key), Ok(None));

    store.set(key, "local value").unwrap();
    assert_eq!(store.get(key), Ok(Some("local value".into())));
    assert_eq!(
        local_storage().get_item(key).unwrap().as_deref(),
        Some("local value")
    );
    assert_eq!(session_storage().get_item(key).unwrap(), None);

    // What is written directly is read by the adapter too: it is the real store, not a copy.
    local_storage()
        .set_item(key, "written by the page")
        .unwrap();
    assert_eq!(store.get(key), Ok(Some("written by the page".into())));

    store.remove(key).unwrap();
    assert_eq!(store.get(key), Ok(None));
    assert_eq!(local_storage().get_item(key).unwrap(), None);
}

#[wasm_bindgen_test]
fn memory_storage_keeps_values_out_of_web_storage() {
    let key = "rc-pkce.test.memory";
    let store = MemoryStorage::default();
    assert_eq!(store.kind(), StoreKind::Memory);
    assert_eq!(store.get(key), Ok(None));
    store.set(key, "in memory").unwrap();
    assert_eq!(store.get(key), Ok(Some("in memory".into())));
    assert_eq!(session_storage().get_item(key).unwrap(), None);
    assert_eq!(local_storage().get_item(key).unwrap(), None);

    // A clone shares the map; a new store does not.
    let twin = store.clone();
    assert_eq!(twin.get(key), Ok(Some("in memory".into())));
    assert_eq!(MemoryStorage::default().get(key), Ok(None));

    twin.remove(key).unwrap();
    assert_eq!(store.get(key), Ok(None));
}

#[wasm_bindgen_test]
fn session_mode_token_store_keeps_tokens_in_session_storage_never_local_storage() {
    let access = "at-session-mode-9f8e7d6c5b4a";
    let refresh = "rt-session-mode-0a1b2c3d4e5f";
    let store = TokenStore::for_mode(TokenStorage::Session);
    assert_eq!(store.tokens.kind(), StoreKind::Session);
    assert_eq!(store.pending.kind(), StoreKind::Session);

    let record = encode_session(&sample_session(access, refresh));
    store.tokens.set(keys::SESSION, &record).unwrap();

    let in_session = session_storage().get_item(keys::SESSION).unwrap();
    assert_eq!(in_session.as_deref(), Some(record.as_str()));
    let back = decode_session(&store.tokens.get(keys::SESSION).unwrap().unwrap()).unwrap();
    assert_eq!(back, sample_session(access, refresh));

    // Nothing in localStorage, under any key, holds either token.
    for (k, v) in entries(&local_storage()) {
        for secret in [access, refresh] {
            assert!(
                !k.contains(secret) && !v.contains(secret),
                "localStorage key {k:?} holds a token"
            );
        }
    }
    assert_eq!(local_storage().get_item(keys::SESSION).unwrap(), None);

    store.tokens.remove(keys::SESSION).unwrap();
    assert_eq!(session_storage().get_item(keys::SESSION).unwrap(), None);
}

#[wasm_bindgen_test]
fn memory_mode_token_store_puts_nothing_in_web_storage() {
    let access = "at-memory-mode-1234567890";
    let store = TokenStore::for_mode(TokenStorage::Memory);
    assert_eq!(store.tokens.kind(), StoreKind::Memory);
    // The pending authorization must survive the redirect, so it still uses sessionStorage.
    assert_eq!(store.pending.kind(), StoreKind::Session);

    let record = encode_session(&sample_session(access, "rt-memory-mode"));
    store.tokens.set(keys::SESSION, &record).unwrap();
    store.tokens.set(keys::INSPECTOR, "{\"v\":1}").unwrap();
    assert_eq!(
        store.tokens.get(keys::SESSION).unwrap().as_deref(),
        Some(record.as_str())
    );

    for web in [session_storage(), local_storage()] {
        assert_eq!(web.get_item(keys::SESSION).unwrap(), None);
        assert_eq!(web.get_item(keys::INSPECTOR).unwrap(), None);
        assert!(entries(&web).iter().all(|(_, v)| !v.contains(access)));
    }
    // A reload builds a new store: the session does not survive it.
    assert_eq!(
        TokenStore::for_mode(TokenStorage::Memory)
            .tokens
            .get(keys::SESSION),
        Ok(None)
    );
}

#[wasm_bindgen_test]
fn settings_are_the_only_app_record_in_local_storage_and_hold_no_token() {
    let access = "at-settings-check-abcdef";
    let store = TokenStore::for_mode(TokenStorage::Session);
    store
        .tokens
        .set(
            keys::SESSION,
            &encode_session(&sample_session(access, "rt-x")),
        )
        .unwrap();
    let settings = Settings {
        client_id: "client-for-storage-test".into(),
        preset: ServerPreset::Devtest,
    };
    config_loader::save_settings(&settings).unwrap();

    let app_keys: Vec<(String, String)> = entries(&local_storage())
        .into_iter()
        .filter(|(k, _)| k.starts_with("rc-pkce.") && !k.starts_with("rc-pkce.test."))
        .collect();
    let names: Vec<&str> = app_keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, [keys::SETTINGS]);
    assert!(!app_keys[0].1.contains(access));
    assert!(!app_keys[0].1.to_ascii_lowercase().contains("token"));

    config_loader::reset_settings().unwrap();
    store.tokens.remove(keys::SESSION).unwrap();
    assert_eq!(local_storage().get_item(keys::SETTINGS).unwrap(), None);
}

#[wasm_bindgen_test]
fn a_full_session_storage_is_reported_as_quota_exceeded() {
    let store = WebStorage::session();
    // 1 Mi UTF-16 code units = 2 MiB per item; Chromium allows about 10 MiB per origin.
    let chunk = "x".repeat(1 << 20);
    let mut written = Vec::new();
    let mut failure = None;
    for i in 0..64 {
        let key = format!("rc-pkce.test.fill.{i}");
        match store.set(&key, &chunk) {
            Ok(()) => written.push(key),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    for key in &written {
        store.remove(key).unwrap();
    }
    // After cleaning up, small writes work again.
    store.set("rc-pkce.test.fill.after", "ok").unwrap();
    store.remove("rc-pkce.test.fill.after").unwrap();

    assert!(!written.is_empty(), "not even one chunk fitted");
    let failure = failure.expect("64 MiB fitted into sessionStorage");
    assert_eq!(
        failure,
        StorageError::QuotaExceeded {
            kind: StoreKind::Session
        }
    );
    assert_eq!(failure.title(), "The browser's sessionStorage is full.");
    assert!(failure.hint().contains("clear its site data"));
}

/// Replaces `window[name]` with a getter that throws a `SecurityError`, as Chromium does when site
/// data is blocked, and returns the original property descriptor for [`restore_storage`].
fn block_storage(name: &str) -> JsValue {
    let window: Object = web_sys::window().unwrap().unchecked_into();
    let original = Object::get_own_property_descriptor(&window, &name.into());
    assert!(
        !original.is_undefined(),
        "window.{name} is not an own property"
    );
    let block = Function::new_with_args(
        "name",
        "Object.defineProperty(window, name, { get() { throw new DOMException('denied', 'SecurityError') }, configurable: true })",
    );
    block.call1(&JsValue::NULL, &name.into()).unwrap();
    original
}

fn restore_storage(name: &str, original: &JsValue) {
    let window: Object = web_sys::window().unwrap().unchecked_into();
    Object::define_property(&window, &name.into(), original.unchecked_ref());
}

#[wasm_bindgen_test]
fn blocked_session_storage_is_reported_as_unavailable() {
    let key = "rc-pkce.test.blocked";
    let original = block_storage("sessionStorage");
    let store = WebStorage::session();
    let got = store.get(key);
    let set = store.set(key, "v");
    let removed = store.remove(key);
    let tokens = TokenStore::for_mode(TokenStorage::Session)
        .tokens
        .set(keys::SESSION, "x");
    // localStorage is a different store and keeps working.
    let local = WebStorage::local().set(key, "still works");
    let memory = TokenStore::for_mode(TokenStorage::Memory)
        .tokens
        .set(keys::SESSION, "x");
    restore_storage("sessionStorage", &original);

    let expected = StorageError::Unavailable {
        kind: StoreKind::Session,
        detail: "denied".into(),
    };
    assert_eq!(got, Err(expected.clone()));
    assert_eq!(set, Err(expected.clone()));
    assert_eq!(removed, Err(expected.clone()));
    assert_eq!(tokens, Err(expected.clone()));
    assert_eq!(local, Ok(()));
    assert_eq!(memory, Ok(()));
    assert_eq!(
        expected.title(),
        "This browser does not let the page use sessionStorage."
    );
    assert!(expected.hint().contains("Allow site data"));
    assert_eq!(expected.to_string(), expected.title());

    // Restored: the adapter looks the store up on every use, so it works again at once.
    store.set(key, "back").unwrap();
    assert_eq!(
        session_storage().get_item(key).unwrap().as_deref(),
        Some("back")
    );
    store.remove(key).unwrap();
    WebStorage::local().remove(key).unwrap();
}

#[wasm_bindgen_test]
fn blocked_local_storage_makes_saving_settings_fail_with_unavailable() {
    let original = block_storage("localStorage");
    let saved = config_loader::save_settings(&Settings {
        client_id: "blocked-client".into(),
        preset: ServerPreset::Production,
    });
    let reset = config_loader::reset_settings();
    let reflect = Reflect::get(&web_sys::window().unwrap(), &"localStorage".into());
    restore_storage("localStorage", &original);

    assert!(reflect.is_err(), "the override did not take effect");
    let expected = StorageError::Unavailable {
        kind: StoreKind::Local,
        detail: "denied".into(),
    };
    assert_eq!(saved, Err(expected.clone()));
    assert_eq!(reset, Err(expected.clone()));
    assert_eq!(
        expected.title(),
        "This browser does not let the page use localStorage."
    );
    assert_eq!(local_storage().get_item(keys::SETTINGS).unwrap(), None);
}
