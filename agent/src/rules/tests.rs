//! Engine behaviour end to end: rules YAML in, hand-built events through a
//! small provider, matches and alerts out.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::alert::{FieldOutput, Priority};
use crate::event::EventType;
use crate::fields::{FieldProvider, FieldRef, Value};

use super::*;

/// A hand-built event: fields keyed by their spelling (`proc.aname[2]`).
#[derive(Debug, Clone)]
struct Ev {
    ty: EventType,
    ts: i64,
    fields: HashMap<String, Value<'static>>,
}

fn ev(ty: &str) -> Ev {
    Ev {
        ty: EventType::from_name(ty).unwrap(),
        ts: 1_700_000_000_123_456_789,
        fields: HashMap::new(),
    }
}

impl Ev {
    fn s(mut self, k: &str, v: &str) -> Self {
        self.fields
            .insert(k.to_string(), Value::Str(Cow::Owned(v.to_string())));
        self
    }
    fn n(mut self, k: &str, v: i64) -> Self {
        self.fields.insert(k.to_string(), Value::Int(v));
        self
    }
    fn u(mut self, k: &str, v: u64) -> Self {
        self.fields.insert(k.to_string(), Value::UInt(v));
        self
    }
    fn b(mut self, k: &str, v: bool) -> Self {
        self.fields.insert(k.to_string(), Value::Bool(v));
        self
    }
    fn list(mut self, k: &str, v: &[&str]) -> Self {
        self.fields.insert(
            k.to_string(),
            Value::List(
                v.iter()
                    .map(|s| Value::Str(Cow::Owned(s.to_string())))
                    .collect(),
            ),
        );
        self
    }
    fn ip(mut self, k: &str, v: &str) -> Self {
        self.fields
            .insert(k.to_string(), Value::Ip(v.parse().unwrap()));
        self
    }
}

impl FieldProvider for Ev {
    fn event_type(&self) -> EventType {
        self.ty
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts
    }
    fn extract(&self, field: &FieldRef) -> Option<Value<'_>> {
        self.fields.get(&field.to_string()).cloned()
    }
}

fn load(files: &[&str]) -> LoadOutcome {
    let sources: Vec<RuleSource> = files
        .iter()
        .enumerate()
        .map(|(i, t)| RuleSource {
            name: format!("t{i}.yaml"),
            text: t.to_string(),
        })
        .collect();
    load_sources(&sources)
}

fn errors(o: &LoadOutcome) -> Vec<String> {
    o.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect()
}

/// A ruleset of one rule with this condition (output prints proc.name).
fn rule(cond: &str) -> RuleSet {
    let text = format!(
        "- rule: R\n  desc: d\n  condition: {}\n  output: \"hit %proc.name\"\n  priority: WARNING\n",
        serde_json::to_string(cond).unwrap()
    );
    let o = load(&[&text]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    o.ruleset
}

fn fires(rs: &RuleSet, e: &Ev) -> bool {
    rs.evaluate(e, |_| {}) > 0
}

fn names(rs: &RuleSet, e: &Ev) -> Vec<String> {
    let mut v = Vec::new();
    rs.evaluate(e, |r| v.push(r.name.to_string()));
    v
}

#[test]
fn not_binds_tighter_than_and() {
    let rs = rule("evt.type = execve and not proc.name = a and proc.pname = b");
    assert!(fires(
        &rs,
        &ev("execve").s("proc.name", "x").s("proc.pname", "b")
    ));
    assert!(!fires(
        &rs,
        &ev("execve").s("proc.name", "a").s("proc.pname", "b")
    ));
    assert!(!fires(
        &rs,
        &ev("execve").s("proc.name", "x").s("proc.pname", "c")
    ));
    let grouped = rule("evt.type = execve and not (proc.name = a and proc.pname = b)");
    assert!(fires(
        &grouped,
        &ev("execve").s("proc.name", "a").s("proc.pname", "c")
    ));
    assert!(!fires(
        &grouped,
        &ev("execve").s("proc.name", "a").s("proc.pname", "b")
    ));
}

#[test]
fn and_binds_tighter_than_or() {
    let rs = rule("evt.type = open and proc.name = a or proc.name = b");
    // `(open and a) or b`: b matches on any event type.
    assert!(fires(&rs, &ev("execve").s("proc.name", "b")));
    assert!(!fires(&rs, &ev("execve").s("proc.name", "a")));
    assert!(fires(&rs, &ev("open").s("proc.name", "a")));
}

#[test]
fn missing_fields_fail_every_comparison_but_not_their_negation() {
    let e = ev("execve").s("proc.name", "sh");
    assert!(!fires(&rule("evt.type = execve and proc.tty != 0"), &e));
    assert!(!fires(&rule("evt.type = execve and proc.tty = 0"), &e));
    assert!(!fires(&rule("evt.type = execve and proc.tty exists"), &e));
    assert!(fires(&rule("evt.type = execve and not proc.tty = 0"), &e));
    assert!(fires(
        &rule("evt.type = execve and not proc.tty exists"),
        &e
    ));
    assert!(!fires(
        &rule("evt.type = execve and proc.aname[3] in (sh)"),
        &e
    ));
    let with = e.clone().u("proc.tty", 34816);
    assert!(fires(&rule("evt.type = execve and proc.tty != 0"), &with));
    assert!(fires(&rule("evt.type = execve and proc.tty exists"), &with));
}

#[test]
fn bare_and_quoted_values_and_escapes() {
    let rs = rule(r#"evt.type = execve and proc.cmdline = "sh -c \"id\"" and proc.name = sh"#);
    assert!(fires(
        &rs,
        &ev("execve")
            .s("proc.cmdline", "sh -c \"id\"")
            .s("proc.name", "sh")
    ));
    let rs = rule("evt.type=execve and proc.args contains '\\\\x'");
    assert!(fires(&rs, &ev("execve").s("proc.args", "a\\xb")));
    let rs = rule("evt.type = open and fd.name startswith /etc/ and evt.res startswith E");
    assert!(fires(
        &rs,
        &ev("open").s("fd.name", "/etc/x").s("evt.res", "EPERM")
    ));
}

#[test]
fn every_operator_on_hand_built_events() {
    let e = ev("open")
        .s("fd.name", "/etc/ssh/sshd_config")
        .n("fd.num", 3)
        .s("proc.name", "Cat")
        .ip("fd.sip", "10.1.2.3")
        .b("evt.is_open_read", true);
    let cases: &[(&str, bool)] = &[
        ("fd.name = /etc/ssh/sshd_config", true),
        ("fd.name == /etc/ssh/sshd_config", true),
        ("fd.name != /etc/passwd", true),
        ("fd.num < 4", true),
        ("fd.num <= 3", true),
        ("fd.num > 3", false),
        ("fd.num >= 3", true),
        ("fd.name contains ssh/", true),
        ("proc.name icontains cAT", true),
        ("proc.name contains cat", false),
        ("fd.name bcontains 737368", true),
        ("fd.name startswith /etc", true),
        ("fd.name bstartswith 2f6574", true),
        ("fd.name endswith _config", true),
        ("fd.name glob '/etc/*/sshd_*'", true),
        ("proc.name iglob 'c?T'", true),
        ("fd.name regex '/etc/[a-z]+/.*'", true),
        ("fd.name in (/etc/passwd, /etc/ssh/sshd_config)", true),
        ("fd.name intersects (/etc/ssh/sshd_config)", true),
        ("fd.name pmatch (/etc/ssh)", true),
        ("fd.name pmatch (/etc/ss)", false),
        ("fd.name exists", true),
        ("fd.sip = 10.1.2.3", true),
        ("fd.sip in (10.0.0.0/8)", true),
        ("evt.is_open_read = true", true),
        ("fd.name startswith anyof (/usr, /etc)", true),
        ("fd.name startswith allof (/usr, /etc)", false),
        ("fd.name contains oneof (ssh, etc)", false),
        ("fd.name contains oneof (ssh, nope)", true),
        ("tolower(proc.name) = cat", true),
        ("toupper(proc.name) = CAT", true),
        ("basename(fd.name) = sshd_config", true),
        ("len(proc.name) = 3", true),
    ];
    for (cond, want) in cases {
        let rs = rule(&format!("evt.type = open and {cond}"));
        assert_eq!(fires(&rs, &e), *want, "{cond}");
    }
}

#[test]
fn val_compares_two_fields_of_the_event() {
    let rs = rule("evt.type = execve and proc.name = val(proc.pname)");
    assert!(fires(
        &rs,
        &ev("execve").s("proc.name", "sh").s("proc.pname", "sh")
    ));
    assert!(!fires(
        &rs,
        &ev("execve").s("proc.name", "sh").s("proc.pname", "bash")
    ));
    assert!(!fires(&rs, &ev("execve").s("proc.name", "sh")));
}

#[test]
fn lists_nest_and_quoted_items_are_strings() {
    let o = load(&[r#"
- list: base_shells
  items: [sh, bash]
- list: shells
  items: [base_shells, zsh, '"sh -c uname -p 2> /dev/null"']
- macro: shell_procs
  condition: proc.name in (shells)
- rule: R
  desc: d
  condition: evt.type = execve and (shell_procs or proc.cmdline in (shells))
  output: o
  priority: INFO
"#]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    let rs = o.ruleset;
    for n in ["sh", "bash", "zsh"] {
        assert!(fires(&rs, &ev("execve").s("proc.name", n)), "{n}");
    }
    assert!(!fires(&rs, &ev("execve").s("proc.name", "base_shells")));
    assert!(fires(
        &rs,
        &ev("execve")
            .s("proc.name", "x")
            .s("proc.cmdline", "sh -c uname -p 2> /dev/null")
    ));
}

const EXCEPTIONS: &str = r#"
- list: trusted_readers
  items: [sshd, login]
- rule: Shadow
  desc: d
  condition: evt.type = open and fd.name = /etc/shadow
  output: o
  priority: ERROR
  exceptions:
    - name: by_proc
      fields: proc.name
      values: [passwd, trusted_readers]
    - name: by_proc_and_dir
      fields: [proc.name, proc.cwd]
      comps: [in, startswith]
      values:
        - [cron, /var/spool]
        - [[chage, chpasswd], /root]
"#;

#[test]
fn exceptions_in_both_forms_exclude_events() {
    let o = load(&[EXCEPTIONS]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    let rs = o.ruleset;
    let open = |name: &str, cwd: &str| {
        ev("open")
            .s("fd.name", "/etc/shadow")
            .s("proc.name", name)
            .s("proc.cwd", cwd)
    };
    assert!(fires(&rs, &open("cat", "/")));
    // single-field form, values incl. a list name
    assert!(!fires(&rs, &open("passwd", "/")));
    assert!(!fires(&rs, &open("sshd", "/")));
    // tuple form: both fields must match
    assert!(!fires(&rs, &open("cron", "/var/spool/cron")));
    assert!(fires(&rs, &open("cron", "/tmp")));
    assert!(!fires(&rs, &open("chpasswd", "/root/x")));
    assert!(fires(&rs, &open("chpasswd", "/home")));
}

#[test]
fn appended_exception_values_extend_the_exception() {
    let o = load(&[
        EXCEPTIONS,
        r#"
- rule: Shadow
  exceptions:
    - name: by_proc
      values: [cat]
  override:
    exceptions: append
"#,
    ]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    let e = ev("open")
        .s("fd.name", "/etc/shadow")
        .s("proc.name", "cat")
        .s("proc.cwd", "/");
    assert!(!fires(&o.ruleset, &e));
}

#[test]
fn bad_exceptions_are_reported_on_the_rule() {
    let o = load(&[r#"
- rule: R
  desc: d
  condition: evt.type = open
  output: o
  priority: INFO
  exceptions:
    - name: ex
      fields: [proc.name, fd.name]
      values:
        - [a]
"#]);
    let e = errors(&o);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("equal length"), "{e:?}");
    assert!(e[0].starts_with("t0.yaml:8:7:"), "{e:?}");
}

#[test]
fn override_append_and_replace_change_matching() {
    let base = r#"
- macro: sensitive
  condition: fd.name in (/etc/shadow)
- rule: R
  desc: d
  condition: evt.type = open and sensitive
  output: o
  priority: WARNING
"#;
    let o = load(&[
        base,
        "- macro: sensitive\n  condition: or fd.name = /etc/sudoers\n  override:\n    condition: append\n",
    ]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    assert!(fires(&o.ruleset, &ev("open").s("fd.name", "/etc/sudoers")));
    assert!(fires(&o.ruleset, &ev("open").s("fd.name", "/etc/shadow")));

    let o = load(&[
        base,
        "- macro: sensitive\n  condition: fd.name = /etc/sudoers\n  override:\n    condition: replace\n",
    ]);
    assert!(fires(&o.ruleset, &ev("open").s("fd.name", "/etc/sudoers")));
    assert!(!fires(&o.ruleset, &ev("open").s("fd.name", "/etc/shadow")));

    let o = load(&[
        base,
        "- rule: R\n  condition: and proc.name != cat\n  override:\n    condition: append\n",
    ]);
    assert!(!fires(
        &o.ruleset,
        &ev("open").s("fd.name", "/etc/shadow").s("proc.name", "cat")
    ));
    assert!(fires(
        &o.ruleset,
        &ev("open").s("fd.name", "/etc/shadow").s("proc.name", "vi")
    ));
}

#[test]
fn enabled_only_items_turn_rules_off_and_on() {
    let base = "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  enabled: false\n";
    let o = load(&[base]);
    assert!(!fires(&o.ruleset, &ev("open")));
    assert!(o.ruleset.event_types().is_empty());
    let o = load(&[base, "- rule: R\n  enabled: true\n"]);
    assert!(fires(&o.ruleset, &ev("open")));
    assert!(
        o.ruleset
            .event_types()
            .contains(EventType::from_name("open").unwrap())
    );
}

#[test]
fn rule_matching_first_or_all() {
    let o = load(&[r#"
- rule: A
  desc: d
  condition: evt.type = open
  output: o
  priority: INFO
- rule: B
  desc: d
  condition: evt.type in (open, openat)
  output: o
  priority: INFO
"#]);
    let mut rs = o.ruleset;
    assert_eq!(names(&rs, &ev("open")), ["A"]);
    rs.set_rule_matching(RuleMatching::All);
    assert_eq!(names(&rs, &ev("open")), ["A", "B"]);
    assert_eq!(names(&rs, &ev("openat")), ["B"]);
    assert!(names(&rs, &ev("execve")).is_empty());
}

#[test]
fn event_types_are_inferred_like_falco() {
    let ty = |c: &str| -> Vec<String> {
        let rs = rule(c);
        let set = &rs.rules()[0].event_types;
        if set.is_all() {
            vec!["*".into()]
        } else {
            set.iter().map(|t| t.name().to_string()).collect()
        }
    };
    assert_eq!(
        ty("evt.type in (open, openat) and proc.name = x"),
        ["open", "openat"]
    );
    assert_eq!(
        ty("evt.type = open or evt.type = execve"),
        ty("evt.type in (execve, open)")
    );
    assert_eq!(ty("proc.name = x"), ["*"]);
    // `or` with an unconstrained side applies to every type.
    assert_eq!(ty("evt.type = open or proc.name = x"), ["*"]);
    let ne = rule("evt.type != open").rules()[0].event_types.clone();
    assert!(!ne.contains(EventType::from_name("open").unwrap()));
    assert!(ne.contains(EventType::from_name("execve").unwrap()));
    // De Morgan: not (not open and not execve) == open or execve.
    assert_eq!(
        ty("not (evt.type != open and evt.type != execve)"),
        ty("evt.type in (open, execve)")
    );
    assert_eq!(
        ty("not evt.type in (open) and evt.type = open"),
        Vec::<String>::new()
    );
}

#[test]
fn unconstrained_rules_warn_about_event_types() {
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n",
    ]);
    assert!(o.diagnostics.iter().any(|d| d.code == DiagCode::NoEvttype));
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n  warn_evttypes: false\n",
    ]);
    assert!(!o.diagnostics.iter().any(|d| d.code == DiagCode::NoEvttype));
}

#[test]
fn list_fields_and_ancestor_fields() {
    let e = ev("dup2")
        .list("fd.types", &["ipv4", "ipv6"])
        .list("proc.aname", &["bash", "sshd", "systemd"]);
    assert!(fires(
        &rule("evt.type = dup2 and fd.types in (ipv4, ipv6, unix)"),
        &e
    ));
    assert!(!fires(&rule("evt.type = dup2 and fd.types in (ipv4)"), &e));
    assert!(fires(
        &rule("evt.type = dup2 and fd.types intersects (ipv4)"),
        &e
    ));
    assert!(fires(&rule("evt.type = dup2 and proc.aname = sshd"), &e));
    assert!(!fires(&rule("evt.type = dup2 and proc.aname = cron"), &e));
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: evt.type = dup2 and fd.types contains ip\n  output: o\n  priority: INFO\n",
    ]);
    assert!(errors(&o)[0].contains("only supports operators 'exists', 'in' and 'intersects'"));
}

#[test]
fn a_block_scalar_output_is_one_line_and_appended_output_follows_on_it() {
    let mut o = load(&[r#"
- rule: Folded
  desc: d
  condition: evt.type = execve
  output: >
    Shell (user=%user.name
    tty=%proc.tty)
  priority: NOTICE
"#]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    o.ruleset
        .append_output(&[crate::rules::AppendOutput {
            text: "container_id=%container.id".into(),
            ..Default::default()
        }])
        .unwrap();
    let e = ev("execve")
        .s("user.name", "root")
        .s("container.id", "host");
    let a = o
        .ruleset
        .first_match(&e)
        .unwrap()
        .alert(&e, &Arc::from("node-1"));
    assert_eq!(
        a.output,
        "22:13:20.123456789: Notice Shell (user=root tty=<NA>) container_id=host"
    );
}

#[test]
fn output_text_and_json_follow_falco() {
    let o = load(&[r#"
- rule: Shell
  desc: d
  condition: evt.type = execve
  output: "Shell (user=%user.name uid=%user.uid tty=%proc.tty gp=%proc.aname[2] low=%tolower(proc.name) flags=%evt.arg.flags) %user.name."
  priority: NOTICE
  tags: [shell, T1059]
"#]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    let e = ev("execve")
        .s("user.name", "root")
        .u("user.uid", 0)
        .s("proc.aname[2]", "sshd")
        .s("proc.name", "BASH")
        .s("evt.arg.flags", "O_RDONLY");
    let r = o.ruleset.first_match(&e).unwrap();
    let host: Arc<str> = Arc::from("node-1");
    let a = r.alert(&e, &host);
    assert_eq!(
        a.output,
        "22:13:20.123456789: Notice Shell (user=root uid=0 tty=<NA> gp=sshd low=bash flags=O_RDONLY) root."
    );
    assert_eq!(a.priority, Priority::Notice);
    assert_eq!(&*a.rule, "Shell");
    let keys: Vec<&str> = a.output_fields.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(
        keys,
        [
            "evt.time",
            "user.name",
            "user.uid",
            "proc.tty",
            "proc.aname[2]",
            "tolower(proc.name)",
            "evt.arg.flags"
        ]
    );
    assert_eq!(a.output_fields[2].1, FieldOutput::U64(0));
    assert_eq!(a.output_fields[3].1, FieldOutput::Missing);
    let v: serde_json::Value = serde_json::from_str(&a.to_json(true, true)).unwrap();
    assert!(v["output_fields"]["proc.tty"].is_null());
    assert_eq!(v["output_fields"]["user.name"], "root");
    assert_eq!(v["time"], "2023-11-14T22:13:20.123456789Z");
    // Falco keeps tags in a std::set: sorted, byte order.
    assert_eq!(v["tags"], serde_json::json!(["T1059", "shell"]));
}

#[test]
fn diagnostics_point_into_macros_and_conditions() {
    let o = load(&[r#"- macro: m
  condition: >
    evt.type = open
    and fd.nmae = x
- rule: R
  desc: d
  condition: m and proc.name = x
  output: o
  priority: INFO
- rule: S
  desc: d
  condition: evt.type = open and undefined_macro
  output: o
  priority: INFO
- rule: T
  desc: d
  condition: evt.type = open and ka.user.name = x
  output: o
  priority: INFO
  skip-if-unknown-filter: true
- rule: U
  desc: d
  condition: evt.type = open
  output: "%proc.nope"
  priority: INFO
"#]);
    let e = errors(&o);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].starts_with("t0.yaml:4:9: error[COMPILE]: unknown field 'fd.nmae' (in macro 'm')"),
        "{e:#?}"
    );
    assert!(e[0].contains("in rule 'R' (t0.yaml:5:3)"), "{}", e[0]);
    assert!(
        e[0].contains("in macro condition (t0.yaml:3:5) at offset 20"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("t0.yaml:12:34: error[COMPILE]: undefined macro 'undefined_macro'"),
        "{e:#?}"
    );
    assert!(e[2].contains("OUTPUT"), "{e:#?}");
    // T is skipped with a warning, not an error.
    assert!(
        o.diagnostics
            .iter()
            .any(|d| d.code == DiagCode::UnknownFilterSkipped)
    );
    assert!(o.ruleset.rule("T").is_none());
    assert!(o.ruleset.rule("R").is_none());
    assert!(o.ruleset.rule("S").is_none());
}

#[test]
fn rules_for_other_sources_are_skipped_with_a_warning() {
    let o = load(&[
        "- rule: K\n  desc: d\n  condition: ka.verb = create\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    ]);
    assert!(errors(&o).is_empty());
    assert!(
        o.diagnostics
            .iter()
            .any(|d| d.code == DiagCode::UnknownSource)
    );
}

/// Falco's upstream rules files `names`, or `None` (the test is skipped,
/// or fails under CI) when they are not on this machine (`saker_upstream`'s
/// lookup: $SAKER_FALCO_RULES, /etc/falco, ../shared/falco).
fn upstream(names: &[&str]) -> Option<Vec<PathBuf>> {
    let dir = saker_upstream::for_test(names)?;
    Some(names.iter().map(|n| dir.join(n)).collect())
}

#[test]
fn upstream_stable_ruleset_compiles_all_25_rules() {
    let Some(stable) = upstream(&["falco_rules.yaml"]) else {
        return;
    };
    let o = load_paths(&stable);
    assert!(errors(&o).is_empty(), "{:#?}", errors(&o));
    assert_eq!(o.ruleset.rules().len(), 25);
    let r = o.ruleset.rule("Terminal shell in container").unwrap();
    assert_eq!(
        r.event_types.iter().map(|t| t.name()).collect::<Vec<_>>(),
        ["execve", "execveat"]
    );
}

#[test]
fn upstream_incubating_and_sandbox_rulesets_compile() {
    let Some(files) = upstream(&[
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ]) else {
        return;
    };
    let o = load_paths(&files[..2]);
    assert!(errors(&o).is_empty(), "{:#?}", errors(&o));
    assert_eq!(o.ruleset.rules().len(), 25 + 31);
    let o = load_paths(&files[2..]);
    assert!(errors(&o).is_empty(), "{:#?}", errors(&o));
    assert_eq!(o.ruleset.rules().len(), 37);
    assert_eq!(o.ruleset.rules().iter().filter(|r| !r.enabled).count(), 12);
}

#[test]
fn upstream_rules_fire_on_matching_events() {
    let Some(stable) = upstream(&["falco_rules.yaml"]) else {
        return;
    };
    let o = load_paths(&stable);
    let rs = o.ruleset;
    // A shell reading /etc/shadow.
    let e = ev("openat")
        .s("fd.name", "/etc/shadow")
        .s("fd.typechar", "f")
        .n("fd.num", 3)
        .b("evt.is_open_read", true)
        .s("proc.name", "cat")
        .s("proc.exepath", "/usr/bin/cat")
        .s("proc.pname", "bash")
        .s("proc.cmdline", "cat /etc/shadow")
        .s("user.name", "root")
        .u("user.uid", 0)
        .n("user.loginuid", 1000)
        .s("container.id", "host")
        .u("proc.tty", 0);
    assert_eq!(names(&rs, &e), ["Read sensitive file untrusted"]);
    // Execution from /dev/shm.
    let e = ev("execve")
        .s("evt.dir", "<")
        .s("proc.name", "x")
        .s("proc.exepath", "/dev/shm/x")
        .s("proc.exe", "/dev/shm/x")
        .s("proc.cwd", "/tmp/")
        .s("proc.pname", "bash")
        .s("proc.cmdline", "x")
        .s("user.name", "root")
        .u("user.uid", 0)
        .n("user.loginuid", 0)
        .u("proc.tty", 0)
        .s("container.id", "host");
    assert_eq!(names(&rs, &e), ["Execution from /dev/shm"]);
}

#[test]
fn default_ruleset_loads_cleanly() {
    let o = load_default();
    let bad: Vec<String> = o.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(o.ruleset.rules().len() >= 10);
}

/// Whitespace and newline variants of every condition in the upstream files
/// parse to the same AST.
#[test]
fn layout_variants_parse_to_the_same_ast() {
    let names = [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ];
    let Some(files) = upstream(&names) else {
        return;
    };
    let mut conditions = Vec::new();
    for (f, path) in names.iter().zip(&files) {
        let text = std::fs::read_to_string(path).unwrap();
        let mut c = loader::Collection::default();
        c.add_file(f, &text);
        conditions.extend(c.macros.iter().map(|m| m.condition.text.clone()));
        conditions.extend(c.rules.iter().map(|r| r.condition.text.clone()));
    }
    assert!(conditions.len() > 300);
    for cond in &conditions {
        let base = parser::parse_condition(cond).unwrap();
        for variant in layout_variants(cond) {
            let v = parser::parse_condition(&variant)
                .unwrap_or_else(|e| panic!("{e} at {} in {variant:?}", e.offset));
            assert_eq!(base, v, "{cond:?} vs {variant:?}");
        }
    }
}

/// Re-lays a condition out: blanks outside quotes become other blank runs,
/// and blanks appear next to parentheses and commas.
fn layout_variants(cond: &str) -> Vec<String> {
    let seps = ["  ", "\n", "\t", " \n    ", "\r\n "];
    let mut out = Vec::new();
    for (k, sep) in seps.iter().enumerate() {
        let mut s = String::new();
        let mut quote: Option<char> = None;
        let mut prev_blank = false;
        let mut escaped = false;
        for ch in cond.chars() {
            if let Some(q) = quote {
                s.push(ch);
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == q {
                    quote = None;
                }
                continue;
            }
            match ch {
                '"' | '\'' => {
                    quote = Some(ch);
                    s.push(ch);
                    prev_blank = false;
                }
                c if c.is_whitespace() => {
                    if !prev_blank {
                        s.push_str(sep);
                    }
                    prev_blank = true;
                }
                '(' | ')' | ',' if k % 2 == 1 => {
                    // Pad punctuation with blanks (outside field arguments).
                    s.push(' ');
                    s.push(ch);
                    s.push(' ');
                    prev_blank = true;
                }
                c => {
                    s.push(c);
                    prev_blank = false;
                }
            }
        }
        out.push(format!("{sep}{s}{sep}"));
    }
    out
}

#[test]
fn checks_shared_between_rules_give_each_rule_its_own_answer() {
    let o = load(&[r#"
- macro: in_container
  condition: container.id != host
- rule: A
  desc: d
  condition: evt.type = execve and in_container and proc.name = sh
  output: o
  priority: INFO
- rule: B
  desc: d
  condition: evt.type = execve and not in_container and proc.name = sh
  output: o
  priority: INFO
- rule: C
  desc: d
  condition: evt.type = execve and (proc.name = sh or in_container)
  output: o
  priority: INFO
"#]);
    let mut rs = o.ruleset;
    rs.set_rule_matching(RuleMatching::All);
    let host = ev("execve").s("container.id", "host").s("proc.name", "sh");
    let ctr = ev("execve").s("container.id", "abc").s("proc.name", "sh");
    assert_eq!(names(&rs, &host), ["B", "C"]);
    assert_eq!(names(&rs, &ctr), ["A", "C"]);
    // The per-event memory is reset between events and matches the unshared path.
    let mut scratch = EvalScratch::default();
    for e in [&host, &ctr, &host] {
        let mut v = Vec::new();
        rs.evaluate_with(e, &mut scratch, |r| v.push(r.name.to_string()));
        let direct: Vec<String> = rs
            .rules()
            .iter()
            .filter(|r| r.matches(e))
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(v, direct);
    }
}

/// `file:line:col: severity[CODE]: message` of every diagnostic with `code`.
fn lines(o: &LoadOutcome, code: DiagCode) -> Vec<String> {
    o.diagnostics
        .iter()
        .filter(|d| d.code == code)
        .map(|d| d.to_string().lines().next().unwrap_or("").to_string())
        .collect()
}

const EXCEPTION_RULE: &str = "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n";

/// Falco's unit_tests/engine/test_rule_loader.cpp `exceptions_values_rhs_*`
/// and `exceptions_values_transformer_*`: an exception value is written into
/// the condition, so an unquoted transformer is a transformer, and a value
/// that names a field or a transformer is a string worth a warning (libsinsp
/// `check_warnings_field_value`), located where the value is written.
#[test]
fn exception_values_that_look_like_fields_are_warned_about_where_written() {
    let with = |fields: &str, values: &str| {
        load(&[&format!(
            "{EXCEPTION_RULE}      fields: {fields}\n      comps: [=]\n      values:\n        - {values}\n"
        )])
    };
    let o = with("[proc.name]", "[proc.pname]");
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    assert_eq!(
        lines(&o, DiagCode::CompileCondition),
        [
            "t0.yaml:11:12: warning[COMPILE_CONDITION]: 'proc.pname' may be a valid field misused as a const string value"
        ]
    );
    // The value is a string: it matches a process named "proc.pname".
    let open = |name: &str, pname: &str| ev("open").s("proc.name", name).s("proc.pname", pname);
    assert!(!fires(&o.ruleset, &open("proc.pname", "bash")));
    assert!(fires(&o.ruleset, &open("bash", "bash")));

    let o = with("[proc.name]", "[\"proc.pname \"]");
    assert_eq!(
        lines(&o, DiagCode::CompileCondition),
        [
            "t0.yaml:11:12: warning[COMPILE_CONDITION]: 'proc.pname ' may be a valid field misused as a const string value"
        ]
    );
    // Unquoted and without spaces, a transformer is one: no warning.
    let o = with("[proc.name]", "[toupper(proc.pname)]");
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    assert!(lines(&o, DiagCode::CompileCondition).is_empty());
    assert!(!fires(&o.ruleset, &open("BASH", "bash")));
    assert!(fires(&o.ruleset, &open("bash", "bash")));
    for v in ["[toupper( proc.pname)]", "[\"toupper( proc.pname)\"]"] {
        let o = with("[proc.name]", v);
        assert_eq!(
            lines(&o, DiagCode::CompileCondition),
            [
                "t0.yaml:11:12: warning[COMPILE_CONDITION]: 'toupper( proc.pname)' may be a valid field transformer misused as a const string value"
            ],
            "{v}"
        );
    }
    // A transformer in `fields` is a field.
    let o = with("[tolower(proc.name)]", "[test]");
    assert!(
        o.diagnostics
            .iter()
            .all(|d| d.code != DiagCode::CompileCondition)
    );
    assert!(!fires(&o.ruleset, &open("TEST", "x")));
    // Single-field form: each value, where written.
    let o = load(&[&format!(
        "{EXCEPTION_RULE}      fields: proc.name\n      values: [bash, user.name]\n"
    )]);
    assert_eq!(
        lines(&o, DiagCode::CompileCondition),
        [
            "t0.yaml:9:22: warning[COMPILE_CONDITION]: 'user.name' may be a valid field misused as a const string value"
        ]
    );
}

/// The same warnings on condition values (Falco's compiler checks every
/// constant), and libsinsp's hint for a regex that a simpler operator does.
#[test]
fn condition_values_that_look_like_fields_or_simple_regexes_are_warned_about() {
    let o = load(&[r#"- macro: m
  condition: proc.name in (bash, "fd.name")
- rule: R
  desc: d
  condition: >
    evt.type = open and m
    and proc.pname = proc.name
    and proc.cmdline regex "^curl .*"
    and fd.name regex "^/etc/[a-z]+$"
  output: o
  priority: INFO
"#]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    assert_eq!(
        lines(&o, DiagCode::CompileCondition),
        [
            "t0.yaml:2:34: warning[COMPILE_CONDITION]: 'fd.name' may be a valid field misused as a const string value (in macro 'm')",
            "t0.yaml:7:22: warning[COMPILE_CONDITION]: 'proc.name' may be a valid field misused as a const string value",
            "t0.yaml:8:28: warning[COMPILE_CONDITION]: regex check with '^curl .*' may be optimized with simpler operators such as '=', 'contains', 'startswith', 'endswith'",
        ]
    );
    // `val()` compares two fields: no warning.
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: evt.type = open and proc.pname = val(proc.name)\n  output: o\n  priority: INFO\n",
    ]);
    assert!(lines(&o, DiagCode::CompileCondition).is_empty());
}

/// Falco's compiler marks a macro or list used when any macro refers to it,
/// used or not, or a rule does (`compile_macros_infos`, `compile_list_infos`).
#[test]
fn unused_macros_and_lists_are_warned_about_as_falco_does() {
    let o = load(&[r#"- list: inner
  items: [a]
- list: outer
  items: [inner, b]
- list: only_in_macro
  items: [c]
- list: unused
  items: [d]
- macro: helper
  condition: proc.name in (only_in_macro)
- macro: orphan
  condition: helper and proc.name in (outer)
- macro: in_rule
  condition: evt.type = open
- rule: R
  desc: d
  condition: in_rule
  output: o
  priority: INFO
"#]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    assert_eq!(
        lines(&o, DiagCode::UnusedMacro),
        ["t0.yaml:11:3: warning[UNUSED_MACRO]: Macro not referred to by any other rule/macro"]
    );
    assert_eq!(
        lines(&o, DiagCode::UnusedList),
        ["t0.yaml:7:3: warning[UNUSED_LIST]: List not referred to by any other rule/macro"]
    );
}

#[test]
fn event_type_and_source_warnings_use_falcos_texts() {
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n",
    ]);
    assert_eq!(
        lines(&o, DiagCode::NoEvttype),
        [
            "t0.yaml:1:3: warning[NO_EVTTYPE]: Rule matches too many evt.type values. This has a significant performance penalty."
        ]
    );
    // No event type at all is a never-true rule, not a costly one.
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: evt.type = open and evt.type = execve\n  output: o\n  priority: INFO\n",
    ]);
    assert!(lines(&o, DiagCode::NoEvttype).is_empty());
    let o = load(&[
        "- rule: K\n  desc: d\n  condition: ka.verb = create\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    ]);
    assert_eq!(
        lines(&o, DiagCode::UnknownSource),
        ["t0.yaml:1:3: warning[UNKNOWN_SOURCE]: Unknown source k8s_audit, skipping"]
    );
}

#[test]
fn deprecated_fields_and_container_info_are_warned_about() {
    let o = load(&[r#"- rule: R
  desc: d
  condition: evt.type = execve and evt.dir = <
  output: "run %proc.name %container.info dir=%evt.dir"
  priority: INFO
"#]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    assert_eq!(
        lines(&o, DiagCode::Deprecated),
        [
            "t0.yaml:3:36: warning[DEPRECATED]: due to the drop of enter events, 'evt.dir = <' always evaluates to true, and 'evt.dir = >' always evaluates to false. The rule expression can be simplified by removing the condition on 'evt.dir'",
            "t0.yaml:4:27: warning[DEPRECATED]: %container.info is deprecated and no more useful, and will be dropped by Falco 1.0.0. The container plugin will automatically add required fields to the output message.",
            "t0.yaml:4:48: warning[DEPRECATED]: usage of deprecated field 'evt.dir' has been detected in the rule output",
        ]
    );
    // %container.info is dropped from the output, as Falco does.
    let e = ev("execve").s("proc.name", "sh").s("evt.dir", "<");
    let a = o
        .ruleset
        .first_match(&e)
        .unwrap()
        .alert(&e, &Arc::from("node-1"));
    assert_eq!(a.output, "22:13:20.123456789: Informational run sh  dir=<");
    // An error after it still points at the right place.
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: \"%container.info %proc.nope\"\n  priority: INFO\n",
    ]);
    assert_eq!(
        lines(&o, DiagCode::Output),
        ["t0.yaml:4:29: error[OUTPUT]: unknown field 'proc.nope' in output"]
    );
    // Leading white space is trimmed too, as Falco does.
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: \"  x %proc.nope\"\n  priority: INFO\n",
    ]);
    assert_eq!(
        lines(&o, DiagCode::Output),
        ["t0.yaml:4:17: error[OUTPUT]: unknown field 'proc.nope' in output"]
    );
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: \"  x %proc.name\"\n  priority: INFO\n",
    ]);
    let e = ev("open").s("proc.name", "sh");
    let a = o
        .ruleset
        .first_match(&e)
        .unwrap()
        .alert(&e, &Arc::from("n"));
    assert_eq!(a.output, "22:13:20.123456789: Informational x sh");
}

#[test]
fn skip_if_unknown_filter_covers_outputs_but_not_exception_fields() {
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: \"%ka.user.name\"\n  priority: INFO\n  skip-if-unknown-filter: true\n",
    ]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    assert_eq!(
        lines(&o, DiagCode::UnknownFilterSkipped),
        [
            "t0.yaml:4:13: warning[UNKNOWN_FILTER_SKIPPED]: unknown field 'ka.user.name' in output; rule skipped (skip-if-unknown-filter)"
        ]
    );
    assert!(o.ruleset.rule("R").is_none());
    // Falco checks exception fields when it collects the rule: an error.
    let o = load(&[&format!(
        "{EXCEPTION_RULE}      fields: ka.user.name\n      values: [x]\n  skip-if-unknown-filter: true\n"
    )]);
    assert_eq!(errors(&o).len(), 1, "{:?}", o.diagnostics);
    assert!(errors(&o)[0].contains("unknown field 'ka.user.name'"));
}

/// Falco's exception comps: an operator or a string operator with a list
/// modifier; checked even when the exception has no values yet.
#[test]
fn exception_comps_take_modifiers_and_are_checked_without_values() {
    let o = load(&[&format!(
        "{EXCEPTION_RULE}      fields: [proc.name, fd.name]\n      comps: [=, startswith oneof]\n      values:\n        - [cat, [/etc, /usr]]\n"
    )]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    let open = |p: &str, f: &str| ev("open").s("proc.name", p).s("fd.name", f);
    assert!(!fires(&o.ruleset, &open("cat", "/usr/bin/x")));
    assert!(fires(&o.ruleset, &open("cat", "/tmp/x")));
    let o = load(&[&format!(
        "{EXCEPTION_RULE}      fields: proc.name\n      comps: startswith oneof\n      values: [ca, ls]\n"
    )]);
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
    assert!(!fires(&o.ruleset, &open("cat", "/x")));
    for (comps, msg) in [
        (
            "[=, in oneof]",
            "'in oneof' is not a supported comparison operator",
        ),
        ("[=]", "Fields and comps lists must have equal length"),
    ] {
        let o = load(&[&format!(
            "{EXCEPTION_RULE}      fields: [proc.name, fd.name]\n      comps: {comps}\n"
        )]);
        assert!(errors(&o)[0].contains(msg), "{comps}: {:?}", errors(&o));
    }
    let o = load(&[&format!(
        "{EXCEPTION_RULE}      fields: proc.name\n      comps: =\n      values: [a]\n"
    )]);
    assert!(errors(&o)[0].contains("When fields is a single value, comps must be one of"));
}

#[test]
fn append_output_matches_rules_with_all_the_tags() {
    let mut o = load(&[r#"
- rule: A
  desc: d
  condition: evt.type = open
  output: a
  priority: INFO
  tags: [x, y]
- rule: B
  desc: d
  condition: evt.type = execve
  output: b
  priority: INFO
  tags: [x]
"#]);
    o.ruleset
        .append_output(&[crate::rules::AppendOutput {
            tags: vec!["x".into(), "y".into()],
            text: "more".into(),
            ..Default::default()
        }])
        .unwrap();
    let out = |e: &Ev| {
        o.ruleset
            .first_match(e)
            .unwrap()
            .alert(e, &Arc::from("n"))
            .output
    };
    assert!(out(&ev("open")).ends_with("Informational a more"));
    assert!(out(&ev("execve")).ends_with("Informational b"));
}

#[test]
fn diagnostics_in_json_carry_falcos_code() {
    let o = load(&[
        "- rule: R\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n",
    ]);
    let v = serde_json::to_value(&o.diagnostics).unwrap();
    assert_eq!(v[0]["code"], "NO_EVTTYPE");
    assert_eq!(v[0]["falco_code"], "LOAD_NO_EVTTYPE");
    assert_eq!(v[0]["location"]["line"], 1);
}
