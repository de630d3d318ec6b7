//! The test executor (`saker-e2e-exec`): what event-generator's host runner
//! does once a test has been handed to a process (`pkg/test/runner/host/host.go`).
//!
//! The orchestrator starts it with the expanded test in [`crate::TEST_ENV`]
//! and the test id in [`crate::TEST_ID_ENV`] (on the host, or as the
//! entrypoint of the test container). If the test's context still lists
//! processes, the first is popped and started as a child, running this same
//! executable under that process's name, arguments and user, with the rest of
//! the test; the last process of the chain runs the test itself: `before`
//! script, resources, syscall steps, cleanup in reverse order, `after` script.
//!
//! Errors are strings naming the step or resource that failed; the exit
//! status is 1 on any error (a failed child fails its parent).

mod consts;
mod process;
mod resources;
mod steps;

use std::collections::BTreeMap;
use std::process::{Command, ExitCode, Stdio};

use crate::spec::Test;
use crate::{TEST_ENV, TEST_ID_ENV, TEST_ID_IGNORE_PREFIX};

/// A value a resource or step exposes for bindings (`${cs.client.fd}`).
pub(crate) type Fields = BTreeMap<String, i64>;

/// Whether `name` is an executable file in `$PATH`.
pub fn on_path(name: &str) -> bool {
    process::find_in_path(name).is_some()
}

/// Entry point of the `saker-e2e-exec` binary.
pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("saker-e2e-exec: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let raw = std::env::var(TEST_ENV).map_err(|_| format!("{TEST_ENV} is not set"))?;
    let mut test: Test =
        serde_json::from_str(&raw).map_err(|e| format!("{TEST_ENV} is not a test: {e}"))?;
    let id = std::env::var(TEST_ID_ENV).map_err(|_| format!("{TEST_ID_ENV} is not set"))?;
    let uid = id
        .strip_prefix(TEST_ID_IGNORE_PREFIX)
        .unwrap_or(&id)
        .to_string();
    let name = test.name.clone();
    let ctx = test.context.get_or_insert_with(Default::default);
    if ctx.container.is_some() {
        return Err(format!(
            "test {name}: a container context must be set up by the orchestrator"
        ));
    }
    if ctx.processes.is_empty() {
        return run_test(&test).map_err(|e| format!("test {name}: {e}"));
    }
    let first = ctx.processes.remove(0);
    let leaf = ctx.processes.is_empty();
    let child_id = if leaf {
        uid
    } else {
        format!("{TEST_ID_IGNORE_PREFIX}{uid}")
    };
    let desc = serde_json::to_string(&test).map_err(|e| e.to_string())?;
    // The test id first: it must survive any truncation of proc.env.
    let mut env = vec![(TEST_ID_ENV.to_string(), child_id)];
    env.extend(inherited_env());
    env.extend(first.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.push((TEST_ENV.to_string(), desc));
    let me = std::fs::read_link("/proc/self/exe").map_err(|e| format!("/proc/self/exe: {e}"))?;
    let spec = process::ProcessSpec {
        exe_path: first.exe_path.clone(),
        name: first.name.clone(),
        arg0: first.exe.clone(),
        args: first.args.clone(),
        user: first.user.clone(),
        capabilities: first.capabilities.clone(),
    };
    let mut proc = process::Started::start(&spec, &me, &env, Stdio::inherit())
        .map_err(|e| format!("test {name}: starting process {:?}: {e}", first.name))?;
    let status = proc.wait();
    proc.cleanup();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "test {name}: process {:?} exited with {s}",
            first.name
        )),
        Err(e) => Err(format!("test {name}: waiting for {:?}: {e}", first.name)),
    }
}

/// The environment a child inherits, without the test's own variables.
fn inherited_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k != TEST_ENV && k != TEST_ID_ENV)
        .collect()
}

/// Runs the test in this process (the leaf of the chain).
fn run_test(test: &Test) -> Result<(), String> {
    if let Some(before) = &test.before {
        run_script("before", before)?;
    }
    let result = run_resources_and_steps(test);
    if let Some(after) = &test.after {
        // The after script runs even when the test failed (it cleans up).
        if let Err(e) = run_script("after", after) {
            eprintln!("saker-e2e-exec: {e}");
        }
    }
    result
}

fn run_resources_and_steps(test: &Test) -> Result<(), String> {
    let mut created: Vec<resources::Created> = Vec::new();
    let mut fields: BTreeMap<String, Fields> = BTreeMap::new();
    let mut result = Ok(());
    for (i, r) in test.resources.iter().enumerate() {
        match resources::Created::create(r) {
            Ok(c) => {
                fields.insert(r.name().to_string(), c.fields());
                created.push(c);
            }
            Err(e) => {
                result = Err(format!("resources[{i}] ({}): {e}", r.name()));
                break;
            }
        }
    }
    let mut done: Vec<steps::Done> = Vec::new();
    if result.is_ok() {
        for (i, s) in test.steps.iter().enumerate() {
            match steps::run(s, &fields) {
                Ok(d) => {
                    fields.insert(s.name.clone(), d.fields.clone());
                    done.push(d);
                }
                Err(e) => {
                    result = Err(format!("steps[{i}] ({}, {}): {e}", s.name, s.syscall));
                    break;
                }
            }
        }
    }
    for d in done.into_iter().rev() {
        if let Err(e) = d.cleanup() {
            eprintln!("saker-e2e-exec: step cleanup: {e}");
        }
    }
    for c in created.into_iter().rev() {
        c.destroy();
    }
    result
}

/// Runs a `before`/`after` script with bash (event-generator's shell), or
/// `sh` where there is no bash (the busybox test image).
fn run_script(which: &str, script: &str) -> Result<(), String> {
    let shell = if process::find_in_path("bash").is_some() {
        "bash"
    } else {
        "sh"
    };
    let st = Command::new(shell)
        .arg("-c")
        .arg(script)
        .status()
        .map_err(|e| format!("{which} script: {shell}: {e}"))?;
    if !st.success() {
        return Err(format!("{which} script `{script}` exited with {st}"));
    }
    Ok(())
}
