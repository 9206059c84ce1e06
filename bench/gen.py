#!/usr/bin/env python3
"""Deterministic input generator for bench/run.sh (nothing large is committed; everything is made here).

Usage:
  gen.py sitemap OUT.xml [N] [SEED]       one <urlset> of N URLs (default 50,000; ~10 MB); OUT.expected lists its URLs
  gen.py index DIR [CHILDREN] [N]         DIR/index.xml + DIR/children/sitemap-NN.xml[.gz] (every 3rd gzipped),
                                          referenced by relative path; DIR/expected.txt lists every URL
  gen.py plain OUT.txt N                  a plain-text sitemap of N URLs (one a line)
  gen.py tree DIR [FILES] [MB]            a build folder of FILES files (~MB MiB in total), nested, index.html
                                          pages, html/css/js/binary, a few names with spaces and quotes
  gen.py touch DIR COUNT [LIST]           rewrite the contents of COUNT files of the tree (same sizes), deterministic;
                                          LIST gets their paths, NUL-separated

Every URL has one <loc> on its own line (so `grep -c '<loc>'` is an honest count); one URL in 7 carries a query
with an `&amp;` escape (`?id=N&amp;region=eu`), whose correct value is `?id=N&region=eu`.
"""
import gzip
import os
import random
import sys

BASE = "https://www.example.com"
LASTMOD_FORMS = [
    lambda r: "%04d" % r.randint(2015, 2025),
    lambda r: "%04d-%02d" % (r.randint(2015, 2025), r.randint(1, 12)),
    lambda r: "%04d-%02d-%02d" % (r.randint(2015, 2025), r.randint(1, 12), r.randint(1, 28)),
    lambda r: "%04d-%02d-%02dT%02d:%02dZ" % (r.randint(2015, 2025), r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59)),
    lambda r: "%04d-%02d-%02dT%02d:%02d:%02d+08:00" % (r.randint(2015, 2025), r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)),
    lambda r: "%04d-%02d-%02dT%02d:%02d:%02d.%03d-05:00" % (r.randint(2015, 2025), r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59), r.randint(0, 59), r.randint(0, 999)),
    lambda r: "%04d-%02d-%02dT%02d:%02d:%02dZ" % (r.randint(2015, 2025), r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)),
]
SECTIONS = ["blog", "products", "docs", "news", "category/shoes", "category/bags", "help/faq", "en/guides"]


def url_of(prefix, i):
    """(escaped form for XML, the real URL)."""
    sec = SECTIONS[i % len(SECTIONS)]
    path = "%s/%s/%s-item-%d" % (BASE, prefix, sec, i)
    if i % 7 == 3:
        return path + "?id=%d&amp;region=eu" % i, path + "?id=%d&region=eu" % i
    if i % 5 == 0:
        return path + "/", path + "/"
    return path + ".html", path + ".html"


def urlset(prefix, n, seed):
    r = random.Random(seed)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"\n'
        '        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"\n'
        '        xmlns:xhtml="http://www.w3.org/1999/xhtml">\n'
    ]
    urls = []
    for i in range(n):
        esc, real = url_of(prefix, i)
        urls.append(real)
        parts = ["  <url>\n    <loc>", esc, "</loc>\n"]
        if i % 10 != 9:
            parts += ["    <lastmod>", LASTMOD_FORMS[r.randrange(len(LASTMOD_FORMS))](r), "</lastmod>\n"]
        if i % 4 != 1:
            parts += ["    <changefreq>weekly</changefreq>\n    <priority>0.%d</priority>\n" % r.randint(1, 9)]
        if i % 3 == 0:
            parts += ['    <image:image><image:loc>%s/img/%s/%d.jpg</image:loc></image:image>\n' % (BASE, prefix, i)]
        if i % 6 == 2:
            parts += ['    <xhtml:link rel="alternate" hreflang="de" href="%s/de/%s/%d"/>\n' % (BASE, prefix, i)]
        parts.append("  </url>\n")
        out.append("".join(parts))
    out.append("</urlset>\n")
    return "".join(out).encode(), urls


def cmd_sitemap(out, n=50000, seed=1):
    data, urls = urlset("s", int(n), int(seed))
    with open(out, "wb") as f:
        f.write(data)
    with open(os.path.splitext(out)[0] + ".expected", "w") as f:
        f.write("\n".join(urls) + "\n")


def cmd_index(d, children=20, n=50000):
    children, n = int(children), int(n)
    os.makedirs(os.path.join(d, "children"), exist_ok=True)
    idx = ['<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n']
    with open(os.path.join(d, "expected.txt"), "w") as exp:
        for c in range(children):
            data, urls = urlset("c%02d" % c, n, 100 + c)
            name = "children/sitemap-%02d.xml" % c
            if c % 3 == 1:
                name += ".gz"
                with open(os.path.join(d, name), "wb") as f:
                    f.write(gzip.compress(data, 6, mtime=0))
            else:
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
            exp.write("\n".join(urls) + "\n")
            idx.append("  <sitemap>\n    <loc>%s</loc>\n    <lastmod>2025-01-0%dT00:00:00Z</lastmod>\n  </sitemap>\n" % (name, 1 + c % 9))
    idx.append("</sitemapindex>\n")
    with open(os.path.join(d, "index.xml"), "w") as f:
        f.write("".join(idx))


def cmd_plain(out, n):
    with open(out, "w") as f:
        for i in range(int(n)):
            f.write(url_of("p", i)[1] + "\n")


POOL_SIZE = 64 << 20


def pool():
    return random.Random(12345).randbytes(POOL_SIZE)


def tree_files(n):
    """Deterministic (relative path, size, kind) list."""
    r = random.Random(777)
    files = []
    odd = ["about us.html", "it's new.html", 'say "hi".html', "a  b.css", "tab\there.js"]
    for i in range(n):
        top = "sec%02d" % (i % 25)
        sub = "d%03d" % ((i // 25) % 200)
        k = i % 10
        if k < 4:
            name, size, kind = ("index.html" if i % 40 < 4 else "page-%d.html" % i), r.randint(2000, 12000), "t"
        elif k < 6:
            name, size, kind = "style-%d.css" % i, r.randint(1000, 16000), "t"
        elif k < 8:
            name, size, kind = "app-%d.js" % i, r.randint(2000, 20000), "t"
        else:
            name, size, kind = "img-%d.%s" % (i, ["png", "jpg", "woff2", "webp"][i % 4]), r.randint(5000, 60000), "b"
        if i % 20000 < len(odd):
            name = "%d-%s" % (i, odd[i % 20000])
        files.append(("%s/%s/%d/%s" % (top, sub, i // 5000, name) if i % 40 < 4 else "%s/%s/%s" % (top, sub, name), size, kind))
    return files


def content(p, i, size, kind, gen=0):
    off = (i * 7919 + gen * 104729) % (POOL_SIZE - size - 1)
    chunk = p[off:off + size]
    if kind == "t":
        # printable text so html/css/js look like text to anyone who sniffs
        chunk = chunk.translate(TEXT_TABLE)
    return b"<!-- %d/%d -->" % (i, gen) + chunk


TEXT_TABLE = bytes((32 + (b % 95)) if b % 37 else 10 for b in range(256))


def cmd_tree(d, n=100000, mb=1024):
    n, mb = int(n), int(mb)
    p = pool()
    files = tree_files(n)
    total = sum(s for _, s, _ in files)
    scale = (mb << 20) / total
    made = set()
    for i, (rel, size, kind) in enumerate(files):
        path = os.path.join(d, rel)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        with open(path, "wb") as f:
            f.write(content(p, i, int(size * scale), kind))


def cmd_touch(d, count, listing=None):
    """Rewrites COUNT evenly spread files (sorted walk order) with new bytes of the same size; LISTING gets their
    paths, NUL-separated."""
    count = int(count)
    p = pool()
    all_files = []
    for root, dirs, names in os.walk(d):
        dirs.sort()
        for nm in sorted(names):
            all_files.append(os.path.join(root, nm))
    step = max(1, len(all_files) // count)
    chosen = all_files[::step][:count]
    for j, path in enumerate(chosen):
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.write(content(p, j, size, "b", gen=1)[:size])
    if listing:
        with open(listing, "wb") as f:
            f.write(b"".join(os.fsencode(c) + b"\0" for c in chosen))


if __name__ == "__main__":
    cmds = {"sitemap": cmd_sitemap, "index": cmd_index, "plain": cmd_plain, "tree": cmd_tree, "touch": cmd_touch}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
