//! `program_output`: alerts written, one per line, to the standard input of a
//! shell command (Falco uses `popen`, i.e. `/bin/sh -c`).

use std::io;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};

use super::worker::{DeliveryError, Sink};

#[derive(Debug)]
pub(crate) struct ProgramSink {
    program: String,
    keep_alive: bool,
    timeout: Duration,
    running: Option<(GroupChild, ChildStdin)>,
}

/// The program's shell, leader of its own process group: dropped before it
/// was waited for (a timeout, an output task aborted at the shutdown
/// deadline), the whole group is killed, so nothing the shell started
/// outlives the agent.
#[derive(Debug)]
struct GroupChild(Child);

impl GroupChild {
    /// SIGKILL to the group (the shell and what it started).
    fn kill_group(&self) {
        if let Some(pid) = self.0.id() {
            // SAFETY: kill(2) with integer arguments; the group is the child's own.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
    }
}

impl std::ops::Deref for GroupChild {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for GroupChild {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        // `id()` is None once the child was waited for: nothing to kill.
        self.kill_group();
    }
}

impl ProgramSink {
    pub(crate) fn new(program: String, keep_alive: bool, timeout: Duration) -> Self {
        Self {
            program,
            keep_alive,
            timeout,
            running: None,
        }
    }

    fn spawn(&self) -> io::Result<(GroupChild, ChildStdin)> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.program)
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            // Its own process group, so what the shell started goes with it
            // (kill_group); killed if the sink is dropped while it runs
            // (an output task aborted at the shutdown deadline).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("child has no stdin"))?;
        Ok((GroupChild(child), stdin))
    }

    /// Closes the program's stdin and waits for it to exit, up to the timeout.
    async fn finish(&mut self) -> Result<(), DeliveryError> {
        let Some((mut child, stdin)) = self.running.take() else {
            return Ok(());
        };
        drop(stdin);
        match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(status) => {
                let status = status?;
                if status.success() {
                    Ok(())
                } else {
                    Err(DeliveryError::ProgramFailed(status))
                }
            }
            Err(_) => {
                child.kill_group();
                let _ = child.start_kill();
                Err(DeliveryError::Timeout(self.timeout))
            }
        }
    }

    fn line(payload: &[u8]) -> Vec<u8> {
        let mut line = Vec::with_capacity(payload.len() + 1);
        line.extend_from_slice(payload);
        line.push(b'\n');
        line
    }
}

impl Sink for ProgramSink {
    async fn deliver(&mut self, payload: &[u8]) -> Result<(), DeliveryError> {
        if !self.keep_alive {
            // Falco: started for each alert, and waited for.
            self.running = Some(self.spawn()?);
            if let Some((_, stdin)) = self.running.as_mut()
                && let Err(e) = stdin.write_all(&Self::line(payload)).await
            {
                let _ = self.finish().await;
                return Err(e.into());
            }
            return self.finish().await;
        }
        if let Some((child, _)) = self.running.as_mut()
            && let Some(status) = child.try_wait()?
        {
            log::warn!(
                "output program: {:?} exited ({status}); restarting it",
                self.program
            );
            self.running = None;
        }
        if self.running.is_none() {
            self.running = Some(self.spawn()?);
        }
        let result = match self.running.as_mut() {
            Some((_, stdin)) => stdin.write_all(&Self::line(payload)).await,
            None => Err(io::Error::other("program not running")),
        };
        if let Err(e) = result {
            // Typically EPIPE: the program exited. The retry starts it again.
            if let Some((mut child, _)) = self.running.take() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            return Err(e.into());
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), DeliveryError> {
        if let Some((_, stdin)) = self.running.as_mut() {
            stdin.flush().await?;
        }
        Ok(())
    }

    async fn reopen(&mut self) {
        // Falco restarts the program on SIGUSR1.
        if let Err(e) = self.finish().await {
            log::warn!(
                "output program: {:?} did not exit cleanly: {e}",
                self.program
            );
        }
    }

    async fn close(&mut self) {
        if let Err(e) = self.finish().await {
            log::warn!(
                "output program: {:?} did not exit cleanly: {e}",
                self.program
            );
        }
    }
}
