#!/bin/bash
# The floor under the per-advert CPU figures: a minimal C process (benches/floor/advert_floor.c)
# against vipd, in the same two-namespace lab, one after the other in one run. Prints, per
# advert interval, the CPU per 30 s (scheduler run time of every thread, /proc/PID/task/*/
# schedstat) of a Master and of a Backup, and the same per advert.
#
#   sudo benches/advert_floor.sh [VIPD_BINARY]     (default: target/release/vipd)
#   WINDOW_1S=30 WINDOW_FAST=10 INTERVALS="1 0.1 0.01" sudo -E benches/advert_floor.sh
#
# Needs root and gcc. Namespaces af<PID>a/af<PID>b; everything started is killed by PID and
# the namespaces removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
VIPD=${1:-${CARGO_TARGET_DIR:-$PWD/target}/release/vipd}
INTERVALS=${INTERVALS:-"1 0.1 0.01"}
WINDOW_1S=${WINDOW_1S:-30}
WINDOW_FAST=${WINDOW_FAST:-10}
out=${CARGO_TARGET_DIR:-$PWD/target}/advert_floor
mkdir -p "$out"
gcc -O2 -Wall -o "$out/advert_floor" benches/floor/advert_floor.c
FLOOR=$out/advert_floor
[ -x "$VIPD" ] || { echo "no vipd binary at $VIPD (cargo build --release -p vipd)" >&2; exit 1; }

T=af$$; A=${T}a; B=${T}b
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip link add "${T}x" netns "$A" type veth peer name "${T}y" netns "$B"
ip -n "$A" link set "${T}x" name eth0; ip -n "$B" link set "${T}y" name eth0
for n in "$A" "$B"; do ip -n "$n" link set lo up; ip -n "$n" link set eth0 up; done
ip -n "$A" addr add 10.200.9.1/24 dev eth0; ip -n "$B" addr add 10.200.9.2/24 dev eth0

start() { # start NS CMD... ; sets LAST
  ip netns exec "$1" "${@:2}" >"$out/log.$1.$RANDOM" 2>&1 &
  LAST=$!; PIDS+=("$LAST")
}
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
  ip -n "$A" addr flush dev eth0 to 10.200.9.100/32 2>/dev/null || true
  ip -n "$B" addr flush dev eth0 to 10.200.9.100/32 2>/dev/null || true
}
run_ns() { # CPU ns of PID over SECS, all threads
  local pid=$1 secs=$2 s0 s1
  s0=$(cat /proc/"$pid"/task/*/schedstat | awk '{s+=$1} END {print s}')
  sleep "$secs"
  s1=$(cat /proc/"$pid"/task/*/schedstat | awk '{s+=$1} END {print s}')
  echo $((s1 - s0))
}
vipd_conf() { # PRIORITY INTERVAL_MS FILE
  cat >"$3" <<Y
instances:
  - name: VI_1
    interface: eth0
    vrid: 51
    version: 3
    priority: $1
    advert_interval: ${2}ms
    preempt: true
    vips: ['10.200.9.100/24']
Y
}
# measure ROLE KIND INTERVAL_S WINDOW -> prints "ms_per_30s us_per_advert"
measure() {
  local role=$1 kind=$2 iv=$3 win=$4 us ms pid ns
  us=$(awk -v i="$iv" 'BEGIN {printf "%d", i * 1000000}')
  ms=$((us / 1000))
  if [ "$kind" = vipd ]; then
    vipd_conf 150 "$ms" "$out/a.yaml"; vipd_conf 100 "$ms" "$out/b.yaml"
    start "$A" "$VIPD" run -c "$out/a.yaml"; pid=$LAST
    if [ "$role" = backup ]; then sleep 0.5; start "$B" "$VIPD" run -c "$out/b.yaml"; pid=$LAST; fi
  else
    local flag=""; [ "$kind" = floor-epoll ] && flag=-e
    start "$A" "$FLOOR" "$us" $flag; pid=$LAST
    if [ "$role" = backup ]; then start "$B" "$FLOOR" "$us" -b; pid=$LAST; fi
  fi
  sleep "$(awk -v i="$iv" 'BEGIN {print 4 * i + 2}')"
  ns=$(run_ns "$pid" "$win")
  stop_all
  awk -v n="$ns" -v w="$win" -v i="$iv" 'BEGIN {printf "%.2f %.1f", n / 1e6 * 30 / w, n / 1e3 / (w / i)}'
}

echo "# advert floor: $(date -u '+%F %T') UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), vipd $VIPD"
echo
echo "| role | interval | C floor, timerfd: ms per 30 s (µs per advert) | C floor, epoll timeout | vipd (VIP lifetime 5 s, the default) | vipd / floor (timerfd) |"
echo "|---|---|---|---|---|---|"
for iv in $INTERVALS; do
  win=$WINDOW_FAST; [ "$iv" = 1 ] && win=$WINDOW_1S
  for role in master backup; do
    f=$(measure "$role" floor "$iv" "$win")
    if [ "$role" = master ]; then e=$(measure "$role" floor-epoll "$iv" "$win"); else e="- -"; fi
    v=$(measure "$role" vipd "$iv" "$win")
    set -- $f; f30=$1 fa=$2
    set -- $e; e30=$1 ea=$2
    set -- $v; v30=$1 va=$2
    ratio=$(awk -v a="$v30" -v b="$f30" 'BEGIN {printf "%.2f", a / b}')
    if [ "$e30" = - ]; then ecell="-"; else ecell="$e30 ($ea)"; fi
    echo "| $role | ${iv} s | $f30 ($fa) | $ecell | $v30 ($va) | $ratio |"
  done
done
