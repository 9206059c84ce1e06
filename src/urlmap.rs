//! [`UrlMap`]: URL → fingerprint, the map behind the state and the manifest.
//!
//! A million URLs with a fingerprint each are two million small strings in a map of `String`s: allocating
//! them was most of loading a large state, and a lookup chased three pointers into memory nobody had touched
//! for a while. Here every key and value is a span of one text: loading a state file keeps the file's own text
//! and points into it (only strings with JSON escapes are copied, to its end), and a lookup reads the index,
//! a slot and the text, where the URL and its fingerprint sit side by side.
//!
//! Semantics are those of an insertion-ordered map (`indexmap`'s): positions `0..len()` in insertion order, a
//! new value for a known URL keeps its position, [`UrlMap::swap_remove`] moves the last entry into the hole, a
//! key given twice when loading keeps its first position and its last value. Equality ignores order.
//!
//! The text only grows: a replaced or removed entry leaves its old text behind until the map is written and
//! read again (a run replaces at most what it pushes, or what a baseline re-records).

use std::fmt;
use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

/// A byte range of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    at: usize,
    len: usize,
}

/// One entry: its URL and fingerprint in the text, and the URL's hash (so growing the index reads no text).
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    url: Span,
    fp: Span,
}

/// URL → fingerprint, insertion-ordered; see the module doc.
#[derive(Clone, Default)]
pub struct UrlMap {
    /// Every key and value (and, for a loaded state, the rest of its file).
    text: String,
    /// The entries in position order.
    slots: Vec<Slot>,
    /// Positions by URL hash (FxHash: fast on long URLs with common prefixes; the keys are the site's own).
    index: hashbrown::HashTable<usize>,
}

fn hash(url: &str) -> u64 {
    FxBuildHasher.hash_one(url)
}

/// Whether slot `i` holds `url` (of hash `h`): the hash first, so a probe's other candidates read no text.
fn holds(slots: &[Slot], text: &str, i: usize, h: u64, url: &str) -> bool {
    let s = &slots[i];
    s.hash == h && &text[s.url.at..s.url.at + s.url.len] == url
}

impl UrlMap {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` entries.
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Self {
            text: String::new(),
            slots: Vec::with_capacity(n),
            index: hashbrown::HashTable::with_capacity(n),
        }
    }

    /// How many URLs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when it holds no URL.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn str_at(&self, s: Span) -> &str {
        &self.text[s.at..s.at + s.len]
    }

    /// Room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve(n);
        let slots = &self.slots;
        self.index.reserve(n, |&i| slots[i].hash);
    }

    /// The position and fingerprint of `url`.
    #[must_use]
    pub fn find(&self, url: &str) -> Option<(usize, &str)> {
        let i = self.position(hash(url), url)?;
        Some((i, self.str_at(self.slots[i].fp)))
    }

    fn position(&self, h: u64, url: &str) -> Option<usize> {
        self.index
            .find(h, |&i| holds(&self.slots, &self.text, i, h, url))
            .copied()
    }

    /// Reads what a lookup of `url` will read (its index group, slot and the first byte of its text), so
    /// the lookup itself finds it in cache; see [`crate::diff::Baseline::touch`].
    pub fn touch(&self, url: &str) {
        let h = hash(url);
        let first = url.as_bytes().first().copied();
        let hit = self.index.find(h, |&i| {
            let s = &self.slots[i];
            s.hash == h && self.text.as_bytes().get(s.url.at).copied() == first
        });
        std::hint::black_box(hit.is_some());
    }

    /// The fingerprint of `url`.
    #[must_use]
    pub fn get(&self, url: &str) -> Option<&str> {
        self.find(url).map(|(_, fp)| fp)
    }

    /// Appends `s` to the text.
    fn push_text(&mut self, s: &str) -> Span {
        let at = self.text.len();
        self.text.push_str(s);
        Span { at, len: s.len() }
    }

    /// Sets the fingerprint of `url`: a known URL keeps its position (and its text, when the fingerprint is
    /// unchanged or as long as the old one); a new one goes last.
    pub fn insert(&mut self, url: &str, fp: &str) {
        let h = hash(url);
        if let Some(i) = self.position(h, url) {
            let old = self.slots[i].fp;
            if self.str_at(old) == fp {
                return;
            }
            if old.len == fp.len() {
                self.text.replace_range(old.at..old.at + old.len, fp);
            } else {
                self.slots[i].fp = self.push_text(fp);
            }
            return;
        }
        let url_span = self.push_text(url);
        let fp_span = self.push_text(fp);
        self.push_slot(Slot {
            hash: h,
            url: url_span,
            fp: fp_span,
        });
    }

    /// Adds a slot for a URL known to be absent.
    fn push_slot(&mut self, slot: Slot) {
        let i = self.slots.len();
        self.slots.push(slot);
        let slots = &self.slots;
        self.index.insert_unique(slot.hash, i, |&j| slots[j].hash);
    }

    /// Removes `url`, moving the last entry into its position. True when it was there.
    pub fn swap_remove(&mut self, url: &str) -> bool {
        let h = hash(url);
        let (slots, text) = (&self.slots, &self.text);
        let Ok(entry) = self.index.find_entry(h, |&i| holds(slots, text, i, h, url)) else {
            return false;
        };
        let (i, _) = entry.remove();
        let last = self.slots.len() - 1;
        self.slots.swap_remove(i);
        if i != last {
            let moved = self.slots[i].hash;
            if let Some(p) = self.index.find_mut(moved, |&j| j == last) {
                *p = i;
            }
        }
        true
    }

    /// The entries in position order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.slots
            .iter()
            .map(|s| (self.str_at(s.url), self.str_at(s.fp)))
    }

    /// The URLs in position order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.slots.iter().map(|s| self.str_at(s.url))
    }

    /// A seed that reads a JSON object of strings out of `text` (deserialised from `text` itself): keys and
    /// values without escapes become spans of it, and [`Detached::attach`] then makes `text` the map's text.
    /// `reserve` sizes the map (a snapshot's `count`).
    pub(crate) fn seed_for(text: &str, reserve: usize) -> Seed {
        Seed {
            base: text.as_ptr() as usize,
            base_len: text.len(),
            reserve,
        }
    }
}

impl fmt::Debug for UrlMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for UrlMap {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(u, fp)| other.get(u) == Some(fp))
    }
}

impl Eq for UrlMap {}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for UrlMap {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k.as_ref(), v.as_ref());
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for UrlMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Self::new();
        m.extend(iter);
        m
    }
}

impl crate::diff::Baseline for UrlMap {
    fn find(&self, url: &str) -> Option<(usize, &str)> {
        UrlMap::find(self, url)
    }

    fn touch(&self, url: &str) {
        UrlMap::touch(self, url);
    }

    fn urls(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.keys())
    }

    fn len(&self) -> usize {
        UrlMap::len(self)
    }
}

/// A JSON string as read: borrowed from the input when it had no escapes.
enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::Borrowed(s))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text::Owned(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text::Owned(s))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads a JSON object of strings. With a `base` (the text being parsed), strings borrowed from that text
/// become spans of it; everything else is copied into the map's own text, placed after `base_len` bytes, where
/// [`Detached::attach`] puts the base text back in front.
pub(crate) struct Seed {
    base: usize,
    base_len: usize,
    reserve: usize,
}

/// A map read through a [`Seed`] with a base: its text still lacks the base in front.
pub(crate) struct Detached {
    map: UrlMap,
    base_len: usize,
    /// Keys were given twice: positions must be recomputed once the text is whole.
    duplicates: bool,
}

impl Detached {
    /// The map, its text now `base` followed by the copied strings.
    pub(crate) fn attach(self, mut base: String) -> UrlMap {
        let Detached {
            mut map,
            base_len,
            duplicates,
        } = self;
        debug_assert_eq!(base.len(), base_len);
        base.push_str(&map.text);
        map.text = base;
        if duplicates {
            // Rare (a hand-edited file): rebuilt with full comparisons, first position and last value.
            let mut clean = UrlMap::with_capacity(map.len());
            for (u, fp) in map.iter() {
                clean.insert(u, fp);
            }
            return clean;
        }
        map
    }
}

impl Seed {
    /// A seed that copies every string (no base text).
    pub(crate) fn copying(reserve: usize) -> Self {
        Self {
            base: 0,
            base_len: 0,
            reserve,
        }
    }

    /// Where `s` is: a span of the base text, or of the copies after it.
    fn place(&self, s: &Text<'_>, copies: &mut String) -> Span {
        if let Text::Borrowed(b) = s {
            let p = b.as_ptr() as usize;
            if self.base_len > 0 && p >= self.base && p + b.len() <= self.base + self.base_len {
                return Span {
                    at: p - self.base,
                    len: b.len(),
                };
            }
        }
        let at = self.base_len + copies.len();
        copies.push_str(s.as_str());
        Span {
            at,
            len: s.as_str().len(),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Detached;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Detached, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = Detached;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of URL to fingerprint strings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Detached, A::Error> {
        let cap = m.size_hint().unwrap_or(self.reserve);
        let mut copies = String::new();
        let mut next = |m: &mut A| -> Result<Option<Slot>, A::Error> {
            let Some((k, v)) = m.next_entry::<Text<'de>, Text<'de>>()? else {
                return Ok(None);
            };
            Ok(Some(Slot {
                hash: hash(k.as_str()),
                url: self.place(&k, &mut copies),
                fp: self.place(&v, &mut copies),
            }))
        };
        let mut index = Indexer::new(cap);
        if cap < PARALLEL_FROM {
            while let Some(slot) = next(&mut m)? {
                index.add(slot);
            }
        } else {
            // This thread parses, another indexes (each about half the work).
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Slot>>(4);
            let (parsed, built) = std::thread::scope(|scope| {
                let builder = scope.spawn(move || {
                    for chunk in rx {
                        for slot in chunk {
                            index.add(slot);
                        }
                    }
                    index
                });
                let parsed = (|| {
                    let mut chunk = Vec::with_capacity(CHUNK);
                    while let Some(slot) = next(&mut m)? {
                        chunk.push(slot);
                        if chunk.len() == CHUNK
                            && tx
                                .send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                                .is_err()
                        {
                            break;
                        }
                    }
                    // A send fails only when the builder is gone, which `join` reports.
                    let _ = tx.send(chunk);
                    Ok(())
                })();
                drop(tx);
                (parsed, builder.join())
            });
            parsed?;
            index = built.map_err(|_| de::Error::custom("the state loader thread failed"))?;
        }
        let Indexer {
            slots,
            index,
            duplicates,
        } = index;
        Ok(Detached {
            map: UrlMap {
                text: copies,
                slots,
                index,
            },
            base_len: self.base_len,
            duplicates,
        })
    }
}

/// Maps at least this large are loaded on two threads.
const PARALLEL_FROM: usize = 65_536;
/// Slots handed from the parsing thread to the indexing one at a time.
const CHUNK: usize = 16_384;

/// Slots and their index as they are read, before the text is whole.
struct Indexer {
    slots: Vec<Slot>,
    index: hashbrown::HashTable<usize>,
    duplicates: bool,
}

impl Indexer {
    fn new(cap: usize) -> Self {
        Self {
            slots: Vec::with_capacity(cap),
            index: hashbrown::HashTable::with_capacity(cap),
            duplicates: false,
        }
    }

    fn add(&mut self, slot: Slot) {
        // The text is not whole yet: a URL already seen shows as a hash already seen, settled in `attach`.
        let slots = &self.slots;
        if self
            .index
            .find(slot.hash, |&i| slots[i].hash == slot.hash)
            .is_some()
        {
            self.duplicates = true;
        }
        let i = self.slots.len();
        self.slots.push(slot);
        let slots = &self.slots;
        self.index.insert_unique(slot.hash, i, |&j| slots[j].hash);
    }
}

/// Deserialises a JSON object of strings into a [`UrlMap`] (every string copied).
///
/// # Errors
/// The deserializer's.
pub fn deserialize_url_map<'de, D: Deserializer<'de>>(d: D) -> Result<UrlMap, D::Error> {
    Seed::copying(1024)
        .deserialize(d)
        .map(|m| m.attach(String::new()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insert_replace_remove_keep_indexmap_semantics() {
        let mut m = UrlMap::new();
        m.insert("a", "1");
        m.insert("b", "22");
        m.insert("c", "3");
        m.insert("a", "9"); // same length: in place
        m.insert("b", "longer"); // appended
        assert_eq!(m.find("a"), Some((0, "9")));
        assert_eq!(m.find("b"), Some((1, "longer")));
        assert!(m.swap_remove("a"));
        assert!(!m.swap_remove("a"));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["c", "b"]);
        assert_eq!(m.find("c"), Some((0, "3")));
        assert_eq!(m.find("b"), Some((1, "longer")));
        assert!(m.swap_remove("b"));
        assert!(m.swap_remove("c"));
        assert!(m.is_empty());
        assert_eq!(m.get("c"), None);
    }

    #[test]
    fn loads_borrowing_the_text_copies_escapes_and_settles_duplicates() {
        let text = r#"{"https://a/1":"lastmod:x","https://a/\u00e9":"b3:\"q\"","https://a/1":"new","https://a/2":""}"#.to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        let detached = UrlMap::seed_for(&text, 4).deserialize(&mut de).unwrap();
        let m = detached.attach(text.clone());
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            [
                ("https://a/1", "new"),
                ("https://a/é", "b3:\"q\""),
                ("https://a/2", ""),
            ]
        );
        assert_eq!(m.find("https://a/2"), Some((2, "")));
        // Without duplicates, unescaped strings are not copied: the text is the input plus the escaped ones.
        let text = r#"{"https://a/1":"lastmod:x","https://a/\u00e9":"b3:\"q\"","https://a/2":""}"#
            .to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        let m = UrlMap::seed_for(&text, 4)
            .deserialize(&mut de)
            .unwrap()
            .attach(text.clone());
        assert_eq!(
            m.text.len(),
            text.len() + "https://a/é".len() + "b3:\"q\"".len()
        );
        assert_eq!(m.find("https://a/é"), Some((1, "b3:\"q\"")));
        assert_eq!(m.find("https://a/1"), Some((0, "lastmod:x")));
    }

    #[test]
    fn equality_ignores_order() {
        let a: UrlMap = [("x", "1"), ("y", "2")].into_iter().collect();
        let b: UrlMap = [("y", "2"), ("x", "1")].into_iter().collect();
        let c: UrlMap = [("y", "2"), ("x", "3")].into_iter().collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(format!("{a:?}"), r#"{"x": "1", "y": "2"}"#);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, String),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..24, "[a-c]{0,3}").prop_map(|(k, v)| Op::Insert(k, v)),
            (0u8..24).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// Against `indexmap` (the map this replaced): same entries, same positions, after any mix of inserts,
        /// replacements and swap-removes.
        #[test]
        fn behaves_as_an_indexmap(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ours = UrlMap::new();
            let mut model: indexmap::IndexMap<String, String> = indexmap::IndexMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = format!("https://h/{k}");
                        ours.insert(&k, &v);
                        model.insert(k, v);
                    }
                    Op::Remove(k) => {
                        let k = format!("https://h/{k}");
                        prop_assert_eq!(ours.swap_remove(&k), model.swap_remove(&k).is_some());
                    }
                }
                prop_assert_eq!(ours.len(), model.len());
            }
            let got: Vec<(&str, &str)> = ours.iter().collect();
            let want: Vec<(&str, &str)> = model.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            prop_assert_eq!(&got, &want);
            for (i, (k, v)) in model.iter().enumerate() {
                prop_assert_eq!(ours.find(k), Some((i, v.as_str())));
            }
        }
    }
}
