use std::process::ExitCode;

use clap::Parser;

mod cli;

use cli::{Cli, Command};

/// glibc malloc arenas the agent's threads share. By default glibc gives
/// each thread that contends its own arena (up to 8 per core), and memory
/// freed in one is not reused by another: the start's peak RSS then varied
/// from 46 to 52 MiB from one start to the next (kernel BTF parsed while
/// other threads allocate). With two, it stays at 46 MiB; the agent's hot
/// path is one thread, so contention does not matter.
const MALLOC_ARENAS: libc::c_int = 2;

fn main() -> ExitCode {
    // SAFETY: mallopt is called before any other thread exists; it only
    // sets an allocator parameter. A refusal (return 0) changes nothing.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS) };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let args = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("saker-io")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("saker: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            Command::Capture(a) => cli::capture::run(a).await,
            Command::Run(a) => cli::run::run(a).await,
            Command::Config(c) => cli::config::run(c),
            Command::Rules(cmd) => cli::rules::run(cmd),
            Command::Fields(a) => cli::fields::run(&a),
            Command::Exceptions(c) => cli::exceptions::run(c),
            Command::Baseline(a) => cli::noise::baseline(&a),
            Command::Report(a) => cli::noise::report(&a),
            Command::BenchFloor(a) => cli::bench_floor::run(a).await,
        }
    });
    // The outputs gave up on what they could not deliver by their deadline
    // (saker.shutdown_timeout_ms); a blocking write still stuck on a pipe
    // nobody reads (tokio's stdout) must not keep the process alive, as
    // dropping the runtime would (it waits for blocking tasks).
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => code,
        // A closed pipe (`saker fields | head`) ends the output, not the program's success.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("saker: {}", cli::error_text(&e));
            ExitCode::FAILURE
        }
    }
}
