//! Saker: a Falco-compatible runtime security sensor.
//!
//! See `DESIGN.md`-style map in the repository README: `probe` loads the eBPF
//! programs and reads the ring buffer, `event` decodes records, `state` rebuilds
//! processes and file descriptors, `rules` evaluates Falco rules, `output`
//! delivers alerts.

pub mod alert;
pub mod event;
pub mod fields;
pub mod rules;
