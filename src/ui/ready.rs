//! Each page says when it shows all it is going to show for now, so the mount knows when the app
//! may take the first-load module's page's place (see [`crate::ui::mount`]): the account page once
//! the user's extension is loaded (or failed), the callback page once the code exchange is over,
//! every other page at once.

use leptos::prelude::*;

/// The app's "my page is drawn" signal.
#[derive(Clone, Copy)]
pub struct Ready(RwSignal<bool>);

impl Ready {
    pub fn new() -> Self {
        Self(RwSignal::new(false))
    }

    /// Whether a page has said it is drawn (tracked).
    pub fn get(&self) -> bool {
        self.0.get()
    }
}

impl Default for Ready {
    fn default() -> Self {
        Self::new()
    }
}

/// Says "drawn" as soon as `done()` is true (re-checked whenever what it reads changes).
pub fn ready_when(done: impl Fn() -> bool + 'static) {
    let Some(Ready(ready)) = use_context::<Ready>() else {
        return;
    };
    Effect::new(move |_| {
        if done() && !ready.get_untracked() {
            ready.set(true);
        }
    });
}
