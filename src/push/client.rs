//! The HTTP side shared by both Tencent backends: one [`reqwest::blocking::Client`] per run, endpoint checks,
//! credentials from the environment, and the provider factory.
//!
//! Takes `[cdn]` / `[push]` settings and the environment; returns a client, a checked endpoint, [`Credentials`]
//! or a boxed [`Provider`]. Must never: turn TLS verification off, send credentials over plain http to a
//! non-loopback host, or let a secret reach an error message (reqwest errors carry the request URL, and for GET
//! that URL holds the SecretId and the Signature, so every error text goes through [`scrub`]).

use std::net::IpAddr;
use std::time::Duration;

use super::Provider;
use super::PushError;
use super::retry;
use super::tencent_v2::V2Provider;
use super::tencent_v3::V3Provider;
use crate::config::{Api, CdnSettings, PushSettings, Settings, defaults};
use crate::secret::{Credentials, Secret};
use crate::{Error, Result};

/// The User-Agent prewarm sends to the API.
pub const USER_AGENT: &str = concat!("prewarm/", env!("CARGO_PKG_VERSION"));

/// Builds the run's one HTTP client: connect and whole-request timeouts, `prewarm/<version>` UA, rustls with
/// certificate verification on, pooled connections reused across calls.
///
/// # Errors
/// The TLS backend could not be initialised ([`Error::Runtime`]).
pub fn build_client(push: &PushSettings) -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(push.connect_timeout)
        .timeout(push.timeout)
        .use_rustls_tls()
        .https_only(false) // http is allowed for loopback only, enforced by check_endpoint
        .pool_idle_timeout(Duration::from_secs(90))
        // The API never redirects; following one could carry a signed GET URL elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            Error::Runtime(format!(
                "cannot build the http client: {}",
                scrub(&error_chain(&e))
            ))
        })
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Parses and checks an API endpoint: `https://` always; plain `http://` only for a loopback host
/// (127.0.0.0/8, `::1`, `localhost`), e.g. the local fake CDN.
///
/// # Errors
/// [`Error::Usage`] explaining what is wrong.
pub fn check_endpoint(endpoint: &str) -> Result<url::Url> {
    let url = url::Url::parse(endpoint.trim())
        .map_err(|e| Error::Usage(format!("cdn.endpoint {endpoint:?} is not a valid url: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Usage(
            "cdn.endpoint must not contain a user name or password".into(),
        ));
    }
    if url.host().is_none() {
        return Err(Error::Usage(format!(
            "cdn.endpoint {endpoint:?} has no host"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Error::Usage(format!(
            "cdn.endpoint {endpoint:?} uses plain http: signed requests go over https, and http is allowed only \
             for a loopback host (127.0.0.1, ::1, localhost) such as the local fake CDN"
        ))),
        other => Err(Error::Usage(format!(
            "cdn.endpoint {endpoint:?}: unsupported scheme {other:?} (use https)"
        ))),
    }
}

/// The `Host` header value for `url`: the host, plus `:port` when it is not the scheme's default.
#[must_use]
pub fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Reads the credentials from the variables named by `cdn.secret_id_env` / `cdn.secret_key_env` (trimmed), and a
/// token from `TENCENTCLOUD_TOKEN`, `TENCENTCLOUD_SECURITY_TOKEN` or `TENCENTCLOUD_SESSION_TOKEN` (first set wins).
///
/// # Errors
/// [`Error::Credentials`] naming the missing or empty variable, or one whose value holds a control character
/// (a line break pasted inside: it can't go into a request header); never the value.
pub fn credentials_from_env(cdn: &CdnSettings) -> Result<Credentials> {
    credentials_from(cdn, |name| std::env::var(name).ok())
}

/// [`credentials_from_env`] with the environment given as a lookup (tests).
///
/// # Errors
/// As [`credentials_from_env`].
pub fn credentials_from(
    cdn: &CdnSettings,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Credentials> {
    // Checked here, at start, instead of failing as a header the first call can't send.
    let clean = |name: &str, what: &str, v: &str| -> Result<()> {
        if v.chars().any(char::is_control) {
            return Err(Error::Credentials(format!(
                "environment variable {name} (the {what}) holds a control character (a line break inside it?)"
            )));
        }
        Ok(())
    };
    let required = |name: &str, what: &str| -> Result<String> {
        match lookup(name) {
            Some(v) if !v.trim().is_empty() => {
                clean(name, what, v.trim())?;
                Ok(v.trim().to_string())
            }
            Some(_) => Err(Error::Credentials(format!(
                "environment variable {name} (the {what}) is empty"
            ))),
            None => Err(Error::Credentials(format!(
                "environment variable {name} (the {what}) is not set"
            ))),
        }
    };
    let secret_id = required(&cdn.secret_id_env, "Tencent Cloud SecretId")?;
    let secret_key = Secret::new(required(&cdn.secret_key_env, "Tencent Cloud SecretKey")?);
    let token = defaults::TOKEN_ENVS
        .iter()
        .filter_map(|name| Some((*name, lookup(name)?.trim().to_string())))
        .find(|(_, v)| !v.is_empty());
    if let Some((name, v)) = &token {
        clean(name, "session token", v)?;
    }
    let token = token.map(|(_, v)| Secret::new(v));
    Ok(Credentials {
        secret_id,
        secret_key,
        token,
    })
}

/// The provider `settings.cdn.api` selects, talking to `settings.cdn.endpoint` (already resolved, including
/// `PREWARM_ENDPOINT`), over one new client.
///
/// # Errors
/// A bad endpoint ([`Error::Usage`]) or a client that cannot be built.
pub fn provider_for(settings: &Settings, creds: Credentials) -> Result<Box<dyn Provider>> {
    provider_with(settings, creds, build_client(&settings.push)?)
}

/// [`provider_for`] over an existing client (to share the run's one client between several providers).
///
/// # Errors
/// A bad endpoint ([`Error::Usage`]).
pub fn provider_with(
    settings: &Settings,
    creds: Credentials,
    client: reqwest::blocking::Client,
) -> Result<Box<dyn Provider>> {
    let endpoint = check_endpoint(&settings.cdn.endpoint)?;
    Ok(match settings.cdn.api {
        Api::V2 => Box::new(V2Provider::new(client, endpoint, creds, &settings.cdn)),
        Api::V3 => Box::new(V3Provider::new(client, endpoint, creds, &settings.cdn)),
    })
}

/// What came back from one HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpReply {
    /// HTTP status.
    pub(crate) status: u16,
    /// A `Retry-After` header, when present and valid.
    pub(crate) retry_after: Option<Duration>,
    /// The body as text (lossy UTF-8).
    pub(crate) body: String,
}

/// The error and its sources, `: `-joined.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Removes the query from anything URL-like in `text` (a signed GET URL carries SecretId and Signature).
#[must_use]
pub fn scrub(text: &str) -> String {
    text.split(' ')
        .map(|word| match (word.find("://"), word.find('?')) {
            (Some(s), Some(q)) if q > s => format!("{}?(redacted)", &word[..q]),
            _ => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The start of a body, for error messages (at most 80 characters, one line).
#[must_use]
pub(crate) fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .take(80)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = one_line.trim();
    if one_line.is_empty() {
        "empty body".to_string()
    } else {
        one_line.to_string()
    }
}

/// Classifies a transport error.
///
/// A connect error means the request never left. A timeout or reset after the request was sent is ambiguous:
/// the CDN may have accepted the batch (PushUrlsCache is not idempotent, TENCENT.md §5). Both are
/// [`PushError::Transient`] and retried with back-off, freshly signed, as issue 3 asks; see the comment below for
/// why that is the better of the two risks.
pub(crate) fn classify_transport(e: &reqwest::Error) -> PushError {
    let text = scrub(&error_chain(e));
    if e.is_builder() {
        PushError::Other(format!("cannot build the request: {text}"))
    } else if e.is_connect() {
        PushError::Transient(format!("cannot connect: {text}"))
    } else if e.is_timeout() {
        // Ambiguous: the CDN may have accepted the batch before the reply was lost. PushUrlsCache has no
        // idempotency token (TENCENT.md §5), so a retry can spend the batch's quota twice. Issue 3 asks for
        // timeouts and dropped connections to be retried all the same: not retrying would leave the batch (and
        // the rest of the run) cold until the next deploy and still resend it then, so the worst case — one
        // batch counted twice — is the same either way, and retrying is what warms the site.
        PushError::Transient(format!(
            "no reply in time (the CDN may have accepted the batch): {text}"
        ))
    } else {
        PushError::Transient(format!(
            "connection failed after the request was sent: {text}"
        ))
    }
}

/// Sends one request and reads the whole reply.
pub(crate) fn send(
    request: reqwest::blocking::RequestBuilder,
) -> std::result::Result<HttpReply, PushError> {
    let response = request
        .send()
        .map_err(|e| classify_transport(&e.without_url()))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry::parse_retry_after);
    let bytes = response
        .bytes()
        .map_err(|e| classify_transport(&e.without_url()))?;
    Ok(HttpReply {
        status,
        retry_after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn endpoints() {
        assert!(check_endpoint("https://cdn.tencentcloudapi.com/").is_ok());
        assert!(check_endpoint("https://cdn.api.qcloud.com/v2/index.php").is_ok());
        for ok in [
            "http://127.0.0.1:8080/",
            "http://127.3.2.1/v2/index.php",
            "http://[::1]:9/",
            "http://localhost:1/",
        ] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://cdn.tencentcloudapi.com/",
            "http://10.0.0.1/",
            "http://[::2]/",
            "ftp://127.0.0.1/",
            "nonsense",
        ] {
            match check_endpoint(bad) {
                Err(Error::Usage(m)) => assert!(m.contains("cdn.endpoint"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let m = check_endpoint("http://example.com/")
            .unwrap_err()
            .to_string();
        assert!(m.contains("loopback") && m.contains("https"), "{m}");
        let m = check_endpoint("https://id:key@example.com/")
            .unwrap_err()
            .to_string();
        assert!(!m.contains("key@"), "{m}");
    }

    #[test]
    fn host_header_keeps_non_default_ports() {
        let u = url::Url::parse("https://cdn.api.qcloud.com/v2/index.php").unwrap();
        assert_eq!(host_header(&u), "cdn.api.qcloud.com");
        let u = url::Url::parse("https://cdn.api.qcloud.com:443/").unwrap();
        assert_eq!(host_header(&u), "cdn.api.qcloud.com");
        let u = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(host_header(&u), "127.0.0.1:8080");
    }

    fn cdn() -> CdnSettings {
        Settings::with_defaults(PathBuf::from("/tmp")).cdn
    }

    #[test]
    fn credentials_are_read_trimmed_and_named_when_missing() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("TENCENTCLOUD_SECRET_ID", " AKIDabc \n"),
            ("TENCENTCLOUD_SECRET_KEY", "s3cr3tKEYvalue\n"),
            ("TENCENTCLOUD_SECURITY_TOKEN", "tok-terraform"),
            ("TENCENTCLOUD_SESSION_TOKEN", "tok-session"),
        ]);
        let c = credentials_from(&cdn(), |k| env.get(k).map(|v| (*v).to_string())).unwrap();
        assert_eq!(c.secret_id, "AKIDabc");
        assert_eq!(c.secret_key.expose(), "s3cr3tKEYvalue");
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("tok-terraform"));
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("s3cr3tKEYvalue") && !dbg.contains("tok-terraform"),
            "{dbg}"
        );

        let env2: HashMap<&str, &str> = HashMap::from([("TENCENTCLOUD_SECRET_ID", "AKID")]);
        let e = credentials_from(&cdn(), |k| env2.get(k).map(|v| (*v).to_string())).unwrap_err();
        assert!(matches!(e, Error::Credentials(_)));
        assert!(
            e.to_string().contains("TENCENTCLOUD_SECRET_KEY") && e.to_string().contains("not set"),
            "{e}"
        );

        let mut custom = cdn();
        custom.secret_id_env = "MY_ID".into();
        let env3: HashMap<&str, &str> =
            HashMap::from([("MY_ID", "  "), ("TENCENTCLOUD_SECRET_KEY", "k")]);
        let e = credentials_from(&custom, |k| env3.get(k).map(|v| (*v).to_string())).unwrap_err();
        assert!(
            e.to_string().contains("MY_ID") && e.to_string().contains("empty"),
            "{e}"
        );
    }

    #[test]
    fn a_credential_with_a_line_break_inside_is_refused_at_start_without_its_value() {
        let base = [
            ("TENCENTCLOUD_SECRET_ID", "AKIDabc"),
            ("TENCENTCLOUD_SECRET_KEY", "s3cr3tKEYvalue"),
        ];
        for (name, value) in [
            ("TENCENTCLOUD_SECRET_ID", "AKID\nabc"),
            ("TENCENTCLOUD_SECRET_KEY", "s3cr3t\r\nKEYvalue"),
            ("TENCENTCLOUD_SESSION_TOKEN", "t0k3n\nXyZ9q"),
        ] {
            let mut env: HashMap<&str, &str> = HashMap::from(base);
            env.insert(name, value);
            let e = credentials_from(&cdn(), |k| env.get(k).map(|v| (*v).to_string())).unwrap_err();
            assert!(matches!(e, Error::Credentials(_)), "{e}");
            let msg = e.to_string();
            assert!(
                msg.contains(name) && msg.contains("control character"),
                "{msg}"
            );
            for part in value.split(['\r', '\n']).filter(|p| !p.is_empty()) {
                assert!(!msg.contains(part), "{msg}");
            }
        }
        // Around the value, a line break is only trimmed.
        let env: HashMap<&str, &str> = HashMap::from([
            ("TENCENTCLOUD_SECRET_ID", "AKIDabc\n"),
            ("TENCENTCLOUD_SECRET_KEY", "\r\ns3cr3tKEYvalue\r\n"),
            ("TENCENTCLOUD_TOKEN", "tok\n"),
        ]);
        let c = credentials_from(&cdn(), |k| env.get(k).map(|v| (*v).to_string())).unwrap();
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("tok"));
    }

    #[test]
    fn token_preference_order() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("TENCENTCLOUD_SECRET_ID", "id"),
            ("TENCENTCLOUD_SECRET_KEY", "key"),
            ("TENCENTCLOUD_TOKEN", "  "),
            ("TENCENTCLOUD_SESSION_TOKEN", "tok-session"),
        ]);
        let c = credentials_from(&cdn(), |k| env.get(k).map(|v| (*v).to_string())).unwrap();
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("tok-session"));
        let env: HashMap<&str, &str> = HashMap::from([
            ("TENCENTCLOUD_SECRET_ID", "id"),
            ("TENCENTCLOUD_SECRET_KEY", "key"),
            ("TENCENTCLOUD_TOKEN", "tok-cli"),
            ("TENCENTCLOUD_SECURITY_TOKEN", "tok-tf"),
        ]);
        let c = credentials_from(&cdn(), |k| env.get(k).map(|v| (*v).to_string())).unwrap();
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("tok-cli"));
        let env: HashMap<&str, &str> = HashMap::from([
            ("TENCENTCLOUD_SECRET_ID", "id"),
            ("TENCENTCLOUD_SECRET_KEY", "key"),
        ]);
        assert!(
            credentials_from(&cdn(), |k| env.get(k).map(|v| (*v).to_string()))
                .unwrap()
                .token
                .is_none()
        );
    }

    #[test]
    fn scrub_drops_queries() {
        assert_eq!(
            scrub(
                "error sending request for url (http://127.0.0.1:1/v2/index.php?SecretId=AKID&Signature=abc): x"
            ),
            "error sending request for url (http://127.0.0.1:1/v2/index.php?(redacted) x"
        );
        assert_eq!(scrub("what? no url here"), "what? no url here");
    }

    #[test]
    fn provider_for_picks_the_backend_and_checks_the_endpoint() {
        let mut s = Settings::with_defaults(PathBuf::from("/tmp"));
        let creds = || Credentials {
            secret_id: "id".into(),
            secret_key: Secret::new("k"),
            token: None,
        };
        s.cdn.endpoint = "http://127.0.0.1:9/".into();
        assert_eq!(provider_for(&s, creds()).unwrap().name(), "tencent-v3");
        s.cdn.api = Api::V2;
        let p = provider_for(&s, creds()).unwrap();
        assert_eq!(p.name(), "tencent-v2");
        assert_eq!(p.limits().per_request, 20);
        s.cdn.endpoint = "http://example.com/".into();
        assert!(matches!(provider_for(&s, creds()), Err(Error::Usage(_))));
    }

    #[test]
    fn a_refused_connection_is_transient_and_names_no_secret() {
        // Bind then drop a listener so the port is (very likely) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = build_client(&Settings::with_defaults(PathBuf::from("/tmp")).push).unwrap();
        let url =
            format!("http://127.0.0.1:{port}/v2/index.php?SecretId=AKIDleak&Signature=sigleak");
        let err = send(client.get(url)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PushError::Transient(_)), "{text}");
        assert!(
            !text.contains("AKIDleak") && !text.contains("sigleak"),
            "{text}"
        );
    }
}

/// A tiny loopback HTTP server for the providers' wire tests: serves canned replies, one connection each
/// (`Connection: close`), and hands back what it received.
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test helper")]
pub(crate) mod test_server {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// One request as received.
    #[derive(Debug, Clone)]
    pub(crate) struct Received {
        pub(crate) method: String,
        /// Path and query.
        pub(crate) target: String,
        /// Lower-cased names.
        pub(crate) headers: Vec<(String, String)>,
        pub(crate) body: Vec<u8>,
    }

    impl Received {
        pub(crate) fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
        pub(crate) fn query(&self) -> &str {
            self.target.split_once('?').map_or("", |(_, q)| q)
        }
    }

    /// A canned reply: status and body; `None` = accept and never answer.
    pub(crate) type Reply = Option<(u16, String)>;

    /// Starts a server answering `replies` in order; returns its base URL and the received requests.
    pub(crate) fn start(replies: Vec<Reply>) -> (String, mpsc::Receiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for reply in replies {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let target = parts.next().unwrap_or_default().to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                tx.send(Received {
                    method,
                    target,
                    headers,
                    body,
                })
                .unwrap();
                let mut stream = stream;
                match reply {
                    Some((status, body)) => {
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                             Connection: close\r\nRetry-After: 3\r\n\r\n{body}",
                            body.len()
                        );
                        stream.write_all(resp.as_bytes()).unwrap();
                    }
                    None => held.push(stream),
                }
            }
            // Keep silent connections open until the client gives up.
            std::thread::sleep(std::time::Duration::from_secs(5));
            drop(held);
        });
        (base, rx)
    }
}
