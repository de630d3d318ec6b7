//! The test description model: one expanded test of event-generator's format
//! (`pkg/test/loader/loader.go` types, `pkg/test/loader/schema/jsonschemas/`).
//!
//! Keys are event-generator's (camelCase). Unknown keys are errors: a key this
//! runner does not know could change what a test means, so it is reported
//! rather than ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One test, after its `cases` were expanded (see [`crate::expand`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Test {
    /// Test name; expanded tests are named `<name>_testCase#<index>`.
    pub name: String,
    /// The rule the test must make fire.
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Conditions on the machine under which the test runs (`{arch: {op: ne, val: arm64}}`).
    #[serde(default)]
    pub run_if: Option<BTreeMap<String, RunIfCondition>>,
    /// Only `HostRunner` exists.
    pub runner: Runner,
    #[serde(default)]
    pub context: Option<TestContext>,
    /// Shell script run (by the leaf process) before the resources are created.
    #[serde(default)]
    pub before: Option<String>,
    /// Shell script run after the steps and resources were cleaned up.
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub expected_outcome: Option<ExpectedOutcome>,
}

/// The test runner type (event-generator has only the host runner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Runner {
    HostRunner,
}

/// One `runIf` condition: `op` (`eq` | `ne`) applied to the machine's value
/// for the key and `val`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunIfCondition {
    pub op: RunIfOp,
    pub val: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunIfOp {
    Eq,
    Ne,
}

/// Where the test runs: optionally in a container, under a chain of named
/// processes (the last one runs the test; the others are its ancestors).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestContext {
    /// `null` or absent: on the host.
    #[serde(default)]
    pub container: Option<ContainerContext>,
    #[serde(default)]
    pub processes: Vec<ProcessContext>,
}

/// A container the test runs in (event-generator: a privileged container of
/// its own image).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerContext {
    /// The name the base image is tagged with before it is run.
    #[serde(default)]
    pub image: Option<String>,
    /// The container's name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// One process of the chain (`context.schema.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessContext {
    /// The executable's path (`/proc/PID/exe`); default `/tmp/event-generator<10 random chars>`.
    #[serde(default)]
    pub exe_path: Option<String>,
    /// Space-separated arguments; quoted (`"..."` or `'...'`) arguments keep their spaces.
    #[serde(default)]
    pub args: Option<String>,
    /// argv\[0\]; default: the name, else the executable's file name.
    #[serde(default)]
    pub exe: Option<String>,
    /// The process name (`comm`): the executable is run through a symlink of
    /// this name beside it.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// User to run as (created if missing, removed afterwards).
    #[serde(default)]
    pub user: Option<String>,
    /// File capabilities of the executable, `cap_from_text(3)` syntax; default `all=iep`.
    #[serde(default)]
    pub capabilities: Option<String>,
}

/// A resource created before the steps run, exposing fields to bind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Resource {
    /// A connected client and a server (`client.fd`, `server.fd`).
    #[serde(rename_all = "camelCase")]
    ClientServer {
        name: String,
        l4_proto: L4Proto,
        /// `host:port` (IPv6 in brackets); empty for `unix`.
        #[serde(default)]
        address: String,
    },
    /// An open file descriptor of the given subtype (`fd`).
    #[serde(rename_all = "camelCase")]
    Fd {
        name: String,
        subtype: FdSubtype,
        /// For `file`: the regular file opened (created with its parent
        /// directories if missing, removed afterwards if created).
        #[serde(default)]
        file_path: Option<String>,
        /// For `directory`: the directory opened (created if missing).
        #[serde(default)]
        dir_path: Option<String>,
    },
    /// A running process (`pid`), started like a context process, running `cat`.
    #[serde(rename_all = "camelCase")]
    Process {
        name: String,
        #[serde(default)]
        exe_path: Option<String>,
        #[serde(default)]
        args: Option<String>,
        #[serde(default)]
        exe: Option<String>,
        #[serde(default)]
        proc_name: Option<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Run the executable from an anonymous memory file (`memfd_create` + `execveat`).
        #[serde(default)]
        file_less: bool,
    },
}

impl Resource {
    pub fn name(&self) -> &str {
        match self {
            Resource::ClientServer { name, .. }
            | Resource::Fd { name, .. }
            | Resource::Process { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4Proto {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
    Unix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FdSubtype {
    File,
    Directory,
    Pipe,
    Event,
    Signalfd,
    Eventpoll,
    Inotify,
    Memfd,
}

/// A test step: one system call, with arguments that are literals, symbolic
/// constants (`O_WRONLY|O_CREAT`) or bindings (`${res.field}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    #[serde(rename = "type")]
    pub kind: StepKind,
    pub name: String,
    pub syscall: String,
    #[serde(default)]
    pub args: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Syscall,
}

/// What the alert must look like (`expectedOutcome.schema.json`); absent:
/// any alert of the rule matches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectedOutcome {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Compared case-insensitively (`warning` = `Warning`).
    #[serde(default)]
    pub priority: Option<String>,
    /// Each must be in the alert's `output_fields` with exactly this value.
    #[serde(default)]
    pub output_fields: BTreeMap<String, String>,
}
