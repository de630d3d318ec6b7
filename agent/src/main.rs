use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = cli::Cli::parse();
    let result = match args.command {
        cli::Command::Rules(cmd) => cli::rules::run(cmd),
        cli::Command::Fields(a) => cli::fields::run(&a),
    };
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
