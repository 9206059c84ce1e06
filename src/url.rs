//! URL admission: only valid, percent-encoded absolute http(s) URLs under `site.domains` get through.
//!
//! Also maps files under a build root to URLs (`blog/post/index.html` → `https://www.example.com/blog/post/`),
//! shared by the `dir`, `changed` and `git` sources.
//!
//! Takes raw strings (sitemap `<loc>`s, `robots.txt` lines) or relative paths; returns serialised WHATWG URLs or a
//! reason for refusing. Parsing and percent-encoding are the `url` crate's, never hand-rolled. This module does no
//! I/O and must never panic on input.

use std::collections::HashSet;
use std::path::{Component, Path};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use url::Url;

use crate::config::Mapping;
use crate::{Error, Result};

/// Why [`Domains::admit`] refused a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// Not a usable absolute http(s) URL; the reason is lower-case.
    Invalid(String),
    /// A valid URL whose origin is not in `site.domains`.
    Foreign,
}

/// The allowed origins (`scheme://host[:port]`, punycode host, default port dropped).
#[derive(Debug, Clone, Default)]
pub struct Domains {
    origins: HashSet<String>,
    max_url_len: usize,
}

impl Domains {
    /// Builds the set from `Settings.domains`; each entry must be an `http(s)://host[:port]` origin (a trailing `/`
    /// is allowed). An empty list admits nothing.
    ///
    /// # Errors
    /// An entry that is not an http(s) origin (`Error::Usage`, naming it).
    pub fn new(domains: &[String], max_url_len: usize) -> Result<Self> {
        let mut origins = HashSet::with_capacity(domains.len());
        for d in domains {
            let url =
                Url::parse(d.trim()).map_err(|e| Error::Usage(format!("domain {d:?}: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(Error::Usage(format!(
                    "domain {d:?}: expected an http(s) origin"
                )));
            }
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return Err(Error::Usage(format!(
                    "domain {d:?}: expected an origin like \"https://www.example.com\", without a path"
                )));
            }
            origins.insert(url.origin().ascii_serialization());
        }
        Ok(Self {
            origins,
            max_url_len,
        })
    }

    /// The allowed origins of `settings.domains`, with `settings.limits.max_url_len`.
    ///
    /// # Errors
    /// As [`Domains::new`].
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Self> {
        Self::new(&settings.domains, settings.limits.max_url_len)
    }

    /// Whether an origin (as [`origin_of`] spells it) is allowed.
    #[must_use]
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.contains(origin)
    }

    /// Admits one raw URL: trimmed, parsed (WHATWG: spaces, quotes and non-ASCII get percent-encoded), http(s)
    /// only, no credentials, fragment dropped, at most `max_url_len` bytes once serialised, origin allowed.
    ///
    /// A URL already in the form the parser would give back (an allowed origin, then a path and query of bytes
    /// the parser leaves alone, no dot segment) is returned as it is, without parsing: a sitemap's URLs mostly
    /// are, and parsing them was a tenth of a million-URL run.
    ///
    /// # Errors
    /// [`Reject::Invalid`] with a reason, or [`Reject::Foreign`].
    pub fn admit(&self, raw: &str) -> std::result::Result<String, Reject> {
        match self.admit_normal(raw) {
            Some(url) => Ok(url.to_owned()),
            None => self.admit_parsed(raw),
        }
    }

    /// [`Domains::admit`] in place: an already normal URL (the usual case) is left as it is, not copied.
    ///
    /// # Errors
    /// As [`Domains::admit`]; `url` is then unchanged.
    pub fn admit_in_place(&self, url: &mut String) -> std::result::Result<(), Reject> {
        match self.admit_normal(url) {
            Some(normal) if normal.len() == url.len() => Ok(()),
            _ => {
                *url = self.admit(url)?;
                Ok(())
            }
        }
    }

    /// The fast path of [`Domains::admit`]: the trimmed input when the parser would return it unchanged and admit
    /// it; `None` when that takes the parser to tell (which may still admit it).
    fn admit_normal<'a>(&self, raw: &'a str) -> Option<&'a str> {
        let raw = raw.trim();
        if raw.len() > self.max_url_len {
            return None;
        }
        let after_scheme = if raw.starts_with("https://") {
            8
        } else if raw.starts_with("http://") {
            7
        } else {
            return None;
        };
        // The origin ends at the first `/`: a configured origin (its ASCII serialisation: lower case, punycode,
        // no default port) holds no `/`, `?`, `#`, `\` or `@`, so an exact match leaves no userinfo, port or host
        // for the parser to read differently.
        let path_start = after_scheme + raw.get(after_scheme..)?.find('/')?;
        if !self.origins.contains(raw.get(..path_start)?) {
            return None;
        }
        is_normal_path_and_query(raw.get(path_start..)?.as_bytes()).then_some(raw)
    }

    /// [`Domains::admit`] through the `url` parser.
    fn admit_parsed(&self, raw: &str) -> std::result::Result<String, Reject> {
        let mut url = parse_absolute(raw)?;
        url.set_fragment(None);
        let len = url.as_str().len();
        if len > self.max_url_len {
            return Err(Reject::Invalid(format!(
                "url is {len} bytes, longer than {}",
                self.max_url_len
            )));
        }
        // For an http(s) URL without credentials the text before the path is exactly its ASCII origin (the
        // parser already dropped a default port and punycoded the host): no origin string per URL.
        if !self.origins.contains(&url[..url::Position::BeforePath]) {
            return Err(Reject::Foreign);
        }
        Ok(url.into())
    }
}

/// Whether a special-scheme URL's path (from its first `/`) and query come out of the WHATWG parser unchanged:
/// printable ASCII only; nothing of the path percent-encode set (`"`, `<`, `>`, `` ` ``, `{`, `}`, `#`, space)
/// before the `?`, nothing of the special-query set (`"`, `<`, `>`, `'`, `#`, space) after it; no `\` (read as
/// `/`), no fragment, and no `.`/`..` segment in any spelling (`%2e`, any case), which the parser would remove.
/// (`url` crate 2.5 `parser.rs`: `PATH`, `SPECIAL_QUERY`, `parse_path`.)
fn is_normal_path_and_query(rest: &[u8]) -> bool {
    let mut in_query = false;
    let mut segment_start = 0;
    for (i, &b) in rest.iter().enumerate() {
        if !(0x21..=0x7e).contains(&b) || matches!(b, b'\\' | b'#' | b'"' | b'<' | b'>') {
            return false;
        }
        if in_query {
            if b == b'\'' {
                return false;
            }
            continue;
        }
        match b {
            b'`' | b'{' | b'}' => return false,
            b'/' | b'?' => {
                if is_dot_segment(&rest[segment_start..i]) {
                    return false;
                }
                segment_start = i + 1;
                in_query = b == b'?';
            }
            _ => {}
        }
    }
    in_query || !is_dot_segment(&rest[segment_start..])
}

/// `.` or `..`, with either dot spelt `%2e` or `%2E` (WHATWG single- and double-dot path segments).
fn is_dot_segment(seg: &[u8]) -> bool {
    let dot = |s: &[u8]| s == b"." || s.eq_ignore_ascii_case(b"%2e");
    match seg.len() {
        1 | 3 => dot(seg),
        2 | 4 | 6 => (1..seg.len()).any(|k| dot(&seg[..k]) && dot(&seg[k..])),
        _ => false,
    }
}

/// Parses an absolute http(s) URL with no credentials.
fn parse_absolute(raw: &str) -> std::result::Result<Url, Reject> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Reject::Invalid("empty url".into()));
    }
    let url = match Url::parse(raw) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(Reject::Invalid("relative url".into()));
        }
        Err(e) => return Err(Reject::Invalid(e.to_string().to_lowercase())),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Reject::Invalid(format!(
            "scheme {}: not http(s)",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Reject::Invalid("no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Reject::Invalid("credentials in url".into()));
    }
    Ok(url)
}

/// The origin of a URL (`scheme://host[:port]`), used to batch per domain; the input itself when it does not parse.
#[must_use]
pub fn origin_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) if u.has_host() => u.origin().ascii_serialization(),
        _ => url.to_string(),
    }
}

/// Why [`FileMapper::map`] gave no URL for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapSkip {
    /// Excluded by a glob, not included, or hidden.
    Excluded,
    /// The path leaves the root (`..`, absolute).
    OutsideRoot,
    /// The name cannot become a URL (not UTF-8, …); the reason names it.
    Invalid(String),
}

/// Maps paths relative to a build root to URLs under its `base_url` (globs compiled once).
#[derive(Debug, Clone)]
pub struct FileMapper {
    base: Url,
    include: Option<GlobSet>,
    exclude: GlobSet,
    pretty_urls: bool,
    hidden: bool,
}

/// Compiles globs the way every prewarm glob is read: `*` does not cross `/`, `**` does.
pub(crate) fn glob_set(patterns: &[String], what: &str) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(compile_glob(p).map_err(|e| Error::Usage(format!("{what} glob {p:?}: {e}")))?);
    }
    b.build()
        .map_err(|e| Error::Usage(format!("{what} globs: {e}")))
}

fn compile_glob(p: &str) -> std::result::Result<Glob, globset::Error> {
    GlobBuilder::new(p).literal_separator(true).build()
}

impl FileMapper {
    /// Builds a mapper from a `Mapping` (`base_url` gets a trailing `/` if it lacks one).
    ///
    /// # Errors
    /// A bad glob or a `base_url` that is not an absolute http(s) URL (`Error::Usage`).
    pub fn new(mapping: &Mapping) -> Result<Self> {
        let mut base = parse_absolute(&mapping.base_url).map_err(|r| {
            let why = match r {
                Reject::Invalid(s) => s,
                Reject::Foreign => "foreign".into(),
            };
            Error::Usage(format!("base_url {:?}: {why}", mapping.base_url))
        })?;
        base.set_fragment(None);
        base.set_query(None);
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let include = if mapping.include.is_empty() {
            None
        } else {
            Some(glob_set(&mapping.include, "include")?)
        };
        Ok(Self {
            base,
            include,
            exclude: glob_set(&mapping.exclude, "exclude")?,
            pretty_urls: mapping.pretty_urls,
            hidden: mapping.hidden,
        })
    }

    /// The base URL, ending in `/`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Maps a path relative to the root to its URL.
    ///
    /// # Errors
    /// [`MapSkip`]: excluded (glob or hidden), outside the root, or a name that is not UTF-8.
    pub fn map(&self, rel: &Path) -> std::result::Result<String, MapSkip> {
        let mut segments: Vec<&str> = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(s) => match s.to_str() {
                    Some(s) => segments.push(s),
                    None => {
                        return Err(MapSkip::Invalid(format!(
                            "file name {:?} is not utf-8",
                            s.to_string_lossy()
                        )));
                    }
                },
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(MapSkip::OutsideRoot);
                }
            }
        }
        if segments.is_empty() {
            return Err(MapSkip::Invalid("empty path".into()));
        }
        if !self.hidden && segments.iter().any(|s| s.starts_with('.')) {
            return Err(MapSkip::Excluded);
        }
        let joined = segments.join("/");
        if self.include.as_ref().is_some_and(|g| !g.is_match(&joined))
            || self.exclude.is_match(&joined)
        {
            return Err(MapSkip::Excluded);
        }
        if let Some(url) = self.url_plain(&segments, &joined) {
            return Ok(url);
        }
        self.url_parsed(&segments)
    }

    /// The URL of a file's segments when the `url` crate would add each of them unchanged (printable ASCII, none
    /// of its special path-segment set: `"`, `<`, `>`, `` ` ``, `{`, `}`, `#`, `?`, `/`, `%`, `\`, space): the
    /// base URL and the joined path, no clone of the base to push onto. `None` leaves it to [`Self::url_parsed`].
    fn url_plain(&self, segments: &[&str], joined: &str) -> Option<String> {
        let plain = |s: &str| {
            s != "."
                && s != ".."
                && s.bytes().all(|b| {
                    (0x21..=0x7e).contains(&b)
                        && !matches!(
                            b,
                            b'"' | b'<'
                                | b'>'
                                | b'`'
                                | b'{'
                                | b'}'
                                | b'#'
                                | b'?'
                                | b'/'
                                | b'%'
                                | b'\\'
                        )
                })
        };
        if !segments.iter().all(|s| plain(s)) {
            return None;
        }
        let path = match segments.last() {
            Some(&"index.html") if self.pretty_urls => joined.strip_suffix("index.html")?,
            _ => joined,
        };
        let base = self.base.as_str();
        let mut url = String::with_capacity(base.len() + path.len());
        url.push_str(base);
        url.push_str(path);
        Some(url)
    }

    /// The URL of a file's segments, each pushed onto the base URL by the `url` crate (which percent-encodes it).
    fn url_parsed(&self, segments: &[&str]) -> std::result::Result<String, MapSkip> {
        let mut url = self.base.clone();
        {
            let Ok(mut path) = url.path_segments_mut() else {
                return Err(MapSkip::Invalid("base url cannot have a path".into()));
            };
            path.pop_if_empty();
            let last = segments.len() - 1;
            for (i, s) in segments.iter().enumerate() {
                if i == last && self.pretty_urls && *s == "index.html" {
                    path.push("");
                } else {
                    path.push(s);
                }
            }
        }
        Ok(url.into())
    }

    /// Whether a relative folder is hidden and should not be walked.
    #[must_use]
    pub fn prunes_dir(&self, name: &std::ffi::OsStr) -> bool {
        !self.hidden && name.as_encoded_bytes().first() == Some(&b'.')
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn domains() -> Domains {
        Domains::new(
            &[
                "https://www.example.com".into(),
                "http://static.example.com:8080/".into(),
                "https://bücher.de".into(),
            ],
            2000,
        )
        .unwrap()
    }

    #[test]
    fn admits_and_normalises() {
        let d = domains();
        let cases = [
            ("  https://www.example.com/a  ", "https://www.example.com/a"),
            ("HTTPS://WWW.EXAMPLE.COM:443/A", "https://www.example.com/A"),
            ("https://www.example.com", "https://www.example.com/"),
            (
                "https://www.example.com/a b",
                "https://www.example.com/a%20b",
            ),
            (
                "https://www.example.com/\"q\"",
                "https://www.example.com/%22q%22",
            ),
            (
                "https://www.example.com/café",
                "https://www.example.com/caf%C3%A9",
            ),
            (
                "https://www.example.com/p?a=1&b=2#frag",
                "https://www.example.com/p?a=1&b=2",
            ),
            ("https://www.example.com/p#", "https://www.example.com/p"),
            (
                "http://static.example.com:8080/x.css",
                "http://static.example.com:8080/x.css",
            ),
            ("https://BÜCHER.de/x", "https://xn--bcher-kva.de/x"),
            (
                "https://www.example.com/./a/../b",
                "https://www.example.com/b",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(d.admit(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_bad_urls() {
        let d = domains();
        for raw in [
            "",
            "   ",
            "/relative/path",
            "relative.html",
            "javascript:alert(1)",
            "ftp://www.example.com/x",
            "data:text/html,hi",
            "mailto:a@example.com",
            "https://user:pw@www.example.com/",
            "https://",
            "http://[::1",
        ] {
            assert!(
                matches!(d.admit(raw), Err(Reject::Invalid(_))),
                "{raw:?} -> {:?}",
                d.admit(raw)
            );
        }
        let long = format!("https://www.example.com/{}", "a".repeat(2000));
        let Err(Reject::Invalid(why)) = d.admit(&long) else {
            panic!("long url admitted")
        };
        assert!(why.contains("longer than 2000"), "{why}");
        let exactly = format!("https://www.example.com/{}", "a".repeat(2000 - 24));
        assert_eq!(exactly.len(), 2000);
        assert!(d.admit(&exactly).is_ok());
    }

    #[test]
    fn foreign_origins() {
        let d = domains();
        for raw in [
            "https://evil.example.net/",
            "http://www.example.com/",
            "https://static.example.com:8080/",
            "http://static.example.com/",
            "https://www.example.com.evil.net/",
        ] {
            assert_eq!(d.admit(raw), Err(Reject::Foreign), "{raw}");
        }
        assert_eq!(
            Domains::new(&[], 2000)
                .unwrap()
                .admit("https://www.example.com/"),
            Err(Reject::Foreign)
        );
        assert!(Domains::new(&["www.example.com".into()], 2000).is_err());
        let mut s = crate::config::Settings::with_defaults(PathBuf::from("/tmp"));
        s.domains = vec!["https://www.example.com".into()];
        s.limits.max_url_len = 30;
        let d = Domains::from_settings(&s).unwrap();
        assert!(d.admit("https://www.example.com/short").is_ok());
        assert!(matches!(
            d.admit("https://www.example.com/much/too/long"),
            Err(Reject::Invalid(_))
        ));
        assert!(Domains::new(&["https://www.example.com/blog".into()], 2000).is_err());
    }

    #[test]
    fn text_before_the_path_is_the_ascii_origin() {
        // admit() compares `url[..BeforePath]` with the configured origins: it must equal the origin's ASCII
        // serialisation for every admitted form.
        for raw in [
            "https://www.example.com/a",
            "HTTPS://WWW.Example.COM:443/a?b#c",
            "http://h.example.com:80/",
            "http://h.example.com:8080/x",
            "https://bücher.example/ä",
            "http://[::1]:8080/",
            "http://127.0.0.1/",
            "https://h.example.com./",
        ] {
            let u = Url::parse(raw).unwrap();
            assert_eq!(
                &u[..url::Position::BeforePath],
                u.origin().ascii_serialization(),
                "{raw}"
            );
        }
        let d = Domains::new(
            &["https://bücher.example".into(), "http://[::1]:8080".into()],
            2000,
        )
        .unwrap();
        assert!(d.admit("https://xn--bcher-kva.example/a").is_ok());
        assert!(d.admit("http://[0:0::1]:8080/a").is_ok());
        assert_eq!(d.admit("http://[::1]/a"), Err(Reject::Foreign));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://www.example.com/a/b?c"),
            "https://www.example.com"
        );
        assert_eq!(
            origin_of("http://h.example.com:8080/"),
            "http://h.example.com:8080"
        );
        assert_eq!(
            origin_of("https://h.example.com:443/"),
            "https://h.example.com"
        );
        assert_eq!(origin_of("not a url"), "not a url");
    }

    fn mapping() -> Mapping {
        Mapping {
            root: PathBuf::from("/site"),
            base_url: "https://www.example.com".into(),
            include: vec![],
            exclude: vec!["**/*.map".into()],
            pretty_urls: true,
            hidden: false,
        }
    }

    #[test]
    fn maps_files() {
        let m = FileMapper::new(&mapping()).unwrap();
        let cases = [
            ("index.html", "https://www.example.com/"),
            ("blog/post/index.html", "https://www.example.com/blog/post/"),
            ("./about.html", "https://www.example.com/about.html"),
            ("css/site.css", "https://www.example.com/css/site.css"),
            (
                "docs/getting started.html",
                "https://www.example.com/docs/getting%20started.html",
            ),
            (
                "blog/café/index.html",
                "https://www.example.com/blog/caf%C3%A9/",
            ),
            ("a#b?c.html", "https://www.example.com/a%23b%3Fc.html"),
            ("100%.html", "https://www.example.com/100%25.html"),
            ("q\"uote.html", "https://www.example.com/q%22uote.html"),
            ("blog/index.htm", "https://www.example.com/blog/index.htm"),
        ];
        for (rel, want) in cases {
            assert_eq!(m.map(Path::new(rel)).as_deref(), Ok(want), "{rel}");
        }
        let mut plain = mapping();
        plain.pretty_urls = false;
        plain.base_url = "https://www.example.com/sub/".into();
        let m = FileMapper::new(&plain).unwrap();
        assert_eq!(
            m.map(Path::new("blog/index.html")).as_deref(),
            Ok("https://www.example.com/sub/blog/index.html")
        );
    }

    #[test]
    fn skips_files() {
        let m = FileMapper::new(&mapping()).unwrap();
        assert_eq!(m.map(Path::new("js/app.js.map")), Err(MapSkip::Excluded));
        assert_eq!(m.map(Path::new(".DS_Store")), Err(MapSkip::Excluded));
        assert_eq!(m.map(Path::new(".well-known/x")), Err(MapSkip::Excluded));
        assert_eq!(m.map(Path::new("../etc/passwd")), Err(MapSkip::OutsideRoot));
        assert_eq!(m.map(Path::new("/etc/passwd")), Err(MapSkip::OutsideRoot));
        let mut h = mapping();
        h.hidden = true;
        h.include = vec!["**/*.html".into(), ".well-known/*".into()];
        let m = FileMapper::new(&h).unwrap();
        assert_eq!(
            m.map(Path::new(".well-known/x")).as_deref(),
            Ok("https://www.example.com/.well-known/x")
        );
        assert_eq!(m.map(Path::new("css/site.css")), Err(MapSkip::Excluded));
        assert!(
            FileMapper::new(&Mapping {
                include: vec!["a[".into()],
                ..mapping()
            })
            .is_err()
        );
        assert!(
            FileMapper::new(&Mapping {
                base_url: "/rel".into(),
                ..mapping()
            })
            .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_invalid() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let m = FileMapper::new(&mapping()).unwrap();
        let p = Path::new(OsStr::from_bytes(b"caf\xe9.html"));
        let Err(MapSkip::Invalid(why)) = m.map(p) else {
            panic!("non-utf-8 mapped")
        };
        assert!(why.contains("caf\u{fffd}.html"), "{why}");
    }

    /// Near-normal URLs: an origin (allowed, or off by a case, port, userinfo or suffix), then pieces that are
    /// mostly harmless and sometimes exactly what the parser rewrites.
    fn near_normal_url() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let origin = prop::sample::select(vec![
            "https://www.example.com",
            "http://static.example.com:8080",
            "https://xn--bcher-kva.de",
            "https://bücher.de",
            "HTTPS://www.example.com",
            "https://WWW.example.com",
            "https://www.example.com:443",
            "https://www.example.com:8443",
            "http://www.example.com",
            "https://user@www.example.com",
            "https://www.example.com.evil.net",
            "https://www.example.com.",
            "http://[::1]:8080",
            "http://[0:0::1]:8080",
            "  https://www.example.com",
            "https:/www.example.com",
            "https://",
            "",
        ]);
        let piece = prop::sample::select(vec![
            "/",
            "/",
            "/",
            "a",
            "b",
            "index.html",
            "x-y_z~",
            ".",
            "..",
            "%2e",
            "%2E",
            ".%2e",
            "%2e.",
            "%2E%2e",
            "%2",
            "%zz",
            "%20",
            "%C3%A9",
            "?",
            "?",
            "=",
            "&",
            "#",
            "\\",
            " ",
            "\t",
            "\n",
            "\"",
            "<",
            ">",
            "`",
            "{",
            "}",
            "'",
            "|",
            "^",
            "[",
            "]",
            ":",
            "@",
            ";",
            "!",
            "$",
            "*",
            "+",
            ",",
            "é",
            "\u{0}",
            "\u{7f}",
            "\u{3000}",
        ]);
        (origin, prop::collection::vec(piece, 0..12), prop::bool::ANY).prop_map(
            |(o, pieces, pad)| {
                let mut u = o.to_string();
                u.extend(pieces);
                if pad {
                    u.push(' ');
                }
                u
            },
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// Whenever the fast path answers, the parser gives the same answer.
        #[test]
        fn admit_fast_path_agrees_with_the_parser(raw in near_normal_url(), any in "\\PC{0,40}") {
            let d = Domains::new(
                &[
                    "https://www.example.com".into(),
                    "http://static.example.com:8080/".into(),
                    "https://bücher.de".into(),
                    "http://[::1]:8080".into(),
                ],
                60,
            )
            .unwrap();
            for raw in [raw.clone(), format!("https://www.example.com/{any}")] {
                if let Some(fast) = d.admit_normal(&raw) {
                    proptest::prop_assert_eq!(Ok(fast.to_string()), d.admit_parsed(&raw), "{:?}", raw);
                }
                proptest::prop_assert_eq!(d.admit(&raw), d.admit_parsed(&raw), "{:?}", raw);
                let mut in_place = raw.clone();
                let r = d.admit_in_place(&mut in_place);
                proptest::prop_assert_eq!(r.map(|()| in_place), d.admit_parsed(&raw), "{:?}", raw);
            }
        }

        /// Whenever a file's URL is built without the parser, the parser builds the same.
        #[test]
        fn mapper_fast_path_agrees_with_the_parser(
            segs in proptest::collection::vec("[a-z.%#?\\\\ \"<>`{}|^~!$&'()*+,;=:@\\[\\]é\u{7f}-]{1,6}|index\\.html", 1..5),
            pretty in proptest::bool::ANY,
            sub in proptest::bool::ANY,
        ) {
            let m = FileMapper::new(&Mapping {
                pretty_urls: pretty,
                base_url: if sub { "https://www.example.com/sub/".into() } else { "https://www.example.com".into() },
                ..mapping()
            })
            .unwrap();
            let segs: Vec<&str> = segs.iter().map(String::as_str).filter(|s| *s != "." && *s != "..").collect();
            proptest::prop_assume!(!segs.is_empty());
            let joined = segs.join("/");
            if let Some(fast) = m.url_plain(&segs, &joined) {
                proptest::prop_assert_eq!(Ok(fast), m.url_parsed(&segs), "{:?}", segs);
            }
        }
    }

    #[test]
    fn fast_paths_answer_for_normal_input() {
        let d = domains();
        for raw in [
            "https://www.example.com/",
            "https://www.example.com/a/b.html?x=1&y=%20z",
            " http://static.example.com:8080/x.css ",
            "https://www.example.com/.well-known/x?a=..",
            "https://www.example.com/a..b/...",
        ] {
            assert_eq!(d.admit_normal(raw), Some(raw.trim()), "{raw}");
        }
        for raw in [
            "https://www.example.com",
            "https://www.example.com/a/./b",
            "https://www.example.com/a/%2E%2e/b",
            "https://www.example.com/a/..?q",
            "https://www.example.com/a b",
            "https://www.example.com/a#f",
            "https://www.example.com/a\\b",
            "https://www.example.com/{a}",
            "https://www.example.com/?it's",
            "https://www.example.com:443/",
            "https://www.example.com.evil.net/",
        ] {
            assert_eq!(d.admit_normal(raw), None, "{raw}");
        }
        let m = FileMapper::new(&mapping()).unwrap();
        assert_eq!(
            m.url_plain(&["blog", "index.html"], "blog/index.html")
                .as_deref(),
            Some("https://www.example.com/blog/")
        );
        assert_eq!(m.url_plain(&["a b.html"], "a b.html"), None);
    }
}
