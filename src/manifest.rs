//! The deploy manifest (`--write-manifest PATH`, `--previous PATH|URL`): fingerprints that ship with the site,
//! for CI runs that keep no state between deploys.
//!
//! Takes the collected assets (to write) or a reader (to load); returns a [`Manifest`], which is a
//! [`Baseline`] for the diff. It never fetches anything itself (the caller hands it a reader) and never writes
//! a half file (writes go to a temporary file renamed into place).
//!
//! # Format
//! One JSON object, keys sorted:
//!
//! ```json
//! {
//!   "format": "prewarm-manifest",
//!   "version": 1,
//!   "generated": "2024-03-01T08:00:00Z",
//!   "urls": {
//!     "https://www.example.com/": "b3:0123456789abcdef0123456789abcdef",
//!     "https://www.example.com/feed.xml": ""
//!   }
//! }
//! ```
//!
//! - `format` is always `"prewarm-manifest"`, `version` is `1`; anything else is refused.
//! - `generated` is when it was written (RFC 3339, UTC).
//! - `urls` maps every URL of the deploy to its fingerprint: `b3:<hex>` (BLAKE3 of the file), `lastmod:<RFC 3339>`
//!   (a sitemap entry) or `""` (neither known: such a URL counts as changed only when it is new).
//!
//! Publish it with the site (e.g. `public/.prewarm-manifest.json`) and pass the previous deploy's copy with
//! `--previous`: only URLs that are new or whose fingerprint changed are warmed.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diff::Baseline;
use crate::error::Position;
use crate::sources::Asset;
use crate::state::{SortedUrls, UrlMap, deserialize_url_map};
use crate::{Error, Result};

/// The `format` value.
pub const FORMAT: &str = "prewarm-manifest";
/// The version this build reads and writes.
pub const VERSION: u64 = 1;

/// A deploy's URLs and their fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// When it was written (RFC 3339).
    pub generated: String,
    /// URL → fingerprint (`""` when unknown); written sorted by URL.
    pub urls: UrlMap,
}

/// The file as written.
#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u64,
    generated: &'a str,
    urls: SortedUrls<'a>,
}

/// The file as read (once the header checked out).
#[derive(Deserialize)]
struct FileIn {
    #[serde(default)]
    generated: String,
    #[serde(deserialize_with = "deserialize_url_map")]
    urls: UrlMap,
}

/// Just the header, to tell "not a manifest" from "malformed".
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

impl Manifest {
    /// The manifest of a deploy: every asset's URL and fingerprint, generated at `generated`.
    #[must_use]
    pub fn from_assets(assets: &[Asset], generated: &str) -> Self {
        let urls = assets
            .iter()
            .map(|a| {
                (
                    a.url.clone(),
                    a.fingerprint_text().unwrap_or_default().into_owned(),
                )
            })
            .collect();
        Self {
            generated: generated.to_owned(),
            urls,
        }
    }

    /// Writes the manifest as JSON to `w`.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_to(&self, w: impl Write) -> std::io::Result<()> {
        let mut w = BufWriter::new(w);
        let file = FileOut {
            format: FORMAT,
            version: VERSION,
            generated: &self.generated,
            urls: SortedUrls(&self.urls),
        };
        serde_json::to_writer_pretty(&mut w, &file).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        w.flush()
    }

    /// Writes the manifest to `path` atomically (temporary file in the same folder, `fsync`, rename, folder
    /// `fsync`), creating the folder when missing.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder or the file can't be written.
    pub fn write_path(&self, path: &Path) -> Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        fs_create_dir(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
        self.write_to(tmp.as_file())
            .map_err(|e| Error::io(path, e))?;
        tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        crate::state::sync_dir(dir)
    }

    /// How many URLs it lists.
    #[must_use]
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// True when it lists no URL.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }
}

fn fs_create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

impl Baseline for Manifest {
    fn find(&self, url: &str) -> Option<(usize, &str)> {
        self.urls.find(url)
    }

    fn touch(&self, url: &str) {
        self.urls.touch(url);
    }

    fn urls(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Baseline::urls(&self.urls)
    }

    fn len(&self) -> usize {
        self.urls.len()
    }
}

/// Reads a manifest from `reader`; `name` (a path or URL) names it in errors.
///
/// # Errors
/// [`Error::Input`] naming `name` and the line and column for malformed JSON, a missing or unknown `format`,
/// an unsupported `version` or a wrong shape; [`Error::Io`]-like read failures are reported as `Error::Input`
/// too, since `name` may be a URL.
pub fn load(mut reader: impl Read, name: &str) -> Result<Manifest> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| Error::Input {
        source_name: name.to_owned(),
        position: Position::Unknown,
        message: format!("cannot read the manifest: {e}"),
    })?;
    let input_err = |position: Position, message: String| Error::Input {
        source_name: name.to_owned(),
        position,
        message,
    };
    let json_err = |e: &serde_json::Error, what: &str| {
        let mut msg = e.to_string();
        if let Some(i) = msg.find(" at line ") {
            msg.truncate(i);
        }
        let position = if e.line() == 0 {
            Position::Unknown
        } else {
            Position::LineCol {
                line: e.line(),
                col: e.column(),
            }
        };
        input_err(position, format!("{what}: {msg}"))
    };
    let header: Header = serde_json::from_slice(&bytes)
        .map_err(|e| json_err(&e, "not a prewarm manifest (not a JSON object)"))?;
    match header.format {
        Some(serde_json::Value::String(f)) if f == FORMAT => {}
        Some(other) => {
            return Err(input_err(
                Position::Unknown,
                format!("not a prewarm manifest (format is {other}, expected \"{FORMAT}\")"),
            ));
        }
        None => {
            return Err(input_err(
                Position::Unknown,
                format!("not a prewarm manifest (no \"format\": \"{FORMAT}\")"),
            ));
        }
    }
    match header.version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(VERSION) => {}
        Some(other) => {
            return Err(input_err(
                Position::Unknown,
                format!(
                    "manifest version {other} is not supported (this prewarm reads version {VERSION})"
                ),
            ));
        }
        None => {
            return Err(input_err(
                Position::Unknown,
                "manifest has no \"version\"".to_owned(),
            ));
        }
    }
    let file: FileIn =
        serde_json::from_slice(&bytes).map_err(|e| json_err(&e, "malformed manifest"))?;
    Ok(Manifest {
        generated: file.generated,
        urls: file.urls,
    })
}

/// Reads the manifest at `path`.
///
/// # Errors
/// [`Error::Io`] when the file can't be opened; as [`load`] otherwise.
pub fn load_path(path: &Path) -> Result<Manifest> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    load(f, &path.display().to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (no clippy.toml `allow-unwrap-in-tests` yet)
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn assets() -> Vec<Asset> {
        let mut a = Asset::new("https://www.example.com/z.css");
        a.fingerprint = Some("b3:0123456789abcdef0123456789abcdef".into());
        let mut b = Asset::new("https://www.example.com/");
        b.fingerprint = Some("lastmod:2024-03-01T00:00:00Z".into());
        vec![a, b, Asset::new("https://www.example.com/feed.xml")]
    }

    fn input_err(r: Result<Manifest>) -> (String, Position, String) {
        match r {
            Err(Error::Input {
                source_name,
                position,
                message,
            }) => (source_name, position, message),
            other => panic!("expected Error::Input, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_sorted_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out").join("manifest.json");
        let m = Manifest::from_assets(&assets(), "2024-03-01T08:00:00Z");
        m.write_path(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = r#"{
  "format": "prewarm-manifest",
  "version": 1,
  "generated": "2024-03-01T08:00:00Z",
  "urls": {
    "https://www.example.com/": "lastmod:2024-03-01T00:00:00Z",
    "https://www.example.com/feed.xml": "",
    "https://www.example.com/z.css": "b3:0123456789abcdef0123456789abcdef"
  }
}
"#;
        assert_eq!(text, expected);
        let back = load_path(&path).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            back.fingerprint("https://www.example.com/feed.xml"),
            Some("")
        );
        assert_eq!(back.fingerprint("https://www.example.com/nope"), None);
        assert_eq!(Baseline::len(&back), 3);
        // only the manifest is left in the folder: no temp files
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn manifest_drives_the_diff() {
        let previous = Manifest::from_assets(&assets(), "x");
        let mut now = assets();
        now[0].fingerprint = Some("b3:ffffffffffffffffffffffffffffffff".into());
        let c = crate::diff::diff(
            now,
            &previous,
            &[],
            &[],
            crate::diff::DiffOptions::default(),
        );
        assert_eq!(c.planned.len(), 1);
        assert_eq!(c.planned[0].url(), "https://www.example.com/z.css");
        assert_eq!(c.unchanged, 2);
    }

    #[test]
    fn garbage_names_the_source_and_position() {
        let (name, pos, msg) = input_err(load(
            &b"{\n  \"format\": \"prewarm-manifest\",\n  oops"[..],
            "prev.json",
        ));
        assert_eq!(name, "prev.json");
        assert_eq!(pos, Position::LineCol { line: 3, col: 3 });
        assert!(msg.starts_with("not a prewarm manifest"), "{msg}");
        let e = load(&b"\x1f\x8b binary"[..], "https://x/m.json").unwrap_err();
        assert!(e.to_string().starts_with("https://x/m.json:1:1: "), "{e}");
    }

    #[test]
    fn unknown_format_or_version_is_refused() {
        let cases: [(&str, &str); 6] = [
            (r#"{"version":1,"urls":{}}"#, "no \"format\""),
            (
                r#"{"format":"sitemap","version":1,"urls":{}}"#,
                "format is \"sitemap\"",
            ),
            (
                r#"{"format":"prewarm-manifest","version":2,"urls":{}}"#,
                "manifest version 2 is not supported",
            ),
            (
                r#"{"format":"prewarm-manifest","urls":{}}"#,
                "no \"version\"",
            ),
            (
                r#"{"format":"prewarm-manifest","version":1}"#,
                "malformed manifest: missing field `urls`",
            ),
            (
                r#"{"format":"prewarm-manifest","version":1,"urls":{"u":7}}"#,
                "malformed manifest: invalid type",
            ),
        ];
        for (text, want) in cases {
            let (name, _, msg) = input_err(load(text.as_bytes(), "m.json"));
            assert_eq!(name, "m.json");
            assert!(msg.contains(want), "{text}: {msg}");
        }
        let (_, _, msg) = input_err(load(&b"[]"[..], "m.json"));
        assert!(msg.starts_with("not a prewarm manifest"), "{msg}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_path(&dir.path().join("nope.json")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }
}
