//! A small HTTP/1.1 server on 127.0.0.1 that records every request and answers as a test
//! says — including in ways no well-behaved server would: cutting the connection after reading
//! the request, never answering, streaming a body without a length.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as it reached the server.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The whole request as text: request line, headers and body.
    pub fn text(&self) -> String {
        let mut s = format!("{} {}\n", self.method, self.target);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push_str(&self.body_text());
        s
    }

    pub fn is(&self, method: &str, path_ends_with: &str) -> bool {
        self.method == method && self.path().ends_with(path_ends_with)
    }
}

/// How the server answers one request.
pub enum Reply {
    /// A complete answer with these headers (Content-Length is added).
    With(u16, Vec<(String, String)>, Vec<u8>),
    /// These bytes verbatim, then the connection is closed.
    Raw(Vec<u8>),
    /// The connection is dropped without a byte of answer.
    Cut,
    /// No answer, ever (the connection stays open).
    Hold,
}

pub fn json(status: u16, body: impl Into<String>) -> Reply {
    Reply::With(
        status,
        vec![("Content-Type".into(), "application/json".into())],
        body.into().into_bytes(),
    )
}

/// A successful IAM login handing out `token`.
pub fn iam_ok(token: &str) -> Reply {
    Reply::With(
        201,
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Subject-Token".into(), token.into()),
        ],
        br#"{"token":{"expires_at":"2099-01-01T00:00:00.000000Z"}}"#.to_vec(),
    )
}

#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:port`, as a redirect error should name it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, pred: impl Fn(&Req) -> bool) -> usize {
        self.log.lock().unwrap().iter().filter(|r| pred(r)).count()
    }

    pub fn total(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

/// Starts a server; `handler` gets each request and its index (0-based, in arrival order over
/// every connection). Requests are recorded before the handler runs.
pub async fn serve<F, Fut>(handler: F) -> Server
where
    F: Fn(Req, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Arc<Mutex<Vec<Req>>> = Arc::default();
    let handler = Arc::new(handler);
    let counter = Arc::new(AtomicUsize::new(0));
    let server = Server {
        addr,
        log: log.clone(),
    };
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (log, handler, counter) = (log.clone(), handler.clone(), counter.clone());
            tokio::spawn(async move {
                let _ = connection(sock, log, handler, counter).await;
            });
        }
    });
    server
}

async fn connection<F, Fut>(
    mut sock: TcpStream,
    log: Arc<Mutex<Vec<Req>>>,
    handler: Arc<F>,
    counter: Arc<AtomicUsize>,
) -> std::io::Result<()>
where
    F: Fn(Req, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let Some(req) = read_request(&mut sock, &mut buf).await? else {
            return Ok(());
        };
        let n = counter.fetch_add(1, Ordering::SeqCst);
        log.lock().unwrap().push(req.clone());
        match handler(req, n).await {
            Reply::With(status, headers, body) => {
                let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                sock.write_all(head.as_bytes()).await?;
                sock.write_all(&body).await?;
            }
            Reply::Raw(bytes) => {
                sock.write_all(&bytes).await?;
                sock.shutdown().await?;
                return Ok(());
            }
            Reply::Cut => return Ok(()),
            Reply::Hold => {
                std::future::pending::<()>().await;
            }
        }
    }
}

async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<Req>> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buf.len() < body_start + len {
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + len].to_vec();
    buf.drain(..body_start + len);
    Ok(Some(Req {
        method,
        target,
        headers,
        body,
    }))
}
