//! `saker capture`: live syscall and process events, one per line.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use saker::event::{self, Event};
use saker::probe::{InterestSet, Probe, ProbeOptions, RingReader, ring::DEFAULT_DRAIN_INTERVAL};
use saker::recording::{RecordingMeta, RecordingWriter};
use serde::Serialize;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Comma-separated event types to capture, e.g. `openat,connect,execve,procexit`.
    /// Default: every syscall whose arguments Saker decodes, plus process
    /// exec/fork/exit events.
    #[arg(long, value_name = "LIST")]
    syscalls: Option<String>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Also record the event stream to FILE, for `saker run --replay FILE`.
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// Do not print events (useful with --write, or to measure capture alone).
    #[arg(long, short)]
    quiet: bool,
    /// Ring buffer size in bytes (power of two, at least 4096).
    #[arg(long, value_name = "BYTES", default_value_t = saker::probe::DEFAULT_RING_BYTES)]
    ring_bytes: u32,
    /// Milliseconds between ring-buffer drains when the kernel has not woken the reader.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_DRAIN_INTERVAL.as_millis() as u64)]
    drain_ms: u64,
    /// Syscall events per CPU that share one kernel clock reading; 1 (the
    /// default) gives every event its exact time. Larger values save a clock
    /// read per event, and an event's time may then be early by up to one
    /// scheduler tick (1/CONFIG_HZ: 1-10 ms).
    #[arg(long, value_name = "N", default_value_t = saker::probe::DEFAULT_TIMESTAMP_EVERY,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    timestamp_every: u32,
}

/// What `capture` prints on exit (and stores in a recording's trailer).
#[derive(Debug, Default, Serialize)]
struct Totals {
    events: u64,
    decode_errors: u64,
    kernel_emitted: u64,
    kernel_dropped_ring_full: u64,
    kernel_dropped_no_scratch: u64,
    kernel_read_failures: u64,
    kernel_truncated: u64,
    kernel_compat_skipped: u64,
}

struct Sink {
    out: BufWriter<io::Stdout>,
    json: bool,
    quiet: bool,
    recording: Option<RecordingWriter>,
    totals: Totals,
    failed: Option<anyhow::Error>,
    broken_pipe: bool,
}

impl Sink {
    fn record(&mut self, raw: &[u8]) {
        let ev = match event::decode(raw) {
            Ok(ev) => ev,
            Err(e) => {
                self.totals.decode_errors += 1;
                if self.totals.decode_errors <= 10 {
                    log::warn!("malformed kernel record ({} bytes): {e}", raw.len());
                }
                return;
            }
        };
        self.totals.events += 1;
        if let Some(rec) = &mut self.recording
            && let Err(e) = rec.write_event(raw)
        {
            self.failed.get_or_insert(e.into());
        }
        if !self.quiet
            && !self.broken_pipe
            && let Err(e) = self.print(&ev)
        {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.broken_pipe = true;
            } else {
                self.failed.get_or_insert(e.into());
            }
        }
    }

    fn print(&mut self, ev: &Event) -> io::Result<()> {
        if self.json {
            serde_json::to_writer(&mut self.out, ev)?;
            self.out.write_all(b"\n")
        } else {
            writeln!(self.out, "{ev}")
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush()
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.broken_pipe = true;
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub async fn run(args: CaptureArgs) -> Result<ExitCode> {
    let interest = match &args.syscalls {
        Some(list) => InterestSet::parse_list(list).context("--syscalls")?,
        None => InterestSet::all_decoded(),
    };
    let opts = ProbeOptions {
        ring_bytes: args.ring_bytes,
        timestamp_every: args.timestamp_every,
        ..ProbeOptions::default()
    };
    if let Err(code) = super::require_privileges() {
        return Ok(code);
    }
    let mut probe = Probe::load(&opts).context("loading the eBPF probe")?;
    probe.set_interest(&interest)?;
    let mut reader = RingReader::new(probe.take_ring()?, Duration::from_millis(args.drain_ms))?;

    let mut recording = match &args.write {
        Some(path) => {
            let meta = RecordingMeta {
                hostname: hostname(),
                kernel: kernel_release(),
                saker_version: env!("CARGO_PKG_VERSION").to_string(),
                started_at_ns: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as i64),
                boot_to_wall_offset_ns: saker::probe::boot_to_wall_offset_ns(),
                event_types: interest.names().iter().map(|s| s.to_string()).collect(),
            };
            Some(RecordingWriter::create(path, &meta)?)
        }
        None => None,
    };
    probe.attach().context("attaching the eBPF programs")?;
    if let Some(rec) = &mut recording {
        // The processes already running, so that a replay starts from them.
        let state = saker::state::State::live(
            std::path::Path::new("/"),
            saker::probe::boot_to_wall_offset_ns(),
            saker::state::container::ContainerTable::default(),
        );
        super::run::write_seed(rec, &state)?;
    }
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 16, io::stdout()),
        json: args.json,
        quiet: args.quiet,
        recording,
        totals: Totals::default(),
        failed: None,
        broken_pipe: false,
    };

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    log::info!(
        "capturing {} event types; Ctrl-C to stop",
        interest.names().len()
    );

    let mut on_record = |raw: &[u8]| sink.record(raw);
    loop {
        tokio::select! {
            biased;
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = clock.tick() => probe.update_clock()?,
            r = reader.read_batch(&mut on_record) => { r?; }
        }
    }
    // Stop the kernel side first, then take what is still in the ring.
    probe.detach();
    reader.drain(&mut on_record);
    sink.flush();

    let k = probe.counters()?;
    sink.totals.kernel_emitted = k.total.emitted;
    sink.totals.kernel_dropped_ring_full = k.total.dropped_full;
    sink.totals.kernel_dropped_no_scratch = k.total.scratch_busy;
    sink.totals.kernel_read_failures = k.total.read_failures;
    sink.totals.kernel_truncated = k.total.truncated;
    sink.totals.kernel_compat_skipped = k.total.compat_skipped;
    if let Some(rec) = sink.recording.take() {
        rec.finish(&sink.totals)?;
    }
    let t = &sink.totals;
    eprintln!(
        "saker capture: {} events, {} dropped (ring full {}, no scratch {}), {} read failures, {} truncated, {} malformed",
        t.events,
        t.kernel_dropped_ring_full + t.kernel_dropped_no_scratch,
        t.kernel_dropped_ring_full,
        t.kernel_dropped_no_scratch,
        t.kernel_read_failures,
        t.kernel_truncated,
        t.decode_errors
    );
    if let Some(e) = sink.failed {
        return Err(e);
    }
    Ok(ExitCode::SUCCESS)
}
