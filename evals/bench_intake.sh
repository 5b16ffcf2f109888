#!/usr/bin/env bash
# evals/bench_intake.sh [BUILD_DIR] [ROUNDS] - intake throughput of `hale run` against a minimal
# libuv + http-parser server that answers 200 without work (evals/bench_baseline_server.c),
# under the same wrk load: realistic two-alert Alertmanager webhooks (every alert new),
# keep-alive, 64 connections, 10 s per run. A third server, hale's HTTP layer that parses each
# body with hale's Alertmanager parser and stores nothing (bench_http_server --parse), shows
# what the JSON parse alone costs; a fourth, the baseline plus one SQLite row per body committed
# in batches before each 200 (evals/bench_durable_server.c, synchronous=FULL), is the floor of
# any intake that acknowledges durably with SQLite. Rounds alternate the servers; medians are
# reported.
# Environment: DURATION (10s), CONNS (64), SYNC (full or normal), HALE_BENCH_DISTINCT (0: every
# alert new; N: re-sends of N distinct alerts). Needs wrk (Debian package). Not part of ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${2:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
SYNC=${SYNC:-full}
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$BUILD/hale" ] && [ -x "$BUILD/evals/bench_baseline_server" ] &&
  [ -x "$BUILD/evals/bench_durable_server" ] ||
  { echo "bench: build first: cmake --build $BUILD" >&2; exit 2; }

work=$(mktemp -d /tmp/hale-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Ready once the path answers with any HTTP status (the parse-only server answers GET with 400).
wait_ready() {
  for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2")" != 000 ] && return 0
    sleep 0.05
  done
  echo "bench: nothing answers on port $1" >&2
  return 1
}

# One wrk run; prints "req_per_s p50_ms p99_ms errors".
run_wrk() {
  local out
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s evals/wrk_alerts.lua "http://127.0.0.1:$1/api/v1/alerts" 2>"$work/wrk.err")
  local rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${non2xx:-0}"
}
to_ms() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

base_port=$(free_port)
"$BUILD/evals/bench_baseline_server" "$base_port" >"$work/base.log" 2>&1 &
pids+=($!)
wait_ready "$base_port" /

parse_port=$(free_port)
"$BUILD/evals/bench_http_server" "$parse_port" --parse >"$work/parse.log" 2>&1 &
pids+=($!)
wait_ready "$parse_port" /

floor_port=$(free_port)
mkdir -p "$work/floor"
"$BUILD/evals/bench_durable_server" "$floor_port" "$work/floor/floor.db" >"$work/floor.log" 2>&1 &
pids+=($!)
wait_ready "$floor_port" /

hale_port=$(free_port)
cat >"$work/hale.json" <<JSON
{"listen": "127.0.0.1:$hale_port", "data_dir": "$work/var", "log_level": "warn",
 "store_sync": "$SYNC", "max_connections": 1024}
JSON
"$BUILD/hale" run --config "$work/hale.json" >"$work/hale.log" 2>&1 &
pids+=($!)
wait_ready "$hale_port" /readyz

: >"$work/base.txt"; : >"$work/parse.txt"; : >"$work/floor.txt"; : >"$work/hale.txt"
for r in $(seq 1 "$ROUNDS"); do
  run_wrk "$base_port" >>"$work/base.txt"
  run_wrk "$parse_port" >>"$work/parse.txt"
  run_wrk "$floor_port" >>"$work/floor.txt"
  run_wrk "$hale_port" >>"$work/hale.txt"
  echo "round $r: baseline $(tail -1 "$work/base.txt") | parse-only $(tail -1 "$work/parse.txt") | durable floor $(tail -1 "$work/floor.txt") | hale $(tail -1 "$work/hale.txt")  (req/s p50_ms p99_ms non2xx)"
done

b_rps=$(awk '{print $1}' "$work/base.txt" | median); h_rps=$(awk '{print $1}' "$work/hale.txt" | median)
b_p50=$(awk '{print $2}' "$work/base.txt" | median); h_p50=$(awk '{print $2}' "$work/hale.txt" | median)
b_p99=$(awk '{print $3}' "$work/base.txt" | median); h_p99=$(awk '{print $3}' "$work/hale.txt" | median)
p_rps=$(awk '{print $1}' "$work/parse.txt" | median)
p_p50=$(awk '{print $2}' "$work/parse.txt" | median); p_p99=$(awk '{print $3}' "$work/parse.txt" | median)
f_rps=$(awk '{print $1}' "$work/floor.txt" | median)
f_p50=$(awk '{print $2}' "$work/floor.txt" | median); f_p99=$(awk '{print $3}' "$work/floor.txt" | median)
h_err=$(awk '{s+=$4} END {print s}' "$work/hale.txt")
stored=$("$BUILD/hale" incidents list --json --limit 10000 --config "$work/hale.json" | grep -c '"id"' || true)
alerts=$(curl -s "http://127.0.0.1:$hale_port/metrics" | awk '/^hale_alerts_accepted_total/ {print $2}')

echo
echo "wrk -t1 -c$CONNS -d$DURATION, two-alert Alertmanager webhooks, $ROUNDS rounds, medians; store_sync=$SYNC"
printf '%-10s %12s %12s %10s %10s\n' server "req/s" "alerts/s" "p50 ms" "p99 ms"
printf '%-10s %12.0f %12s %10.3f %10.3f\n' baseline "$b_rps" - "$b_p50" "$b_p99"
printf '%-10s %12.0f %12s %10.3f %10.3f\n' parse-only "$p_rps" - "$p_p50" "$p_p99"
printf '%-10s %12.0f %12s %10.3f %10.3f\n' floor "$f_rps" - "$f_p50" "$f_p99"
printf '%-10s %12.0f %12.0f %10.3f %10.3f\n' hale "$h_rps" "$(awk -v r="$h_rps" 'BEGIN{print 2*r}')" "$h_p50" "$h_p99"
echo "hale/baseline throughput ratio: $(awk -v h="$h_rps" -v b="$b_rps" 'BEGIN{printf "%.2f", h/b}')"
echo "durable floor/baseline ratio: $(awk -v h="$f_rps" -v b="$b_rps" 'BEGIN{printf "%.2f", h/b}'); hale/durable floor: $(awk -v h="$h_rps" -v b="$f_rps" 'BEGIN{printf "%.2f", h/b}')"
echo "parse-only/baseline ratio: $(awk -v h="$p_rps" -v b="$b_rps" 'BEGIN{printf "%.2f", h/b}'); hale/parse-only: $(awk -v h="$h_rps" -v b="$p_rps" 'BEGIN{printf "%.2f", h/b}')"
echo "hale non-2xx answers: $h_err; alerts durably accepted: $alerts; incidents: $stored"
