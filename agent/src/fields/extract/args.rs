//! `evt.arg[N]`, `evt.arg.NAME`, `evt.rawarg.NAME` and `evt.args`: the
//! event's parameters from the event table ([`crate::event::params`]),
//! rendered as libsinsp renders them (falcosecurity/libs
//! `userspace/libsinsp/event.cpp`, `sinsp_evt::get_param_as_str`;
//! `userspace/libsinsp/sinsp_filtercheck_event.cpp`, `TYPE_ARGSTR`,
//! `TYPE_ARGRAW`, `TYPE_ARGS`).
//!
//! Each parameter has a text (the number or string as sent) and, for some
//! types, a resolved form: the fd's type and name (`<f>/etc/hostname`), the
//! flag names (`O_RDONLY|O_CLOEXEC`), the user name of a uid, the errno
//! name, a relative path joined to the working directory or dirfd.
//! `evt.arg` is the resolved form when there is one, else the text;
//! `evt.rawarg` the value in Falco's codes; `evt.args` every parameter as
//! `name=text` or `name=text(resolved)`.
//!
//! Rendering is lazy: a field renders only the parameter it names, and a
//! rule that never reads an argument never renders one.

use std::borrow::Cow;
use std::fmt::Write;

use super::{EventContext, owned};
use crate::event::params::{self, Fmt, Param, ParamType, ProcValue, Raw};
use crate::event::{AT_FDCWD, Detail, SockAddr, flags};
use crate::fields::{FieldArg, Value};
use crate::state::fd::FdKind;
use crate::state::path;

/// One parameter, rendered.
struct Rendered<'a> {
    text: Cow<'a, str>,
    resolved: Option<Cow<'a, str>>,
}

impl<'a> Rendered<'a> {
    fn text(text: impl Into<Cow<'a, str>>) -> Self {
        Rendered {
            text: text.into(),
            resolved: None,
        }
    }
}

/// Parameter names of events Saker does not decode: the return value and the
/// six argument registers (Falco reports such calls as generic `syscall`
/// events with no arguments).
const RAW_NAMES: [&str; 7] = ["res", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5"];

/// C's `%#o`: a leading 0 unless the value is 0.
fn octal(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("0{v:o}")
    }
}

fn number(v: u64, signed: Option<i64>, fmt: Fmt) -> String {
    match (fmt, signed) {
        (Fmt::Hex, _) => format!("{v:X}"),
        (Fmt::Oct, _) => octal(v),
        (_, Some(s)) => s.to_string(),
        (_, None) => v.to_string(),
    }
}

/// `PT_BYTEBUF` text: printable bytes as they are, anything else as `.`
/// (`binary_buffer_to_string_dots`); NUL-separated lists end in `.` too.
fn dotted(out: &mut String, s: &str) {
    for b in s.bytes() {
        out.push(if (0x20..0x7f).contains(&b) {
            char::from(b)
        } else {
            '.'
        });
    }
}

fn list_text(items: &[String]) -> String {
    let mut out = String::new();
    for item in items {
        dotted(&mut out, item);
        out.push('.');
    }
    out
}

/// `PT_SOCKADDR`: `ip:port` (libsinsp's `ipv4serveraddr_to_string` and
/// `ipv6serveraddr_to_string` with name resolution off), the unix path.
fn sockaddr_text(a: &SockAddr) -> String {
    match a {
        SockAddr::Inet { ip, port } => format!("{ip}:{port}"),
        SockAddr::Unix { path } => path.clone(),
        SockAddr::Other { family } => format!("family {family}"),
    }
}

/// `PT_ABSTIME`: `YYYY-MM-DD HH:MM:SS.nnnnnnnnn +0000`. libsinsp formats in
/// the local time zone (`localtime_r`); Saker in UTC.
fn abstime_text(ns: u64) -> String {
    let t = crate::alert::format_rfc3339_nanos(ns as i64);
    let t = t.trim_end_matches('Z').replacen('T', " ", 1);
    format!("{t} +0000")
}

impl<'a> EventContext<'a> {
    /// The table entry of this event, if Saker decodes its type.
    fn table(&self) -> Option<&'static params::EventParams> {
        if matches!(self.ev.detail, Detail::Other { .. }) {
            return None;
        }
        params::of(self.ev.etype)
    }

    /// `evt.arg[N]`/`evt.arg.NAME` (`raw` false) and `evt.rawarg.NAME`.
    pub(super) fn param(&self, arg: &FieldArg, raw: bool) -> Option<Value<'_>> {
        let Some(table) = self.table() else {
            return self.raw_param(arg);
        };
        let p = match arg {
            FieldArg::Index(i) => table.params.get(*i as usize)?,
            // `evt.arg.res_or_fd`: whichever of the two the event has.
            FieldArg::Key(k) if &**k == "res_or_fd" => table
                .params
                .iter()
                .find(|p| p.name == "res" || p.name == "fd")?,
            FieldArg::Key(k) => table.params.iter().find(|p| p.name == &**k)?,
            FieldArg::None => return None,
        };
        if raw {
            return self.raw_value(p);
        }
        let r = self.render(table, p)?;
        Some(Value::Str(match r.resolved {
            Some(res) if !res.is_empty() => res,
            _ => r.text,
        }))
    }

    /// `evt.args`: `name=text` or `name=text(resolved)` for every parameter.
    pub(super) fn args_text(&self) -> String {
        let mut out = String::new();
        let Some(table) = self.table() else {
            if let Detail::Other { args } = &self.ev.detail {
                let _ = write!(out, "res={}", self.ev.ret);
                for (name, a) in RAW_NAMES[1..].iter().zip(args) {
                    let _ = write!(out, " {name}={a}");
                }
            }
            return out;
        };
        for p in table.params {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(p.name);
            out.push('=');
            match self.render(table, p) {
                Some(r) => {
                    out.push_str(&r.text);
                    if let Some(res) = r.resolved.filter(|r| !r.is_empty()) {
                        out.push('(');
                        out.push_str(&res);
                        out.push(')');
                    }
                }
                // What libsinsp prints for a parameter without a value.
                None => out.push_str(match p.ty {
                    ParamType::Bytebuf | ParamType::Socktuple | ParamType::PtraceDyn => "NULL",
                    _ => "<NA>",
                }),
            }
        }
        out
    }

    /// Parameters of an event Saker does not decode: `res`, `arg0`..`arg5`.
    fn raw_param(&self, arg: &FieldArg) -> Option<Value<'_>> {
        let Detail::Other { args } = &self.ev.detail else {
            return None;
        };
        let i = match arg {
            FieldArg::Index(i) => *i as usize,
            FieldArg::Key(k) if &**k == "res_or_fd" => 0,
            FieldArg::Key(k) => RAW_NAMES.iter().position(|n| *n == &**k)?,
            FieldArg::None => return None,
        };
        match i {
            0 => Some(Value::Int(self.ev.ret)),
            _ => args.get(i - 1).map(|a| Value::UInt(*a)),
        }
    }

    /// A process value of a failed exec or a clone, from the process table.
    fn proc_raw(&self, pv: ProcValue) -> Raw<'_> {
        let Some(p) = self.proc else {
            return Raw::Missing;
        };
        let u = |v: u32| Raw::UInt(u64::from(v));
        match pv {
            ProcValue::Exe => Raw::Str(&p.exe),
            ProcValue::Args => Raw::List(&p.args),
            ProcValue::Cwd => Raw::Str(&p.cwd),
            ProcValue::Comm => Raw::Str(&p.comm),
            ProcValue::Cgroups => Raw::Str(&p.cgroup),
            ProcValue::Env => Raw::List(&p.env),
            ProcValue::Tty => u(p.tty),
            ProcValue::Vpgid => Raw::Int(i64::from(p.vpgid)),
            ProcValue::ExeFlags => u(params::exe_flags(
                p.exe_writable,
                p.exe_upper_layer,
                p.exe_from_memfd,
                p.exe_lower_layer,
            )),
            ProcValue::CapInheritable => Raw::UInt(p.cap_inheritable),
            ProcValue::CapPermitted => Raw::UInt(p.cap_permitted),
            ProcValue::CapEffective => Raw::UInt(p.cap_effective),
            ProcValue::ExeIno => Raw::UInt(p.exe_ino),
            ProcValue::ExeCtime => Raw::UInt(p.exe_ctime_ns),
            ProcValue::ExeMtime => Raw::UInt(p.exe_mtime_ns),
            ProcValue::TrustedExepath => Raw::Str(&p.exepath),
            // Only the main thread's namespace id is known.
            ProcValue::Vtid if self.ev.tid == self.ev.tgid => Raw::Int(i64::from(p.vpid)),
            ProcValue::Vtid => Raw::Missing,
            ProcValue::Vpid => Raw::Int(i64::from(p.vpid)),
        }
    }

    /// A parameter's value before rendering, with process values looked up.
    fn value_of(&self, p: &Param) -> Raw<'_> {
        match params::raw(self.ev, p.src) {
            Raw::Process(pv) => self.proc_raw(pv),
            r => r,
        }
    }

    /// `evt.rawarg`: the value in Falco's codes (strings as sent).
    fn raw_value(&self, p: &Param) -> Option<Value<'_>> {
        Some(match self.value_of(p) {
            Raw::Int(v) => Value::Int(v),
            Raw::UInt(v) => Value::UInt(v),
            Raw::Signal(s) => Value::UInt(u64::from(s)),
            Raw::Str(s) => Value::Str(Cow::Borrowed(s)),
            Raw::List(items) => owned(list_text(items)),
            Raw::Addr(a) => owned(a.map_or_else(|| "<NA>".into(), sockaddr_text)),
            Raw::Tuple(_) => return self.tuple_text().map(Value::Str),
            Raw::Process(_) | Raw::Missing => return None,
        })
    }

    /// The socket tuple: the socket's fd name (client first, as libsinsp
    /// prints it) or the kernel's tuple; unix sockets print their path.
    fn tuple_text(&self) -> Option<Cow<'_, str>> {
        if let Some(f) = self.fd()
            && f.kind.is_inet()
            && !f.name.is_empty()
        {
            return Some(Cow::Borrowed(f.name.as_str()));
        }
        let Detail::SocketIo { tuple: Some(t), .. } = &self.ev.detail else {
            return None;
        };
        Some(Cow::Owned(crate::event::tuple_text(t)))
    }

    /// `render_fd`: `<typechar[proto]>name` of an open fd, `AT_FDCWD`, or
    /// the errno name of a negative value.
    fn fd_resolved(&self, fd: i64) -> Option<Cow<'_, str>> {
        if fd == AT_FDCWD {
            return Some(Cow::Borrowed("AT_FDCWD"));
        }
        if fd < 0 {
            return flags::errno_name(fd).map(Cow::Borrowed);
        }
        let f = self.proc?.fds.get(&fd)?;
        let proto = match f.kind {
            FdKind::Ipv4 | FdKind::Ipv6 => match f.l4proto {
                6 => Some('t'),
                17 => Some('u'),
                1 | 58 => Some('i'),
                255 => Some('r'),
                _ => None,
            },
            _ => None,
        };
        let mut s = String::with_capacity(f.name.len() + 4);
        s.push('<');
        s.push(f.kind.typechar());
        if let Some(c) = proto {
            s.push(c);
        }
        s.push('>');
        s.push_str(&f.name);
        Some(Cow::Owned(s))
    }

    /// The directory a path parameter is relative to (`get_base_dir`): the
    /// working directory for `PT_FSPATH` and for a dirfd of AT_FDCWD, else
    /// the dirfd's path. `None` when it is not known.
    fn base_dir(&self, table: &params::EventParams, ty: ParamType) -> Option<&str> {
        let p = self.proc?;
        let dirfd = match ty {
            ParamType::Fsrelpath(i) => match params::raw(self.ev, table.params.get(i)?.src) {
                Raw::Int(fd) => fd,
                _ => AT_FDCWD,
            },
            _ => AT_FDCWD,
        };
        let dir = if dirfd == AT_FDCWD {
            p.cwd.as_str()
        } else {
            p.fds.get(&dirfd)?.name.as_str()
        };
        (!dir.is_empty()).then_some(dir)
    }

    fn user_name(&self, uid: u32, group: bool) -> Cow<'_, str> {
        let users = &self.state.users;
        let name = if group {
            users.group(uid)
        } else {
            users.user(uid).map(|u| u.name.as_str())
        };
        // uid/gid 0 is root even without a passwd file, as for `user.name`.
        match name {
            Some(n) if !n.is_empty() => Cow::Borrowed(n),
            None if uid == 0 => Cow::Borrowed("root"),
            _ => Cow::Borrowed("<NA>"),
        }
    }

    /// One parameter as libsinsp prints it; `None` when it has no value.
    fn render(&self, table: &params::EventParams, p: &Param) -> Option<Rendered<'_>> {
        let raw = self.value_of(p);
        if matches!(raw, Raw::Missing | Raw::Process(_)) {
            return None;
        }
        let int = match raw {
            Raw::Int(v) => Some(v),
            Raw::UInt(v) => Some(v as i64),
            Raw::Signal(s) => Some(i64::from(s)),
            _ => None,
        };
        let uint = int.map(|v| v as u64);
        Some(match p.ty {
            ParamType::Fd => {
                let fd = int?;
                Rendered {
                    text: Cow::Owned(fd.to_string()),
                    resolved: self.fd_resolved(fd),
                }
            }
            ParamType::Pid => {
                let pid = int?;
                let comm = u32::try_from(pid)
                    .ok()
                    .filter(|t| *t > 0)
                    .and_then(|t| self.state.procs.tgid_of(t))
                    .and_then(|g| self.state.procs.get(g))
                    .map(|pr| Cow::Borrowed(pr.comm.as_str()));
                Rendered {
                    text: Cow::Owned(pid.to_string()),
                    resolved: comm,
                }
            }
            ParamType::Errno => {
                let v = int?;
                Rendered {
                    text: Cow::Owned(v.to_string()),
                    resolved: flags::errno_name(v).map(Cow::Borrowed),
                }
            }
            ParamType::Uid | ParamType::Gid => {
                let v = uint? as u32;
                if v == u32::MAX {
                    Rendered {
                        text: Cow::Borrowed("-1"),
                        resolved: Some(Cow::Borrowed("<NONE>")),
                    }
                } else {
                    Rendered {
                        // libsinsp prints it with %d.
                        text: Cow::Owned((v as i32).to_string()),
                        resolved: Some(self.user_name(v, p.ty == ParamType::Gid)),
                    }
                }
            }
            ParamType::Int32 => {
                let v = int? as i32;
                Rendered::text(number(u64::from(v as u32), Some(i64::from(v)), p.fmt))
            }
            ParamType::Int64 => {
                let v = int?;
                Rendered::text(number(v as u64, Some(v), p.fmt))
            }
            ParamType::Uint8 => Rendered::text(number(uint? & 0xff, None, p.fmt)),
            ParamType::Uint16 => Rendered::text(number(uint? & 0xffff, None, p.fmt)),
            ParamType::Uint32 => Rendered::text(number(uint? & 0xffff_ffff, None, p.fmt)),
            ParamType::Uint64 => Rendered::text(number(uint?, None, p.fmt)),
            ParamType::Charbuf => match raw {
                Raw::Str(s) => Rendered::text(s),
                _ => return None,
            },
            ParamType::Bytebuf => match raw {
                Raw::List([]) => Rendered::text("NULL"),
                Raw::List(items) => Rendered::text(list_text(items)),
                Raw::Str(s) => {
                    let mut out = String::with_capacity(s.len());
                    dotted(&mut out, s);
                    Rendered::text(out)
                }
                _ => return None,
            },
            ParamType::Fspath | ParamType::Fsrelpath(_) => {
                let Raw::Str(s) = raw else { return None };
                // Absolute and empty paths have no resolved form (the path
                // as given is the value); relative ones are joined to their
                // directory and normalized (`concatenate_paths`).
                let resolved = if s.is_empty() || s.starts_with('/') {
                    None
                } else {
                    self.base_dir(table, p.ty)
                        .map(|base| Cow::Owned(path::resolve(base, s)))
                };
                Rendered {
                    text: Cow::Borrowed(s),
                    resolved,
                }
            }
            ParamType::Sockaddr => match raw {
                Raw::Addr(a) => Rendered::text(a.map_or_else(|| "<NA>".into(), sockaddr_text)),
                _ => return None,
            },
            ParamType::Socktuple => {
                Rendered::text(self.tuple_text().unwrap_or(Cow::Borrowed("NULL")))
            }
            ParamType::Flags(table) | ParamType::EnumFlags(table) | ParamType::Mode(table) => {
                let v = (uint? & 0xffff_ffff) as u32;
                let text = match p.ty {
                    ParamType::Mode(_) => number(u64::from(v), None, p.fmt),
                    _ => v.to_string(),
                };
                let resolved = match p.ty {
                    ParamType::EnumFlags(_) => match flags::enum_name(v, table) {
                        Some(n) => Some(Cow::Borrowed(n)),
                        None => {
                            let mut s = String::new();
                            flags::render_enum(&mut s, v, table).then_some(Cow::Owned(s))
                        }
                    },
                    ParamType::Mode(_) => {
                        let mut s = String::new();
                        flags::render_mode(&mut s, v, table).then_some(Cow::Owned(s))
                    }
                    _ => {
                        let mut s = String::new();
                        flags::render_flags(&mut s, v, table).then_some(Cow::Owned(s))
                    }
                };
                Rendered {
                    text: Cow::Owned(text),
                    resolved,
                }
            }
            ParamType::Sigtype => {
                let s = (uint? & 0xff) as u8;
                Rendered {
                    text: Cow::Owned(s.to_string()),
                    resolved: flags::signal_name(s).map(Cow::Borrowed),
                }
            }
            ParamType::Abstime => Rendered::text(abstime_text(uint?)),
            ParamType::PtraceDyn => match raw {
                Raw::Signal(s) => Rendered {
                    text: Cow::Owned(s.to_string()),
                    resolved: flags::signal_name(s).map(Cow::Borrowed),
                },
                _ => Rendered::text(number(uint?, None, Fmt::Hex)),
            },
        })
    }
}

#[cfg(test)]
mod tests;
