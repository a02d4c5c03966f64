//! Reusable pieces of the pages.

mod call_log;
mod cards;
mod identity;
mod inspector;
mod message;
mod sequence;
mod session_panel;

pub use call_log::CallLog;
pub use cards::{AccountCard, ExtensionCard, Load, load_account, load_extension};
pub use identity::IdentityCard;
pub use inspector::InspectorPanel;
pub use message::{MessageBox, SessionNotice};
pub use sequence::SequenceDiagram;
pub use session_panel::SessionPanel;
