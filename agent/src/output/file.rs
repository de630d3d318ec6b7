//! `file_output`: one alert per line appended to a file, with optional
//! size-based rotation and reopen on SIGUSR1.

use std::io;
use std::path::{Path, PathBuf};

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::worker::{DeliveryError, Sink};

#[derive(Debug)]
pub(crate) struct FileSink {
    path: PathBuf,
    keep_alive: bool,
    /// `(max_bytes, keep)`.
    rotate: Option<(u64, u32)>,
    file: Option<BufWriter<File>>,
    /// Size of the current file, including buffered bytes.
    size: u64,
}

/// Makes the writes of `f` blocking again after a non-blocking open.
fn clear_nonblock(f: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on an fd `f` owns, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl FileSink {
    pub(crate) fn new(path: PathBuf, keep_alive: bool, rotate: Option<(u64, u32)>) -> Self {
        Self {
            path,
            keep_alive,
            rotate,
            file: None,
            size: 0,
        }
    }

    async fn open(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            // Non-blocking open, so a FIFO without a reader is an error (the
            // alert is retried) instead of a task stuck in open(2); writes
            // then block as on any pipe (the shutdown deadline bounds them).
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.path)
                .await?;
            let std = f.into_std().await;
            clear_nonblock(&std)?;
            let f = File::from_std(std);
            self.size = f.metadata().await?.len();
            self.file = Some(BufWriter::with_capacity(64 * 1024, f));
        }
        match self.file.as_mut() {
            Some(f) => Ok(f),
            None => Err(io::Error::other("file not open")),
        }
    }

    /// Flushes and closes; `sync` also waits for the disk (shutdown only:
    /// closing for a reopen or rotation needs the page cache, not the disk).
    async fn close_file(&mut self, sync: bool) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
            let f = f.into_inner();
            if sync {
                f.sync_data().await?;
            }
        }
        Ok(())
    }

    /// `path` -> `path.1` -> ... -> `path.keep`; the oldest is overwritten.
    async fn rotate_files(&mut self, keep: u32) -> io::Result<()> {
        self.close_file(false).await?;
        for n in (1..keep).rev() {
            match tokio::fs::rename(numbered(&self.path, n), numbered(&self.path, n + 1)).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        tokio::fs::rename(&self.path, numbered(&self.path, 1)).await?;
        self.size = 0;
        Ok(())
    }
}

impl Sink for FileSink {
    async fn deliver(&mut self, payload: &[u8]) -> Result<(), DeliveryError> {
        self.open().await?;
        let line = payload.len() as u64 + 1;
        if let Some((max_bytes, keep)) = self.rotate
            && self.size > 0
            && self.size + line > max_bytes
        {
            // Rotate on a line boundary: a line is never split across files.
            self.rotate_files(keep).await?;
        }
        let f = self.open().await?;
        f.write_all(payload).await?;
        f.write_all(b"\n").await?;
        self.size += line;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), DeliveryError> {
        if self.keep_alive {
            if let Some(f) = self.file.as_mut() {
                f.flush().await?;
            }
        } else {
            // Falco reopens the file for each alert; closing whenever the
            // queue runs empty picks up a moved file just as well.
            self.close_file(false).await?;
        }
        Ok(())
    }

    async fn reopen(&mut self) {
        if let Err(e) = self.close_file(false).await {
            log::warn!("output file: closing {} failed: {e}", self.path.display());
        }
    }

    async fn close(&mut self) {
        if let Err(e) = self.close_file(true).await {
            log::warn!("output file: closing {} failed: {e}", self.path.display());
        }
    }
}
