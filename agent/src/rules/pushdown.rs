//! What the enabled rules need of the open family (`open`, `openat`,
//! `openat2`, `creat`): the necessary path conditions every possible match
//! satisfies, so that the probe can leave out, before the record is
//! reserved, the opens that no rule can match (issue 17, rule-derived kernel
//! filters). This module is the analysis and the userspace model of that
//! filter; the probe applies the same [`OpenFilter::passes`] test.
//!
//! The analysis never gives a false negative: a condition it cannot reduce
//! (`proc.name = cat`, `fd.name contains x`, a transformer, a comparison of
//! two fields, `not ...`) leaves the open family unfiltered. A reduction is
//! a set of [`PathPattern`]s such that every event the rule can match
//! either has a path the filter always passes (relative, not normalized,
//! too long for the probe, a directory) or matches one of the patterns.
//!
//! Besides the rules on opens, the rules on events that use an existing fd
//! (`read`, `fchmod`, `dup`, `close`, ...: Falco's `EF_USES_FD`) see the
//! file an open made through the fd table, so their path conditions join the
//! filter, and a rule on such an event that reads the fd's path without a
//! reducible condition leaves opens unfiltered. Rules that only look at
//! sockets (`fd.type in (ipv4, ipv6)`) do not need file opens.

use crate::event::EventType;
use crate::fields::FieldRef;

use super::cond::{COperand, Cond, Mode};
use super::matcher::Matcher;
use super::{CompiledRule, RuleSet};

/// The open family: the events whose path the filter tests.
pub const OPEN_FAMILY: [&str; 4] = ["open", "openat", "openat2", "creat"];

/// The longest path (bytes, without the NUL) the probe tests; a longer one
/// is always passed.
pub const MAX_FILTER_PATH: usize = 255;

/// One necessary condition on an open's resolved path (`fd.name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathPattern {
    /// The path starts with this (absolute) text.
    Prefix(String),
    /// The path is this one.
    Exact(String),
    /// The path ends with this text.
    Suffix(String),
}

/// What a condition needs of the path: `None` when it cannot be reduced
/// (any path may match), else the patterns one of which every match not
/// always passed must meet (empty: only always-passed paths can match).
type Need = Option<Vec<PathPattern>>;

/// The filter of the open family derived from a rule set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenFilter {
    /// `None`: opens are not filtered (some rule needs any path).
    pub patterns: Option<Vec<PathPattern>>,
    /// The enabled rules whose conditions left opens unfiltered.
    pub unreduced: Vec<String>,
}

impl OpenFilter {
    /// Whether the filter keeps an open of `raw` (the path as the call gave
    /// it), `is_dir` when the opened file is a directory. Paths the probe
    /// cannot compare with `fd.name` (relative, not normalized, too long)
    /// and directories (they resolve later relative paths) always pass.
    pub fn passes(&self, raw: &[u8], is_dir: bool) -> bool {
        let Some(patterns) = &self.patterns else {
            return true;
        };
        if is_dir || !is_plain_absolute(raw) {
            return true;
        }
        patterns.iter().any(|p| match p {
            PathPattern::Prefix(s) => raw.starts_with(s.as_bytes()),
            PathPattern::Exact(s) => raw == s.as_bytes(),
            PathPattern::Suffix(s) => raw.ends_with(s.as_bytes()),
        })
    }
}

/// An absolute path that is its own normalized form (no `//`, `/./`,
/// `../`, no trailing `/`, `/.` or `..`) and short enough for the probe:
/// for such a path, `fd.name` is the path itself. (`a../` in a name is
/// normal but not plain: `fd.nameraw contains '../'` must see it.)
pub fn is_plain_absolute(raw: &[u8]) -> bool {
    if raw.first() != Some(&b'/') || raw.len() > MAX_FILTER_PATH {
        return false;
    }
    if raw == b"/" {
        return true;
    }
    !(raw.ends_with(b"/")
        || raw.ends_with(b"/.")
        || raw.ends_with(b"..")
        || raw.windows(2).any(|w| w == b"//")
        || raw.windows(3).any(|w| w == b"/./" || w == b"../"))
}

/// What one rule needs of the open family, as `saker rules list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOpens {
    /// No open at all: the rule does not filter opens out, nor keep any.
    None,
    /// Opens of these paths (plus the always-passed ones).
    Paths(Vec<PathPattern>),
    /// Opens of any path: while the rule is enabled, opens are not filtered.
    All,
}

impl RuleOpens {
    /// `none`, `paths` or `all`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RuleOpens::None => "none",
            RuleOpens::Paths(_) => "paths",
            RuleOpens::All => "all",
        }
    }
}

/// The event types of [`OPEN_FAMILY`].
fn open_types() -> Vec<EventType> {
    OPEN_FAMILY
        .iter()
        .filter_map(|n| EventType::from_name(n))
        .collect()
}

/// What `rule` needs of the open family (whether enabled or not).
pub fn rule_opens(rule: &CompiledRule) -> RuleOpens {
    match rule_need(rule, &open_types()) {
        None => RuleOpens::All,
        Some(p) if p.is_empty() => RuleOpens::None,
        Some(mut p) => {
            p.sort();
            p.dedup();
            RuleOpens::Paths(p)
        }
    }
}

/// The filter of the open family for the enabled rules of `rules`.
pub fn open_filter(rules: &RuleSet) -> OpenFilter {
    let opens = open_types();
    let mut all: Vec<PathPattern> = Vec::new();
    let mut unreduced = Vec::new();
    for rule in rules.rules().iter().filter(|r| r.enabled) {
        match rule_need(rule, &opens) {
            Some(p) => all.extend(p),
            None => unreduced.push(rule.name.to_string()),
        }
    }
    if !unreduced.is_empty() {
        return OpenFilter {
            patterns: None,
            unreduced,
        };
    }
    all.sort();
    all.dedup();
    OpenFilter {
        patterns: Some(all),
        unreduced,
    }
}

/// What `rule` needs of the opens: over its open-family event types, what
/// its condition needs of the path; over the events using an fd, what it
/// needs of that fd's path.
fn rule_need(rule: &CompiledRule, opens: &[EventType]) -> Need {
    // Every event type: its opens, and every use of an fd.
    if rule.event_types.is_all() {
        return None;
    }
    // A rule on an fd's use that reads nothing of the fd needs no file open.
    let reads_fd = cond_reads_fd(&rule.condition) || rule.output.field_names().any(is_fd_field);
    // The standard streams (`proc.stdin.name`, ...) may be any file opened
    // and dup'ed there: a rule reading them needs every open.
    if cond_reads(&rule.condition, is_std_field) || rule.output.field_names().any(is_std_field) {
        return None;
    }
    let mut out = Vec::new();
    for t in rule.event_types.iter() {
        if opens.contains(&t) || (uses_fd(t) && reads_fd) {
            out.extend(need(&rule.condition, t)?);
        }
    }
    Some(out)
}

/// Fields whose value comes from the fd table: `fd.*`, the arguments
/// (`evt.arg.fd` prints the fd's name), `fs.path.*`.
fn is_fd_field(name: &str) -> bool {
    name.starts_with("fd.")
        || name.starts_with("evt.arg")
        || name.starts_with("fs.path.")
        || name == "evt.args"
        || name == "evt.info"
}

/// `proc.stdin.*`, `proc.stdout.*`, `proc.stderr.*`: fds 0 to 2.
fn is_std_field(name: &str) -> bool {
    ["proc.stdin", "proc.stdout", "proc.stderr"]
        .iter()
        .any(|p| name.starts_with(p))
}

fn operand_reads(o: &COperand, field: fn(&str) -> bool) -> bool {
    match o {
        COperand::Field(f) | COperand::Engine(f) => field(f.info().name),
        COperand::Transform(_, args) => args.iter().any(|a| operand_reads(a, field)),
    }
}

/// Whether `c` reads a field `field` accepts.
fn cond_reads(c: &Cond, field: fn(&str) -> bool) -> bool {
    match c {
        Cond::Const(_) | Cond::EvtType(_) => false,
        Cond::And(cs) | Cond::Or(cs) => cs.iter().any(|c| cond_reads(c, field)),
        Cond::Not(c) => cond_reads(c, field),
        Cond::Check(ch) => operand_reads(&ch.lhs, field),
        Cond::FieldCmp(fc) => operand_reads(&fc.lhs, field) || operand_reads(&fc.rhs, field),
    }
}

fn cond_reads_fd(c: &Cond) -> bool {
    cond_reads(c, is_fd_field)
}

/// Events that act on an fd an earlier event made, and so may show the
/// file an open made (Falco's `EF_USES_FD` events). The `*at` calls take a
/// directory fd, and directories always pass; their `AT_EMPTY_PATH` form
/// on a file fd is not covered yet.
fn uses_fd(t: EventType) -> bool {
    matches!(
        t.name(),
        "close"
            | "read"
            | "pread"
            | "readv"
            | "preadv"
            | "write"
            | "pwrite"
            | "writev"
            | "pwritev"
            | "dup"
            | "dup2"
            | "dup3"
            | "fcntl"
            | "fchmod"
            | "fchown"
            | "fchdir"
            | "fstat"
            | "fstatfs"
            | "ftruncate"
            | "fsync"
            | "fdatasync"
            | "flock"
            | "lseek"
            | "llseek"
            | "mmap"
            | "sendfile"
            | "splice"
            | "ioctl"
            | "getdents"
            | "getdents64"
            | "finit_module"
            | "setns"
            | "fsconfig"
    )
}

/// What `c` needs of the path of an event of type `t`.
fn need(c: &Cond, t: EventType) -> Need {
    match c {
        Cond::Const(true) => None,
        Cond::Const(false) => Some(Vec::new()),
        Cond::EvtType(set) => (!set.contains(t)).then(Vec::new),
        Cond::And(cs) => {
            // Any conjunct's need is the whole's; the narrowest is kept.
            let mut best: Need = None;
            for c in cs.iter() {
                if let Some(n) = need(c, t)
                    && best.as_ref().is_none_or(|b| n.len() < b.len())
                {
                    best = Some(n);
                }
            }
            best
        }
        Cond::Or(cs) => {
            let mut out = Vec::new();
            for c in cs.iter() {
                out.extend(need(c, t)?);
            }
            Some(out)
        }
        Cond::Not(inner) => match &**inner {
            Cond::Const(b) => need(&Cond::Const(!b), t),
            Cond::EvtType(set) => set.contains(t).then(Vec::new),
            _ => None,
        },
        Cond::Check(ch) => {
            let COperand::Field(f) = &ch.lhs else {
                return None;
            };
            if ch.mode != Mode::Single {
                return None;
            }
            field_need(f, &ch.matcher)
        }
        Cond::FieldCmp(_) => None,
    }
}

/// What one check of a path field needs.
fn field_need(f: &FieldRef, m: &Matcher) -> Need {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
    match f.info().name {
        // A normalized path never holds `../` (the filter passes any path
        // that does, `/a../b` included).
        "fd.nameraw" if matches!(m, Matcher::Contains(f) if f.needle().windows(3).any(|w| w == b"../")) => {
            Some(Vec::new())
        }
        "fd.name" | "fd.nameraw" => match m {
            Matcher::StrEq(s) => Some(absolute([PathPattern::Exact(s.to_string())])),
            Matcher::StrIn(set) => Some(absolute(
                set.iter().map(|s| PathPattern::Exact(s.to_string())),
            )),
            Matcher::StartsWith(b) => prefix(&text(b)?),
            Matcher::EndsWith(b) if !b.is_empty() => Some(vec![PathPattern::Suffix(text(b)?)]),
            Matcher::Glob(pattern, false) => {
                let lit: Vec<u8> = pattern
                    .iter()
                    .copied()
                    .take_while(|c| !matches!(c, b'*' | b'?' | b'[' | b'\\'))
                    .collect();
                if lit.len() == pattern.len() {
                    Some(absolute([PathPattern::Exact(text(&lit)?)]))
                } else {
                    prefix(&text(&lit)?)
                }
            }
            Matcher::Pmatch(p) => Some(p.paths().filter_map(prefix).flatten().collect::<Vec<_>>())
                .filter(|_| !p.has_root()),
            _ => None,
        },
        "fd.directory" => {
            let dir = |d: &str| -> Option<PathPattern> {
                let d = d.trim_end_matches('/');
                d.starts_with('/')
                    .then(|| PathPattern::Prefix(format!("{d}/")))
            };
            match m {
                Matcher::StrEq(s) => Some(dir(s).into_iter().collect()),
                Matcher::StrIn(set) => Some(set.iter().filter_map(dir).collect()),
                // The directory is one of the paths or below one.
                Matcher::Pmatch(p) if !p.has_root() => Some(p.paths().filter_map(dir).collect()),
                Matcher::StartsWith(b) => prefix(&text(b)?),
                _ => None,
            }
        }
        "fd.filename" => match m {
            Matcher::StrEq(s) if !s.is_empty() => Some(vec![PathPattern::Suffix(format!("/{s}"))]),
            Matcher::StrIn(set) => {
                let mut out = Vec::new();
                for s in set.iter() {
                    if s.is_empty() {
                        return None;
                    }
                    out.push(PathPattern::Suffix(format!("/{s}")));
                }
                Some(out)
            }
            _ => None,
        },
        "fd.type" | "fd.typechar" => {
            // Only sockets, pipes, ...: no file an open makes can match.
            let files = ["file", "directory", "f", "d"];
            match m {
                Matcher::StrEq(s) if !files.contains(&&**s) => Some(Vec::new()),
                Matcher::StrIn(set) if set.iter().all(|s| !files.contains(&s)) => Some(Vec::new()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Patterns of absolute paths; a relative one can only be matched by a path
/// the filter always passes, so it is left out.
fn absolute(p: impl IntoIterator<Item = PathPattern>) -> Vec<PathPattern> {
    p.into_iter()
        .filter(|p| match p {
            PathPattern::Prefix(s) | PathPattern::Exact(s) => s.starts_with('/'),
            PathPattern::Suffix(_) => true,
        })
        .collect()
}

/// `startswith s`: a prefix when `s` is absolute; a relative `s` (`../`)
/// only matches paths the filter passes anyway; an empty one anything.
fn prefix(s: &str) -> Need {
    if s.is_empty() {
        return None;
    }
    Some(absolute([PathPattern::Prefix(s.to_string())]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleSource, load_sources};

    fn filter_of(yaml: &str) -> OpenFilter {
        let loaded = load_sources(&[RuleSource {
            name: "t.yaml".into(),
            text: yaml.into(),
        }]);
        open_filter(&loaded.ruleset)
    }

    fn rule(cond: &str) -> String {
        format!("- rule: R\n  desc: t\n  condition: {cond}\n  output: x\n  priority: WARNING\n")
    }

    #[test]
    fn plain_absolute_paths_are_their_own_fd_name() {
        assert!(is_plain_absolute(b"/etc/shadow"));
        assert!(is_plain_absolute(b"/"));
        assert!(is_plain_absolute(b"/a.b/.c"));
        assert!(!is_plain_absolute(b"/a../b"), "holds ../");
        for p in [
            &b"etc/shadow"[..],
            b"/etc//shadow",
            b"/etc/./shadow",
            b"/tmp/../etc/shadow",
            b"/etc/",
            b"/etc/..",
            b"",
        ] {
            assert!(!is_plain_absolute(p), "{}", String::from_utf8_lossy(p));
        }
        assert!(!is_plain_absolute(&[b'/'; 300]));
    }

    #[test]
    fn path_conditions_reduce_and_others_leave_opens_unfiltered() {
        let f = filter_of(&rule(
            "evt.type in (open, openat) and (fd.name startswith /etc/ or fd.directory in (/root/.ssh, /var/log/) or fd.name endswith release_agent or fd.filename = id_rsa) and not proc.name in (sshd)",
        ));
        let p = f.patterns.expect("reduced");
        assert_eq!(
            p,
            vec![
                PathPattern::Prefix("/etc/".into()),
                PathPattern::Prefix("/root/.ssh/".into()),
                PathPattern::Prefix("/var/log/".into()),
                PathPattern::Suffix("/id_rsa".into()),
                PathPattern::Suffix("release_agent".into()),
            ]
        );
        let f = filter_of(&rule("evt.type = openat and proc.name = cat"));
        assert_eq!(f.patterns, None);
        assert_eq!(f.unreduced, ["R"]);
        let f = filter_of(&rule("evt.type = openat and fd.name contains shadow"));
        assert_eq!(f.patterns, None);
        let f = filter_of(&rule("evt.type = openat and not fd.name startswith /tmp"));
        assert_eq!(f.patterns, None);
        // A rule without an open and without an fd leaves nothing to keep.
        let f = filter_of(&rule("evt.type = execve and proc.name = nc"));
        assert_eq!(f.patterns, Some(vec![]));
        // The standard streams may be any file (no such field yet; kept
        // ready for Falco's proc.stdin.* family).
        assert!(is_std_field("proc.stdin.name") && !is_std_field("proc.name"));
        // Sockets only: file opens are not needed.
        let f = filter_of(&rule("evt.type in (dup, dup2) and fd.type in (ipv4, ipv6)"));
        assert_eq!(f.patterns, Some(vec![]));
        // A rule on an fd's use that reads the fd of any file (in its
        // condition or its output) leaves opens unfiltered; one that reads
        // nothing of the fd needs no open.
        let f = filter_of(&rule("evt.type = fchmod and proc.name = chmod"));
        assert_eq!(f.patterns, Some(vec![]));
        let f = filter_of(
            "- rule: R\n  desc: t\n  condition: evt.type = fchmod and proc.name = chmod\n  output: '%fd.name'\n  priority: WARNING\n",
        );
        assert_eq!(f.patterns, None);
        let f = filter_of(&rule(
            "evt.type = fchmod and fd.name pmatch (/etc, /usr/bin)",
        ));
        assert_eq!(
            f.patterns,
            Some(vec![
                PathPattern::Prefix("/etc".into()),
                PathPattern::Prefix("/usr/bin".into())
            ])
        );
    }

    #[test]
    fn each_rule_says_what_it_needs_of_opens() {
        let loaded = load_sources(&[RuleSource {
            name: "t.yaml".into(),
            text: format!(
                "{}{}{}",
                rule("evt.type = openat and fd.name = /etc/shadow").replace("R\n", "Shadow\n"),
                rule("evt.type = execve").replace("R\n", "Exec\n"),
                rule("evt.type = openat and proc.name = cat").replace("R\n", "Cat\n"),
            ),
        }]);
        let got: Vec<(String, RuleOpens)> = loaded
            .ruleset
            .rules()
            .iter()
            .map(|r| (r.name.to_string(), rule_opens(r)))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Shadow".to_string(),
                    RuleOpens::Paths(vec![PathPattern::Exact("/etc/shadow".into())])
                ),
                ("Exec".to_string(), RuleOpens::None),
                ("Cat".to_string(), RuleOpens::All),
            ]
        );
    }

    #[test]
    fn the_model_passes_what_the_rules_may_need() {
        let f = filter_of(&rule(
            "evt.type = openat and (fd.name glob '/home/*/.ssh/*' or fd.nameraw glob '../*')",
        ));
        assert_eq!(f.patterns, Some(vec![PathPattern::Prefix("/home/".into())]));
        assert!(f.passes(b"/home/u/.ssh/id_rsa", false));
        assert!(!f.passes(b"/tmp/data", false));
        assert!(f.passes(b"../../etc/shadow", false), "relative");
        assert!(f.passes(b"/tmp/../home/u/x", false), "not normalized");
        assert!(f.passes(b"/tmp", true), "a directory");
    }

    /// Falco's stable rules reduce to a handful of path patterns: the open
    /// of an ordinary file is left out by the probe.
    #[test]
    fn falcos_stable_rules_reduce() {
        let Some(dir) = saker_upstream::for_test(&[saker_upstream::STABLE]) else {
            return;
        };
        let text = std::fs::read_to_string(dir.join(saker_upstream::STABLE)).unwrap();
        let f = filter_of(&text);
        assert!(f.unreduced.is_empty(), "{:?}", f.unreduced);
        let p = f.patterns.clone().unwrap();
        assert!(
            p.contains(&PathPattern::Exact("/etc/shadow".into())),
            "{p:?}"
        );
        assert!(!f.passes(b"/tmp/bench/data", false));
        assert!(f.passes(b"/etc/shadow", false));
    }

    /// What the default rules and Falco's incubating and sandbox rules leave
    /// unfiltered (printed; the figures go to the issue, not asserted).
    #[test]
    fn default_rules_reduce() {
        let f = filter_of(crate::rules::DEFAULT_RULES);
        assert!(f.unreduced.is_empty(), "{:?}", f.unreduced);
        eprintln!("default rules: {:?}", f.patterns);
        assert!(!f.passes(b"/tmp/bench/data", false));
        if let Some(dir) = saker_upstream::for_test(&[saker_upstream::STABLE]) {
            for name in ["falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"] {
                let Ok(extra) = std::fs::read_to_string(dir.join(name)) else {
                    continue;
                };
                let stable = std::fs::read_to_string(dir.join(saker_upstream::STABLE)).unwrap();
                let loaded = load_sources(&[
                    RuleSource {
                        name: "s.yaml".into(),
                        text: stable,
                    },
                    RuleSource {
                        name: name.into(),
                        text: extra,
                    },
                ]);
                let f = open_filter(&loaded.ruleset);
                eprintln!("{name}: unreduced {:?}", f.unreduced);
            }
        }
    }
}
