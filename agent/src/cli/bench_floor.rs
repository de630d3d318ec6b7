//! `saker bench-floor` (hidden): attaches the benchmark floor, programs on
//! `sys_enter` and `sys_exit` that only count (`agent-ebpf/bpf/floor.bpf.c`),
//! until SIGINT/SIGTERM, then prints how often they ran.
//!
//! `cargo xtask bench` runs it as the "floor" configuration: the overhead of
//! tracing every system call with nothing done per call, against which the
//! agent's own overhead is compared.

use std::process::ExitCode;

use anyhow::{Context, Result};
use aya::maps::PerCpuArray;
use aya::programs::BtfTracePoint;
use aya::{Btf, EbpfLoader};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, clap::Args)]
pub struct BenchFloorArgs {}

pub async fn run(_args: BenchFloorArgs) -> Result<ExitCode> {
    if let Err(code) = super::require_privileges() {
        return Ok(code);
    }
    let btf = Btf::from_sys_fs().context("reading kernel BTF")?;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&btf))
        .load(saker_ebpf::FLOOR_OBJECT)
        .context("loading the floor object")?;
    // Handlers first, so that a stop request during attach is not lost.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    for (name, tracepoint) in saker_ebpf::floor::PROGRAMS {
        let prog: &mut BtfTracePoint = ebpf
            .program_mut(name)
            .with_context(|| format!("program {name} missing from the floor object"))?
            .try_into()
            .with_context(|| format!("program {name}"))?;
        prog.load(tracepoint, &btf)
            .with_context(|| format!("loading {name}"))?;
        prog.attach().with_context(|| format!("attaching {name}"))?;
    }
    log::info!("floor attached to sys_enter and sys_exit; Ctrl-C to stop");
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }

    let map = ebpf
        .map(saker_ebpf::floor::RUNS)
        .context("floor_runs map missing")?;
    let runs: PerCpuArray<_, u64> = PerCpuArray::try_from(map)?;
    let mut totals = [0u64; 2];
    for (i, total) in totals.iter_mut().enumerate() {
        let per_cpu = runs.get(&(i as u32), 0)?;
        *total = per_cpu.iter().sum();
    }
    // Same shape as `saker capture`'s totals line, which `cargo xtask bench` parses.
    eprintln!(
        "saker bench-floor: {} events, 0 dropped ({} sys_enter, {} sys_exit)",
        totals[0] + totals[1],
        totals[0],
        totals[1]
    );
    Ok(ExitCode::SUCCESS)
}
