//! One agent per node: `saker run` holds an exclusive `flock` on
//! `saker.lock_file` (default `/run/saker/saker.lock`) for its lifetime, with
//! its pid written inside. A second agent with the same lock file is refused
//! with the first one's pid; two agents on purpose give each their own
//! `saker.lock_file` (and webserver port, spool directory). Two agents would
//! otherwise double every alert and, with one spool, corrupt it.
//!
//! The kernel releases a `flock` when its holder exits, even on SIGKILL, so a
//! stale file never blocks a restart. A lock that cannot be created at all
//! (read-only /run, no permission) is warned about, not fatal: the lock
//! guards against a mistake and must not stop the sensor.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The default `saker.lock_file`.
pub const DEFAULT_LOCK_FILE: &str = "/run/saker/saker.lock";

#[derive(Debug, thiserror::Error)]
pub enum InstanceLockError {
    #[error(
        "another saker agent{} is running on this node (it holds {path}); stop it first, or give each \
         agent its own saker.lock_file (and webserver.listen_port, spool directory) to run two",
        holder.map(|p| format!(" with pid {p}")).unwrap_or_default()
    )]
    Held { path: PathBuf, holder: Option<u32> },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct InstanceLock {
    path: PathBuf,
    _file: File,
}

impl InstanceLock {
    /// Takes `path` (creating its directory) and writes this pid into it.
    pub fn acquire(path: &Path) -> Result<Self, InstanceLockError> {
        let io = |source| InstanceLockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match f.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(path)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                return Err(InstanceLockError::Held {
                    path: path.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        f.set_len(0).map_err(io)?;
        writeln!(f, "{}", std::process::id()).map_err(io)?;
        Ok(InstanceLock {
            path: path.to_path_buf(),
            _file: f,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub/saker.lock");
        let first = InstanceLock::acquire(&path).unwrap();
        let err = InstanceLock::acquire(&path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("with pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("saker.lock_file"), "{text}");
        drop(first);
        let again = InstanceLock::acquire(&path).unwrap();
        assert_eq!(again.path(), path);
    }
}
