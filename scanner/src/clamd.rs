//! A client of clamd's `INSTREAM` command (clamd(8), "zINSTREAM"): the bytes go to clamd in
//! chunks as they arrive, each a `u32` big-endian length and the bytes, ended by a zero
//! length; clamd answers `stream: OK`, `stream: <signature> FOUND` or `... ERROR`. Nothing is
//! buffered here beyond one chunk.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

/// Where clamd listens: `host:port` (TCP) or an absolute path (its local socket).
#[derive(Debug, Clone)]
pub(crate) struct ClamdAddr(pub(crate) String);

/// clamd's answer to a whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanResult {
    /// `stream: OK`.
    Clean,
    /// `stream: <name> FOUND`.
    Found(String),
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// Most bytes of clamd's answer read.
const MAX_REPLY: usize = 4096;

async fn connect(addr: &ClamdAddr) -> io::Result<Box<dyn Conn>> {
    #[cfg(unix)]
    {
        if addr.0.starts_with('/') {
            return Ok(Box::new(UnixStream::connect(&addr.0).await?));
        }
    }
    Ok(Box::new(TcpStream::connect(&addr.0).await?))
}

/// `zPING`: whether clamd answers `PONG`.
pub(crate) async fn ping(addr: &ClamdAddr) -> io::Result<()> {
    let mut conn = connect(addr).await?;
    conn.write_all(b"zPING\0").await?;
    let reply = read_reply(&mut conn).await?;
    if reply == "PONG" {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "clamd answered {reply:?} to PING"
        )))
    }
}

/// One `INSTREAM` session: feed it with [`Stream::send`], end with [`Stream::finish`].
pub(crate) struct Stream {
    conn: Box<dyn Conn>,
}

impl Stream {
    /// Opens a session.
    pub(crate) async fn start(addr: &ClamdAddr) -> io::Result<Self> {
        let mut conn = connect(addr).await?;
        conn.write_all(b"zINSTREAM\0").await?;
        Ok(Self { conn })
    }

    /// Sends the next bytes (in pieces of at most 1 MiB each).
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        for piece in bytes.chunks(1 << 20) {
            let len = u32::try_from(piece.len()).map_err(io::Error::other)?;
            self.conn.write_all(&len.to_be_bytes()).await?;
            self.conn.write_all(piece).await?;
        }
        Ok(())
    }

    /// Ends the stream and reads the verdict.
    pub(crate) async fn finish(mut self) -> io::Result<ScanResult> {
        self.conn.write_all(&0u32.to_be_bytes()).await?;
        self.conn.flush().await?;
        parse(&read_reply(&mut self.conn).await?)
    }
}

async fn read_reply(conn: &mut Box<dyn Conn>) -> io::Result<String> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match conn.read(&mut byte).await? {
            0 => break,
            _ if byte[0] == 0 => break,
            _ => out.push(byte[0]),
        }
        if out.len() > MAX_REPLY {
            return Err(io::Error::other("clamd's answer is too long"));
        }
    }
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}

/// Parses an `INSTREAM` answer.
fn parse(reply: &str) -> io::Result<ScanResult> {
    let body = reply
        .strip_prefix("stream:")
        .map(str::trim)
        .unwrap_or(reply);
    if body == "OK" {
        Ok(ScanResult::Clean)
    } else if let Some(name) = body.strip_suffix(" FOUND") {
        Ok(ScanResult::Found(name.trim().to_owned()))
    } else {
        Err(io::Error::other(format!("clamd: {reply}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(parse("stream: OK").ok(), Some(ScanResult::Clean));
        assert_eq!(
            parse("stream: Sealroom.Test.EICAR.UNOFFICIAL FOUND").ok(),
            Some(ScanResult::Found("Sealroom.Test.EICAR.UNOFFICIAL".into()))
        );
        assert!(parse("INSTREAM size limit exceeded. ERROR").is_err());
        assert!(parse("").is_err());
    }
}
