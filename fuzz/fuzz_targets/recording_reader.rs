//! Arbitrary bytes as a recording file (`recording::RecordingReader`),
//! replayed as `saker run --replay` does: process frames seed the state,
//! event frames go through the decoder, the state and the default rules.
//!
//! Invariants, beyond "no panic" (a damaged file is an error naming its
//! offset):
//! - frames are read in order, each inside the file, and a clean end of
//!   file means every byte belonged to the header or to a frame;
//! - an error's offset is inside the file;
//! - what was read, written again with `RecordingWriter`, reads back the
//!   same (metadata and frames);
//! - every alert the replay raises is one line of text, and its JSON form
//!   parses back.
#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use saker::engine::Engine;
use saker::recording::{
    FRAME_PROCESS, FRAME_TRAILER, Frame, RecordingError, RecordingReader, RecordingWriter,
};
use saker::rules::{RuleSet, load_default};
use saker::state::State;
use saker::state::process::Process;
use saker::state::users::UserDb;

/// Scratch files of this fuzzing process, on tmpfs when there is one.
fn scratch(name: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("saker-fuzz-{}-{name}", std::process::id()))
}

/// The default rules, compiled once, lent to each input's engine.
fn rules() -> &'static Mutex<Option<RuleSet>> {
    static RULES: OnceLock<Mutex<Option<RuleSet>>> = OnceLock::new();
    RULES.get_or_init(|| Mutex::new(Some(load_default().ruleset)))
}

fn error_offset(e: &RecordingError) -> Option<u64> {
    match e {
        RecordingError::Corrupt { offset, .. } => Some(*offset),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let input = scratch("in.sakerrec");
    std::fs::write(&input, data).expect("writing the scratch recording");
    let len = data.len() as u64;
    let mut reader = match RecordingReader::open(&input) {
        Ok(r) => r,
        Err(e) => {
            assert!(error_offset(&e).is_none_or(|o| o <= len), "{e}");
            return;
        }
    };
    let meta = reader.meta.clone();
    let mut frames: Vec<(u64, Frame)> = Vec::new();
    let clean = loop {
        match reader.next_frame() {
            Ok(Some((at, frame))) => {
                assert!(at + 5 <= len, "frame at {at} of a {len}-byte file");
                frames.push((at, frame));
            }
            Ok(None) => break true,
            Err(e) => {
                assert!(error_offset(&e).is_none_or(|o| o <= len), "{e}");
                break false;
            }
        }
    };
    // Frames follow each other: an event frame ends where the next frame
    // (or, at a clean end, the file) begins; a JSON frame holds at least
    // one byte.
    for (i, (at, frame)) in frames.iter().enumerate() {
        let next = match frames.get(i + 1) {
            Some((n, _)) => *n,
            None if clean => len,
            None => continue,
        };
        match frame {
            Frame::Event(b) => assert_eq!(next, at + 5 + b.len() as u64, "frame at {at}"),
            Frame::Process(_) | Frame::Trailer(_) => assert!(next > at + 5, "frame at {at}"),
        }
    }
    let frames: Vec<Frame> = frames.into_iter().map(|(_, f)| f).collect();

    // Written again, it reads back the same.
    let copy = scratch("copy.sakerrec");
    let mut w = RecordingWriter::create(&copy, &meta).expect("writing a recording");
    for f in &frames {
        match f {
            Frame::Event(b) => w.write_event(b).expect("write"),
            Frame::Process(v) => w.write_json(FRAME_PROCESS, v).expect("write"),
            Frame::Trailer(v) => w.write_json(FRAME_TRAILER, v).expect("write"),
        }
    }
    w.flush().expect("flush");
    drop(w);
    let mut again = RecordingReader::open(&copy).expect("a written recording opens");
    assert_eq!(again.meta, meta);
    for f in &frames {
        let (_, g) = again
            .next_frame()
            .expect("a written frame reads back")
            .expect("as many frames as written");
        assert_eq!(&g, f);
    }
    assert!(again.next_frame().expect("clean end").is_none());

    // Replay, as `saker run --replay`.
    let mut slot = rules().lock().unwrap_or_else(|e| e.into_inner());
    let Some(ruleset) = slot.take() else { return };
    let state = State::detached(UserDb::from_text(
        "root:x:0:0:root:/root:/bin/bash\n",
        "root:x:0:\n",
    ));
    let mut engine = Engine::new(state, ruleset, Arc::from("fuzz-node"));
    let mut alerts = Vec::new();
    for f in frames {
        match f {
            Frame::Process(v) => {
                if let Ok(p) = serde_json::from_value::<Process>(v) {
                    engine.state.insert_seed(p);
                }
            }
            Frame::Event(raw) => {
                let _ = engine.process_record(&raw, &mut |a| alerts.push(a));
            }
            Frame::Trailer(_) => {}
        }
    }
    engine.release_held(true, &mut |a| alerts.push(a));
    *slot = Some(std::mem::take(&mut engine.rules));
    drop(slot);
    for a in &alerts {
        assert!(
            !a.output.chars().any(char::is_control),
            "alert text spans lines or carries control characters: {:?}",
            a.output
        );
        let json = a.to_json(true, true);
        assert!(!json.contains('\n'));
        serde_json::from_str::<serde_json::Value>(&json).expect("JSON alert parses back");
    }
});
