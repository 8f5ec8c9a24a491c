//! A small keep-alive HTTP/1.1 client over a Tokio socket, and signed requests.

use std::io::Write as _;
use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use sealroom_tests::relay::Device;

use crate::*;

pub(crate) struct Conn {
    pub(crate) addr: SocketAddr,
    pub(crate) io: Option<BufReader<TcpStream>>,
    pub(crate) out: Vec<u8>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Conn {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            io: None,
            out: Vec::with_capacity(4096),
        }
    }

    /// Sends one request on the kept-alive connection (reconnecting when needed) and reads the
    /// answer. On an I/O error the connection is dropped, to be reopened by the next request.
    pub(crate) async fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        let result = self.send_inner(method, target, headers, body).await;
        if result.is_err() {
            self.io = None;
        }
        result
    }

    pub(crate) async fn send_inner(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        if self.io.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.io = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        let Some(io) = self.io.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        self.out.clear();
        // The signed authority as `Host` (with several instances, each is reached under the
        // first one's authority, as behind a load balancer).
        match AUTHORITY.get() {
            Some(host) => {
                let _ = write!(self.out, "{method} {target} HTTP/1.1\r\nhost: {host}\r\n");
            }
            None => {
                let _ = write!(
                    self.out,
                    "{method} {target} HTTP/1.1\r\nhost: {}\r\n",
                    self.addr
                );
            }
        }
        let _ = write!(self.out, "content-length: {}\r\n", body.len());
        for (k, v) in headers {
            let _ = write!(self.out, "{k}: {v}\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        if body.len() <= 16 * 1024 {
            self.out.extend_from_slice(body);
            io.get_mut().write_all(&self.out).await?;
        } else {
            io.get_mut().write_all(&self.out).await?;
            io.get_mut().write_all(body).await?;
        }
        read_answer(io, method == "HEAD").await
    }
}

pub(crate) async fn read_answer(
    io: &mut BufReader<TcpStream>,
    head_only: bool,
) -> std::io::Result<Answer> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let mut line = String::new();
    if io.read_line(&mut line).await? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut headers = Vec::new();
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        line.clear();
        if io.read_line(&mut line).await? == 0 {
            return Err(bad("truncated head"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(bad("bad header line"));
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().to_owned();
        match k.as_str() {
            "content-length" => length = v.parse().ok(),
            "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
            "connection" => close = v.eq_ignore_ascii_case("close"),
            _ => {}
        }
        headers.push((k, v));
    }
    let mut body = Vec::new();
    let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    if no_body {
    } else if chunked {
        loop {
            line.clear();
            io.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                line.clear();
                io.read_line(&mut line).await?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            io.read_exact(&mut body[start..]).await?;
            let mut crlf = [0u8; 2];
            io.read_exact(&mut crlf).await?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        io.read_exact(&mut body).await?;
    } else {
        io.read_to_end(&mut body).await?;
        close = true;
    }
    if close {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!("server closed the connection after status {status}"),
        ));
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Signs with the library's signing function (through the harness's [`Device::sign`]) and
/// sends. `target` may carry a `?query`.
pub(crate) async fn signed(
    conn: &mut Conn,
    device: &Device,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let covered: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let auth = sign(device, method, path, query, &covered, body);
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    headers.extend(auth.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    conn.send(method, target, &headers, body).await
}

// ---------------------------------------------------------------------------------------------
