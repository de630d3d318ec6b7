//! Loopback TCP: a client connects, sends fixed-size requests and reads
//! equal-size responses; a server thread accepts and echoes. Every
//! connection is new, so connect/accept/close are exercised as much as
//! send/recv (std's TcpStream uses send/recv, i.e. sendto/recvfrom).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use crate::Report;

/// Echoes `messages` requests of `size` bytes per connection, then closes
/// first, so TIME_WAIT sits on the server's side and the client's
/// ephemeral ports are not exhausted over many connections.
fn serve(listener: TcpListener, connections: u64, messages: u32, size: usize) -> Result<()> {
    let mut buf = vec![0u8; size];
    for _ in 0..connections {
        let (mut conn, _) = listener.accept().context("accept")?;
        conn.set_nodelay(true)?;
        for _ in 0..messages {
            conn.read_exact(&mut buf).context("server read")?;
            conn.write_all(&buf).context("server write")?;
        }
    }
    Ok(())
}

pub fn run(connections: u64, messages: u32, size: usize) -> Result<Report> {
    if size == 0 {
        bail!("--size must be at least 1");
    }
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || serve(listener, connections, messages, size));

    let request = vec![0x5au8; size];
    let mut response = vec![0u8; size];
    let mut eof = [0u8; 1];
    let start = Instant::now();
    let client = (|| -> Result<()> {
        for _ in 0..connections {
            let mut conn = TcpStream::connect(addr).context("connect")?;
            conn.set_nodelay(true)?;
            for _ in 0..messages {
                conn.write_all(&request).context("client write")?;
                conn.read_exact(&mut response).context("client read")?;
            }
            // Wait for the server's close (see `serve`).
            if conn.read(&mut eof).context("client read at close")? != 0 {
                bail!("server sent more than it was asked for");
            }
        }
        Ok(())
    })();
    let wall = start.elapsed();
    // On a client error the server may wait in accept forever: do not join
    // it then; exiting ends it.
    client?;
    server
        .join()
        .map_err(|_| anyhow!("server thread panicked"))??;
    Ok(Report::new("net", connections, "connection", wall))
}
