//! Events: raw kernel records decoded into typed, owned events.

mod syscalls_x86_64;
pub mod types;

pub use types::EventType;
