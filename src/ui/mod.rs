//! The Leptos components. They render the driver's signals and call its methods; decisions live
//! in the core and in [`crate::present`].

mod layout;
mod mount;
pub mod pages;
pub mod ready;
pub mod route;
pub mod widgets;

use std::rc::Rc;

use leptos::prelude::*;

use crate::browser::config_loader::{self, Loaded};
use crate::browser::location;
use crate::driver::{Driver, Observer, SessionView};
use crate::present::Page;
use crate::ui::route::{provide_route, use_route};
use crate::web::WebPlatform;
use rc_pkce_core::callback::carries_response_parameters;
use rc_pkce_core::inspector::Inspector;

pub use layout::Layout;
pub use mount::mount;

/// The configuration as loaded, for the Settings and configuration pages.
#[derive(Clone)]
pub struct ConfigState(pub Loaded);

/// The driver as the running app has it: on the browser's platform.
pub type AppDriver = Driver<WebPlatform>;

/// The signals the driver's observer sets: what the components render.
#[derive(Clone, Copy)]
struct Signals {
    view: RwSignal<SessionView>,
    inspector: RwSignal<Inspector>,
    route_request: RwSignal<Option<String>>,
}

impl Signals {
    fn new() -> Self {
        Self {
            view: RwSignal::new(SessionView::default()),
            inspector: RwSignal::new(Inspector::default()),
            route_request: RwSignal::new(None),
        }
    }
}

impl Observer for Signals {
    fn session(&self, view: &SessionView) {
        if self.view.get_untracked() != *view {
            self.view.set(view.clone());
        }
    }

    fn inspector(&self, inspector: &Inspector) {
        self.inspector.set(inspector.clone());
    }

    fn route(&self, path: &str) {
        self.route_request.set(Some(path.to_string()));
    }
}

/// The driver and its signals, shared with every component of a running app.
#[derive(Clone, Copy)]
pub struct DriverHandle {
    driver: StoredValue<Rc<AppDriver>, LocalStorage>,
    signals: Signals,
}

/// A `Copy` handle that closures in views can capture (the driver itself is not `Send`).
impl DriverHandle {
    pub fn get(&self) -> Rc<AppDriver> {
        self.driver.get_value()
    }

    pub fn view(&self) -> RwSignal<SessionView> {
        self.signals.view
    }

    /// The PKCE inspector's steps.
    pub fn inspector(&self) -> RwSignal<Inspector> {
        self.signals.inspector
    }

    /// A route the driver wants shown (after sign-in: `/account`).
    pub fn route_request(&self) -> RwSignal<Option<String>> {
        self.signals.route_request
    }

    pub fn sign_in(&self) {
        self.get().sign_in();
    }

    pub fn sign_out(&self) {
        self.get().sign_out();
    }

    pub fn refresh_now(&self) {
        self.get().refresh_now();
    }

    pub fn dismiss_notice(&self) {
        self.get().dismiss_notice();
    }
}

/// The driver of the running app. Only called under a configured app.
pub fn use_driver() -> DriverHandle {
    expect_context::<DriverHandle>()
}

/// The current time, updated every second while the calling component is mounted (for
/// countdowns).
pub fn use_now() -> RwSignal<rc_pkce_core::Timestamp> {
    let now = RwSignal::new(crate::browser::clock::now());
    if let Ok(handle) = set_interval_with_handle(
        move || {
            let _ = now.try_set(crate::browser::clock::now());
        },
        std::time::Duration::from_secs(1),
    ) {
        on_cleanup(move || handle.clear());
    }
    now
}

#[derive(Clone)]
enum Boot {
    Loading,
    Failed,
    Ready(Rc<AppDriver>, Signals),
}

#[component]
pub fn App() -> impl IntoView {
    let boot = RwSignal::new_local(Boot::Loading);
    let config = RwSignal::new(None::<ConfigState>);
    leptos::task::spawn_local(async move {
        let loaded = config_loader::load().await;
        config.set(Some(ConfigState(loaded.clone())));
        match loaded {
            Loaded::Ready { config, .. } => {
                let signals = Signals::new();
                let platform = WebPlatform::new(&config);
                let driver = Driver::start(*config, platform, Rc::new(signals));
                boot.set(Boot::Ready(driver, signals));
            }
            Loaded::Failed(_) => {
                // No sign-in can go on, but its code still leaves the address bar and history.
                let href = location::href();
                if location::is_callback(&href) && carries_response_parameters(&href) {
                    location::clean_callback_address();
                }
                boot.set(Boot::Failed)
            }
        }
    });
    provide_route();
    view! {
        <Layout>
            {move || {
                if let Some(c) = config.get() {
                    provide_context(c);
                }
                match boot.get() {
                    Boot::Loading => view! { <p class="loading" role="status">"Loading configuration…"</p> }.into_any(),
                    Boot::Failed => view! { <UnconfiguredRoutes/> }.into_any(),
                    Boot::Ready(driver, signals) => {
                        provide_context(DriverHandle {
                            driver: StoredValue::new_local(driver),
                            signals,
                        });
                        view! { <AppRoutes/> }.into_any()
                    }
                }
            }}
        </Layout>
    }
}

#[component]
fn AppRoutes() -> impl IntoView {
    let route = use_route();
    // A page is built again only when the page changes, not on every change of the path.
    let page = Memo::new(move |_| route.page());
    view! {
        <FollowRouteRequests/>
        {move || match page.get() {
            Page::Home => view! { <pages::Home/> }.into_any(),
            Page::Callback => view! { <pages::Callback/> }.into_any(),
            Page::Account => view! { <pages::Account/> }.into_any(),
            Page::Settings => view! { <pages::Settings/> }.into_any(),
            Page::NotFound => view! { <pages::NotFound/> }.into_any(),
        }}
    }
}

/// Without a usable configuration only Settings works; every other path explains the problem.
#[component]
fn UnconfiguredRoutes() -> impl IntoView {
    let route = use_route();
    let settings = Memo::new(move |_| route.page() == Page::Settings);
    move || {
        if settings.get() {
            view! { <pages::Settings/> }.into_any()
        } else {
            view! { <pages::ConfigProblem/> }.into_any()
        }
    }
}

/// Navigates where the driver asks (to the account page after sign-in), replacing the history
/// entry so Back does not return to the callback.
#[component]
fn FollowRouteRequests() -> impl IntoView {
    let requests = use_driver().route_request();
    let route = use_route();
    Effect::new(move |_| {
        if let Some(path) = requests.get() {
            requests.set(None);
            route.replace(&path);
        }
    });
}
