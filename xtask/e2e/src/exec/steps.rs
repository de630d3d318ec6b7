//! Syscall steps (event-generator's `pkg/test/step/syscall/*`): each is the
//! raw system call (not the libc wrapper: `open` is `SYS_open`, which glibc
//! would turn into `openat`), with its arguments from the spec, and a cleanup
//! that undoes what it created (an fd closed, a link removed, a dup2 target
//! restored). Argument names are matched without regard to case; a step
//! exposes `ret` and its numeric arguments to later bindings.

use std::collections::BTreeMap;
use std::ffi::CString;

use serde_json::Value;

use super::Fields;
use super::consts::{self, Table};
use crate::spec::Step;

/// A step that ran, with what its cleanup must undo.
#[derive(Debug)]
pub(crate) struct Done {
    pub fields: Fields,
    undo: Undo,
}

#[derive(Debug)]
enum Undo {
    Nothing,
    Close(i64),
    Unlink {
        dirfd: i64,
        path: CString,
    },
    /// dup2/dup3 over an open fd: put the saved copy back.
    Restore {
        saved: i64,
        fd: i64,
    },
    /// dup2/dup3 onto a free fd: close it.
    CloseNew(i64),
}

impl Done {
    pub fn cleanup(self) -> Result<(), String> {
        // SAFETY: raw syscalls on fds and paths this step created.
        unsafe {
            match self.undo {
                Undo::Nothing => {}
                Undo::Close(fd) | Undo::CloseNew(fd) => {
                    libc::close(fd as i32);
                }
                Undo::Unlink { dirfd, path } => {
                    if libc::syscall(libc::SYS_unlinkat, dirfd, path.as_ptr(), 0) != 0 {
                        return Err(format!(
                            "unlink {:?}: {}",
                            path,
                            std::io::Error::last_os_error()
                        ));
                    }
                }
                Undo::Restore { saved, fd } => {
                    libc::dup2(saved as i32, fd as i32);
                    libc::close(saved as i32);
                }
            }
        }
        Ok(())
    }
}

/// The arguments of one step, with bindings resolved against earlier
/// resources and steps.
struct Args<'a> {
    raw: BTreeMap<String, &'a Value>,
    bound: &'a BTreeMap<String, Fields>,
    used: std::cell::RefCell<Vec<String>>,
}

impl<'a> Args<'a> {
    fn new(step: &'a Step, bound: &'a BTreeMap<String, Fields>) -> Self {
        Args {
            raw: step
                .args
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            bound,
            used: Default::default(),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.used.borrow_mut().push(name.to_string());
        self.raw.get(name).copied()
    }

    /// `${ source.field.path }` → the bound value.
    fn binding(&self, s: &str) -> Result<Option<i64>, String> {
        let Some(inner) = s
            .trim()
            .strip_prefix("${")
            .and_then(|x| x.strip_suffix('}'))
        else {
            return Ok(None);
        };
        let inner = inner.trim();
        let (src, field) = inner
            .split_once('.')
            .ok_or_else(|| format!("binding `{s}` must be ${{source.field}}"))?;
        let fields = self
            .bound
            .get(src)
            .ok_or_else(|| format!("binding `{s}`: no resource or earlier step `{src}`"))?;
        let v = fields
            .get(&field.to_ascii_lowercase())
            .ok_or_else(|| format!("binding `{s}`: `{src}` has no field `{field}`"))?;
        Ok(Some(*v))
    }

    /// A number: a literal, a decimal string, `A|B` names from `table`, or a binding.
    fn int(&self, name: &str, table: Table, default: Option<i64>) -> Result<i64, String> {
        let v = match self.get(name) {
            Some(v) => v,
            None => return default.ok_or_else(|| format!("missing argument `{name}`")),
        };
        match v {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| format!("`{name}`: {n} is not an integer")),
            Value::Bool(b) => Ok(i64::from(*b)),
            Value::String(s) => {
                if let Some(b) = self.binding(s)? {
                    return Ok(b);
                }
                let t = s.trim();
                // `mode: 0644` is octal to event-generator's YAML reader
                // (YAML 1.1 style); serde_yaml keeps it as the string "0644".
                if t.len() > 1
                    && t.starts_with('0')
                    && t.bytes().all(|b| (b'0'..=b'7').contains(&b))
                {
                    return i64::from_str_radix(t, 8).map_err(|e| format!("`{name}`: {e}"));
                }
                if let Ok(n) = t.parse::<i64>() {
                    return Ok(n);
                }
                s.split('|').try_fold(0i64, |acc, part| {
                    let part = part.trim();
                    table
                        .iter()
                        .find(|(n, _)| *n == part)
                        .map(|(_, v)| acc | v)
                        .ok_or_else(|| format!("`{name}`: unknown value `{part}`"))
                })
            }
            other => Err(format!(
                "`{name}`: expected a number or a name, got {other}"
            )),
        }
    }

    fn string(&self, name: &str, default: Option<&str>) -> Result<String, String> {
        match self.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(other) => Err(format!("`{name}`: expected a string, got {other}")),
            None => default
                .map(str::to_string)
                .ok_or_else(|| format!("missing argument `{name}`")),
        }
    }

    fn path(&self, name: &str) -> Result<CString, String> {
        let s = self.string(name, None)?;
        CString::new(s).map_err(|_| format!("`{name}`: NUL byte in path"))
    }

    /// Arguments the spec gave that the syscall does not take.
    fn unknown(&self) -> Option<String> {
        let used = self.used.borrow();
        self.raw
            .keys()
            .find(|k| !used.contains(k))
            .map(|k| k.to_string())
    }
}

fn check(ret: i64, what: &str) -> Result<i64, String> {
    if ret < 0 {
        return Err(format!("{what}: {}", std::io::Error::last_os_error()));
    }
    Ok(ret)
}

/// Runs one step.
pub(crate) fn run(step: &Step, bound: &BTreeMap<String, Fields>) -> Result<Done, String> {
    let a = Args::new(step, bound);
    let mut fields = Fields::new();
    let sc = step.syscall.as_str();
    let num = |fields: &mut Fields, name: &str, v: i64| {
        fields.insert(name.to_string(), v);
        v
    };
    // SAFETY (all blocks below): raw system calls with valid NUL-terminated
    // strings, buffers of the stated length and plain integers.
    let (ret, undo) = match sc {
        "open" => {
            let path = a.path("pathname")?;
            let flags = num(
                &mut fields,
                "flags",
                a.int("flags", consts::OPEN_FLAGS, None)?,
            );
            let mode = num(&mut fields, "mode", a.int("mode", consts::MODES, Some(0))?);
            let r = unsafe { libc::syscall(libc::SYS_open, path.as_ptr(), flags, mode) };
            let r = check(r, "open")?;
            (r, Undo::Close(r))
        }
        "openat" | "openat2" => {
            let dirfd = num(
                &mut fields,
                "dirfd",
                a.int("dirfd", consts::DIRFD, Some(consts::AT_FDCWD))?,
            );
            let path = a.path("pathname")?;
            let r = if sc == "openat" {
                let flags = num(
                    &mut fields,
                    "flags",
                    a.int("flags", consts::OPEN_FLAGS, None)?,
                );
                let mode = num(&mut fields, "mode", a.int("mode", consts::MODES, Some(0))?);
                unsafe { libc::syscall(libc::SYS_openat, dirfd, path.as_ptr(), flags, mode) }
            } else {
                let how = match a.get("how") {
                    Some(Value::Object(m)) => m.clone(),
                    None => Default::default(),
                    Some(other) => return Err(format!("`how`: expected a mapping, got {other}")),
                };
                let sub = Step {
                    kind: step.kind,
                    name: step.name.clone(),
                    syscall: sc.into(),
                    args: how.into_iter().collect(),
                };
                let h = Args::new(&sub, bound);
                let open_how: [u64; 3] = [
                    h.int("flags", consts::OPEN_FLAGS, Some(0))? as u64,
                    h.int("mode", consts::MODES, Some(0))? as u64,
                    h.int("resolve", consts::RESOLVE_FLAGS, Some(0))? as u64,
                ];
                if let Some(x) = h.unknown() {
                    return Err(format!("`how`: unknown field `{x}`"));
                }
                unsafe {
                    libc::syscall(
                        libc::SYS_openat2,
                        dirfd,
                        path.as_ptr(),
                        open_how.as_ptr(),
                        std::mem::size_of_val(&open_how),
                    )
                }
            };
            let r = check(r, sc)?;
            (r, Undo::Close(r))
        }
        "read" | "write" => {
            let fd = num(&mut fields, "fd", a.int("fd", &[], None)?);
            let data = a.string("buffer", Some(""))?;
            let len = num(
                &mut fields,
                "len",
                a.int("len", &[], Some(data.len() as i64))?,
            );
            let mut buf = data.into_bytes();
            buf.resize(len.max(0) as usize, 0);
            let nr = if sc == "read" {
                libc::SYS_read
            } else {
                libc::SYS_write
            };
            let r = unsafe { libc::syscall(nr, fd, buf.as_mut_ptr(), buf.len()) };
            (check(r, sc)?, Undo::Nothing)
        }
        "link" => {
            let old = a.path("oldpath")?;
            let new = a.path("newpath")?;
            let r = unsafe { libc::syscall(libc::SYS_link, old.as_ptr(), new.as_ptr()) };
            check(r, "link")?;
            (
                r,
                Undo::Unlink {
                    dirfd: i64::from(libc::AT_FDCWD),
                    path: new,
                },
            )
        }
        "linkat" => {
            let at = consts::DIRFD;
            let cwd = Some(consts::AT_FDCWD);
            let olddir = num(&mut fields, "olddirfd", a.int("olddirfd", at, cwd)?);
            let old = a.path("oldpath")?;
            let newdir = num(&mut fields, "newdirfd", a.int("newdirfd", at, cwd)?);
            let new = a.path("newpath")?;
            let flags = num(
                &mut fields,
                "flags",
                a.int("flags", consts::LINKAT_FLAGS, Some(0))?,
            );
            let r = unsafe {
                libc::syscall(
                    libc::SYS_linkat,
                    olddir,
                    old.as_ptr(),
                    newdir,
                    new.as_ptr(),
                    flags,
                )
            };
            check(r, "linkat")?;
            (
                r,
                Undo::Unlink {
                    dirfd: newdir,
                    path: new,
                },
            )
        }
        "symlink" | "symlinkat" => {
            let target = a.path("target")?;
            let newdir = if sc == "symlinkat" {
                num(
                    &mut fields,
                    "newdirfd",
                    a.int("newdirfd", consts::DIRFD, Some(consts::AT_FDCWD))?,
                )
            } else {
                i64::from(libc::AT_FDCWD)
            };
            let link = a.path("linkpath")?;
            let r = if sc == "symlink" {
                unsafe { libc::syscall(libc::SYS_symlink, target.as_ptr(), link.as_ptr()) }
            } else {
                unsafe {
                    libc::syscall(libc::SYS_symlinkat, target.as_ptr(), newdir, link.as_ptr())
                }
            };
            check(r, sc)?;
            (
                r,
                Undo::Unlink {
                    dirfd: newdir,
                    path: link,
                },
            )
        }
        "dup" => {
            let old = num(&mut fields, "oldfd", a.int("oldfd", &[], None)?);
            let r = check(unsafe { libc::syscall(libc::SYS_dup, old) }, "dup")?;
            (r, Undo::Close(r))
        }
        "dup2" | "dup3" => {
            let old = num(&mut fields, "oldfd", a.int("oldfd", &[], None)?);
            let new = num(&mut fields, "newfd", a.int("newfd", &[], None)?);
            // Keep what `new` refers to, to put it back at cleanup.
            let saved = unsafe { libc::fcntl(new as i32, libc::F_DUPFD_CLOEXEC, 10) };
            let r = if sc == "dup2" {
                unsafe { libc::syscall(libc::SYS_dup2, old, new) }
            } else {
                let flags = num(
                    &mut fields,
                    "flags",
                    a.int("flags", consts::DUP3_FLAGS, Some(0))?,
                );
                unsafe { libc::syscall(libc::SYS_dup3, old, new, flags) }
            };
            if r < 0 && saved >= 0 {
                unsafe { libc::close(saved) };
            }
            let r = check(r, sc)?;
            let undo = if saved >= 0 {
                Undo::Restore {
                    saved: i64::from(saved),
                    fd: new,
                }
            } else {
                Undo::CloseNew(new)
            };
            (r, undo)
        }
        "socket" => {
            let d = num(
                &mut fields,
                "domain",
                a.int("domain", consts::SOCKET_DOMAINS, None)?,
            );
            let t = num(
                &mut fields,
                "type",
                a.int("type", consts::SOCKET_TYPES, None)?,
            );
            let p = num(
                &mut fields,
                "protocol",
                a.int("protocol", consts::SOCKET_PROTOCOLS, Some(0))?,
            );
            let r = check(
                unsafe { libc::syscall(libc::SYS_socket, d, t, p) },
                "socket",
            )?;
            (r, Undo::Close(r))
        }
        "connect" => {
            let fd = num(&mut fields, "fd", a.int("fd", &[], None)?);
            let addr = super::resources::SockAddr::parse(&a.string("address", None)?)?;
            let r = unsafe { libc::syscall(libc::SYS_connect, fd, addr.ptr(), addr.len()) };
            (check(r, "connect")?, Undo::Nothing)
        }
        "sendto" => {
            let fd = num(&mut fields, "fd", a.int("fd", &[], None)?);
            let data = a.string("buf", Some(""))?;
            let len = num(
                &mut fields,
                "len",
                a.int("len", &[], Some(data.len() as i64))?,
            );
            let flags = num(
                &mut fields,
                "flags",
                a.int("flags", consts::SEND_FLAGS, Some(0))?,
            );
            let mut buf = data.into_bytes();
            buf.resize(len.max(0) as usize, 0);
            let addr = match a.get("address") {
                Some(_) => Some(super::resources::SockAddr::parse(
                    &a.string("address", None)?,
                )?),
                None => None,
            };
            let (ap, al) = addr
                .as_ref()
                .map_or((std::ptr::null(), 0), |x| (x.ptr(), x.len()));
            let r = unsafe {
                libc::syscall(libc::SYS_sendto, fd, buf.as_ptr(), buf.len(), flags, ap, al)
            };
            (check(r, "sendto")?, Undo::Nothing)
        }
        "kill" => {
            let pid = num(&mut fields, "pid", a.int("pid", &[], None)?);
            let sig = num(&mut fields, "sig", a.int("sig", consts::SIGNALS, None)?);
            (
                check(unsafe { libc::syscall(libc::SYS_kill, pid, sig) }, "kill")?,
                Undo::Nothing,
            )
        }
        "init_module" => {
            let image = a.string("moduleimage", None)?.into_bytes();
            let params = CString::new(a.string("paramvalues", Some(""))?)
                .map_err(|_| "`paramValues`: NUL byte".to_string())?;
            let r = unsafe {
                libc::syscall(
                    libc::SYS_init_module,
                    image.as_ptr(),
                    image.len(),
                    params.as_ptr(),
                )
            };
            (check(r, "init_module")?, Undo::Nothing)
        }
        "finit_module" => {
            let fd = num(&mut fields, "fd", a.int("fd", &[], None)?);
            let params = CString::new(a.string("paramvalues", Some(""))?)
                .map_err(|_| "`paramValues`: NUL byte".to_string())?;
            let flags = num(
                &mut fields,
                "flags",
                a.int("flags", consts::FINIT_MODULE_FLAGS, Some(0))?,
            );
            let r = unsafe { libc::syscall(libc::SYS_finit_module, fd, params.as_ptr(), flags) };
            (check(r, "finit_module")?, Undo::Nothing)
        }
        other => return Err(format!("unknown syscall `{other}`")),
    };
    if let Some(x) = a.unknown() {
        // Undo first: the step did run.
        let _ = (Done {
            fields: Fields::new(),
            undo,
        })
        .cleanup();
        return Err(format!("unknown argument `{x}` for {sc}"));
    }
    fields.insert("ret".into(), ret);
    Ok(Done { fields, undo })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_names_octal_and_bindings() {
        let step: Step = serde_json::from_value(serde_json::json!({
            "type": "syscall", "name": "s", "syscall": "openat",
            "args": {"flags": "O_WRONLY|O_CREAT|O_TRUNC", "mode": "0644", "dirFd": "${d.fd}", "n": 7}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let bound: BTreeMap<String, Fields> =
            [("d".to_string(), [("fd".to_string(), 5)].into())].into();
        let a = Args::new(&step, &bound);
        assert_eq!(a.int("flags", consts::OPEN_FLAGS, None), Ok(0o1101));
        assert_eq!(
            a.int("mode", consts::MODES, None),
            Ok(0o644),
            "YAML 1.1 octal"
        );
        assert_eq!(
            a.int("dirfd", consts::DIRFD, None),
            Ok(5),
            "binding, name without case"
        );
        assert_eq!(a.int("n", &[], None), Ok(7));
        assert!(a.int("flags", consts::MODES, None).is_err(), "unknown name");
        assert_eq!(a.int("missing", &[], Some(-100)), Ok(-100));
    }
}
