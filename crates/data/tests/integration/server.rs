//! A small, real HTTP/1.1 server on 127.0.0.1 for download tests.
//!
//! It serves files from memory, honours `Range: bytes=N-` with `206`, and can
//! misbehave per file (truncate a body, ignore `Range`, serve other bytes).
//! Each connection is answered once and closed. The accept loop stops when
//! the [`Server`] is dropped, or after [`LIFETIME`] whatever happens.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Hard limit on how long a server accepts connections.
pub const LIFETIME: Duration = Duration::from_secs(120);

/// How the server answers for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Correct answers, `Range` honoured.
    Normal,
    /// The first response sends half its body, then closes the connection.
    TruncateOnce,
    /// Every response sends half its body, then closes the connection.
    TruncateAlways,
    /// Like `TruncateOnce`, but `Range` is ignored (always `200`, full body).
    TruncateOnceIgnoreRange,
    /// Correct bytes, but no `Content-Length`: the body is streamed until the
    /// connection closes (so a client learns its size only by reading it).
    Unannounced,
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request path, e.g. `/train-labels-idx1-ubyte.gz`.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
}

/// What the server serves: bytes and behaviour per path.
type Routes = HashMap<String, (Arc<Vec<u8>>, Behaviour)>;

/// A running server; dropping it stops it.
pub struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Request>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts serving `files` (name without leading `/` -> bytes, behaviour).
    pub fn start(files: Vec<(String, Vec<u8>, Behaviour)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Routes> = Arc::new(
            files
                .into_iter()
                .map(|(name, bytes, behaviour)| (format!("/{name}"), (Arc::new(bytes), behaviour)))
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || accept_loop(listener, routes, stop, log))
        };
        Server {
            port,
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// The requests received for `name`.
    pub fn requests_for(&self, name: &str) -> Vec<Request> {
        let path = format!("/{name}");
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    routes: Arc<Routes>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Request>>>,
) {
    let deadline = Instant::now() + LIFETIME;
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let (routes, log) = (routes.clone(), log.clone());
                handlers.push(std::thread::spawn(move || {
                    // A failed write just means the client went away.
                    let _ = handle(stream, &routes, &log);
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept failed: {e}"),
        }
    }
    for handler in handlers {
        let _ = handler.join();
    }
}

fn handle(stream: TcpStream, routes: &Routes, log: &Mutex<Vec<Request>>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    let seen_before = {
        let mut log = log.lock().unwrap();
        let seen = log.iter().any(|r| r.path == path);
        log.push(Request {
            path: path.clone(),
            range: range.clone(),
        });
        seen
    };

    let mut stream = stream;
    let Some((bytes, behaviour)) = routes.get(&path) else {
        return respond(&mut stream, "404 Not Found", &[], b"not found", false);
    };
    let honour_range = *behaviour != Behaviour::TruncateOnceIgnoreRange;
    let start = match range.as_deref().and_then(parse_range) {
        Some(start) if honour_range => start,
        _ => 0,
    };
    let truncate = match behaviour {
        Behaviour::Normal | Behaviour::Unannounced => false,
        Behaviour::TruncateAlways => true,
        Behaviour::TruncateOnce | Behaviour::TruncateOnceIgnoreRange => !seen_before,
    };
    let len = bytes.len();
    if start >= len {
        let header = format!("Content-Range: bytes */{len}");
        return respond(
            &mut stream,
            "416 Range Not Satisfiable",
            &[header],
            b"",
            false,
        );
    }
    if start > 0 {
        let header = format!("Content-Range: bytes {start}-{}/{len}", len - 1);
        respond(
            &mut stream,
            "206 Partial Content",
            &[header],
            &bytes[start..],
            truncate,
        )
    } else if *behaviour == Behaviour::Unannounced {
        stream_unannounced(&mut stream, bytes)
    } else {
        respond(&mut stream, "200 OK", &[], bytes, truncate)
    }
}

/// Answers `200` without a `Content-Length` and streams `body` in 64 KiB
/// pieces until it is sent or the client hangs up.
fn stream_unannounced(stream: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
    )?;
    for piece in body.chunks(1 << 16) {
        stream.write_all(piece)?;
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

/// The start of a `bytes=N-` range.
fn parse_range(value: &str) -> Option<usize> {
    value
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// Writes a response announcing the full body length; with `truncate`,
/// only half the body is sent before the connection is closed.
fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[String],
    body: &[u8],
    truncate: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n",
        body.len()
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let sent = if truncate { body.len() / 2 } else { body.len() };
    stream.write_all(&body[..sent])?;
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}
