//! One component per route.

mod account;
mod callback;
mod config_problem;
mod home;
mod not_found;
mod settings;

pub use account::Account;
pub use callback::Callback;
pub use config_problem::ConfigProblem;
pub use home::Home;
pub use not_found::NotFound;
pub use settings::Settings;
