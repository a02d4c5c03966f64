//! The browser's Resource Timing entries (`performance.getEntriesByType("resource")`) as plain
//! facts for the sequence diagram: URL, wall-clock start and duration. Which entry belongs to
//! which request is decided in `rc_pkce_core::sequence`. No Performance API means no entries.

use rc_pkce_core::sequence::ResourceEntry;
use wasm_bindgen::JsCast;

pub fn entries() -> Vec<ResourceEntry> {
    let Some(performance) = web_sys::window().and_then(|w| w.performance()) else {
        return Vec::new();
    };
    // Entries are relative to the page's time origin; the steps carry wall-clock time.
    let origin = performance.time_origin();
    performance
        .get_entries_by_type("resource")
        .iter()
        .filter_map(|e| e.dyn_into::<web_sys::PerformanceEntry>().ok())
        .map(|e| ResourceEntry {
            url: e.name(),
            start_ms: origin + e.start_time(),
            duration_ms: e.duration(),
        })
        .collect()
}
