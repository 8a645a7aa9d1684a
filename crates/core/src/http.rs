//! The one HTTP client every backend uses, and the rules every answer goes through: redirects
//! are never followed, bodies are capped, transport failures are classified once.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};

use crate::{Error, ErrorKind, Result};

/// The default cap on an answer body: far above any real page (a 100-phone GeeLark page is
/// ~60 KiB), far below what could exhaust memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Transport settings shared by every vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// The whole exchange, body included (a slow body cannot hang a call past it).
    pub timeout: Duration,
    /// Establishing the connection.
    pub connect_timeout: Duration,
    /// The largest answer body accepted.
    pub max_body_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl HttpOptions {
    /// Sets the whole-exchange timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Sets the body cap (at least 1 KiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n.max(1024);
        self
    }

    /// A `reqwest` client builder with these settings and **no redirects**: a 3xx would carry
    /// the credentials (`X-Auth-Token`, signed headers, a password body) to another host, and
    /// re-send a state-changing POST. Proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` are
    /// honoured (reqwest's default).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("cloudphone/", env!("CARGO_PKG_VERSION")))
    }

    /// The client, built.
    pub fn client(&self) -> Result<reqwest::Client> {
        self.client_builder().build().map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("cannot build the HTTP client: {e}"),
            )
        })
    }
}

/// An answer read under the rules: not a redirect, body within the cap.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// A header as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The vendor's `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.header(RETRY_AFTER.as_str())?)
    }
}

/// Sends `request` and reads its answer: a 3xx is [`Error::redirect`], a body over `max_body`
/// bytes is [`Error::body_too_large`] (stopped as soon as the cap is passed, whatever
/// `Content-Length` claims), and a transport failure is classified by [`transport_error`].
/// Errors are not yet labelled with a vendor: the caller does that.
pub async fn send(request: reqwest::RequestBuilder, max_body: usize) -> Result<Answer> {
    let mut resp = request.send().await.map_err(transport_error)?;
    let status = resp.status();
    if status.is_redirection() {
        let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
        return Err(Error::redirect(status.as_u16(), location));
    }
    if resp.content_length().is_some_and(|n| n > max_body as u64) {
        return Err(Error::body_too_large(max_body));
    }
    let headers = std::mem::take(resp.headers_mut());
    // Within the cap here (checked above): the whole body's size when it is announced.
    let announced = resp.content_length().map_or(0, |n| n as usize);
    // A body that arrives in one chunk (most answers) is kept as it came, not copied; a body
    // in several is gathered in one buffer sized for it.
    let mut first: Option<Bytes> = None;
    let mut gathered: Vec<u8> = Vec::new();
    let mut len = 0;
    while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
        len += chunk.len();
        if len > max_body {
            return Err(Error::body_too_large(max_body));
        }
        if first.is_none() && gathered.is_empty() {
            first = Some(chunk);
            continue;
        }
        if let Some(earlier) = first.take() {
            gathered.reserve(announced.max(len));
            gathered.extend_from_slice(&earlier);
        }
        gathered.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status: status.as_u16(),
        headers,
        body: first.unwrap_or_else(|| Bytes::from(gathered)),
    })
}

/// Classifies a request that got no usable HTTP answer (see [`Error::transport`]); a failure
/// to reach a configured proxy names the proxy (host and port only: its URL may hold a
/// password).
pub fn transport_error(e: reqwest::Error) -> Error {
    let (connect, timeout) = (e.is_connect(), e.is_timeout());
    let via = if connect {
        e.url()
            .and_then(proxy_for)
            .map(|p| format!(" through proxy {p}"))
    } else {
        None
    }
    .unwrap_or_default();
    let message = if connect {
        format!("could not connect{via}: {e}")
    } else if timeout {
        format!("request timed out: {e}")
    } else {
        format!("transport failure: {e}")
    };
    Error::transport(connect, timeout, message, e)
}

/// The proxy (host:port) the environment sends `url` through, as reqwest picks it.
fn proxy_for(url: &reqwest::Url) -> Option<String> {
    let env = |k: &str| {
        std::env::var(k)
            .or_else(|_| std::env::var(k.to_ascii_lowercase()))
            .ok()
            .filter(|v| !v.is_empty())
    };
    let host = url.host_str()?;
    if let Some(no) = env("NO_PROXY") {
        let bypass = no.split(',').map(str::trim).any(|n| {
            n == "*"
                || (!n.is_empty()
                    && (host == n.trim_start_matches('.')
                        || host.ends_with(&format!(".{}", n.trim_start_matches('.')))))
        });
        if bypass {
            return None;
        }
    }
    let proxy = match url.scheme() {
        "https" => env("HTTPS_PROXY"),
        _ => env("HTTP_PROXY"),
    }
    .or_else(|| env("ALL_PROXY"))?;
    let parsed = reqwest::Url::parse(&proxy)
        .or_else(|_| reqwest::Url::parse(&format!("http://{proxy}")))
        .ok()?;
    Some(format!(
        "{}:{}",
        parsed.host_str()?,
        parsed.port_or_known_default().unwrap_or(80)
    ))
}

/// A `Retry-After` value: delay-seconds or an HTTP-date (a date in the past means now).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Whether `host` is a loopback name or address (plain HTTP to it needs no warning).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn a_redirect_names_the_status_and_host_only() {
        let e = Error::redirect(302, Some("https://user:pw@evil.example:8443/steal?x=1"));
        let s = e.to_string();
        assert!(s.contains("302") && s.contains("evil.example:8443"), "{s}");
        assert!(!s.contains("pw") && !s.contains("steal"), "{s}");
        assert!(e.is_not_applied() && !e.is_temporary());
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "127.9.9.9", "[::1]", "::1"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1", "localhost.example.com"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    /// One loopback connection answered with `parts`, written apart (so that each arrives as
    /// a chunk of its own), after the request head is read.
    async fn answering(parts: Vec<Vec<u8>>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4096];
            let _ = tcp.read(&mut head).await;
            for part in parts {
                if tcp.write_all(&part).await.is_err() {
                    return;
                }
                tcp.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        format!("http://{addr}/")
    }

    fn chunked(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut parts = vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec()];
        for c in chunks {
            let mut p = format!("{:x}\r\n", c.len()).into_bytes();
            p.extend_from_slice(c);
            p.extend_from_slice(b"\r\n");
            parts.push(p);
        }
        parts.push(b"0\r\n\r\n".to_vec());
        parts
    }

    #[tokio::test]
    async fn a_body_in_chunks_is_gathered_whole_and_one_in_one_piece_is_kept() {
        let client = HttpOptions::default().client().unwrap();
        let url = answering(chunked(&[b"ab", b"cd", b"ef"])).await;
        let answer = send(client.get(url), 1024).await.unwrap();
        assert_eq!(&answer.body[..], b"abcdef");

        let url = answering(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec()
        ])
        .await;
        let answer = send(client.get(url), 1024).await.unwrap();
        assert_eq!(&answer.body[..], b"hello");
    }

    #[tokio::test]
    async fn a_body_in_chunks_is_stopped_at_the_cap() {
        let client = HttpOptions::default().client().unwrap();
        let big = [b'x'; 600];
        let url = answering(chunked(&[&big, &big, &big])).await;
        let e = send(client.get(url), 1024).await.unwrap_err();
        assert_eq!(e.to_string(), Error::body_too_large(1024).to_string());
        // Exactly at the cap is accepted.
        let url = answering(chunked(&[&big, &big[..424]])).await;
        let answer = send(client.get(url), 1024).await.unwrap();
        assert_eq!(answer.body.len(), 1024);
    }
}
