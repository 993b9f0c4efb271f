#!/usr/bin/env bash
# Instructions per streamed message, both ends, under valgrind's callgrind:
# a count that repeats exactly whatever else the machine is doing, so that
# progress is measurable on a noisy machine. Each cell streams N and then 2N
# messages in a fresh process (no warm-up, one repetition) and reports
# (I(2N) - I(N)) / N, which leaves out start-up and connection set-up.
#
#   bench/instr.sh                      # ifkit-proto, ifkit-json, ifkit-schema, ifkit-raw, yamux, grpc over unix at 64 B, 1 KiB, 64 KiB
#   SYSTEMS="ifkit-proto yamux" SIZES="64" bench/instr.sh
#   N=20000 SYSTEMS=ifkit-json SIZES=64 bench/instr.sh   # N for every size (quicker, noisier)
#
# Go needs GODEBUG=asyncpreemptoff=1 under valgrind (its preemption signals
# otherwise break the run). GOMAXPROCS defaults to 1 (see procs below).
# Needs valgrind on PATH.
set -euo pipefail
cd "$(dirname "$0")"
systems=${SYSTEMS:-ifkit-proto ifkit-json ifkit-schema ifkit-raw yamux grpc}
sizes=${SIZES:-64 1k 64k}
transport=${TRANSPORT:-unix}
# One P by default: valgrind runs one thread at a time anyway, and with more
# Ps the instructions of idle Ps spinning for work (as many as the work
# itself, and different every run) drown the difference between runs.
procs=${GOMAXPROCS:-1}
bin=$(mktemp -d)/bench
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" .

count() { # count SYSTEM SIZE N: instructions of the whole run (empty if it failed three times: valgrind itself crashes now and then)
  local out
  for _ in 1 2 3; do
    if out=$(GOMAXPROCS=$procs GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
      "$bin" -only="$1,throughput,$transport,$2" -reps 1 -count "$3" -no-warmup 2>&1); then
      sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out"
      return
    fi
    echo "instr.sh: $1 $2 x$3 failed under valgrind:" >&2
    grep -v '^==' <<<"$out" | tail -3 >&2
  done
}

echo "| system | transport | payload | instructions/msg |"
echo "|---|---|---|---|"
for size in $sizes; do
  case $size in 64) n=100000 ;; 1k) n=50000 ;; *) n=5000 ;; esac
  n=${N:-$n}
  for sys in $systems; do
    a=$(count "$sys" "$size" "$n")
    b=$(count "$sys" "$size" $((2 * n)))
    if [ -z "$a" ] || [ -z "$b" ]; then
      echo "| $sys | $transport | $size | error |"
      continue
    fi
    echo "| $sys | $transport | $size | $(((b - a) / n)) |"
  done
done
