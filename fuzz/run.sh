#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time; fails on a crash (called by .ci/run).
#
#   FUZZ_SECONDS   seconds per target (default 30)
#   FUZZ_TARGETS   space-separated subset (default: every target in fuzz/Cargo.toml)
#   FUZZ_SANITIZER address (default) | none  (none builds faster; the code under test is safe Rust)
#
# Only the stable toolchain exists here, so nightly-only flags are unlocked with RUSTC_BOOTSTRAP=1. The committed
# seeds (fuzz/corpus/<target>/seed-*) are read-only; new inputs go to a temporary working corpus. A crash leaves
# its input in fuzz/artifacts/<target>/: turn it into a regression test in tests/cli/props.rs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
seconds="${FUZZ_SECONDS:-30}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
for t in $targets; do
    echo "fuzz/run.sh: building $t ($sanitizer sanitizer)" >&2
    cargo fuzz build --sanitizer "$sanitizer" "$t"
done

# A fuzzed sitemap index may name remote children: while the targets run (not while cargo builds them, which
# needs the registry), every request goes to a closed loopback port instead.
export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9
unset NO_PROXY no_proxy

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for t in $targets; do
    mkdir -p "$work/$t" "artifacts/$t"
    echo "fuzz/run.sh: $t for ${seconds}s" >&2
    # libFuzzer prints a line per new input: keep them in a log, show its tail on failure and the stats always.
    if ! cargo fuzz run --sanitizer "$sanitizer" "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$work/$t.log" 2>&1; then
        tail -n 60 "$work/$t.log" >&2
        echo "fuzz/run.sh: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
        failed=1
    else
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$work/$t.log" >&2 || true
    fi
done
exit "$failed"
