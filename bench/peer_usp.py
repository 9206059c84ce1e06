#!/usr/bin/env python3
"""Peer: ultimate-sitemap-parser (`sitemap_from_str`) over a sitemap or a local sitemap index.

Usage: peer_usp.py FILE [--print]. An index's children are read from disk (relative to the index, gunzipped by
name) and each handed to `sitemap_from_str`, so no HTTP is involved and only the parser is measured. Prints the URL
count, or with --print every URL.
"""
import gzip
import logging
import os
import sys

from usp.tree import sitemap_from_str

logging.disable(logging.CRITICAL)


def text(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def main():
    path, show = sys.argv[1], "--print" in sys.argv
    content = text(path)
    if "<sitemapindex" in content[:2000]:
        import re

        docs = [os.path.join(os.path.dirname(path), m) for m in re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", content)]
    else:
        docs = [path]
    n = 0
    out = sys.stdout
    for d in docs:
        sm = sitemap_from_str(text(d) if d != path else content)
        for page in sm.all_pages():
            n += 1
            if show:
                out.write(page.url + "\n")
    if not show:
        print(n)


main()
