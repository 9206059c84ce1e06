//! The sitemap reader's fast path: a strict scanner over a whole XML document in memory.
//!
//! Takes the document's bytes (BOM and leading whitespace already skipped); returns its `<loc>` entries (or an
//! index's children) exactly as the full quick-xml reader ([`super::sitemap`]'s `parse_xml`) would, or `None`
//! as soon as it meets anything it does not fully understand: a DOCTYPE or CDATA section, an entity other than
//! the five predefined ones, a character reference, an unusual name or attribute, a mismatched or unclosed tag,
//! text outside the root, a second root, invalid UTF-8 in a field, or anything the full reader would warn about.
//! The caller then reads the same bytes with the full reader, which gives the error or warning with its
//! position. So the fast path never decides what is an error; it only saves the event machinery (and a copy of
//! every event) on the common, well-formed sitemap. A differential test and a fuzz target hold it to the full
//! reader's answers.

use memchr::{memchr, memchr2, memchr3, memmem};

use super::sitemap::{Entry, parse_lastmod};

/// What a scanned document holds.
#[derive(Debug, PartialEq)]
pub(crate) enum Scanned {
    /// A `<urlset>`'s entries.
    Urls(Vec<Entry>),
    /// A `<sitemapindex>`'s children.
    Children(Vec<String>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Loc,
    Lastmod,
    Priority,
}

/// A namespace declaration in scope: `prefix` (empty for the default namespace) at element `level`.
#[derive(Clone)]
struct Binding<'a> {
    prefix: &'a [u8],
    /// The URI is a sitemap namespace (decided once, at the declaration).
    sitemap: bool,
    level: usize,
}

/// XML whitespace as quick-xml trims it from closing-tag names.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A name the scanner accepts: ASCII letters, digits, `_ . -`, at most one `:` (not first or last), starting
/// with a letter or `_`.
fn plain_name(n: &[u8]) -> bool {
    let Some(&first) = n.first() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == b'_') || n.last() == Some(&b':') {
        return false;
    }
    let mut colons = 0;
    n.iter().all(|&b| {
        if b == b':' {
            colons += 1;
        }
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':')
    }) && colons <= 1
}

/// `(prefix, local)` of a name checked by [`plain_name`].
fn split_name(n: &[u8]) -> (&[u8], &[u8]) {
    match memchr(b':', n) {
        Some(i) => (&n[..i], &n[i + 1..]),
        None => (&[], n),
    }
}

fn is_sitemap_uri(u: &[u8]) -> bool {
    u.starts_with(b"http://www.sitemaps.org/schemas/sitemap/")
        || u.starts_with(b"https://www.sitemaps.org/schemas/sitemap/")
        || u.starts_with(b"http://www.google.com/schemas/sitemap/")
}

/// Appends a text run to `out`, decoding the five predefined entities; `None` for anything else.
fn decode_into(t: &[u8], out: &mut String) -> Option<()> {
    let s = std::str::from_utf8(t).ok()?;
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let (ch, len) = if after.starts_with("&amp;") {
            ('&', 5)
        } else if after.starts_with("&lt;") {
            ('<', 4)
        } else if after.starts_with("&gt;") {
            ('>', 4)
        } else if after.starts_with("&quot;") {
            ('"', 6)
        } else if after.starts_with("&apos;") {
            ('\'', 6)
        } else {
            return None;
        };
        out.push(ch);
        rest = &after[len..];
    }
    out.push_str(rest);
    Some(())
}

/// The attributes of a start tag (after its name): each ` name="value"` or ` name='value'`, whitespace
/// before each. Namespace declarations go to `ns` at `level`. `None` for any other shape.
fn attributes<'a>(mut a: &'a [u8], level: usize, ns: &mut Vec<Binding<'a>>) -> Option<()> {
    loop {
        let ws = a.iter().take_while(|&&b| is_ws(b)).count();
        a = &a[ws..];
        if a.is_empty() {
            return Some(());
        }
        if ws == 0 {
            return None;
        }
        let eq = memchr(b'=', a)?;
        let name = &a[..eq];
        if !plain_name(name) {
            return None;
        }
        let q = *a.get(eq + 1)?;
        if q != b'"' && q != b'\'' {
            return None;
        }
        let body = &a[eq + 2..];
        let close = memchr(q, body)?;
        let value = &body[..close];
        if memchr2(b'<', b'&', value).is_some() {
            return None;
        }
        let prefix = if name == b"xmlns" {
            Some(&name[..0])
        } else {
            name.strip_prefix(b"xmlns:")
        };
        if let Some(prefix) = prefix {
            // Reserved prefixes and namespaces, and undeclarations, are the full reader's business.
            if prefix == b"xml"
                || prefix == b"xmlns"
                || value.is_empty()
                || memmem::find(value, b"www.w3.org/XML/1998/namespace").is_some()
                || memmem::find(value, b"www.w3.org/2000/xmlns").is_some()
            {
                return None;
            }
            ns.push(Binding {
                prefix,
                sitemap: is_sitemap_uri(value),
                level,
            });
        } else if name.starts_with(b"xmlns") || name.starts_with(b"xml:") {
            return None;
        }
        a = &body[close + 1..];
    }
}

/// Whether an element with this prefix is in a sitemap namespace; `None` for a prefix the scanner leaves to
/// the full reader (undeclared, `xml`, `xmlns`).
fn in_sitemap_ns(prefix: &[u8], ns: &[Binding<'_>]) -> Option<bool> {
    if prefix == b"xml" || prefix == b"xmlns" {
        return None;
    }
    let same = |b: &&Binding<'_>| {
        b.prefix.len() == prefix.len()
            && (prefix.is_empty() || (b.prefix[0] == prefix[0] && b.prefix == prefix))
    };
    match ns.iter().rev().find(same) {
        Some(b) => Some(b.sitemap),
        None if prefix.is_empty() => Some(true),
        None => None,
    }
}

/// The end of the start tag opened at `d[0] == b'<'`: the index of its `>`, quotes respected.
fn tag_end(d: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        let k = i + memchr3(b'>', b'"', b'\'', &d[i..])?;
        match d[k] {
            b'>' => return Some(k),
            q => i = k + 1 + memchr(q, &d[k + 1..])? + 1,
        }
    }
}

/// Scans a whole document; see the module doc.
pub(crate) fn scan(d: &[u8]) -> Option<Scanned> {
    match scan_from(d, Init::start(), Stop::Never)? {
        Ended::Done(s) => Some(s),
        Ended::Root(_) | Ended::Split(_) => None,
    }
}

/// Documents at least this large are scanned on two threads by [`scan_parallel`].
const PARALLEL_FROM: usize = 1 << 20;

/// [`scan`] on two threads for a large `<urlset>`: the second half from the first `<url>` after the middle, the
/// first half up to it. The second half starts in the state the document has between two `<url>`s (just inside
/// the root, its namespaces in scope); the first half checks that it arrives at exactly that point in exactly
/// that state, so the two halves are the one scan of the whole. Anything else (the `<url>` was inside a
/// comment, the scanner declined, no `<url>` to split at) is the one-thread scan.
pub(crate) fn scan_parallel(d: &[u8]) -> Option<Scanned> {
    if d.len() < PARALLEL_FROM {
        return scan(d);
    }
    scan_split(d, d.len() / 2)
}

/// [`scan_parallel`], splitting at the first `<url>` at or after `mid`.
pub(crate) fn scan_split(d: &[u8], mid: usize) -> Option<Scanned> {
    let Some(Ended::Root(root)) = scan_from(d, Init::start(), Stop::AfterRoot) else {
        return scan(d);
    };
    let from = mid.max(root.i);
    let Some(split) = d
        .get(from..)
        .and_then(|rest| memmem::find(rest, b"<url>"))
        .map(|k| from + k)
    else {
        return scan(d);
    };
    let (first, second) = std::thread::scope(|s| {
        let second = s.spawn(|| scan_from(d, Init { i: split, ..root }, Stop::Never));
        let first = scan_from(d, Init::start(), Stop::At(split));
        (first, second.join().ok().flatten())
    });
    match (first, second) {
        (Some(Ended::Split(mut entries)), Some(Ended::Done(Scanned::Urls(rest)))) => {
            entries.extend(rest);
            Some(Scanned::Urls(entries))
        }
        // The first half arrived where the second began, in its state: the one-thread scan would have
        // declined the second half too.
        (Some(Ended::Split(_)), _) => None,
        _ => scan(d),
    }
}

/// Where a scan starts: at `i`, with these elements open (names), namespaces in scope and root kind.
struct Init<'a> {
    i: usize,
    stack: Vec<&'a [u8]>,
    ns: Vec<Binding<'a>>,
    index: Option<bool>,
}

impl Init<'_> {
    fn start() -> Self {
        Self {
            i: 0,
            stack: Vec::with_capacity(8),
            ns: Vec::with_capacity(8),
            index: None,
        }
    }
}

/// When a scan stops early.
#[derive(Clone, Copy)]
enum Stop {
    /// At the end of the document.
    Never,
    /// Just inside the root (its start tag read).
    AfterRoot,
    /// At this offset, which must be the `<` of an item's start tag just inside a `<urlset>`.
    At(usize),
}

/// How a scan ended.
enum Ended<'a> {
    /// The whole document.
    Done(Scanned),
    /// [`Stop::AfterRoot`]: the state just inside the root.
    Root(Init<'a>),
    /// [`Stop::At`]: the entries before it.
    Split(Vec<Entry>),
}

#[expect(
    clippy::too_many_lines,
    reason = "mirrors parse_xml's one event loop, state for state"
)]
fn scan_from<'a>(d: &'a [u8], init: Init<'a>, stop: Stop) -> Option<Ended<'a>> {
    let Init {
        mut i,
        mut stack,
        mut ns,
        mut index,
    } = init;
    let mut closed = false;
    let mut in_item = false;
    let mut field: Option<Field> = None;
    let mut text = String::with_capacity(256);
    let mut cur = Entry {
        loc: String::new(),
        lastmod: None,
        priority: None,
    };
    let mut has_loc = false;
    // About one entry per 200 bytes in a typical sitemap: sized once instead of doubling (each doubling of a
    // big vector touches fresh memory, which costs more than the parse on a small VM).
    let end = match stop {
        Stop::At(split) => split,
        Stop::Never | Stop::AfterRoot => d.len(),
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(end.saturating_sub(i) / 160);
    let mut children: Vec<String> = Vec::new();
    loop {
        let lt = memchr(b'<', &d[i..]).map(|k| i + k);
        match stop {
            Stop::Never => {}
            Stop::AfterRoot => {
                if stack.len() == 1 && index.is_some() {
                    return Some(Ended::Root(Init {
                        i,
                        stack,
                        ns,
                        index,
                    }));
                }
            }
            Stop::At(split) => {
                let at = lt.unwrap_or(d.len());
                if at >= split {
                    let between_items = at == split
                        && stack.len() == 1
                        && index == Some(false)
                        && !in_item
                        && field.is_none();
                    return between_items.then_some(Ended::Split(entries));
                }
            }
        }
        let run = &d[i..lt.unwrap_or(d.len())];
        if !run.is_empty() {
            let depth = stack.len();
            if field.is_some() && depth == 3 {
                decode_into(run, &mut text)?;
            } else if depth == 0 && !run.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
        }
        let Some(lt) = lt else { break };
        let rest = &d[lt..];
        match rest.get(1) {
            Some(b'/') => {
                let gt = memchr(b'>', rest)?;
                let mut name = &rest[2..gt];
                while let [head @ .., last] = name
                    && is_ws(*last)
                {
                    name = head;
                }
                if stack.last() != Some(&name) {
                    return None;
                }
                let depth = stack.len();
                if depth == 3
                    && let Some(f) = field.take()
                {
                    let v = text.trim();
                    match f {
                        Field::Loc => {
                            cur.loc.clear();
                            cur.loc.push_str(v);
                            has_loc = true;
                        }
                        Field::Lastmod => cur.lastmod = Some(parse_lastmod(v)?),
                        Field::Priority => match v.parse::<f32>() {
                            Ok(p) if (0.0..=1.0).contains(&p) => cur.priority = Some(p),
                            _ => return None,
                        },
                    }
                } else if depth == 2 && in_item {
                    in_item = false;
                    if !has_loc || cur.loc.is_empty() {
                        return None;
                    }
                    let e = std::mem::replace(
                        &mut cur,
                        Entry {
                            loc: String::new(),
                            lastmod: None,
                            priority: None,
                        },
                    );
                    if index == Some(true) {
                        children.push(e.loc);
                    } else {
                        entries.push(e);
                    }
                }
                stack.pop();
                while ns.last().is_some_and(|b| b.level > stack.len()) {
                    ns.pop();
                }
                if stack.is_empty() {
                    closed = true;
                }
                i = lt + gt + 1;
            }
            Some(b'!') => {
                if !rest.starts_with(b"<!--") {
                    return None;
                }
                i = lt + 4 + memmem::find(&rest[4..], b"-->")? + 3;
            }
            Some(b'?') => {
                // `<?xml …?>`, `<?xml-stylesheet …?>`: skipped, as the full reader does.
                let end = memmem::find(&rest[2..], b"?>")?;
                let target_len = rest[2..2 + end].iter().take_while(|&&b| !is_ws(b)).count();
                if !plain_name(&rest[2..2 + target_len]) {
                    return None;
                }
                i = lt + 2 + end + 2;
            }
            Some(_) => {
                let gt = tag_end(rest)?;
                let mut body = &rest[1..gt];
                let empty = body.last() == Some(&b'/');
                if empty {
                    body = &body[..body.len() - 1];
                }
                let name_len = body.iter().take_while(|&&b| !is_ws(b)).count();
                let name = &body[..name_len];
                if !plain_name(name) {
                    return None;
                }
                let level = stack.len() + 1;
                attributes(&body[name_len..], level, &mut ns)?;
                let (prefix, local) = split_name(name);
                let sm = in_sitemap_ns(prefix, &ns)?;
                if level == 1 {
                    if closed {
                        return None;
                    }
                    index = match (sm, local) {
                        (true, b"urlset") => Some(false),
                        (true, b"sitemapindex") => Some(true),
                        _ => return None,
                    };
                } else if level == 2 && sm {
                    let want: &[u8] = if index == Some(true) {
                        b"sitemap"
                    } else {
                        b"url"
                    };
                    in_item = local == want;
                    has_loc = false;
                    cur = Entry {
                        loc: String::new(),
                        lastmod: None,
                        priority: None,
                    };
                } else if level == 3 && in_item && sm {
                    field = match local {
                        b"loc" => Some(Field::Loc),
                        b"lastmod" => Some(Field::Lastmod),
                        b"priority" => Some(Field::Priority),
                        _ => None,
                    };
                    text.clear();
                }
                if empty {
                    match level {
                        1 => closed = true,
                        2 => in_item = false,
                        3 => field = None,
                        _ => {}
                    }
                    while ns.last().is_some_and(|b| b.level >= level) {
                        ns.pop();
                    }
                } else {
                    stack.push(name);
                }
                i = lt + gt + 1;
            }
            None => return None,
        }
    }
    if !stack.is_empty() {
        return None;
    }
    match index? {
        true => Some(Ended::Done(Scanned::Children(children))),
        false => Some(Ended::Done(Scanned::Urls(entries))),
    }
}
