//! The on-disk spool: an output's alerts, kept in order across receiver
//! outages and agent restarts.
//!
//! Layout of the spool directory:
//! - `<id>.seg`: append-only segment files (`id` is 20 decimal digits, growing).
//!   A record is `len: u32 LE | crc32(payload): u32 LE | payload`.
//! - `commit`: the position of the next undelivered record, in two 32-byte
//!   slots written alternately (`seq: u64 | segment: u64 | offset: u64 |
//!   crc32: u32 | 0: u32`). The valid slot with the higher `seq` wins, so a
//!   torn write of one slot leaves the other one.
//!
//! A record is committed right after its delivery succeeded (or after it was
//! given up as undeliverable). On start, reading resumes at the commit: after
//! a clean stop or a crash of the agent nothing is lost and nothing is sent
//! twice, except the one alert whose delivery and commit a crash separated.
//! Data reaches the disk itself at `sync` (about every second and at
//! shutdown); a power loss can lose or repeat what came after the last sync.
//! A record cut short by a crash is dropped from the tail on the next start.
//!
//! `lock` holds the pid of the agent using the spool, under an exclusive
//! `flock` for as long as the spool is open: a second agent pointed at the
//! same directory is refused instead of interleaving records and commits.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::config::SpoolSettings;

const HEADER: u64 = 8;
/// No alert comes near this; a larger length means a corrupt record.
const MAX_RECORD: u32 = 16 * 1024 * 1024;
const SLOT: u64 = 32;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool is full ({max_bytes} bytes)")]
    Full { max_bytes: u64 },
    /// Two writers would interleave segments and commits: one spool
    /// directory belongs to one agent.
    #[error(
        "spool {dir} is in use by another agent{}; give each agent its own spool.directory",
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked { dir: PathBuf, holder: Option<u32> },
}

/// Where a record starts (or, after a read, where the next one starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub(crate) segment: u64,
    pub(crate) offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    id: u64,
    len: u64,
}

/// What `Spool::open` found on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Undelivered alerts left by a previous run.
    pub(crate) pending: u64,
    /// Bytes of torn or corrupt records discarded.
    pub(crate) discarded_bytes: u64,
}

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first; the last one is written to.
    segments: VecDeque<Segment>,
    writer: File,
    reader: Option<(u64, File)>,
    read: Position,
    committed: Position,
    commit_file: File,
    commit_seq: u64,
    total_bytes: u64,
    pending: u64,
    dirty: bool,
    /// Held (flock) while the spool is open; released by the kernel on exit.
    _lock: File,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn encode_slot(seq: u64, pos: Position) -> [u8; SLOT as usize] {
    let mut b = [0u8; SLOT as usize];
    b[0..8].copy_from_slice(&seq.to_le_bytes());
    b[8..16].copy_from_slice(&pos.segment.to_le_bytes());
    b[16..24].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32fast::hash(&b[0..24]);
    b[24..28].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode_slot(b: &[u8]) -> Option<(u64, Position)> {
    let u64_at = |i: usize| -> Option<u64> {
        let a: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
        Some(u64::from_le_bytes(a))
    };
    let crc: [u8; 4] = b.get(24..28)?.try_into().ok()?;
    if crc32fast::hash(b.get(0..24)?) != u32::from_le_bytes(crc) {
        return None;
    }
    Some((
        u64_at(0)?,
        Position {
            segment: u64_at(8)?,
            offset: u64_at(16)?,
        },
    ))
}

/// Reads the records of one segment from `from`; returns how many are valid
/// and where the valid part ends.
fn scan_segment(path: &Path, from: u64) -> io::Result<(u64, u64)> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if from >= len {
        return Ok((0, from.min(len)));
    }
    let mut r = BufReader::new(file);
    io::copy(&mut (&mut r).take(from), &mut io::sink())?;
    let mut off = from;
    let mut count = 0u64;
    let mut payload = Vec::new();
    loop {
        let mut h = [0u8; HEADER as usize];
        if off + HEADER > len || r.read_exact(&mut h).is_err() {
            break;
        }
        let n = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if n > MAX_RECORD || off + HEADER + u64::from(n) > len {
            break;
        }
        payload.resize(n as usize, 0);
        if r.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            break;
        }
        off += HEADER + u64::from(n);
        count += 1;
    }
    Ok((count, off))
}

/// Takes the spool's lock file (`<dir>/lock`) and writes this pid into it.
fn lock_dir(dir: &Path) -> Result<File, SpoolError> {
    let io_err = |source| SpoolError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    let path = dir.join("lock");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err)?;
    match f.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(SpoolError::Locked {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
    }
    f.set_len(0).map_err(io_err)?;
    writeln!(f, "{}", std::process::id()).map_err(io_err)?;
    Ok(f)
}

impl Spool {
    pub(crate) fn open(settings: &SpoolSettings) -> Result<(Self, Recovered), SpoolError> {
        let dir = settings.directory.clone();
        let io_err = |source| SpoolError::Io {
            dir: dir.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io_err)?;
        let lock = lock_dir(&dir)?;

        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();

        let commit_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("commit"))
            .map_err(io_err)?;
        let mut slots = [0u8; 2 * SLOT as usize];
        let got = commit_file.read_at(&mut slots, 0).map_err(io_err)?;
        let saved = [0usize, 1]
            .iter()
            .filter(|i| got >= (**i + 1) * SLOT as usize)
            .filter_map(|i| decode_slot(&slots[i * SLOT as usize..(i + 1) * SLOT as usize]))
            .max_by_key(|(seq, _)| *seq);
        let (commit_seq, mut committed) = saved.unwrap_or((
            0,
            Position {
                segment: ids.first().copied().unwrap_or(1),
                offset: 0,
            },
        ));

        // Segments wholly before the commit were delivered.
        for id in ids.iter().filter(|id| **id < committed.segment) {
            fs::remove_file(segment_path(&dir, *id)).map_err(io_err)?;
        }
        ids.retain(|id| *id >= committed.segment);
        if ids.first() != Some(&committed.segment) {
            // The committed segment is gone (or there was none yet): start
            // at the oldest one left, or at a fresh one.
            committed = Position {
                segment: ids.first().copied().unwrap_or(committed.segment.max(1)),
                offset: 0,
            };
        }
        if ids.is_empty() {
            File::create(segment_path(&dir, committed.segment)).map_err(io_err)?;
            ids.push(committed.segment);
        }

        let mut recovered = Recovered::default();
        let mut segments = VecDeque::new();
        let mut total_bytes = 0;
        for id in &ids {
            let path = segment_path(&dir, *id);
            let from = if *id == committed.segment {
                committed.offset
            } else {
                0
            };
            let (count, valid_end) = scan_segment(&path, from).map_err(io_err)?;
            let len = fs::metadata(&path).map_err(io_err)?.len();
            if valid_end < len {
                // A torn tail (crash mid-append) or corruption: keep what is
                // valid so that appends continue on a record boundary.
                recovered.discarded_bytes += len - valid_end;
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(valid_end))
                    .map_err(io_err)?;
            }
            if *id == committed.segment && committed.offset > valid_end {
                committed.offset = valid_end;
            }
            recovered.pending += count;
            total_bytes += valid_end;
            segments.push_back(Segment {
                id: *id,
                len: valid_end,
            });
        }

        let last = segments.back().map(|s| s.id).unwrap_or(committed.segment);
        let writer = OpenOptions::new()
            .append(true)
            .open(segment_path(&dir, last))
            .map_err(io_err)?;
        let spool = Self {
            dir,
            max_bytes: settings.max_bytes,
            segment_bytes: settings.segment_bytes,
            segments,
            writer,
            reader: None,
            read: committed,
            committed,
            commit_file,
            commit_seq,
            total_bytes,
            pending: recovered.pending,
            dirty: false,
            _lock: lock,
        };
        Ok((spool, recovered))
    }

    fn io_err(&self, source: io::Error) -> SpoolError {
        SpoolError::Io {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Undelivered records.
    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// True when every record has been handed out by `read_batch`.
    pub(crate) fn fully_read(&self) -> bool {
        match self.segments.back() {
            Some(last) => self.read.segment == last.id && self.read.offset >= last.len,
            None => true,
        }
    }

    /// Appends one record at the end of the spool.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<(), SpoolError> {
        let n = u32::try_from(payload.len())
            .ok()
            .filter(|n| *n <= MAX_RECORD)
            .ok_or_else(|| {
                self.io_err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "alert larger than 16 MiB",
                ))
            })?;
        let rec = HEADER + u64::from(n);
        if self.total_bytes + rec > self.max_bytes {
            return Err(SpoolError::Full {
                max_bytes: self.max_bytes,
            });
        }
        let roll = self
            .segments
            .back()
            .is_some_and(|s| s.len > 0 && s.len + rec > self.segment_bytes);
        if roll {
            let id = self.segments.back().map(|s| s.id + 1).unwrap_or(1);
            let f = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(segment_path(&self.dir, id))
                .map_err(|e| self.io_err(e))?;
            // The finished segment should be on disk before newer data is.
            if self.dirty {
                self.writer.sync_data().map_err(|e| self.io_err(e))?;
            }
            self.writer = f;
            self.segments.push_back(Segment { id, len: 0 });
        }
        let mut buf = Vec::with_capacity(rec as usize);
        buf.extend_from_slice(&n.to_le_bytes());
        buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        buf.extend_from_slice(payload);
        if let Err(e) = self.writer.write_all(&buf) {
            // Cut back a partial record so the file stays well-formed.
            if let Some(last) = self.segments.back() {
                let _ = self.writer.set_len(last.len);
            }
            return Err(self.io_err(e));
        }
        if let Some(last) = self.segments.back_mut() {
            last.len += rec;
        }
        self.total_bytes += rec;
        self.pending += 1;
        self.dirty = true;
        Ok(())
    }

    /// Hands out up to `max` records after the last one handed out, each with
    /// the position to commit once it is delivered.
    pub(crate) fn read_batch(
        &mut self,
        max: usize,
    ) -> Result<Vec<(Position, Vec<u8>)>, SpoolError> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(idx) = self.segments.iter().position(|s| s.id == self.read.segment) else {
                // Read position behind the oldest segment: skip forward.
                match self.segments.iter().find(|s| s.id > self.read.segment) {
                    Some(s) => {
                        self.read = Position {
                            segment: s.id,
                            offset: 0,
                        }
                    }
                    None => break,
                }
                continue;
            };
            let seg = self.segments[idx];
            if self.read.offset >= seg.len {
                match self.segments.get(idx + 1) {
                    Some(next) => {
                        self.read = Position {
                            segment: next.id,
                            offset: 0,
                        };
                        continue;
                    }
                    None => break,
                }
            }
            let file = match &self.reader {
                Some((id, f)) if *id == seg.id => f,
                _ => {
                    let f =
                        File::open(segment_path(&self.dir, seg.id)).map_err(|e| self.io_err(e))?;
                    self.reader = Some((seg.id, f));
                    match &self.reader {
                        Some((_, f)) => f,
                        None => break,
                    }
                }
            };
            let mut h = [0u8; HEADER as usize];
            let ok = file.read_exact_at(&mut h, self.read.offset).is_ok();
            let n = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
            let end = self.read.offset + HEADER + u64::from(n);
            let mut payload = vec![0u8; if ok && n <= MAX_RECORD { n as usize } else { 0 }];
            let valid = ok
                && n <= MAX_RECORD
                && end <= seg.len
                && file
                    .read_exact_at(&mut payload, self.read.offset + HEADER)
                    .is_ok()
                && crc32fast::hash(&payload) == crc;
            if !valid {
                // Only a disk fault gets here (appends of this run and the
                // scan at open are checked). Skip the rest of the segment
                // rather than stall the output forever.
                log::error!(
                    "spool {}: corrupt record in segment {} at offset {}; skipping the rest of the segment",
                    self.dir.display(),
                    seg.id,
                    self.read.offset
                );
                self.read.offset = seg.len;
                continue;
            }
            self.read.offset = end;
            out.push((self.read, payload));
        }
        Ok(out)
    }

    /// Records that everything before `pos` has been delivered (or given up).
    pub(crate) fn commit(&mut self, pos: Position) -> Result<(), SpoolError> {
        if pos <= self.committed {
            return Ok(());
        }
        self.commit_seq += 1;
        let slot = encode_slot(self.commit_seq, pos);
        self.commit_file
            .write_all_at(&slot, (self.commit_seq % 2) * SLOT)
            .map_err(|e| self.io_err(e))?;
        self.committed = pos;
        self.pending = self.pending.saturating_sub(1);
        self.dirty = true;
        // Segments before the committed one are fully delivered.
        while self
            .segments
            .front()
            .is_some_and(|s| s.id < pos.segment && self.segments.len() > 1)
        {
            if let Some(s) = self.segments.pop_front() {
                self.total_bytes = self.total_bytes.saturating_sub(s.len);
                if self.reader.as_ref().is_some_and(|(id, _)| *id == s.id) {
                    self.reader = None;
                }
                fs::remove_file(segment_path(&self.dir, s.id)).map_err(|e| self.io_err(e))?;
            }
        }
        Ok(())
    }

    /// Puts appended records and the commit on disk.
    pub(crate) fn sync(&mut self) -> Result<(), SpoolError> {
        if !self.dirty {
            return Ok(());
        }
        self.writer.sync_data().map_err(|e| self.io_err(e))?;
        self.commit_file.sync_data().map_err(|e| self.io_err(e))?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path, max: u64, seg: u64) -> SpoolSettings {
        SpoolSettings {
            directory: dir.join("http"),
            max_bytes: max,
            segment_bytes: seg,
        }
    }

    fn drain(s: &mut Spool) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let batch = s.read_batch(7).unwrap();
            if batch.is_empty() {
                return got;
            }
            for (pos, p) in batch {
                got.push(String::from_utf8(p).unwrap());
                s.commit(pos).unwrap();
            }
        }
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_segments_are_freed() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut s, rec) = Spool::open(&settings(tmp.path(), 1 << 20, 4096)).unwrap();
        assert_eq!(rec, Recovered::default());
        for i in 0..1000 {
            s.append(format!("alert-{i:04}").as_bytes()).unwrap();
        }
        assert_eq!(s.pending(), 1000);
        assert!(s.bytes() > 4096 * 3);
        let got = drain(&mut s);
        assert_eq!(got.len(), 1000);
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, g)| *g == format!("alert-{i:04}"))
        );
        assert_eq!(s.pending(), 0);
        assert!(s.fully_read());
        let segs = fs::read_dir(tmp.path().join("http"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
            })
            .count();
        assert_eq!(segs, 1, "consumed segments are deleted");
    }

    #[test]
    fn reopen_resumes_after_the_commit_without_duplicates() {
        let tmp = tempfile::tempdir().unwrap();
        let st = settings(tmp.path(), 1 << 20, 4096);
        {
            let (mut s, _) = Spool::open(&st).unwrap();
            for i in 0..500 {
                s.append(format!("a{i}").as_bytes()).unwrap();
            }
            // Deliver 123, read a few more without committing (in flight).
            let mut done = 0;
            while done < 123 {
                for (pos, _) in s.read_batch(1).unwrap() {
                    s.commit(pos).unwrap();
                    done += 1;
                }
            }
            let _in_flight = s.read_batch(5).unwrap();
            s.sync().unwrap();
        }
        let (mut s, rec) = Spool::open(&st).unwrap();
        assert_eq!(rec.pending, 377);
        let got = drain(&mut s);
        let want: Vec<String> = (123..500).map(|i| format!("a{i}")).collect();
        assert_eq!(got, want);
        // And a third open finds nothing left.
        drop(s);
        let (_, rec) = Spool::open(&st).unwrap();
        assert_eq!(rec.pending, 0);
    }

    #[test]
    fn torn_tail_is_discarded_and_appends_continue() {
        let tmp = tempfile::tempdir().unwrap();
        let st = settings(tmp.path(), 1 << 20, 1 << 16);
        {
            let (mut s, _) = Spool::open(&st).unwrap();
            s.append(b"one").unwrap();
            s.append(b"two").unwrap();
        }
        // Simulate a crash mid-append: half a record at the end.
        let seg = segment_path(&st.directory, 1);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let (mut s, rec) = Spool::open(&st).unwrap();
        assert_eq!(
            rec,
            Recovered {
                pending: 2,
                discarded_bytes: 6
            }
        );
        s.append(b"three").unwrap();
        assert_eq!(drain(&mut s), vec!["one", "two", "three"]);
    }

    #[test]
    fn torn_commit_slot_falls_back_to_the_other_slot() {
        let tmp = tempfile::tempdir().unwrap();
        let st = settings(tmp.path(), 1 << 20, 1 << 16);
        {
            let (mut s, _) = Spool::open(&st).unwrap();
            for p in ["a", "b", "c"] {
                s.append(p.as_bytes()).unwrap();
            }
            let b = s.read_batch(2).unwrap();
            s.commit(b[0].0).unwrap(); // seq 1 -> slot 1
            s.commit(b[1].0).unwrap(); // seq 2 -> slot 0
        }
        // Tear slot 0 (the newest).
        let f = OpenOptions::new()
            .write(true)
            .open(st.directory.join("commit"))
            .unwrap();
        f.write_all_at(&[0xff; 4], 10).unwrap();
        drop(f);
        let (mut s, rec) = Spool::open(&st).unwrap();
        // Slot 1 says "a" was delivered: "b" comes again (at-least-once).
        assert_eq!(rec.pending, 2);
        assert_eq!(drain(&mut s), vec!["b", "c"]);
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused_until_the_first_closes() {
        let tmp = tempfile::tempdir().unwrap();
        let st = settings(tmp.path(), 1 << 20, 4096);
        let (first, _) = Spool::open(&st).unwrap();
        let err = Spool::open(&st).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, SpoolError::Locked { holder: Some(p), .. } if p == std::process::id())
        );
        assert!(text.contains(&st.directory.display().to_string()), "{text}");
        assert!(text.contains("another agent"), "{text}");
        drop(first);
        Spool::open(&st).unwrap();
    }

    #[test]
    fn full_spool_refuses_and_frees_space_as_it_is_delivered() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(&settings(tmp.path(), 8192, 4096)).unwrap();
        let payload = vec![b'x'; 1000];
        let mut stored = 0;
        while s.append(&payload).is_ok() {
            stored += 1;
        }
        assert!(matches!(s.append(&payload), Err(SpoolError::Full { .. })));
        assert!(s.bytes() <= 8192);
        assert_eq!(drain(&mut s).len(), stored);
        assert!(s.append(&payload).is_ok(), "delivered segments free space");
    }
}
