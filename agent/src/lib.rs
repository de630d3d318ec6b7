//! Saker: a Falco-compatible runtime security sensor.
//!
//! `probe` loads the eBPF programs and reads the ring buffer, `event`
//! decodes kernel records into typed events, `recording` stores and replays
//! event streams.

pub mod alert;
pub mod config;
pub mod drops;
pub mod engine;
pub mod event;
pub mod exceptions;
pub mod fields;
pub mod instance;
pub mod metrics;
pub mod observe;
pub mod output;
pub mod preflight;
pub mod probe;
pub mod recording;
pub mod reload;
pub mod report;
pub mod rules;
pub mod runtime;
pub mod state;
pub mod webserver;
