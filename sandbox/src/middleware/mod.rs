//! The layers every request passes through, outside the routes: request log, CORS, faults.
//!
//! They live apart from the data they use (`reqlog`, `faults`) because the shared state holds that
//! data, and a layer needs the state: keeping both in one module would make it and `state` import
//! each other. The order they are stacked in is decided in `server`, and explained there.

pub mod cors;
pub mod faults;
pub mod reqlog;
