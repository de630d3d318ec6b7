//! The one validation path of `saker run`, `saker config validate` and
//! `saker rules validate`: the configuration (every key), the files it names
//! (rules files and folders, the web server's certificate, the HTTP
//! output's certificates and keys, the file output's file, spool folders)
//! and the rules, with every problem reported at once, each with its key and
//! where its value came from. What `validate` accepts, `run` starts with;
//! what `run` would reject at start, `validate` rejects.

use std::path::{Path, PathBuf};

use crate::config::{self, Config, ConfigIssue, Origin};
use crate::rules::diag::Diagnostic;
use crate::rules::{self, RuleSet, RuleSource};

/// Exit status of every command when the configuration or the rules are
/// invalid (1 is a failure of a valid setup: privileges, a port in use, the
/// kernel refusing the probe).
pub const EXIT_INVALID: u8 = 2;

/// What to check: the configuration file, `-o` overrides, and `-r` rules
/// paths (which replace `rules_files`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    pub config: Option<&'a Path>,
    pub overrides: &'a [String],
    pub rules: &'a [PathBuf],
    /// Exceptions files (`--exceptions`), compiled into the rules.
    pub exceptions: &'a [PathBuf],
    /// The time exceptions' expiry is judged at (default: now).
    pub now: Option<time::OffsetDateTime>,
}

/// The rules, loaded and selected as `saker run` uses them.
#[derive(Debug)]
pub struct LoadedRules {
    pub ruleset: RuleSet,
    /// Every diagnostic of the rules loader, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// The rules files and folders, in load order, as named.
    pub files: Vec<String>,
    /// The exceptions files, as read (expired exceptions included: they
    /// are left out of the rules, and tell a running agent when to reload).
    pub exceptions: Vec<crate::exceptions::Loaded>,
}

impl LoadedRules {
    pub fn loaded(&self) -> usize {
        self.ruleset.rules().len()
    }

    pub fn enabled(&self) -> usize {
        self.ruleset.rules().iter().filter(|r| r.enabled).count()
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Everything found.
#[derive(Debug, Default)]
pub struct Report {
    /// `None` when the configuration is invalid.
    pub config: Option<Config>,
    /// Problems of the configuration and of the files it names.
    pub errors: Vec<ConfigIssue>,
    /// Ignored Falco keys, empty rules files or folders, no rule enabled.
    pub warnings: Vec<ConfigIssue>,
    /// `None` when the configuration was too broken to know the rules.
    pub rules: Option<LoadedRules>,
}

impl Report {
    /// Errors of every kind: configuration, files, rules.
    pub fn error_count(&self) -> usize {
        self.errors.len() + self.rules.as_ref().map_or(0, LoadedRules::errors)
    }

    pub fn is_ok(&self) -> bool {
        self.error_count() == 0 && self.config.is_some() && self.rules.is_some()
    }

    /// The configuration and rules, when valid.
    pub fn into_valid(self) -> Option<(Config, LoadedRules)> {
        if !self.is_ok() {
            return None;
        }
        Some((self.config?, self.rules?))
    }
}

/// Checks the configuration, the files it names and the rules.
pub fn check(inputs: &Inputs<'_>) -> Report {
    let mut report = Report::default();
    // With errors in the configuration, the files and rules it names are
    // still checked (bad values replaced by their defaults), so that one
    // run reports everything.
    let (cfg, errors) = config::load_checked(inputs.config, inputs.overrides);
    report.errors = errors.0;
    let Some(cfg) = cfg else {
        return report;
    };
    let locate = |issue: ConfigIssue| cfg.sources.locate(issue);
    for key in &cfg.ignored_keys {
        let why = if key == "rules_file" {
            "Falco's old name of rules_files, ignored because rules_files is given (as Falco does)"
        } else {
            "a Falco feature Saker does not implement; ignored"
        };
        report.warnings.push(locate(ConfigIssue::new(key, why)));
    }
    if cfg.webserver.enabled
        && let Some(pem) = &cfg.webserver.tls_pem
        && let Err(e) = crate::webserver::check_certificate(pem)
    {
        let mut issue =
            ConfigIssue::new(e.key(), e.to_string()).with_related("webserver.ssl_enabled");
        issue.hint = e.hint();
        report.errors.push(locate(issue));
    }
    for e in crate::output::check_files(&cfg.outputs) {
        let hint = match e.key.as_str() {
            "file_output.filename" => Some(
                "alerts are appended to this file: create its folder, let the agent's user write there, or choose another file",
            ),
            k if k.ends_with(".spool.directory") => Some(
                "the spool folder (and its missing parents) is created at start: let the agent's user write there, or choose another folder",
            ),
            _ => None,
        };
        let mut issue = ConfigIssue::new(e.key, e.reason);
        issue.hint = hint.map(str::to_string);
        report.errors.push(locate(issue));
    }
    let rules = load_rules(&cfg, inputs, &mut report);
    cfg.sources.sort(&mut report.errors);
    report.rules = Some(rules);
    report.config = Some(cfg);
    report
}

/// One entry of the rules list: where it is and where it was named.
struct RulesEntry {
    path: PathBuf,
    key: String,
    origin: Origin,
}

/// Reads the exceptions files and adds the exceptions that apply now to
/// the rules sources, as Falco syntax after every rules file (Falco's
/// `override: {exceptions: append}` needs the rule loaded first).
fn read_exceptions(
    inputs: &Inputs<'_>,
    sources: &mut Vec<RuleSource>,
    report: &mut Report,
) -> Vec<crate::exceptions::Loaded> {
    let now = inputs.now.unwrap_or_else(time::OffsetDateTime::now_utc);
    let mut out = Vec::new();
    for p in inputs.exceptions {
        match crate::exceptions::read(p) {
            Ok(l) => {
                let text = crate::exceptions::falco_yaml(std::slice::from_ref(&l), Some(now));
                if !text.is_empty() {
                    sources.push(RuleSource {
                        name: format!("{} (exceptions)", p.display()),
                        text,
                    });
                }
                out.push(l);
            }
            Err(e) => report.errors.push(
                ConfigIssue::new("", e.to_string())
                    .with_origin(Origin::Flag(format!("--exceptions {}", p.display()))),
            ),
        }
    }
    out
}

/// Whether a rules file holds anything but blank lines and comments.
fn has_content(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#') && l != "---" && l != "..."
    })
}

/// Loads the rules `rules_files` (or `-r`) names, as `saker run` does:
/// the embedded ruleset for [`rules::DEFAULT_RULES_NAME`], files, and
/// folders' `.yaml`/`.yml` files in sorted order; then the configuration's
/// priority, `rules:` selection, `append_output` and `rule_matching`.
fn load_rules(cfg: &Config, inputs: &Inputs<'_>, report: &mut Report) -> LoadedRules {
    let flags = inputs.rules;
    let entries: Vec<RulesEntry> = if flags.is_empty() {
        cfg.rules_files
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let key = format!("rules_files[{i}]");
                RulesEntry {
                    path: p.clone(),
                    origin: cfg.sources.origin_of(&key),
                    key,
                }
            })
            .collect()
    } else {
        flags
            .iter()
            .map(|p| RulesEntry {
                path: p.clone(),
                key: String::new(),
                origin: Origin::Flag(format!("-r {}", p.display())),
            })
            .collect()
    };
    let mut sources: Vec<RuleSource> = Vec::new();
    let mut io_diagnostics: Vec<Diagnostic> = Vec::new();
    let mut files = Vec::new();
    let mut unreadable = false;
    for e in &entries {
        files.push(e.path.display().to_string());
        if e.path == Path::new(rules::DEFAULT_RULES_NAME) {
            sources.push(RuleSource {
                name: rules::DEFAULT_RULES_NAME.to_string(),
                text: rules::DEFAULT_RULES.to_string(),
            });
            continue;
        }
        let meta = match std::fs::metadata(&e.path) {
            Ok(m) => m,
            Err(err) => {
                let mut issue = ConfigIssue::new(
                    e.key.clone(),
                    format!("cannot read {}: {err}", e.path.display()),
                )
                .with_origin(e.origin.clone());
                if err.kind() == std::io::ErrorKind::NotFound {
                    issue = issue.with_hint(
                        "name Falco rules files or folders of them (.yaml/.yml); Falco's own rules come with the Falco package (/etc/falco/falco_rules.yaml) or from https://github.com/falcosecurity/rules",
                    );
                }
                report.errors.push(issue);
                unreadable = true;
                continue;
            }
        };
        let (read, mut diags) = rules::read_paths(std::slice::from_ref(&e.path));
        if meta.is_dir() && read.is_empty() && diags.is_empty() {
            report.warnings.push(
                ConfigIssue::new(
                    e.key.clone(),
                    format!(
                        "rules folder {} holds no .yaml or .yml file",
                        e.path.display()
                    ),
                )
                .with_origin(e.origin.clone()),
            );
        }
        for s in &read {
            if !has_content(&s.text) {
                report.warnings.push(
                    ConfigIssue::new(e.key.clone(), format!("rules file {} is empty", s.name))
                        .with_origin(e.origin.clone()),
                );
            }
        }
        sources.extend(read);
        io_diagnostics.append(&mut diags);
    }
    let exceptions = read_exceptions(inputs, &mut sources, report);
    let out = rules::load_sources(&sources);
    io_diagnostics.extend(out.diagnostics);
    let mut loaded = LoadedRules {
        ruleset: out.ruleset,
        diagnostics: io_diagnostics,
        files,
        exceptions,
    };
    if loaded.errors() == 0 {
        let known: Vec<String> = loaded
            .ruleset
            .rules()
            .iter()
            .map(|r| r.name.to_string())
            .collect();
        let now = inputs.now.unwrap_or_else(time::OffsetDateTime::now_utc);
        // What the approval gate (`saker exceptions check`) rejects is a
        // warning here: the agent runs with what was merged.
        for l in &loaded.exceptions {
            for f in crate::exceptions::check(l, Some(&known), now) {
                report.warnings.push(
                    ConfigIssue::new("", format!("{} {}", l.path.display(), f))
                        .with_origin(Origin::Flag(format!("--exceptions {}", l.path.display()))),
                );
            }
        }
    }
    if loaded.errors() > 0 {
        return loaded;
    }
    // Selection patterns were checked with the configuration.
    if let Err(e) =
        crate::engine::select_rules(&mut loaded.ruleset, cfg.min_priority, &cfg.rule_selection)
    {
        report
            .errors
            .push(cfg.sources.locate(ConfigIssue::new("rules", e.to_string())));
    }
    if let Err(e) = loaded.ruleset.append_output(&cfg.append_output) {
        report.errors.push(
            cfg.sources
                .locate(ConfigIssue::new("append_output", e.message)),
        );
    }
    if let Err(e) = cfg.rule_modes.apply(&mut loaded.ruleset) {
        report.errors.push(
            cfg.sources
                .locate(ConfigIssue::new("saker.rule_modes", e.message)),
        );
    }
    loaded.ruleset.set_rule_matching(match cfg.rule_matching {
        config::RuleMatching::First => rules::RuleMatching::First,
        config::RuleMatching::All => rules::RuleMatching::All,
    });
    // Rules files that cannot be read say so themselves.
    if loaded.enabled() == 0 && !unreadable {
        let from = if loaded.files.is_empty() {
            "an empty rules_files".to_string()
        } else {
            loaded.files.join(", ")
        };
        let mut issue = ConfigIssue::new(
            "",
            format!(
                "no rules enabled ({} loaded from {from}): Saker will detect nothing",
                loaded.loaded()
            ),
        )
        .with_hint(
            "check rules_files or -r (an empty file or folder, a rules volume not mounted?), priority and the rules: selection; \
             /readyz reports not ready until a rule is enabled, unless saker.allow_no_rules is true",
        );
        if flags.is_empty() {
            issue.key = "rules_files".into();
            issue = cfg.sources.locate(issue);
        } else {
            issue.origin = Origin::Flag(
                flags
                    .iter()
                    .map(|p| format!("-r {}", p.display()))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        report.warnings.push(issue);
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const RULE: &str =
        "- rule: Extra\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n";

    #[test]
    fn appending_a_rules_file_keeps_the_default_rules() {
        let dir = tempfile::tempdir().unwrap();
        let extra = write(dir.path(), "extra.yaml", RULE);
        let defaults = check(&Inputs::default());
        assert!(defaults.is_ok(), "{:?}", defaults.errors);
        let n = defaults.rules.as_ref().unwrap().enabled();
        assert!(n > 1, "the embedded rules");
        let o = [format!("rules_files[]={}", extra.display())];
        let r = check(&Inputs {
            overrides: &o,
            ..Inputs::default()
        });
        assert!(r.is_ok(), "{:?}", r.errors);
        let rules = r.rules.unwrap();
        assert_eq!(rules.enabled(), n + 1);
        assert_eq!(rules.files[0], rules::DEFAULT_RULES_NAME);
        // `-o rules_files=FILE` replaces the list, as `-r FILE` does.
        let o = [format!("rules_files={}", extra.display())];
        let r = check(&Inputs {
            overrides: &o,
            ..Inputs::default()
        });
        assert_eq!(r.rules.unwrap().enabled(), 1);
        let r = check(&Inputs {
            rules: std::slice::from_ref(&extra),
            ..Inputs::default()
        });
        assert_eq!(r.rules.unwrap().enabled(), 1);
    }

    #[test]
    fn missing_files_are_errors_located_where_they_were_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "saker.yaml",
            "rules_files:\n  - /nonexistent/rules.yaml\nwebserver:\n  ssl_enabled: true\n  ssl_certificate: /nonexistent/saker.pem\n",
        );
        let o = [
            "file_output.enabled=true".to_string(),
            "file_output.filename=/nonexistent/dir/events.txt".to_string(),
        ];
        let r = check(&Inputs {
            config: Some(&cfg),
            overrides: &o,
            ..Inputs::default()
        });
        assert!(!r.is_ok());
        let text: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
        let c = cfg.display();
        assert_eq!(r.errors.len(), 3, "{text:#?}");
        // In reading order: the file's by line, then the -o arguments'.
        assert!(
            text[0].starts_with(&format!(
                "{c}:2:5: rules_files[0]: cannot read /nonexistent/rules.yaml: No such file or directory (os error 2)"
            )),
            "{text:#?}"
        );
        assert!(
            text[1].starts_with(&format!(
                "{c}:5:20: webserver.ssl_certificate: /nonexistent/saker.pem: "
            )),
            "{text:#?}"
        );
        assert!(
            text[2].starts_with("-o file_output.filename=/nonexistent/dir/events.txt: /nonexistent/dir: No such file"),
            "{text:#?}"
        );
    }

    #[test]
    fn no_enabled_rule_is_a_warning_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write(dir.path(), "empty.yaml", "# nothing yet\n");
        let folder = dir.path().join("rules.d");
        std::fs::create_dir(&folder).unwrap();
        let r = check(&Inputs {
            rules: &[empty.clone(), folder.clone()],
            ..Inputs::default()
        });
        assert!(r.is_ok(), "{:?}", r.errors);
        let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].ends_with(&format!("rules file {} is empty", empty.display())),
            "{w:#?}"
        );
        assert!(w[1].contains("holds no .yaml or .yml file"), "{w:#?}");
        assert!(w[2].contains("no rules enabled (0 loaded from"), "{w:#?}");
        // Every rule below the minimum priority: loaded, none enabled.
        let o = ["priority=emergency".to_string()];
        let r = check(&Inputs {
            overrides: &o,
            ..Inputs::default()
        });
        assert!(
            r.warnings
                .iter()
                .any(|w| w.message.starts_with("no rules enabled"))
        );
    }
}
