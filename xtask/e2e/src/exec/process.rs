//! Starting a process as event-generator's process builder does
//! (`pkg/process/builder/builder.go`): the command's executable is placed at
//! the "simulated" executable path (a hard link, or a copy when its owner or
//! file capabilities must change), run through a symlink named after the
//! process (so `comm`, Falco's `proc.name`, is that name) with the given
//! argv\[0\] (`proc.exe`), arguments and user; everything created is removed
//! afterwards.
//!
//! Differences from event-generator: the default capabilities `all=iep` are
//! not written to the file (for a root runner the process gets the same full
//! set without them; other capability sets are written and the securebit
//! `SECBIT_NOROOT` is set so that they are what the process gets); a hard
//! link across filesystems falls back to a copy.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

const DEFAULT_CAPABILITIES: &str = "all=iep";

/// What to start (the fields of a context process or a process resource).
#[derive(Debug, Clone, Default)]
pub(crate) struct ProcessSpec {
    pub exe_path: Option<String>,
    pub name: Option<String>,
    pub arg0: Option<String>,
    pub args: Option<String>,
    pub user: Option<String>,
    pub capabilities: Option<String>,
}

/// A started process and what to remove once it is gone.
#[derive(Debug)]
pub(crate) struct Started {
    child: Option<Child>,
    /// A child started with fork/exec directly (fileless processes).
    raw_pid: Option<i32>,
    created_files: Vec<PathBuf>,
    created_dir: Option<PathBuf>,
    created_user: Option<String>,
    _lock: Option<std::fs::File>,
}

impl Started {
    /// Places `command` as described by `spec` and starts it with exactly `env`.
    pub fn start(
        spec: &ProcessSpec,
        command: &Path,
        env: &[(String, String)],
        stdin: Stdio,
    ) -> Result<Started, String> {
        let sim_exe = PathBuf::from(
            spec.exe_path
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("/tmp/event-generator{}", random_seq(10))),
        );
        let dir = sim_exe
            .parent()
            .ok_or_else(|| format!("{}: no parent directory", sim_exe.display()))?
            .to_path_buf();
        let run_path = match spec.name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => dir.join(n),
            None => sim_exe.clone(),
        };
        let arg0 = spec
            .arg0
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| file_name(&run_path));
        let caps = spec
            .capabilities
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_CAPABILITIES.to_string());
        let cap_data = if caps == DEFAULT_CAPABILITIES {
            None
        } else {
            Some(super::consts::file_capabilities(&caps)?)
        };

        let mut started = Started {
            child: None,
            raw_pid: None,
            created_files: Vec::new(),
            created_dir: None,
            created_user: None,
            _lock: None,
        };
        // Tests run in parallel may use the same process name in the same
        // directory (/tmp/bash): one at a time per path.
        started._lock = Some(lock_path(&run_path)?);
        let result = started.place_and_spawn(
            spec, command, env, stdin, &sim_exe, &run_path, &arg0, cap_data,
        );
        if let Err(e) = result {
            started.cleanup();
            return Err(e);
        }
        Ok(started)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site, all distinct roles"
    )]
    fn place_and_spawn(
        &mut self,
        spec: &ProcessSpec,
        command: &Path,
        env: &[(String, String)],
        stdin: Stdio,
        sim_exe: &Path,
        run_path: &Path,
        arg0: &str,
        cap_data: Option<Vec<u8>>,
    ) -> Result<(), String> {
        let mut owner = None;
        if let Some(user) = spec.user.as_deref().filter(|u| !u.is_empty()) {
            let (uid, gid) = match lookup_user(user) {
                Some(ids) => ids,
                None => {
                    create_user(user)?;
                    self.created_user = Some(user.to_string());
                    lookup_user(user).ok_or_else(|| format!("user {user} missing after useradd"))?
                }
            };
            // SAFETY: plain getters without arguments.
            let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
            if uid != euid || gid != egid {
                owner = Some((uid, gid));
            }
        }
        let dir = sim_exe.parent().unwrap_or(Path::new("/"));
        self.created_dir = mkdir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if owner.is_some() || cap_data.is_some() {
            copy_exe(command, sim_exe)?;
            self.created_files.push(sim_exe.to_path_buf());
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(sim_exe, Some(uid), Some(gid))
                    .map_err(|e| format!("chown {}: {e}", sim_exe.display()))?;
            }
            if let Some(data) = &cap_data {
                set_xattr(sim_exe, "security.capability", data)?;
            }
            if owner.is_some() {
                std::fs::set_permissions(sim_exe, std::fs::Permissions::from_mode(0o6555))
                    .map_err(|e| format!("chmod {}: {e}", sim_exe.display()))?;
            }
        } else {
            match std::fs::hard_link(command, sim_exe) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_exe(command, sim_exe)?,
                Err(e) => {
                    return Err(format!(
                        "link {} -> {}: {e}",
                        command.display(),
                        sim_exe.display()
                    ));
                }
            }
            self.created_files.push(sim_exe.to_path_buf());
        }
        if run_path != sim_exe {
            if std::fs::symlink_metadata(run_path).is_ok_and(|m| m.file_type().is_symlink()) {
                // Left behind by an interrupted run.
                let _ = std::fs::remove_file(run_path);
            }
            std::os::unix::fs::symlink(sim_exe, run_path).map_err(|e| {
                format!(
                    "symlink {} -> {}: {e}",
                    run_path.display(),
                    sim_exe.display()
                )
            })?;
            self.created_files.push(run_path.to_path_buf());
        }
        let mut cmd = Command::new(run_path);
        cmd.arg0(arg0)
            .args(split_args(spec.args.as_deref().unwrap_or("")))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(stdin);
        if cap_data.is_some() {
            // SAFETY: prctl is async-signal-safe; no allocation after fork.
            unsafe {
                cmd.pre_exec(|| {
                    const SECBIT_NOROOT: libc::c_ulong = 1;
                    if libc::prctl(libc::PR_SET_SECUREBITS, SECBIT_NOROOT, 0, 0, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        self.child = Some(
            cmd.spawn()
                .map_err(|e| format!("exec {}: {e}", run_path.display()))?,
        );
        Ok(())
    }

    /// Takes charge of a child started by the caller (killed and reaped by [`Started::kill`]).
    pub fn adopt(pid: i32) -> Started {
        Started {
            child: None,
            raw_pid: Some(pid),
            created_files: Vec::new(),
            created_dir: None,
            created_user: None,
            _lock: None,
        }
    }

    pub fn pid(&self) -> i64 {
        match (&self.child, self.raw_pid) {
            (Some(c), _) => i64::from(c.id()),
            (None, Some(p)) => i64::from(p),
            (None, None) => -1,
        }
    }

    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        match &mut self.child {
            Some(c) => c.wait(),
            None => Err(io::Error::other("not started")),
        }
    }

    /// Kills the process if it still runs and reaps it.
    pub fn kill(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(p) = self.raw_pid.take() {
            // SAFETY: our own child; reaped right after.
            unsafe {
                libc::kill(p, libc::SIGKILL);
                libc::waitpid(p, std::ptr::null_mut(), 0);
            }
        }
    }

    /// Removes the files, directories and user created for the process.
    pub fn cleanup(&mut self) {
        for f in self.created_files.drain(..).rev() {
            let _ = std::fs::remove_file(&f);
        }
        if let Some(d) = self.created_dir.take() {
            let _ = std::fs::remove_dir_all(&d);
        }
        if let Some(u) = self.created_user.take() {
            let _ = Command::new("userdel").arg(&u).status();
        }
    }
}

/// `$PATH` lookup.
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Splits an `args` string as event-generator does: `"..."` and `'...'`
/// quote one argument with spaces, anything else splits on whitespace.
pub(crate) fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' || c == '\'' {
            chars.next();
            let arg: String = chars.by_ref().take_while(|&x| x != c).collect();
            out.push(arg);
            continue;
        }
        let mut arg = String::new();
        while let Some(&x) = chars.peek() {
            if x.is_whitespace() {
                break;
            }
            arg.push(x);
            chars.next();
        }
        out.push(arg);
    }
    out
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Creates `dir` and its missing parents; returns the first one created.
pub(crate) fn mkdir_all(dir: &Path) -> io::Result<Option<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    let first = missing.last().cloned();
    std::fs::create_dir_all(dir)?;
    Ok(first)
}

fn copy_exe(from: &Path, to: &Path) -> Result<(), String> {
    let data = std::fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(to)
        .and_then(|mut f| io::Write::write_all(&mut f, &data))
        .map_err(|e| format!("copy to {}: {e}", to.display()))
}

fn cstr(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{}: NUL in path", p.display()))
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> Result<(), String> {
    let path = cstr(p)?;
    let name_c = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let r = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name_c.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        return Err(format!(
            "setxattr {name} on {}: {}",
            p.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// `(uid, gid)` of `user` from /etc/passwd (no NSS: the executor is static).
pub(crate) fn lookup_user(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        if f.next()? != user {
            return None;
        }
        let _pw = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

fn create_user(user: &str) -> Result<(), String> {
    let st = Command::new("useradd")
        .arg(user)
        .status()
        .map_err(|e| format!("user {user} does not exist and useradd failed: {e}"))?;
    if !st.success() {
        let _ = Command::new("userdel").arg(user).status();
        return Err(format!("useradd {user} exited with {st}"));
    }
    Ok(())
}

/// An exclusive lock held while a path is in use by one test.
fn lock_path(p: &Path) -> Result<std::fs::File, String> {
    let key: String = p
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let lock = PathBuf::from(format!("/tmp/.saker-e2e-lock{key}"));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| format!("{}: {e}", lock.display()))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "lock {}: {}",
            lock.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(f)
}

/// `n` random characters from `[a-zA-Z0-9]` (from the kernel's random pool).
pub(crate) fn random_seq(n: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut buf = vec![0u8; n];
    // SAFETY: getrandom into a buffer of length n.
    let got = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), n, 0) };
    if got != n as isize {
        // Fall back on the pid and time: uniqueness, not secrecy, is needed.
        let seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 8) * 8)) as u8 ^ i as u8;
        }
    }
    buf.iter()
        .map(|b| CHARS[usize::from(*b) % CHARS.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_event_generator() {
        assert_eq!(split_args("-c /dev/shm/evil"), ["-c", "/dev/shm/evil"]);
        assert_eq!(
            split_args(r#"BEGIN "RSA PRIVATE" 'a b'  x"#),
            ["BEGIN", "RSA PRIVATE", "a b", "x"]
        );
        assert!(split_args("").is_empty());
    }
}
