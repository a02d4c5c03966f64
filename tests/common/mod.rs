//! Helpers the browser tests share: waiting on the page's own timers.
// Each test crate includes this module and uses a part of it.
#![allow(dead_code)]

use wasm_bindgen_futures::JsFuture;

pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Waits until `done` holds, for at most `ms`; returns whether it did.
pub async fn wait_for(ms: i32, done: impl Fn() -> bool) -> bool {
    for _ in 0..ms / 10 {
        if done() {
            return true;
        }
        sleep(10).await;
    }
    done()
}
