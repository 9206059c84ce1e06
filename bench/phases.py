#!/usr/bin/env python3
"""Runs a prewarm command with -v RUNS times and prints the median of each phase it times (stderr lines such as
`state: 1000000 URLs loaded in 132.0ms`, `diff: ... in 157.8ms`, `state saved in 130.4ms`), one per line:
`load 132.0`, in milliseconds."""
import re
import statistics
import subprocess
import sys

runs = int(sys.argv[1])
cmd = sys.argv[2:]
phases = {
    "collect": re.compile(r"collected \d+ URLs in ([\d.]+)(µs|ms|s)\b"),
    "load": re.compile(r"state: \d+ URLs loaded in ([\d.]+)(µs|ms|s)\b"),
    "diff": re.compile(r"diff: .* in ([\d.]+)(µs|ms|s)$"),
    "plan": re.compile(r"plan: .* in ([\d.]+)(µs|ms|s)$"),
    "save": re.compile(r"state saved in ([\d.]+)(µs|ms|s)\b"),
}
scale = {"µs": 0.001, "ms": 1.0, "s": 1000.0}
seen = {k: [] for k in phases}
for _ in range(runs):
    err = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True).stderr
    for line in err.splitlines():
        for name, rx in phases.items():
            m = rx.search(line)
            if m:
                seen[name].append(float(m.group(1)) * scale[m.group(2)])
for name, values in seen.items():
    if values:
        print("%s %.1f" % (name, statistics.median(values)))
