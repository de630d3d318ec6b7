//! Falco's declarative end-to-end rule tests, in the format of
//! falcosecurity/event-generator (`pkg/test/loader`): the spec model
//! ([`spec`]), test-case expansion ([`expand`]) and the executor that performs
//! a test's process chain, resources and syscall steps ([`exec`]).
//!
//! `cargo xtask e2e` (xtask/src/e2e.rs) reads spec files, expands them, starts
//! `saker run` and a container runtime, and runs each test through the
//! `saker-e2e-exec` binary of this crate; alerts are matched to tests by the
//! test id the leaf process carries in its environment (`proc.env`), as
//! event-generator's tester does (`pkg/test/tester/tester/tester.go`).

pub mod exec;
pub mod expand;
pub mod runner;
pub mod spec;

/// Environment variable holding the test id. The leaf process of a test
/// carries the bare id (a UUID v4); its ancestors carry it behind
/// [`TEST_ID_IGNORE_PREFIX`] so that their own alerts are not counted.
pub const TEST_ID_ENV: &str = "SAKER_E2E_TEST_ID";
/// Prefix marking a test id as "not the leaf" (event-generator's
/// `TestIDIgnorePrefix`).
pub const TEST_ID_IGNORE_PREFIX: &str = "ignore:";
/// Environment variable holding the JSON of the (expanded) test to run.
pub const TEST_ENV: &str = "SAKER_E2E_TEST";
