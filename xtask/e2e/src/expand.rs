//! Test-case expansion, as event-generator's loader does it
//! (`pkg/test/loader/template.go`): a test with `cases` is a template; each
//! case (a `vector` gives one, a `matrix` the product of its value lists)
//! yields one test named `<name>_testCase#<i>`, in which every string that is
//! exactly a parameter `%{ item.<key> }` is replaced by the case's value for
//! the key (of any type: `runIf: %{ item.runIf }` may become `null` or an
//! object). Bindings (`${ res.field }`) are left for the executor.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::spec::{RunIfOp, Test};

/// A spec file that cannot be expanded or does not describe tests.
#[derive(Debug)]
pub struct ExpandError {
    /// Index of the test in the file's `tests` list (0-based), when known.
    pub test_index: Option<usize>,
    /// The test's `name`, when known.
    pub test_name: Option<String>,
    pub message: String,
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.test_index, &self.test_name) {
            (Some(i), Some(n)) => write!(f, "tests[{i}] ({n}): {}", self.message),
            (Some(i), None) => write!(f, "tests[{i}]: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ExpandError {}

/// One expanded test and where it came from.
#[derive(Debug, Clone)]
pub struct ExpandedTest {
    /// Index of the source test in the file's `tests` list.
    pub source_index: usize,
    /// The case's values (empty for a test without `cases`).
    pub case: BTreeMap<String, Value>,
    pub test: Test,
}

/// Expands the parsed document of one spec file (`{tests: [...]}`).
///
/// Errors name the test (index and name) and what is wrong: a missing or
/// non-list `tests`, a bad `cases` entry, a parameter with no value, or a
/// test that does not match the format (unknown key, wrong type).
pub fn expand(doc: &Value) -> Result<Vec<ExpandedTest>, ExpandError> {
    let whole = |message: String| ExpandError {
        test_index: None,
        test_name: None,
        message,
    };
    let tests = doc
        .get("tests")
        .ok_or_else(|| whole("no `tests` list".into()))?
        .as_array()
        .ok_or_else(|| whole("`tests` must be a list".into()))?;
    let mut out = Vec::new();
    for (index, raw) in tests.iter().enumerate() {
        let name = raw.get("name").and_then(Value::as_str).map(str::to_string);
        let err = |message: String| ExpandError {
            test_index: Some(index),
            test_name: name.clone(),
            message,
        };
        let Some(map) = raw.as_object() else {
            return Err(err("a test must be a mapping".into()));
        };
        let mut template = map.clone();
        let Some(cases) = template.remove("cases") else {
            let test = decode(Value::Object(template)).map_err(err)?;
            out.push(ExpandedTest {
                source_index: index,
                case: BTreeMap::new(),
                test,
            });
            continue;
        };
        let cases = parse_cases(&cases).map_err(err)?;
        for (i, case) in cases.into_iter().enumerate() {
            let mut filled = Value::Object(template.clone());
            fill(&mut filled, &case).map_err(err)?;
            if let Some(n) = filled.get_mut("name")
                && let Some(s) = n.as_str()
            {
                *n = Value::String(format!("{s}_testCase#{i}"));
            }
            let test = decode(filled).map_err(err)?;
            out.push(ExpandedTest {
                source_index: index,
                case,
                test,
            });
        }
    }
    Ok(out)
}

fn decode(v: Value) -> Result<Test, String> {
    serde_json::from_value(v).map_err(|e| format!("does not match the test format: {e}"))
}

/// The concrete cases of a `cases` list, in order.
fn parse_cases(v: &Value) -> Result<Vec<BTreeMap<String, Value>>, String> {
    let specs = v.as_array().ok_or("`cases` must be a list")?;
    if specs.is_empty() {
        return Err("`cases` must not be empty".into());
    }
    let mut out = Vec::new();
    let mut keysets: Vec<Vec<String>> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let strategy = spec
            .get("strategy")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("cases[{i}]: missing `strategy` (vector or matrix)"))?;
        let values = spec
            .get("values")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("cases[{i}]: `values` must be a mapping"))?;
        if values.is_empty() {
            return Err(format!("cases[{i}]: `values` must not be empty"));
        }
        if let Some(extra) = spec
            .as_object()
            .and_then(|m| m.keys().find(|k| *k != "strategy" && *k != "values"))
        {
            return Err(format!("cases[{i}]: unknown key `{extra}`"));
        }
        keysets.push(values.keys().cloned().collect());
        match strategy {
            "vector" => out.push(values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            "matrix" => out.extend(combinations(values).map_err(|e| format!("cases[{i}]: {e}"))?),
            other => {
                return Err(format!(
                    "cases[{i}]: unknown strategy `{other}` (vector or matrix)"
                ));
            }
        }
    }
    // event-generator: "test cases specify heterogeneous set of keys".
    if keysets.windows(2).any(|w| w[0] != w[1]) {
        return Err("the cases specify different sets of keys".into());
    }
    Ok(out)
}

/// Every combination of one value per key (the first key varies slowest).
fn combinations(values: &Map<String, Value>) -> Result<Vec<BTreeMap<String, Value>>, String> {
    let mut combs: Vec<BTreeMap<String, Value>> = vec![BTreeMap::new()];
    for (key, list) in values {
        let list = list
            .as_array()
            .ok_or_else(|| format!("matrix value `{key}` must be a list"))?;
        if list.is_empty() {
            return Err(format!("matrix value `{key}` must not be empty"));
        }
        combs = combs
            .into_iter()
            .flat_map(|c| {
                list.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(key.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    Ok(combs)
}

/// The key of a template parameter: `%{ item.<key> }` filling the whole string
/// (spaces allowed around it and inside the braces).
pub fn template_key(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("%{")?.strip_suffix('}')?.trim();
    let (scope, key) = inner.split_once('.')?;
    if scope != "item" || key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    Some(key)
}

fn fill(v: &mut Value, case: &BTreeMap<String, Value>) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                fill(v, case).map_err(|e| format!("{k}: {e}"))?;
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                fill(v, case).map_err(|e| format!("[{i}]: {e}"))?;
            }
        }
        Value::String(s) => {
            if let Some(key) = template_key(s) {
                let val = case
                    .get(key)
                    .ok_or_else(|| format!("template parameter `{s}` has no value in the case"))?;
                *v = val.clone();
            }
        }
        _ => {}
    }
    Ok(())
}

/// This machine's value for a `runIf` key: `arch` is Go's `GOARCH` spelling
/// (`amd64`, `arm64`), as event-generator compares it.
fn machine_value(key: &str) -> Option<&'static str> {
    match key {
        "arch" => Some(match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        }),
        _ => None,
    }
}

/// Whether the test runs on this machine: `Ok(None)` if it does,
/// `Ok(Some(reason))` if a `runIf` condition excludes it, `Err` for a
/// condition on an unknown key.
pub fn run_if(test: &Test) -> Result<Option<String>, String> {
    let Some(conds) = &test.run_if else {
        return Ok(None);
    };
    for (key, cond) in conds {
        let have = machine_value(key).ok_or_else(|| format!("unknown runIf key `{key}`"))?;
        let holds = match cond.op {
            RunIfOp::Eq => have == cond.val,
            RunIfOp::Ne => have != cond.val,
        };
        if !holds {
            let op = match cond.op {
                RunIfOp::Eq => "eq",
                RunIfOp::Ne => "ne",
            };
            return Ok(Some(format!(
                "runIf {key} {op} {} (this machine: {have})",
                cond.val
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> Value {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn matrix_yields_the_product_and_fills_any_type() {
        let d = doc(
            r#"{"tests":[{"name":"t","runner":"HostRunner","runIf":"%{ item.runIf }",
            "steps":[{"type":"syscall","name":"s","syscall":"%{item.sc}","args":{"p":"%{ item.p }"}}],
            "cases":[{"strategy":"matrix","values":{"runIf":[null],"sc":["link"],"p":["/a","/b"]}},
                     {"strategy":"matrix","values":{"runIf":[{"arch":{"op":"ne","val":"arm64"}}],"sc":["linkat"],"p":["/c"]}}]}]}"#,
        );
        let tests = expand(&d).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = tests.iter().map(|t| t.test.name.as_str()).collect();
        assert_eq!(
            names,
            ["t_testCase#0", "t_testCase#1", "t_testCase#2"],
            "one test per combination, numbered in order"
        );
        assert_eq!(tests[0].test.steps[0].syscall, "link");
        assert_eq!(tests[1].test.steps[0].args["p"], "/b");
        assert!(tests[0].test.run_if.is_none(), "null fills as no runIf");
        assert_eq!(tests[2].test.steps[0].syscall, "linkat");
        assert_eq!(run_if(&tests[2].test), Ok(None), "x86_64 is not arm64");
    }

    #[test]
    fn a_parameter_without_a_value_names_the_test() {
        let d = doc(
            r#"{"tests":[{"name":"t","runner":"HostRunner","before":"%{ item.nope }",
            "cases":[{"strategy":"vector","values":{"x":1}}]}]}"#,
        );
        let e = expand(&d).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains("tests[0] (t)") && e.contains("%{ item.nope }"),
            "{e}"
        );
    }

    #[test]
    fn heterogeneous_case_keys_and_unknown_keys_are_errors() {
        let d = doc(r#"{"tests":[{"name":"t","runner":"HostRunner",
            "cases":[{"strategy":"vector","values":{"x":1}},{"strategy":"vector","values":{"y":1}}]}]}"#);
        assert!(expand(&d).is_err());
        let d = doc(r#"{"tests":[{"name":"t","runner":"HostRunner","retries":3}]}"#);
        let e = expand(&d).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("retries"), "{e}");
    }

    #[test]
    fn run_if_excludes_with_a_reason() {
        let d = doc(
            r#"{"tests":[{"name":"t","runner":"HostRunner","runIf":{"arch":{"op":"eq","val":"s390x"}}}]}"#,
        );
        let t = &expand(&d).unwrap_or_else(|e| panic!("{e}"))[0].test;
        let why = run_if(t).ok().flatten().unwrap_or_default();
        assert!(why.contains("arch eq s390x"), "{why}");
    }

    #[test]
    fn template_keys() {
        assert_eq!(template_key("%{ item.target }"), Some("target"));
        assert_eq!(template_key("  %{item.a.b}  "), Some("a.b"));
        assert_eq!(template_key("x %{ item.target }"), None);
        assert_eq!(template_key("%{ other.target }"), None);
    }
}
