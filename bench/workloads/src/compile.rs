//! The realistic mixed job: building a small C program from source, file by
//! file, as `make -j1` would, then linking and running it. gcc starts cc1,
//! as and collect2/ld for every file, which open headers, write temporary
//! files and read objects: process churn, file I/O and CPU work together.
//! The sources are compiled into this binary, so the job is the same
//! wherever it runs.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{Report, ScratchDir};

macro_rules! source {
    ($name:literal) => {
        ($name, include_str!(concat!("../data/cproject/", $name)))
    };
}

const SOURCES: [(&str, &str); 7] = [
    source!("common.h"),
    source!("hash.c"),
    source!("sort.c"),
    source!("strbuf.c"),
    source!("matrix.c"),
    source!("rng.c"),
    source!("main.c"),
];

/// What the program prints; anything else means a broken build.
const EXPECTED_OUTPUT: &str = "unique=982 table=982 sum=1471086 trace=8820.6\n";

fn run_tool(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

fn build_once(dir: &Path, cc: &str) -> Result<()> {
    let mut objects = Vec::new();
    for (name, _) in SOURCES {
        let Some(stem) = name.strip_suffix(".c") else {
            continue;
        };
        let obj = format!("{stem}.o");
        run_tool(
            Command::new(cc)
                .current_dir(dir)
                .args(["-O2", "-Wall", "-c", name, "-o", &obj]),
        )?;
        objects.push(obj);
    }
    run_tool(
        Command::new(cc)
            .current_dir(dir)
            .args(["-o", "prog"])
            .args(&objects),
    )?;
    let out = run_tool(Command::new(dir.join("prog")).current_dir(dir))?;
    if out != EXPECTED_OUTPUT.as_bytes() {
        bail!(
            "the built program printed {:?}, expected {EXPECTED_OUTPUT:?}",
            String::from_utf8_lossy(&out)
        );
    }
    for obj in objects.iter().map(String::as_str).chain(["prog"]) {
        std::fs::remove_file(dir.join(obj))?;
    }
    Ok(())
}

pub fn run(builds: u64, cc: &str) -> Result<Report> {
    let scratch = ScratchDir::create(None, "compile")?;
    for (name, text) in SOURCES {
        std::fs::write(scratch.0.join(name), text)?;
    }
    let start = Instant::now();
    for _ in 0..builds {
        build_once(&scratch.0, cc)?;
    }
    let wall = start.elapsed();
    Ok(Report::new("compile", builds, "build", wall))
}
