//! `saker report`: the weekly noise review and the audit summary of an
//! alert file (Falco JSON alerts, one per line; the file stays the audit
//! trail).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::observe::{AlertLine, group};

/// Values shown per "top" list.
const TOP: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub total: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub rules: Vec<RuleReport>,
    /// Per tag (MITRE ATT&CK technique or tactic, PCI DSS, NIST ...): rules and matches.
    pub tags: Vec<TagReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    pub rule: String,
    pub priority: String,
    pub count: u64,
    /// Share of all alerts, 0..=1.
    pub share: f64,
    pub top_processes: Vec<(String, u64)>,
    pub top_containers: Vec<(String, u64)>,
    pub top_images: Vec<(String, u64)>,
    pub top_files: Vec<(String, u64)>,
    /// Alerts per hour (UTC hour start, count).
    pub per_hour: Vec<(String, u64)>,
    /// Behaviours that make up most of the rule's alerts: candidate exceptions.
    pub suggested_exceptions: Vec<Suggestion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub fields: Vec<String>,
    pub values: Vec<String>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TagReport {
    pub tag: String,
    pub count: u64,
    pub rules: Vec<String>,
}

fn top(map: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(TOP);
    v
}

/// Builds the report.
pub fn build(alerts: &[AlertLine]) -> Report {
    let total = alerts.len() as u64;
    let mut by_rule: BTreeMap<&str, Vec<&AlertLine>> = BTreeMap::new();
    for a in alerts {
        by_rule.entry(&a.rule).or_default().push(a);
    }
    let behaviours = group(alerts);
    let mut rules = Vec::new();
    for (rule, list) in &by_rule {
        let mut procs = BTreeMap::new();
        let mut containers = BTreeMap::new();
        let mut images = BTreeMap::new();
        let mut files = BTreeMap::new();
        let mut hours = BTreeMap::new();
        for a in list {
            let bump = |m: &mut BTreeMap<String, u64>, v: Option<String>| {
                if let Some(v) = v {
                    *m.entry(v).or_insert(0) += 1;
                }
            };
            bump(
                &mut procs,
                a.field("proc.exepath").or_else(|| a.field("proc.name")),
            );
            bump(
                &mut containers,
                a.field("container.name")
                    .or_else(|| a.field("container.id")),
            );
            bump(&mut images, a.field("container.image.repository"));
            bump(&mut files, a.field("fd.name"));
            if let Some(t) = a.time() {
                let h = t
                    .replace_minute(0)
                    .and_then(|t| t.replace_second(0))
                    .map(|t| t.replace_nanosecond(0).unwrap_or(t))
                    .unwrap_or(t);
                *hours.entry(crate::exceptions::format_time(h)).or_insert(0) += 1;
            }
        }
        let count = list.len() as u64;
        let suggested_exceptions = behaviours
            .iter()
            .filter(|b| b.rule == *rule && b.count * 10 >= count)
            .take(TOP)
            .map(|b| Suggestion {
                fields: b.fields.iter().map(|f| (*f).to_string()).collect(),
                values: b.values.clone(),
                count: b.count,
            })
            .collect();
        rules.push(RuleReport {
            rule: (*rule).to_string(),
            priority: list.first().map(|a| a.priority.clone()).unwrap_or_default(),
            count,
            share: if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            },
            top_processes: top(procs),
            top_containers: top(containers),
            top_images: top(images),
            top_files: top(files),
            per_hour: hours.into_iter().collect(),
            suggested_exceptions,
        });
    }
    rules.sort_by(|a, b| b.count.cmp(&a.count).then(a.rule.cmp(&b.rule)));
    let mut tags: BTreeMap<&str, (u64, Vec<String>)> = BTreeMap::new();
    for a in alerts {
        for t in &a.tags {
            let e = tags.entry(t).or_default();
            e.0 += 1;
            if !e.1.contains(&a.rule) {
                e.1.push(a.rule.clone());
            }
        }
    }
    let times: Vec<_> = alerts.iter().filter_map(AlertLine::time).collect();
    Report {
        total,
        first: times
            .iter()
            .min()
            .map(|t| crate::exceptions::format_time(*t)),
        last: times
            .iter()
            .max()
            .map(|t| crate::exceptions::format_time(*t)),
        rules,
        tags: tags
            .into_iter()
            .map(|(tag, (count, rules))| TagReport {
                tag: tag.to_string(),
                count,
                rules,
            })
            .collect(),
    }
}

/// What a tag is evidence for, by Falco's tag conventions.
fn framework(tag: &str) -> &'static str {
    let t = tag.to_ascii_lowercase();
    let technique = t.starts_with('t')
        && t.chars()
            .skip(1)
            .take(4)
            .filter(char::is_ascii_digit)
            .count()
            == 4;
    if t.starts_with("mitre_") || technique {
        "MITRE ATT&CK"
    } else if t.starts_with("pci_dss") {
        "PCI DSS"
    } else if t.starts_with("nist_") {
        "NIST 800-53"
    } else if t.starts_with("maturity_") {
        "maturity"
    } else {
        "other"
    }
}

fn list(v: &[(String, u64)]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.iter()
        .map(|(k, n)| format!("`{k}` ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Markdown.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Saker alert report\n");
    let _ = writeln!(
        s,
        "{} alerts from {} to {}.\n",
        r.total,
        r.first.as_deref().unwrap_or("-"),
        r.last.as_deref().unwrap_or("-")
    );
    let _ = writeln!(s, "## Noise by rule\n");
    let _ = writeln!(
        s,
        "| Rule | Priority | Alerts | Share |\n|---|---|---:|---:|"
    );
    for x in &r.rules {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1}% |",
            x.rule,
            x.priority,
            x.count,
            x.share * 100.0
        );
    }
    for x in &r.rules {
        let _ = writeln!(s, "\n### {}\n", x.rule);
        let _ = writeln!(s, "- Processes: {}", list(&x.top_processes));
        let _ = writeln!(s, "- Containers: {}", list(&x.top_containers));
        let _ = writeln!(s, "- Images: {}", list(&x.top_images));
        let _ = writeln!(s, "- Files: {}", list(&x.top_files));
        let _ = writeln!(s, "- Per hour: {}", list(&x.per_hour));
        if !x.suggested_exceptions.is_empty() {
            let _ = writeln!(
                s,
                "- Suggested exceptions (`saker baseline --from` writes them):"
            );
            for e in &x.suggested_exceptions {
                let _ = writeln!(
                    s,
                    "  - {} = {} ({} alerts)",
                    e.fields.join(", "),
                    e.values.join(", "),
                    e.count
                );
            }
        }
    }
    let _ = writeln!(s, "\n## Detections by tag (audit evidence)\n");
    let _ = writeln!(
        s,
        "| Framework | Tag | Alerts | Rules |\n|---|---|---:|---|"
    );
    for t in &r.tags {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            framework(&t.tag),
            t.tag,
            t.count,
            t.rules.join("; ")
        );
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page.
pub fn html(r: &Report) -> String {
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Saker alert report</title></head><body>\n<h1>Saker alert report</h1>\n",
    );
    let _ = writeln!(
        s,
        "<p>{} alerts from {} to {}.</p>\n<h2>Noise by rule</h2>\n<table border=\"1\"><tr><th>Rule</th><th>Priority</th><th>Alerts</th><th>Share</th><th>Top processes</th><th>Top images</th><th>Top files</th><th>Suggested exceptions</th></tr>",
        r.total,
        esc(r.first.as_deref().unwrap_or("-")),
        esc(r.last.as_deref().unwrap_or("-"))
    );
    let cell = |v: &[(String, u64)]| {
        v.iter()
            .map(|(k, n)| format!("{} ({n})", esc(k)))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    for x in &r.rules {
        let sugg = x
            .suggested_exceptions
            .iter()
            .map(|e| {
                format!(
                    "{} = {} ({})",
                    esc(&e.fields.join(", ")),
                    esc(&e.values.join(", ")),
                    e.count
                )
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&x.rule),
            esc(&x.priority),
            x.count,
            x.share * 100.0,
            cell(&x.top_processes),
            cell(&x.top_images),
            cell(&x.top_files),
            sugg
        );
    }
    s.push_str("</table>\n<h2>Detections by tag</h2>\n<table border=\"1\"><tr><th>Framework</th><th>Tag</th><th>Alerts</th><th>Rules</th></tr>\n");
    for t in &r.tags {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(framework(&t.tag)),
            esc(&t.tag),
            t.count,
            esc(&t.rules.join("; "))
        );
    }
    s.push_str("</table></body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_ranks_noise_and_maps_tags_to_frameworks() {
        let mk = |rule: &str, exe: &str, tags: &[&str]| -> AlertLine {
            serde_json::from_value(serde_json::json!({
                "rule": rule, "priority": "Warning", "time": "2025-01-01T10:20:00Z",
                "tags": tags, "output_fields": {"proc.exepath": exe, "fd.name": "/etc/shadow"}
            }))
            .unwrap()
        };
        let mut alerts = vec![
            mk(
                "Noisy",
                "/usr/bin/backup",
                &["mitre_credential_access", "T1555", "PCI_DSS_10.2.5"]
            );
            9
        ];
        alerts.push(mk("Rare", "/tmp/x", &["NIST_800-53_AU-2"]));
        let r = build(&alerts);
        assert_eq!(r.rules[0].rule, "Noisy");
        assert!((r.rules[0].share - 0.9).abs() < 1e-9);
        assert_eq!(
            r.rules[0].top_processes,
            [("/usr/bin/backup".to_string(), 9)]
        );
        assert_eq!(
            r.rules[0].per_hour,
            [("2025-01-01T10:00:00Z".to_string(), 9)]
        );
        assert_eq!(
            r.rules[0].suggested_exceptions[0].values,
            ["/usr/bin/backup", "/etc/shadow"]
        );
        let md = markdown(&r);
        assert!(md.contains("| Noisy | Warning | 9 | 90.0% |"), "{md}");
        assert!(md.contains("| MITRE ATT&CK | T1555 | 9 | Noisy |"), "{md}");
        assert!(
            md.contains("| PCI DSS | PCI_DSS_10.2.5 | 9 | Noisy |"),
            "{md}"
        );
        assert!(
            md.contains("| NIST 800-53 | NIST_800-53_AU-2 | 1 | Rare |"),
            "{md}"
        );
        assert!(html(&r).contains("<td>MITRE ATT&amp;CK</td>"));
    }
}
