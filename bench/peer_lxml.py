#!/usr/bin/env python3
"""Peer: a plain lxml `iterparse` reader over a sitemap or a local sitemap index (children relative to the index,
gunzipped by magic). Usage: peer_lxml.py FILE [--print]. Prints the URL count, or with --print every URL."""
import gzip
import os
import sys

from lxml import etree

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def opened(path):
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")
    f.seek(0)
    return f


def walk(path, show, out):
    n = 0
    children = []
    with opened(path) as f:
        for _, el in etree.iterparse(f, events=("end",), tag=(NS + "loc", NS + "url", NS + "sitemap")):
            if el.tag == NS + "loc":
                parent = el.getparent()
                if parent is not None and parent.tag == NS + "sitemap":
                    children.append(el.text.strip())
                else:
                    n += 1
                    if show:
                        out.write(el.text.strip() + "\n")
            else:
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
    for c in children:
        n += walk(os.path.join(os.path.dirname(path), c), show, out)
    return n


n = walk(sys.argv[1], "--print" in sys.argv, sys.stdout)
if "--print" not in sys.argv:
    print(n)
