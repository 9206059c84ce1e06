#!/usr/bin/env python3
"""Turns bench/run.sh's results (TSV: case, tool, hyperfine json, rss MiB, urls, note) into a Markdown table with
ratios against the case's first (prewarm) row, or against a named floor."""
import json
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("| case | tool | median | min–max | peak RSS | URLs / files | peer ÷ prewarm | note |")
print("|---|---|---:|---:|---:|---:|---:|---|")
base = {}
for case, tool, js, rss, count, note in rows:
    r = json.load(open(js))["results"][0]
    med, lo, hi = r["median"], r["min"], r["max"]
    if case not in base:
        base[case] = med
        ratio = "—"
    else:
        ratio = "%.2f×" % (med / base[case])
    fmt = lambda s: ("%.0f ms" % (s * 1000)) if s < 10 else ("%.1f s" % s)
    tool = tool.replace("|", "\\|")
    print("| %s | %s | %s | %s–%s | %s MiB | %s | %s | %s |" % (case, tool, fmt(med), fmt(lo), fmt(hi), rss, count, ratio, note))
