//! Decoder cost: `saker::event::decode` on records built in the kernel's
//! layout (`event::decode::build`), one kind at a time and as a mix shaped
//! like a busy node's stream; and, when `SAKER_BENCH_RECORDING` names a
//! recording (`saker capture --write FILE`), on the real records in it.
//! `cargo bench -p saker --bench decode`.
#![expect(
    clippy::expect_used,
    reason = "benchmark setup: a failure should stop the run"
)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use saker::event::decode;
use saker::event::decode::build::{proc_info_bytes, record, tuple_bytes};
use saker::recording::{Frame, RecordingReader};
use saker_ebpf::abi::{self, EventHeader, ProcInfo, SockTuple};

fn header(kind: u16, nr: i64, ret: i64) -> EventHeader {
    let mut comm = [0u8; 16];
    comm[..4].copy_from_slice(b"make");
    EventHeader {
        kind,
        syscall_nr: nr as i32,
        ret,
        ts_boot_ns: 1_234_567_890_123,
        ts_wall_ns: 1_763_900_000_000_000_000,
        cgroup_id: 4242,
        tgid: 31337,
        tid: 31338,
        ppid: 1,
        uid: 33,
        gid: 33,
        loginuid: u32::MAX,
        cpu: 1,
        comm,
        ..Default::default()
    }
}

fn openat() -> Vec<u8> {
    let mut h = header(abi::EV_SYSCALL, libc::SYS_openat, 7);
    h.args = [(-100i64) as u64, 0o2000000, 0, 0, 0, 0];
    record(h, &[b"/usr/lib/x86_64-linux-gnu/libc.so.6"])
}

fn close() -> Vec<u8> {
    let mut h = header(abi::EV_SYSCALL, libc::SYS_close, 0);
    h.args[0] = 7;
    record(h, &[])
}

fn connect() -> Vec<u8> {
    let mut h = header(abi::EV_SYSCALL, libc::SYS_connect, 0);
    h.args[0] = 5;
    let sockaddr = [2u8, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut laddr = [0u8; 16];
    laddr[..4].copy_from_slice(&[127, 0, 0, 1]);
    let tuple = SockTuple {
        family: 2,
        sock_type: 1,
        protocol: 6,
        lport: 40000,
        rport: 8080,
        laddr,
        raddr: laddr,
        ..Default::default()
    };
    record(h, &[&sockaddr, &tuple_bytes(&tuple), b""])
}

/// A compiler started by make: a typical argv, a shell's worth of environment.
fn exec() -> Vec<u8> {
    let mut h = header(abi::EV_EXEC, libc::SYS_execve, 0);
    h.args[0] = 31338;
    let pi = ProcInfo {
        cap_permitted: 0x1ff_ffff_ffff,
        cap_effective: 0x1ff_ffff_ffff,
        exe_ino: 1_048_601,
        exe_ctime_ns: 1_700_000_000_000_000_000,
        exe_mtime_ns: 1_700_000_000_000_000_000,
        start_boot_ns: 1_234_567_000_000,
        vpid: 31337,
        vtid: 31338,
        sid: 100,
        vpgid: 31337,
        exe_dev: 0x803,
        ..Default::default()
    };
    let argv = b"gcc\0-O2\0-Wall\0-c\0hash.c\0-o\0hash.o\0";
    let mut env = Vec::new();
    for i in 0..20 {
        env.extend_from_slice(format!("VARIABLE_{i}=/usr/local/share/some/value/{i}\0").as_bytes());
    }
    record(
        h,
        &[
            &proc_info_bytes(&pi),
            b"/usr/bin/gcc",
            b"gcc-12\0bin\0usr\0",
            argv,
            &env,
            b"src\0project\0build\0home\0",
            b"session-3.scope\0user-0.slice\0user.slice\0",
        ],
    )
}

fn fork() -> Vec<u8> {
    let mut h = header(abi::EV_FORK, libc::SYS_clone3, 0);
    h.args = [31340, 31340, 0x0001_1000, 31337, 31340, 31340];
    record(h, &[])
}

fn malformed() -> Vec<u8> {
    let mut r = openat();
    // The first parameter claims more bytes than the record holds.
    let at = size_of::<EventHeader>();
    r[at..at + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    r
}

fn bench_kinds(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, rec) in [
        ("openat", openat()),
        ("close", close()),
        ("connect", connect()),
        ("exec", exec()),
        ("fork", fork()),
    ] {
        decode(&rec).expect("the constructed record decodes");
        g.throughput(Throughput::Bytes(rec.len() as u64));
        g.bench_function(name, |b| b.iter(|| decode(black_box(&rec))));
    }
    let bad = malformed();
    assert!(decode(&bad).is_err());
    g.throughput(Throughput::Bytes(bad.len() as u64));
    g.bench_function("malformed", |b| b.iter(|| decode(black_box(&bad))));
    g.finish();
}

/// Shaped like `saker-workload compile`'s stream: mostly opens and closes,
/// some socket calls, process events now and then.
fn bench_mix(c: &mut Criterion) {
    let mut mix = Vec::new();
    for _ in 0..40 {
        mix.push(openat());
        mix.push(close());
    }
    for _ in 0..8 {
        mix.push(connect());
    }
    for _ in 0..2 {
        mix.push(fork());
        mix.push(exec());
    }
    let bytes: usize = mix.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("decode-mix");
    g.throughput(Throughput::Elements(mix.len() as u64));
    g.bench_function(format!("{} records, {bytes} bytes", mix.len()), |b| {
        b.iter(|| {
            for r in &mix {
                let _ = black_box(decode(black_box(r)));
            }
        })
    });
    g.finish();
}

/// The records of a real recording, decoded in file order.
fn bench_recording(c: &mut Criterion) {
    let Some(path) = std::env::var_os("SAKER_BENCH_RECORDING").map(PathBuf::from) else {
        return;
    };
    let mut reader = RecordingReader::open(&path).expect("SAKER_BENCH_RECORDING is a recording");
    let mut records = Vec::new();
    while let Some((_, frame)) = reader.next_frame().expect("a readable recording") {
        if let Frame::Event(r) = frame {
            records.push(r);
        }
    }
    if records.is_empty() {
        return;
    }
    let mut g = c.benchmark_group("decode-recording");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function(path.display().to_string(), |b| {
        b.iter(|| {
            for r in &records {
                let _ = black_box(decode(black_box(r)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_kinds, bench_mix, bench_recording);
criterion_main!(benches);
