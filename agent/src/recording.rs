//! Recordings: the event stream written by `saker capture --write FILE` and
//! replayed by `saker run --replay FILE`. The format is documented in
//! `docs/recording-format.md`; in short:
//!
//! ```text
//! file    = header frame*
//! header  = "SAKERREC" u32:format_version u32:abi_version u32:meta_len meta(JSON, meta_len bytes)
//! frame   = u32:payload_len u8:frame_type payload(payload_len bytes)
//! frame_type 1 = EVENT    payload: one kernel record, exactly as abi.h lays it out
//!            2 = PROCESS  payload: JSON, a process or thread that existed when recording began
//!            3 = TRAILER  payload: JSON, totals written when recording ends
//! ```
//! All integers are little endian. Only records that decoded successfully are
//! written, so a replay sees the same events the live agent saw.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"SAKERREC";
pub const FORMAT_VERSION: u32 = 1;
pub const FRAME_EVENT: u8 = 1;
pub const FRAME_PROCESS: u8 = 2;
pub const FRAME_TRAILER: u8 = 3;
/// Bound on one frame: a kernel record is at most 32 KiB; JSON frames are small.
pub const MAX_FRAME: u32 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a Saker recording (bad magic)")]
    BadMagic { path: PathBuf },
    #[error(
        "{path}: recording format version {found} is not supported (this build reads {FORMAT_VERSION})"
    )]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error("{path}: recorded with event ABI {found}, this build decodes ABI {expected}")]
    AbiMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: byte {offset}: {what}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
}

/// Metadata stored in the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingMeta {
    pub hostname: String,
    pub kernel: String,
    pub saker_version: String,
    /// Wall time the recording started, ns since the Unix epoch.
    pub started_at_ns: i64,
    /// CLOCK_REALTIME - CLOCK_BOOTTIME at the start, ns.
    pub boot_to_wall_offset_ns: i64,
    /// Event types the kernel was asked to emit.
    pub event_types: Vec<String>,
}

/// Writes a recording.
#[derive(Debug)]
pub struct RecordingWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl RecordingWriter {
    pub fn create(path: &Path, meta: &RecordingMeta) -> Result<Self, RecordingError> {
        let file = File::create(path).map_err(io_err(path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let meta_json = serde_json::to_vec(meta).map_err(|e| RecordingError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            what: e.to_string(),
        })?;
        out.write_all(MAGIC).map_err(io_err(path))?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())
            .map_err(io_err(path))?;
        out.write_all(&saker_ebpf::abi::ABI_VERSION.to_le_bytes())
            .map_err(io_err(path))?;
        out.write_all(&(meta_json.len() as u32).to_le_bytes())
            .map_err(io_err(path))?;
        out.write_all(&meta_json).map_err(io_err(path))?;
        Ok(RecordingWriter {
            out,
            path: path.to_path_buf(),
        })
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) -> Result<(), RecordingError> {
        let path = &self.path;
        self.out
            .write_all(&(payload.len() as u32).to_le_bytes())
            .map_err(io_err(path))?;
        self.out.write_all(&[kind]).map_err(io_err(path))?;
        self.out.write_all(payload).map_err(io_err(path))
    }

    /// Appends one kernel record (already decoded successfully by the caller).
    pub fn write_event(&mut self, record: &[u8]) -> Result<(), RecordingError> {
        self.frame(FRAME_EVENT, record)
    }

    pub fn write_json<T: Serialize>(&mut self, kind: u8, value: &T) -> Result<(), RecordingError> {
        let bytes = serde_json::to_vec(value).map_err(|e| RecordingError::Corrupt {
            path: self.path.clone(),
            offset: 0,
            what: e.to_string(),
        })?;
        self.frame(kind, &bytes)
    }

    /// Writes the trailer and flushes.
    pub fn finish<T: Serialize>(mut self, totals: &T) -> Result<(), RecordingError> {
        self.write_json(FRAME_TRAILER, totals)?;
        let path = self.path.clone();
        self.out.flush().map_err(io_err(&path))?;
        self.out.get_ref().sync_all().map_err(io_err(&path))
    }

    pub fn flush(&mut self) -> Result<(), RecordingError> {
        let path = self.path.clone();
        self.out.flush().map_err(io_err(&path))
    }
}

/// One frame read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event(Vec<u8>),
    Process(serde_json::Value),
    Trailer(serde_json::Value),
}

/// Reads a recording, frame by frame.
#[derive(Debug)]
pub struct RecordingReader {
    input: BufReader<File>,
    path: PathBuf,
    offset: u64,
    pub meta: RecordingMeta,
}

impl RecordingReader {
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        let file = File::open(path).map_err(io_err(path))?;
        let mut r = RecordingReader {
            input: BufReader::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            offset: 0,
            meta: RecordingMeta {
                hostname: String::new(),
                kernel: String::new(),
                saker_version: String::new(),
                started_at_ns: 0,
                boot_to_wall_offset_ns: 0,
                event_types: Vec::new(),
            },
        };
        let mut magic = [0u8; 8];
        if r.read_exact_or_eof(&mut magic)? != 8 || &magic != MAGIC {
            return Err(RecordingError::BadMagic {
                path: path.to_path_buf(),
            });
        }
        let version = r.read_u32("format version")?;
        if version != FORMAT_VERSION {
            return Err(RecordingError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let abi_version = r.read_u32("ABI version")?;
        if abi_version != saker_ebpf::abi::ABI_VERSION {
            return Err(RecordingError::AbiMismatch {
                path: path.to_path_buf(),
                found: abi_version,
                expected: saker_ebpf::abi::ABI_VERSION,
            });
        }
        let meta_len = r.read_u32("metadata length")?;
        if meta_len > MAX_FRAME {
            return Err(r.corrupt(format!("metadata of {meta_len} bytes is over the bound")));
        }
        let mut meta = vec![0u8; meta_len as usize];
        if r.read_exact_or_eof(&mut meta)? != meta.len() {
            return Err(r.corrupt("file ends inside the metadata".into()));
        }
        r.meta = serde_json::from_slice(&meta)
            .map_err(|e| r.corrupt(format!("metadata is not valid JSON: {e}")))?;
        Ok(r)
    }

    fn corrupt(&self, what: String) -> RecordingError {
        RecordingError::Corrupt {
            path: self.path.clone(),
            offset: self.offset,
            what,
        }
    }

    /// Reads up to buf.len() bytes; returns how many (less only at end of file).
    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> Result<usize, RecordingError> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(RecordingError::Io {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
        self.offset += got as u64;
        Ok(got)
    }

    fn read_u32(&mut self, what: &str) -> Result<u32, RecordingError> {
        let mut b = [0u8; 4];
        if self.read_exact_or_eof(&mut b)? != 4 {
            return Err(self.corrupt(format!("file ends inside the {what}")));
        }
        Ok(u32::from_le_bytes(b))
    }

    /// The next frame; `None` at a clean end of file.
    pub fn next_frame(&mut self) -> Result<Option<(u64, Frame)>, RecordingError> {
        let at = self.offset;
        let mut head = [0u8; 5];
        match self.read_exact_or_eof(&mut head)? {
            0 => return Ok(None),
            5 => {}
            _ => return Err(self.corrupt("file ends inside a frame header".into())),
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if len > MAX_FRAME {
            return Err(RecordingError::Corrupt {
                path: self.path.clone(),
                offset: at,
                what: format!("frame of {len} bytes is over the bound"),
            });
        }
        let mut payload = vec![0u8; len as usize];
        if self.read_exact_or_eof(&mut payload)? != payload.len() {
            return Err(self.corrupt("file ends inside a frame".into()));
        }
        let json = |p: &[u8], s: &Self| {
            serde_json::from_slice(p).map_err(|e| RecordingError::Corrupt {
                path: s.path.clone(),
                offset: at,
                what: format!("frame is not valid JSON: {e}"),
            })
        };
        let frame = match head[4] {
            FRAME_EVENT => Frame::Event(payload),
            FRAME_PROCESS => Frame::Process(json(&payload, self)?),
            FRAME_TRAILER => Frame::Trailer(json(&payload, self)?),
            other => {
                return Err(RecordingError::Corrupt {
                    path: self.path.clone(),
                    offset: at,
                    what: format!("unknown frame type {other}"),
                });
            }
        };
        Ok(Some((at, frame)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RecordingMeta {
        RecordingMeta {
            hostname: "h".into(),
            kernel: "6.18".into(),
            saker_version: "0.1.0".into(),
            started_at_ns: 1,
            boot_to_wall_offset_ns: 2,
            event_types: vec!["openat".into()],
        }
    }

    #[test]
    fn frames_round_trip_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sakerrec");
        let mut w = RecordingWriter::create(&path, &meta()).unwrap();
        w.write_json(FRAME_PROCESS, &serde_json::json!({"pid": 1}))
            .unwrap();
        w.write_event(b"first").unwrap();
        w.write_event(b"second").unwrap();
        w.finish(&serde_json::json!({"events": 2})).unwrap();

        let mut r = RecordingReader::open(&path).unwrap();
        assert_eq!(r.meta, meta());
        let mut frames = Vec::new();
        while let Some((_, f)) = r.next_frame().unwrap() {
            frames.push(f);
        }
        assert_eq!(
            frames,
            vec![
                Frame::Process(serde_json::json!({"pid": 1})),
                Frame::Event(b"first".to_vec()),
                Frame::Event(b"second".to_vec()),
                Frame::Trailer(serde_json::json!({"events": 2})),
            ]
        );
    }

    /// The recording_reader fuzz target's seeds (fuzz/corpus) are real
    /// captures: they must open with this build's ABI and their records must
    /// decode, or the fuzzer stops at the header. After an ABI or layout
    /// change, update them (docs/fuzzing.md).
    #[test]
    fn fuzz_seed_recordings_open_and_decode() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/recording_reader");
        let mut events = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // Inputs kept from crashes (`regression_*`) are not captures.
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("regression_"))
            {
                continue;
            }
            let mut r = RecordingReader::open(&path)
                .unwrap_or_else(|e| panic!("{e} (docs/fuzzing.md: seed corpora)"));
            while let Some((at, frame)) = r.next_frame().unwrap() {
                if let Frame::Event(raw) = frame {
                    crate::event::decode(&raw)
                        .unwrap_or_else(|e| panic!("{}: byte {at}: {e}", path.display()));
                    events += 1;
                }
            }
        }
        assert!(events > 100, "{events} events in the seed recordings");
    }

    #[test]
    fn truncated_and_foreign_files_are_reported_with_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let mut w = RecordingWriter::create(&path, &meta()).unwrap();
        w.write_event(b"0123456789").unwrap();
        w.flush().unwrap();
        drop(w);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();
        let mut r = RecordingReader::open(&path).unwrap();
        let err = r.next_frame().unwrap_err();
        assert!(err.to_string().contains("ends inside a frame"), "{err}");

        std::fs::write(&path, b"GIF89a....").unwrap();
        assert!(matches!(
            RecordingReader::open(&path),
            Err(RecordingError::BadMagic { .. })
        ));

        let mut bad = full.clone();
        bad[8] = 99;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(
            RecordingReader::open(&path),
            Err(RecordingError::UnsupportedVersion { found: 99, .. })
        ));
    }
}
