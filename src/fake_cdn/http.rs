//! A minimal HTTP/1.1 reader and writer for the fake CDN, on plain `std::net` streams.
//!
//! Takes a buffered TCP stream, returns one parsed [`Request`] at a time (keep-alive is the HTTP/1.1 default) and
//! writes [`Response`]s with a `Content-Length`. Bodies must be `Content-Length` framed: a chunked request is
//! answered with 411 and the connection closed. It never panics on malformed input and never reads more than
//! [`MAX_HEAD`] bytes of head or [`MAX_BODY`] bytes of body.

use std::io::{self, BufRead, Read, Write};

/// Longest request head (request line + headers) accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted (Tencent's documented POST limit is 1 MB; a little headroom for form framing).
pub(crate) const MAX_BODY: usize = 2 * 1024 * 1024;

/// One parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// `GET`, `POST`, … as sent.
    pub(crate) method: String,
    /// The path part of the target, e.g. `/v2/index.php`.
    pub(crate) path: String,
    /// The raw query string after `?` (still percent-encoded), `""` when none.
    pub(crate) query: String,
    /// Headers in the order received; names as sent.
    pub(crate) headers: Vec<(String, String)>,
    /// The body bytes.
    pub(crate) body: Vec<u8>,
    /// Whether the client wants the connection kept open.
    pub(crate) keep_alive: bool,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request could not be read; answered with `status` and the connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRequest {
    /// HTTP status to answer with.
    pub(crate) status: u16,
    /// Plain-text explanation.
    pub(crate) message: String,
}

fn bad(status: u16, message: impl Into<String>) -> BadRequest {
    BadRequest {
        status,
        message: message.into(),
    }
}

/// Reads one request. `Ok(None)` = the client closed the connection cleanly before a new request.
///
/// # Errors
/// An I/O error on the socket (the caller drops the connection).
pub(crate) fn read_request<R: BufRead>(
    reader: &mut R,
) -> io::Result<Option<Result<Request, BadRequest>>> {
    let mut head = Vec::new();
    // Read lines until the blank line that ends the head.
    loop {
        let mut line = Vec::new();
        let n = reader
            .by_ref()
            .take((MAX_HEAD + 1 - head.len().min(MAX_HEAD)) as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Ok(Some(Err(bad(
                400,
                "connection closed inside the request head",
            ))));
        }
        if head.is_empty() && (line == b"\r\n" || line == b"\n") {
            // Tolerate stray blank lines between requests (RFC 9112 §2.2).
            continue;
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Ok(Some(Err(bad(431, "request head too large"))));
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !line.ends_with(b"\n") {
            return Ok(Some(Err(bad(400, "request head line not terminated"))));
        }
    }
    let Ok(head) = std::str::from_utf8(&head) else {
        return Ok(Some(Err(bad(400, "request head is not valid utf-8"))));
    };
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(Some(Err(bad(
            400,
            format!("malformed request line {request_line:?}"),
        ))));
    };
    if !version.starts_with("HTTP/1.") {
        return Ok(Some(Err(bad(
            505,
            format!("unsupported protocol version {version:?}"),
        ))));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Ok(Some(Err(bad(
                400,
                format!("malformed header line {line:?}"),
            ))));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Ok(Some(Err(bad(
                400,
                format!("malformed header name {name:?}"),
            ))));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v)
    };
    if find("transfer-encoding").is_some_and(|v| !v.eq_ignore_ascii_case("identity")) {
        return Ok(Some(Err(bad(
            411,
            "chunked bodies are not supported: send a content-length",
        ))));
    }
    let length = match find("content-length") {
        None => 0,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= MAX_BODY => n,
            Ok(_) => {
                return Ok(Some(Err(bad(
                    413,
                    format!("body larger than {MAX_BODY} bytes"),
                ))));
            }
            Err(_) => return Ok(Some(Err(bad(400, format!("bad content-length {v:?}"))))),
        },
    };
    let connection = find("connection")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    Ok(Some(Ok(Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body,
        keep_alive,
    })))
}

/// A response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// HTTP status.
    pub(crate) status: u16,
    /// `Content-Type` value (omitted when empty).
    pub(crate) content_type: &'static str,
    /// Extra headers.
    pub(crate) extra: Vec<(&'static str, String)>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A JSON response with status 200.
    pub(crate) fn json(body: String) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            extra: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// A response with an HTML body.
    pub(crate) fn html(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            extra: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// A plain-text response.
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            extra: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// The head (status line and headers, ending with the blank line) for a body of `len` bytes.
    pub(crate) fn head(&self, len: usize, keep_alive: bool) -> String {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        if !self.content_type.is_empty() {
            head.push_str(&format!("Content-Type: {}\r\n", self.content_type));
        }
        head.push_str(&format!("Content-Length: {len}\r\n"));
        for (name, value) in &self.extra {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(if keep_alive {
            "Connection: keep-alive\r\n"
        } else {
            "Connection: close\r\n"
        });
        head.push_str("Server: prewarm-fake-cdn\r\n\r\n");
        head
    }

    /// Writes the whole response.
    ///
    /// # Errors
    /// The socket failed.
    pub(crate) fn write_to<W: Write>(&self, w: &mut W, keep_alive: bool) -> io::Result<()> {
        w.write_all(self.head(self.body.len(), keep_alive).as_bytes())?;
        w.write_all(&self.body)?;
        w.flush()
    }
}

/// The reason phrase for the statuses the fake uses.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(raw: &str) -> Option<Result<Request, BadRequest>> {
        read_request(&mut BufReader::new(raw.as_bytes())).unwrap()
    }

    #[test]
    fn parses_two_pipelined_requests() {
        let raw = "POST /v2/index.php?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut r = BufReader::new(raw.as_bytes());
        let a = read_request(&mut r).unwrap().unwrap().unwrap();
        assert_eq!(
            (a.method.as_str(), a.path.as_str(), a.query.as_str()),
            ("POST", "/v2/index.php", "a=1")
        );
        assert_eq!(a.body, b"abc");
        assert!(a.keep_alive);
        assert_eq!(a.header("HOST"), Some("x"));
        let b = read_request(&mut r).unwrap().unwrap().unwrap();
        assert_eq!(b.method, "GET");
        assert!(read_request(&mut r).unwrap().is_none());
    }

    #[test]
    fn refuses_chunked_and_garbage() {
        let chunked = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap_err();
        assert_eq!(chunked.status, 411);
        assert_eq!(parse("NONSENSE\r\n\r\n").unwrap().unwrap_err().status, 400);
        assert_eq!(
            parse("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
                .unwrap()
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse("GET / HTTP/2\r\n\r\n").unwrap().unwrap_err().status,
            505
        );
        let close = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!close.keep_alive);
        let old = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!old.keep_alive);
    }
}
