#!/usr/bin/env bash
# prewarm benchmarks (issue 7): whole-process runs of the release binary next to what users would otherwise run.
#
#   bench/run.sh            all cases: a b c d e f (about 12-16 minutes on a 2-core machine)
#   bench/run.sh a b        a subset
#   RUNS=10 bench/run.sh a  more runs per command (default 5, after 1 warm-up)
#   KEEP=1 bench/run.sh     keep the generated inputs (printed path) instead of deleting them
#
# Inputs are generated deterministically (bench/gen.py) into a temporary folder under /tmp, deleted at the end.
# Results: a Markdown table on stdout (and in $OUT when set). Not run by CI.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
RUNS="${RUNS:-5}"
OUT="${OUT:-/dev/null}"
CASES=("$@")
[ ${#CASES[@]} -eq 0 ] && CASES=(a b c d e f)
want() { local c; for c in "${CASES[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }
say() { printf '\n== %s\n' "$*" >&2; }

# ---- tools: install what is missing, or say clearly what is
need_apt=()
command -v hyperfine >/dev/null || need_apt+=(hyperfine)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v zcat >/dev/null || need_apt+=(gzip)
command -v sha1sum >/dev/null || need_apt+=(coreutils)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} (apt)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >&2
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${need_apt[@]}" >&2; fi
fi
if ! python3 -c 'import usp, lxml' 2>/dev/null; then
  say "installing ultimate-sitemap-parser and lxml (pip)"
  python3 -m pip install -q ultimate-sitemap-parser lxml >&2 || python3 -m pip install -q --break-system-packages ultimate-sitemap-parser lxml >&2
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v b3sum >/dev/null; then say "installing b3sum (cargo install b3sum --locked)"; cargo install -q b3sum --locked >&2; fi
for t in hyperfine python3 b3sum sha1sum zcat find xargs; do
  command -v "$t" >/dev/null || { echo "bench: missing tool: $t" >&2; exit 1; }
done

say "building the release binary"
(cd "$ROOT" && cargo build --release -q)
P="$ROOT/target/release/prewarm"

W="$(mktemp -d /tmp/prewarm-bench.XXXXXX)"
FAKE_PID=""
cleanup() {
  [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "bench: inputs kept in $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
cd "$W"
cat > prewarm.toml <<'TOML'
[site]
domains = ["https://www.example.com"]
[quota]
per_request = 20
per_day = 1000
[cdn]
api = "v3"
area = "overseas"
[state]
path = "state/state.json"
TOML
export PREWARM_CONFIG="$W/prewarm.toml" PREWARM_PER_DAY=100000000
RES="$W/results.tsv"; : > "$RES"
NOTES="$W/notes.txt"; : > "$NOTES"
n=0

# bench CASE TOOL COUNT NOTE [hyperfine options --] COMMAND: 1 warm-up + $RUNS runs, then one more run for peak RSS.
bench() {
  local case="$1" tool="$2" count="$3" note="$4"; shift 4
  local opts=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done; shift
  n=$((n + 1))
  local js="$W/h$n.json"
  say "$case: $tool"
  local shell=(-N)   # no intermediate shell unless the command needs one
  case "$1" in *'|'* | *'>'* | *';'*) shell=() ;; esac
  case "$1" in "bash -c"*) shell=(-N) ;; esac
  hyperfine "${shell[@]}" --style basic --warmup 1 --runs "$RUNS" "${opts[@]}" --export-json "$js" "$1" >&2
  local prep=""
  for ((i = 0; i < ${#opts[@]}; i++)); do [ "${opts[$i]}" = --prepare ] && prep="${opts[$((i + 1))]}"; done
  [ -n "$prep" ] && bash -c "$prep"
  local rss; rss="$(python3 "$HERE/rss.py" "$1")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "$js" "$rss" "$count" "$note" >> "$RES"
}
# slow CASE TOOL COUNT NOTE COMMAND: for a peer that takes most of a minute: 3 runs, no warm-up, peak RSS from
# those runs (rss.py's own start-up, ~30 ms, is inside the time).
slow() {
  n=$((n + 1))
  local js="$W/h$n.json" rssf="$W/rss$n.txt"
  say "$1: $2"
  : > "$rssf"
  hyperfine -N --style basic --runs 3 --export-json "$js" "bash -c 'python3 $HERE/rss.py \"$5\" >> $rssf'" >&2
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$js" "$(sort -n "$rssf" | tail -1)" "$3" "$4" >> "$RES"
}
# check NAME FILE EXPECTED: compares a URL list (any order) with the expected one; prints count and verdict
check() {
  local got exp wrong
  got="$(wc -l < "$2")"; exp="$(wc -l < "$3")"
  wrong="$(comm -23 <(LC_ALL=C sort -u "$2") <(LC_ALL=C sort -u "$3") | wc -l)"
  if [ "$wrong" = 0 ] && [ "$got" = "$exp" ]; then echo "$got, exact"
  else echo "$got, $wrong wrong"; fi
}
mib() { python3 -c "import os,sys; print('%.1f MB' % (os.path.getsize(sys.argv[1]) / 1e6))" "$1"; }

if want a; then
  say "a: generating a 50,000-URL sitemap and its gzip"
  python3 "$HERE/gen.py" sitemap a.xml 50000
  gzip -6 -k -n a.xml
  "$P" urls --sitemap a.xml > a.prewarm; "$P" urls --sitemap a.xml.gz > a.prewarm.gz
  python3 "$HERE/peer_usp.py" a.xml --print > a.usp
  python3 "$HERE/peer_lxml.py" a.xml --print > a.lxml
  ca="$(check prewarm a.prewarm a.expected)"; cag="$(check prewarm a.prewarm.gz a.expected)"
  cu="$(check usp a.usp a.expected)"; cl="$(check lxml a.lxml a.expected)"
  fl="$(grep -c '<loc>' a.xml)"
  echo "a: usp turns $(grep -c '®ion=' a.usp || true) '&amp;region=' URLs into '®ion='" >> "$NOTES"
  bench "a plain ($(mib a.xml))" "prewarm urls --sitemap" "$ca" "" -- "$P urls --sitemap a.xml"
  bench "a plain ($(mib a.xml))" "ultimate-sitemap-parser" "$cu" "sitemap_from_str" -- "python3 $HERE/peer_usp.py a.xml"
  bench "a plain ($(mib a.xml))" "lxml iterparse" "$cl" "" -- "python3 $HERE/peer_lxml.py a.xml"
  bench "a plain ($(mib a.xml))" "grep -c '<loc>' (floor)" "$fl" "a scan, no parse" -- "grep -c '<loc>' a.xml"
  bench "a gzip ($(mib a.xml.gz))" "prewarm urls --sitemap" "$cag" "" -- "$P urls --sitemap a.xml.gz"
  bench "a gzip ($(mib a.xml.gz))" "lxml iterparse" "$cl" "" -- "python3 $HERE/peer_lxml.py a.xml.gz"
  bench "a gzip ($(mib a.xml.gz))" "zcat | grep -c '<loc>' (floor)" "$fl" "a scan, no parse" -- "zcat a.xml.gz | grep -c '<loc>'"
fi

if want b || want d || want f; then
  say "b: generating a sitemap index of 20 × 50,000 URLs (some children gzipped)"
  python3 "$HERE/gen.py" index b 20 50000
fi
if want b; then
  bsize="$(du -sb --apparent-size b/children | cut -f1)"
  braw="$(zcat -f b/children/* | wc -c)"
  "$P" urls --sitemap b/index.xml > b.prewarm
  python3 "$HERE/peer_lxml.py" b/index.xml --print > b.lxml
  python3 "$HERE/peer_usp.py" b/index.xml --print > b.usp
  cb="$(check prewarm b.prewarm b/expected.txt)"; cl="$(check lxml b.lxml b/expected.txt)"; cu="$(check usp b.usp b/expected.txt)"
  fl="$(zcat -f b/children/* | grep -c '<loc>')"
  echo "b: usp turns $(grep -c '®ion=' b.usp || true) '&amp;region=' URLs into '®ion='" >> "$NOTES"
  case="b index 1M URLs ($((braw / 1000000)) MB, $((bsize / 1000000)) MB on disk)"
  bench "$case" "prewarm urls --sitemap" "$cb" "" -- "$P urls --sitemap b/index.xml"
  slow "$case" "ultimate-sitemap-parser" "$cu" "sitemap_from_str per child; 3 runs, no warm-up" "python3 $HERE/peer_usp.py b/index.xml"
  bench "$case" "lxml iterparse" "$cl" "one core" -- "python3 $HERE/peer_lxml.py b/index.xml"
  bench "$case" "zcat -f | grep -c '<loc>' (floor)" "$fl" "a scan, no parse" -- "zcat -f b/children/* | grep -c '<loc>'"
fi

if want c; then
  say "c: generating a 100,000-file, ~1 GB build folder"
  python3 "$HERE/gen.py" tree site 100000 1024
  files="$(find site -type f | wc -l)"   # newline-separated: the odd names have no newline, so this is right
  files0="$(find site -type f -print0 | tr -dc '\0' | wc -c)"
  naive="$( (cd site && find . -type f | xargs sha1sum 2>/dev/null || true) | wc -l)"
  echo "c: find | xargs sha1sum (no -print0) hashes $naive of $files0 files (names with spaces or quotes are lost)" >> "$NOTES"
  D=(--dir site --base-url https://www.example.com/)
  "$P" --dry-run --format json "${D[@]}" --state c1/state.json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["urls"]))' > c.count
  case="c first run (${files0} files, $(( $(du -sb --apparent-size site | cut -f1) / 1000000 )) MB)"
  bench "$case" "prewarm --dry-run --dir (no state)" "$(cat c.count)" "hashes everything" \
    --prepare "rm -rf $W/c1" -- "$P --dry-run -q ${D[*]} --state $W/c1/state.json"
  bench "$case" "find -print0 | xargs -0 -P2 b3sum" "$files0" "2 processes" -- "bash -c 'find site -type f -print0 | xargs -0 -P2 -n 2000 b3sum > /dev/null'"
  bench "$case" "find -print0 | xargs -0 -P2 sha1sum" "$files0" "2 processes" -- "bash -c 'find site -type f -print0 | xargs -0 -P2 -n 2000 sha1sum > /dev/null'"
  # the warm state: a baseline records every file; the stat cache beside it is written on every run
  "$P" baseline -q "${D[@]}" --state c2/state.json
  "$P" --dry-run -q "${D[@]}" --state c2/state.json
  cp -p c2/stat-cache c2.stat-cache
  case="c rerun, no change"
  nc="$("$P" --dry-run --format json "${D[@]}" --state c2/state.json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["urls"]))')"
  bench "$case" "prewarm --dry-run --dir (warm)" "$nc URLs" "reads no file" -- "$P --dry-run -q ${D[*]} --state $W/c2/state.json"
  bench "$case" "find -printf '%s %T@' (floor)" "$files0" "metadata only" -- "bash -c \"find site -type f -printf '%s %T@\\n' > /dev/null\""
  python3 "$HERE/gen.py" touch site 1000 touched.lst
  case="c rerun, 1,000 files changed"
  bench "$case" "prewarm --dry-run --dir (warm)" "$(cp -p c2.stat-cache c2/stat-cache; "$P" --dry-run --format json "${D[@]}" --state c2/state.json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["urls"]))') URLs" "" \
    --prepare "cp -p $W/c2.stat-cache $W/c2/stat-cache" -- "$P --dry-run -q ${D[*]} --state $W/c2/state.json"
  bench "$case" "find -printf + b3sum of the 1,000 (floor)" "$files0" "" -- "bash -c \"find site -type f -printf '%s %T@\\n' > /dev/null; xargs -0 -a touched.lst b3sum > /dev/null\""
fi

if want d; then
  say "d: a 1M-entry state from the index of (b)"
  "$P" baseline -q --sitemap b/index.xml --state d/state.json
  entries="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["urls"]))' d/state.json)"
  bpe="$(python3 -c 'import os,sys; print("%.0f" % (os.path.getsize(sys.argv[1]) / int(sys.argv[2])))' d/state.json "$entries")"
  echo "d: state.json holds $entries entries in $(mib d/state.json): $bpe bytes per entry" >> "$NOTES"
  case="d 1M URLs vs 1M-entry state"
  bench "$case" "prewarm urls, empty state" "1000000" "parses, plans and prints 1M URLs" -- "$P urls --sitemap b/index.xml --state $W/d/none.json"
  bench "$case" "prewarm --dry-run (parse+load+diff)" "0 changed" "" -- "$P --dry-run -q --sitemap b/index.xml --state $W/d/state.json"
  bench "$case" "prewarm baseline (parse+load+diff+save)" "$entries" "rewrites state.json" -- "$P baseline -q --sitemap b/index.xml --state $W/d/state.json"
  # The state's own share, from the phase timings prewarm prints at -v (median of $RUNS runs each): loading the
  # 1M-entry state and diffing against it (a dry run), saving it (baseline rewrites the snapshot).
  python3 "$HERE/phases.py" "$RUNS" "$P" --dry-run -v --sitemap b/index.xml --state "$W/d/state.json" > d.dry.phases
  python3 "$HERE/phases.py" "$RUNS" "$P" baseline -v --sitemap b/index.xml --state "$W/d/state.json" > d.base.phases
  ph() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
  dl="$(ph d.dry.phases load)"; dd="$(ph d.dry.phases diff)"; ds="$(ph d.base.phases save)"; dc="$(ph d.dry.phases collect)"
  echo "d: phases at 1M (medians of $RUNS, prewarm -v): parse+admit ${dc} ms; state load ${dl} ms + diff ${dd} ms + save ${ds} ms = $(python3 -c "print('%.0f' % (float('$dl') + float('$dd') + float('$ds')))") ms" >> "$NOTES"
fi

if want e || want f; then
  say "starting the fake CDN (20 ms per call)"
  "$P" fake-cdn --port 0 --latency 20ms --per-request 20 --per-day 100000000 > fake.out 2> fake.err &
  FAKE_PID=$!
  for _ in $(seq 50); do grep -q http fake.out 2>/dev/null && break; sleep 0.1; done
  ep="$(grep -o 'http://[^ ]*' fake.out | head -1 || true)"
  if [ -z "$ep" ]; then
    echo "bench: the fake CDN did not start:" >&2; cat fake.err >&2
    echo "e, f: not measured: prewarm fake-cdn did not start ($(grep -m1 -i 'panicked\|error' fake.err || true))" >> "$NOTES"
  else
  export PREWARM_ENDPOINT="$ep" TENCENTCLOUD_SECRET_ID=AKIDfake0000000000000000000000000000 TENCENTCLOUD_SECRET_KEY=fake-secret-key-00000000000000000
  if want e; then
  say "e: 1,000 URLs through the fake CDN, 20 ms per call"
  python3 "$HERE/gen.py" sitemap e.xml 1000 5
  bench "e push 1,000 URLs, 20/call, 20 ms latency" "prewarm --sitemap (real push)" "1000" "" \
    --prepare "rm -rf $W/e" -- "$P -q --sitemap e.xml --state $W/e/state.json"
  echo "e: fake-cdn stats after the runs: $(curl -s "${ep%/}/__fake/stats" 2>/dev/null || echo n/a)" >> "$NOTES"
  echo "e: the floor is 50 calls × 20 ms = 1.00 s" >> "$NOTES"
  fi
  if want f; then
    # A big site's deploys with the default quota: the first real run pushes 1,000 URLs (50 calls) and records
    # the other 999,000 in the backlog; a later run the same day finds the quota spent and carries the backlog.
    say "f: the 1M-URL index of (b) pushed for real, 1,000 URLs a day"
    export PREWARM_PER_DAY=1000
    bench "f 1M URLs, real push, 1,000/day" "prewarm --sitemap, first run" "1000" "50 calls; 999,000 into the backlog" \
      --prepare "rm -rf $W/f" -- "$P -q --sitemap b/index.xml --state $W/f/state.json"
    rm -rf "$W/f1" && cp -a "$W/f" "$W/f1"
    echo "f: after a first run: state.json $(mib "$W/f1/state.json") ($(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(len(s["backlog"]), "in the backlog")' "$W/f1/state.json"))" >> "$NOTES"
    bench "f 1M URLs, real push, 1,000/day" "prewarm --sitemap, next run (quota spent)" "0" "carries the backlog" \
      --prepare "bash -c 'rm -rf $W/f && cp -a $W/f1 $W/f'" -- "$P -q --sitemap b/index.xml --state $W/f/state.json"
    echo "f: the journal after a next run: $(wc -c < "$W/f/state.json.journal") bytes (the backlog it already has is not written again)" >> "$NOTES"
    export PREWARM_PER_DAY=100000000
  fi
  unset PREWARM_ENDPOINT
  fi
fi

{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GB RAM, $(uname -sr); files in page cache (warm); $RUNS runs after 1 warm-up; $(date -u +%F)."
  echo
  python3 "$HERE/table.py" "$RES"
  echo
  sed 's/^/- /' "$NOTES"
} | tee "$OUT"
