//! What `Outputs::start` and the first alerts would find out too late,
//! checked before anything starts: the file output's file can be written,
//! each spool folder can be created or written, and the HTTP output's
//! certificates and keys load. `saker config validate` and `saker run` both
//! call [`check_files`], so they accept and reject the same files.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::OutputError;
use super::config::{ConfigError, OutputSettings, SpoolSettings};

/// Whether this process, with its effective user and capabilities, may do
/// `mode` (`libc::W_OK`, ...) on `path` (faccessat with AT_EACCESS, as open
/// would decide; a read-only file system answers EROFS).
fn access(path: &Path, mode: libc::c_int) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The folder a relative file name lives in: `.` for `events.txt`.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether new files can be made in `dir` (an existing folder).
fn check_folder(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => access(dir, libc::W_OK | libc::X_OK)
            .map_err(|e| format!("cannot create files in {}: {e}", dir.display())),
        Ok(_) => Err(format!("{} is not a folder", dir.display())),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// The file output's file: appended to if it exists (opened for writing now,
/// without writing, so permissions and read-only mounts show), else created
/// in a folder that must exist and be writable.
fn check_output_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(format!("{} is a folder, not a file", path.display())),
        // Non-blocking: opening a FIFO for writing otherwise waits for a reader.
        Ok(m) => match std::fs::OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if m.file_type().is_fifo() && e.raw_os_error() == Some(libc::ENXIO) => {
                Err(format!(
                    "{} is a FIFO that no process reads (start its reader first)",
                    path.display()
                ))
            }
            Err(e) => Err(format!("cannot write to {}: {e}", path.display())),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => check_folder(&parent_dir(path)),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// A spool folder: written if it exists, else created with its missing
/// parents, so the nearest existing one must be writable.
fn check_spool(spool: &SpoolSettings) -> Result<(), String> {
    let mut dir = spool.directory.as_path();
    loop {
        match std::fs::metadata(dir) {
            Ok(_) => return check_folder(dir),
            // A file on the way (`file/spool`) shows as ENOTDIR: walk up to it.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                match dir.parent() {
                    Some(p) if !p.as_os_str().is_empty() => dir = p,
                    _ => return check_folder(Path::new(".")),
                }
            }
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
}

/// Every file problem of the enabled outputs, each named by its key.
pub fn check_files(settings: &OutputSettings) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let mut push = |key: &str, reason: String| {
        out.push(ConfigError {
            key: key.to_string(),
            reason,
        })
    };
    if let Some(f) = &settings.file
        && let Err(e) = check_output_file(&f.filename)
    {
        push("file_output.filename", e);
    }
    if let Some(h) = &settings.http {
        match super::tls::client_config(h) {
            Ok(_) => {}
            Err(OutputError::Setup { key, reason }) => push(&key, reason),
            Err(e) => push("http_output", e.to_string()),
        }
        if let Some(s) = &h.delivery.spool
            && let Err(e) = check_spool(s)
        {
            push("http_output.spool.directory", e);
        }
    }
    if let Some(p) = &settings.program
        && let Some(s) = &p.delivery.spool
        && let Err(e) = check_spool(s)
    {
        push("program_output.spool.directory", e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::config::OutputsConfig;

    fn settings(yaml: &str) -> OutputSettings {
        let c: OutputsConfig = serde_yaml::from_str(yaml).unwrap();
        c.validate().unwrap()
    }

    #[test]
    fn an_output_file_in_a_missing_folder_or_a_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let ok = settings(&format!(
            "file_output: {{enabled: true, filename: {d}/events.txt}}"
        ));
        assert!(check_files(&ok).is_empty());
        let missing = settings(&format!(
            "file_output: {{enabled: true, filename: {d}/nope/events.txt}}"
        ));
        let e = check_files(&missing);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].key, "file_output.filename");
        assert!(e[0].reason.contains("No such file"), "{e:?}");
        let folder = settings(&format!("file_output: {{enabled: true, filename: {d}}}"));
        let e = check_files(&folder);
        assert!(e[0].reason.contains("is a folder"), "{e:?}");
    }

    #[test]
    fn spools_and_certificates_are_checked_before_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let s = settings(&format!(
            "http_output: {{enabled: true, url: 'https://x/', ca_cert: {d}/nocert.pem, \
             spool: {{enabled: true, directory: {f}/under}}}}\n\
             program_output: {{enabled: true, program: cat, spool: {{enabled: true, directory: {d}/new/spool}}}}",
            d = dir.path().display(),
            f = file.display()
        ));
        let e = check_files(&s);
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        // The program's spool folder does not exist yet but can be created.
        assert_eq!(
            keys,
            ["http_output.ca_cert", "http_output.spool.directory"],
            "{e:?}"
        );
        assert!(e[0].reason.contains("nocert.pem"), "{e:?}");
        assert!(e[1].reason.contains("is not a folder"), "{e:?}");
    }

    #[test]
    fn a_fifo_without_a_reader_is_an_error_not_a_hang() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("alerts.fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let s = settings(&format!(
            "file_output: {{enabled: true, filename: {}}}",
            fifo.display()
        ));
        let e = check_files(&s);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].reason.contains("FIFO that no process reads"), "{e:?}");
        // With a reader, writing alerts to a FIFO is fine.
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        assert!(check_files(&s).is_empty());
    }
}
