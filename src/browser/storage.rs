//! Key-value storage behind one small trait, with `sessionStorage`, `localStorage` and memory
//! implementations.
//!
//! Storage can be disabled (privacy modes, sandboxed iframes) or full; each failure becomes a
//! [`StorageError`] with text for the user instead of an exception. Which store holds tokens is
//! decided once, from the configuration, in [`TokenStore`]: `localStorage` is never one of them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rc_pkce_core::config::TokenStorage;
use wasm_bindgen::JsCast;

/// The keys this app uses. Everything it stores is listed here.
pub mod keys {
    /// The signed-in session (tokens): sessionStorage or memory, never localStorage.
    pub const SESSION: &str = "rc-pkce.session";
    /// The pending authorization (state + verifier) across the redirect: sessionStorage.
    pub const PENDING: &str = "rc-pkce.pending";
    /// Why the last session ended, when the user did not choose it (no secret): sessionStorage,
    /// so a reload still says it whatever the token storage.
    pub const ENDED: &str = "rc-pkce.ended";
    /// The PKCE inspector's record: same store as the session.
    pub const INSPECTOR: &str = "rc-pkce.inspector";
    /// The visitor's Settings (client ID and server preset; no token): localStorage.
    pub const SETTINGS: &str = "rc-pkce.settings";
}

pub use rc_pkce_core::storage::{StorageError, StoreKind};

/// A string-to-string store.
pub trait KeyValue {
    fn kind(&self) -> StoreKind;
    fn get(&self, key: &str) -> Result<Option<String>, StorageError>;
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError>;
    fn remove(&self, key: &str) -> Result<(), StorageError>;
}

/// `window.sessionStorage` or `window.localStorage`, looked up on every use so that a store the
/// browser disables later is reported, not cached.
pub struct WebStorage {
    kind: StoreKind,
}

impl WebStorage {
    pub fn session() -> Self {
        Self {
            kind: StoreKind::Session,
        }
    }

    pub fn local() -> Self {
        Self {
            kind: StoreKind::Local,
        }
    }

    fn storage(&self) -> Result<web_sys::Storage, StorageError> {
        let unavailable = |detail: String| StorageError::Unavailable {
            kind: self.kind,
            detail,
        };
        let window = web_sys::window().ok_or_else(|| unavailable("no window".into()))?;
        let storage = match self.kind {
            StoreKind::Local => window.local_storage(),
            _ => window.session_storage(),
        };
        storage
            .map_err(|e| unavailable(js_error_text(&e)))?
            .ok_or_else(|| unavailable("not provided".into()))
    }

    fn classify(&self, e: wasm_bindgen::JsValue) -> StorageError {
        let name = e
            .dyn_ref::<web_sys::DomException>()
            .map(|d| d.name())
            .unwrap_or_default();
        if name == "QuotaExceededError" {
            StorageError::QuotaExceeded { kind: self.kind }
        } else if name == "SecurityError" {
            StorageError::Unavailable {
                kind: self.kind,
                detail: js_error_text(&e),
            }
        } else {
            StorageError::Failed {
                kind: self.kind,
                detail: js_error_text(&e),
            }
        }
    }
}

impl KeyValue for WebStorage {
    fn kind(&self) -> StoreKind {
        self.kind
    }

    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.storage()?.get_item(key).map_err(|e| self.classify(e))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.storage()?
            .set_item(key, value)
            .map_err(|e| self.classify(e))
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.storage()?
            .remove_item(key)
            .map_err(|e| self.classify(e))
    }
}

/// A store that lives as long as the page: the `"token_storage": "memory"` mode, and the fallback
/// for tests.
#[derive(Default, Clone)]
pub struct MemoryStorage(Rc<RefCell<HashMap<String, String>>>);

impl KeyValue for MemoryStorage {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }

    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self.0.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.0
            .borrow_mut()
            .insert(key.to_string(), value.to_string());
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }
}

/// Where each record of the app lives. Tokens go to `tokens` only.
pub struct TokenStore {
    /// Session and inspector records: sessionStorage, or memory in memory mode.
    pub tokens: Box<dyn KeyValue>,
    /// The pending authorization must survive the redirect, so it is always in sessionStorage.
    pub pending: Box<dyn KeyValue>,
}

impl TokenStore {
    pub fn for_mode(mode: TokenStorage) -> Self {
        let tokens: Box<dyn KeyValue> = match mode {
            TokenStorage::Session => Box::new(WebStorage::session()),
            TokenStorage::Memory => Box::new(MemoryStorage::default()),
        };
        Self {
            tokens,
            pending: Box::new(WebStorage::session()),
        }
    }
}

/// The message of a JS exception, for error text.
pub fn js_error_text(e: &wasm_bindgen::JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    if let Some(d) = e.dyn_ref::<web_sys::DomException>() {
        return d.message();
    }
    e.as_string().unwrap_or_else(|| "unknown error".into())
}
