//! Fetches remote input documents (sitemaps, robots.txt, manifests) over http(s).
//!
//! Takes a URL, the input limits and a timeout; returns a reader over the body, capped at `max_fetch_bytes`.
//! One shared blocking `reqwest` client (rustls) serves every fetch. It must never fetch anything but `http(s)`,
//! never send credentials, and never return more bytes than the cap.

use std::io::{self, Read};
use std::sync::OnceLock;
use std::time::Duration;

use crate::config::InputLimits;
use crate::{Error, Result};

/// The error a capped reader raises once its cap is passed (found again with `downcast_ref`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The cap, in bytes.
    pub limit: u64,
    /// What was capped (`"fetched"`, `"decompressed"`).
    pub what: &'static str,
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} bytes {}", self.limit, self.what)
    }
}

impl std::error::Error for LimitExceeded {}

/// If an I/O error is a cap being passed, that cap.
#[must_use]
pub fn limit_exceeded(e: &io::Error) -> Option<LimitExceeded> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<LimitExceeded>())
        .copied()
}

/// A reader that fails with [`LimitExceeded`] rather than yield more than `limit` bytes.
#[derive(Debug)]
pub struct Capped<R> {
    inner: R,
    left: u64,
    cap: LimitExceeded,
}

impl<R: Read> Capped<R> {
    /// Caps `inner` at `limit` bytes.
    pub fn new(inner: R, limit: u64, what: &'static str) -> Self {
        Self {
            inner,
            left: limit,
            cap: LimitExceeded { limit, what },
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Only an error if there is more to read.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(self.cap)),
            };
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn client() -> Result<&'static reqwest::blocking::Client> {
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::blocking::Client::builder()
        .user_agent(concat!("prewarm/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        // Bodies are read raw: a gzipped sitemap stays gzipped and is detected by its magic bytes.
        .build()
        .map_err(|e| Error::Fetch {
            url: String::new(),
            message: format!("cannot build http client: {e}"),
        })?;
    Ok(CLIENT.get_or_init(|| c))
}

/// A URL fit for messages: any `user:password@` is replaced by `(redacted)@`.
#[must_use]
pub fn redact(url: &str) -> String {
    if let Ok(mut u) = url::Url::parse(url) {
        if u.username().is_empty() && u.password().is_none() {
            return u.into();
        }
        let _ = u.set_password(None);
        let _ = u.set_username("");
        return u.as_str().replacen("://", "://(redacted)@", 1);
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(a)) if a > s => format!("{}(redacted){}", &url[..s + 3], &url[a..]),
        _ => url.to_string(),
    }
}

/// Opens a remote document for reading.
///
/// # Errors
/// `Error::Fetch` naming the URL: not http(s), unreachable, timed out, a non-2xx status, or a `Content-Length`
/// over `max_fetch_bytes`. A body that grows past the cap fails the read with [`LimitExceeded`].
pub fn open(url: &str, limits: &InputLimits, timeout: Duration) -> Result<Box<dyn Read + Send>> {
    let fail = |message: String| Error::Fetch {
        url: redact(url),
        message,
    };
    let parsed = url::Url::parse(url).map_err(|e| fail(format!("not a url: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail(format!(
            "scheme {}: only http(s) can be fetched",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(fail("credentials in url".into()));
    }
    let resp = client()?
        .get(parsed)
        .timeout(timeout)
        .send()
        .map_err(|e| fail(describe(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("http status {status}")));
    }
    if let Some(len) = resp.content_length()
        && len > limits.max_fetch_bytes
    {
        return Err(fail(format!(
            "{len} bytes, more than the {} allowed",
            limits.max_fetch_bytes
        )));
    }
    Ok(Box::new(Capped::new(
        resp,
        limits.max_fetch_bytes,
        "fetched",
    )))
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // reqwest's Display includes the URL; ours is already in the error.
    let mut msg = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg.to_lowercase()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A tiny HTTP/1.1 server on 127.0.0.1: `routes` maps a path to (status, body); counts requests.
    pub(crate) struct Server {
        pub(crate) base: String,
        pub(crate) hits: Arc<AtomicUsize>,
    }

    pub(crate) fn serve(routes: Vec<(String, u16, Vec<u8>)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                h.fetch_add(1, Ordering::SeqCst);
                let mut req = Vec::new();
                let mut byte = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => req.push(byte[0]),
                        _ => break,
                    }
                }
                let line = String::from_utf8_lossy(&req);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body) = routes
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .map_or((404, b"not found".to_vec()), |(_, s, b)| (*s, b.clone()));
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        Server { base, hits }
    }

    fn limits(max: u64) -> InputLimits {
        InputLimits {
            max_sitemap_depth: 5,
            max_decompressed_bytes: max,
            max_url_len: 2000,
            max_fetch_bytes: max,
        }
    }

    #[test]
    fn fetches_and_caps() {
        let s = serve(vec![
            ("/ok".into(), 200, b"hello".to_vec()),
            ("/big".into(), 200, vec![b'x'; 100]),
        ]);
        let mut body = String::new();
        open(
            &format!("{}/ok", s.base),
            &limits(10),
            Duration::from_secs(5),
        )
        .unwrap()
        .read_to_string(&mut body)
        .unwrap();
        assert_eq!(body, "hello");
        let Err(Error::Fetch { url, message }) = open(
            &format!("{}/big", s.base),
            &limits(10),
            Duration::from_secs(5),
        ) else {
            panic!("big body accepted")
        };
        assert!(
            url.ends_with("/big") && message.contains("more than the 10 allowed"),
            "{message}"
        );
        let Err(Error::Fetch { message, .. }) = open(
            &format!("{}/missing", s.base),
            &limits(10),
            Duration::from_secs(5),
        ) else {
            panic!("404 accepted")
        };
        assert!(message.contains("404"), "{message}");
        assert_eq!(s.hits.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn refuses_other_schemes() {
        for u in ["ftp://127.0.0.1/x", "file:///etc/passwd", "relative"] {
            assert!(
                matches!(
                    open(u, &limits(10), Duration::from_secs(1)),
                    Err(Error::Fetch { .. })
                ),
                "{u}"
            );
        }
    }

    #[test]
    fn errors_name_the_url_without_credentials() {
        let Err(Error::Fetch { url, message }) = open(
            "https://user:hunter2@127.0.0.1:9/x",
            &limits(10),
            Duration::from_secs(1),
        ) else {
            panic!("credentials accepted")
        };
        assert_eq!(url, "https://(redacted)@127.0.0.1:9/x");
        assert!(!message.contains("hunter2"));
        assert_eq!(redact("http://a:b@[bad/x"), "http://(redacted)@[bad/x");
        assert_eq!(redact("https://h.example/p"), "https://h.example/p");
        // Nothing listens: a clear connect error naming the URL.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let u = format!("http://127.0.0.1:{port}/gone.xml");
        let Err(Error::Fetch { url, message }) = open(&u, &limits(10), Duration::from_secs(5))
        else {
            panic!("connected to nothing")
        };
        assert_eq!(url, u);
        assert!(message.starts_with("cannot connect"), "{message}");
    }

    #[test]
    fn capped_reader() {
        let mut out = Vec::new();
        assert!(
            Capped::new(&b"12345"[..], 5, "fetched")
                .read_to_end(&mut out)
                .is_ok()
        );
        let err = Capped::new(&b"123456"[..], 5, "decompressed")
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(
            limit_exceeded(&err),
            Some(LimitExceeded {
                limit: 5,
                what: "decompressed"
            })
        );
    }
}
