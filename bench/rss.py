#!/usr/bin/env python3
"""Runs `bash -c CMD` once and prints the peak RSS (MiB) of the largest process it waited for (getrusage)."""
import resource
import subprocess
import sys

subprocess.run(["bash", "-c", sys.argv[1]], check=True, stdout=subprocess.DEVNULL)
print("%.0f" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))
