//! `saker-e2e-exec`: runs one expanded e2e test (see `saker_e2e::exec`).

fn main() -> std::process::ExitCode {
    saker_e2e::exec::main()
}
