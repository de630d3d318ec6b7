//! Arbitrary bytes as a rules file: read, collect, compile, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use saker::rules::{RuleSource, load_sources};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let out = load_sources(&[RuleSource {
        name: "fuzz.yaml".into(),
        text: text.to_string(),
    }]);
    for d in &out.diagnostics {
        let _ = d.to_string();
    }
});
