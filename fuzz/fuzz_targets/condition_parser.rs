//! Arbitrary text as a condition: parse, then compile and evaluate it as a
//! rule against an event with no fields; never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use saker::event::EventType;
use saker::fields::{FieldProvider, FieldRef, Value};
use saker::rules::{RuleSource, load_sources, parser};

struct Empty(EventType);

impl FieldProvider for Empty {
    fn event_type(&self) -> EventType {
        self.0
    }
    fn timestamp_ns(&self) -> i64 {
        0
    }
    fn extract(&self, _: &FieldRef) -> Option<Value<'_>> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(cond) = std::str::from_utf8(data) else {
        return;
    };
    if parser::parse_condition(cond).is_err() {
        return;
    }
    let Ok(quoted) = serde_json::to_string(cond) else {
        return;
    };
    let text = format!(
        "- list: l\n  items: [a, b]\n- macro: m\n  condition: evt.type = open\n- rule: R\n  desc: d\n  condition: {quoted}\n  output: \"%proc.name %fd.name\"\n  priority: INFO\n"
    );
    let out = load_sources(&[RuleSource {
        name: "fuzz.yaml".into(),
        text,
    }]);
    for t in EventType::all().take(3) {
        out.ruleset.evaluate(&Empty(t), |_| {});
    }
});
