//! `stdout_output`: one alert per line on standard output.

use tokio::io::{AsyncWriteExt, BufWriter, Stdout};

use super::worker::{DeliveryError, Sink};

#[derive(Debug)]
pub(crate) struct StdoutSink {
    out: BufWriter<Stdout>,
}

impl StdoutSink {
    pub(crate) fn new() -> Self {
        Self {
            out: BufWriter::new(tokio::io::stdout()),
        }
    }
}

impl Sink for StdoutSink {
    async fn deliver(&mut self, payload: &[u8]) -> Result<(), DeliveryError> {
        self.out.write_all(payload).await?;
        self.out.write_all(b"\n").await?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), DeliveryError> {
        self.out.flush().await?;
        Ok(())
    }

    async fn reopen(&mut self) {}

    async fn close(&mut self) {
        let _ = self.out.flush().await;
    }
}
