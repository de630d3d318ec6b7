//! Arbitrary bytes as one ring-buffer record (`event::decode`).
//!
//! Beyond "no panic", what a user relies on:
//! - the decoder reads only the record: the input is libFuzzer's exact-size
//!   heap copy and cargo-fuzz builds with AddressSanitizer, so a read past
//!   its end (the `read_unaligned` of the header, a parameter length) aborts;
//! - a record is accepted only whole: the same bytes with one more byte, or
//!   cut short, are errors (a torn or misframed ring entry is counted, never
//!   decoded as something else);
//! - an accepted record's parameters (u16 length + data each) cover it
//!   exactly, and the event carries the header's identity fields;
//! - an error names an offset inside the record;
//! - the decoded event is at most linear in the record's size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use saker::event::decode::{DecodeError, decode};
use saker_ebpf::abi::{EventHeader, FromBytes};

const HEADER: usize = size_of::<EventHeader>();

/// The parameters' total size, split independently of the decoder.
fn params_end(record: &[u8], nparams: u16) -> Option<usize> {
    let mut off = HEADER;
    for _ in 0..nparams {
        let len = u16::from_le_bytes([*record.get(off)?, *record.get(off + 1)?]);
        off = off.checked_add(2 + usize::from(len))?;
    }
    (off <= record.len()).then_some(off)
}

fuzz_target!(|data: &[u8]| {
    let result = decode(data);
    match &result {
        Err(DecodeError::BadParam { offset, .. }) => {
            assert!(
                *offset <= data.len(),
                "error offset {offset} past the record"
            );
        }
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(ev) => {
            let h = EventHeader::read_from(data).expect("accepted record has a header");
            assert_eq!(
                h.len as usize,
                data.len(),
                "accepted record of the wrong length"
            );
            assert_eq!(
                params_end(data, h.nparams),
                Some(data.len()),
                "parameters do not cover the record exactly"
            );
            assert_eq!((ev.tgid, ev.tid, ev.ppid), (h.tgid, h.tid, h.ppid));
            assert_eq!((ev.uid, ev.gid, ev.ret), (h.uid, h.gid, h.ret));
            assert_eq!(ev.ts_boot_ns, h.ts_boot_ns);
            // Text comes from the record's bytes: lossy UTF-8 turns one byte
            // into at most 3, JSON escapes one into at most 6 (\u0000); the
            // fixed fields add a bounded amount.
            let json = serde_json::to_string(ev).expect("an event serializes");
            assert!(
                json.len() <= 6 * data.len() + 4096,
                "{} bytes of event from a {}-byte record",
                json.len(),
                data.len()
            );
            // Whole records only: one byte more or less is not the same event.
            let mut longer = data.to_vec();
            longer.push(0);
            assert!(
                decode(&longer).is_err(),
                "a record with a trailing byte decoded"
            );
            for cut in [data.len() - 1, data.len() / 2, HEADER.min(data.len() - 1)] {
                assert!(
                    decode(&data[..cut]).is_err(),
                    "a record cut at {cut} decoded"
                );
            }
        }
    }
    // Decoding is a pure function of the bytes.
    assert_eq!(decode(data), result);
});
