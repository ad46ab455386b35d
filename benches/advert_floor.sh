#!/bin/bash
# The floor under the per-advert CPU figures: a minimal C process (benches/floor/advert_floor.c)
# against vipd and keepalived, in the same two-namespace lab, one after the other in one run.
# Prints, per advert interval, the CPU per 30 s (scheduler run time of every thread of the
# process and its children, /proc/PID/task/*/schedstat: keepalived's parent and VRRP child) of
# a Master and of a Backup, the same per advert, and the floor and vipd as ratios of
# keepalived: a floor above 0.5 means no process doing an advert's system calls can spend half
# of keepalived's CPU on this machine.
#
#   sudo benches/advert_floor.sh [VIPD_BINARY]     (default: target/release/vipd)
#   WINDOW_1S=30 WINDOW_FAST=10 INTERVALS="1 0.1 0.01" sudo -E benches/advert_floor.sh
#
# Needs root, gcc and keepalived (KEEPALIVED=0 leaves it out). Namespaces af<PID>a/af<PID>b;
# everything started is killed by PID and the namespaces removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
VIPD=${1:-${CARGO_TARGET_DIR:-$PWD/target}/release/vipd}
INTERVALS=${INTERVALS:-"1 0.1 0.01"}
WINDOW_1S=${WINDOW_1S:-30}
WINDOW_FAST=${WINDOW_FAST:-10}
KEEPALIVED=${KEEPALIVED:-1}
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
tree_ns() { # CPU ns so far of PID and its children, all threads
  local pid=$1 kids
  kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
  for p in $pid $kids; do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done |
    awk '{s+=$1} END {printf "%d", s}'
}
run_ns() { # CPU ns of PID (and its children) over SECS
  local pid=$1 secs=$2 s0 s1
  s0=$(tree_ns "$pid")
  sleep "$secs"
  s1=$(tree_ns "$pid")
  echo $((s1 - s0))
}
keepalived_conf() { # PRIORITY INTERVAL_S FILE
  cat >"$3" <<K
global_defs {
    router_id floor$1
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    version 3
    priority $1
    advert_int $2
    virtual_ipaddress {
        10.200.9.100/24 dev eth0
    }
}
K
}
start_keepalived() { # NS PRIORITY INTERVAL_S ; sets LAST
  keepalived_conf "$2" "$3" "$out/ka.$1.conf"
  start "$1" keepalived -n -l -P -f "$out/ka.$1.conf" -p "$out/ka.$1.pid" -r "$out/ka.$1.vrrp.pid"
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
  elif [ "$kind" = keepalived ]; then
    start_keepalived "$A" 150 "$iv"; pid=$LAST
    if [ "$role" = backup ]; then sleep 0.5; start_keepalived "$B" 100 "$iv"; pid=$LAST; fi
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

ratio() { # A B -> A / B with two decimals, or - when B was not measured
  if [ "$2" = - ]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; fi
}

echo "# advert floor: $(date -u '+%F %T') UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), vipd $VIPD"
echo
echo "| role | interval | C floor, timerfd: ms per 30 s (µs per advert) | C floor, epoll timeout | vipd (VIP lifetime 5 s, the default) | keepalived | floor / keepalived | vipd / keepalived | vipd / floor |"
echo "|---|---|---|---|---|---|---|---|---|"
for iv in $INTERVALS; do
  win=$WINDOW_FAST; [ "$iv" = 1 ] && win=$WINDOW_1S
  for role in master backup; do
    f=$(measure "$role" floor "$iv" "$win")
    if [ "$role" = master ]; then e=$(measure "$role" floor-epoll "$iv" "$win"); else e="- -"; fi
    v=$(measure "$role" vipd "$iv" "$win")
    if [ "$KEEPALIVED" = 1 ]; then k=$(measure "$role" keepalived "$iv" "$win"); else k="- -"; fi
    set -- $f; f30=$1 fa=$2
    set -- $e; e30=$1 ea=$2
    set -- $v; v30=$1 va=$2
    set -- $k; k30=$1 ka=$2
    if [ "$e30" = - ]; then ecell="-"; else ecell="$e30 ($ea)"; fi
    if [ "$k30" = - ]; then kcell="-"; else kcell="$k30 ($ka)"; fi
    echo "| $role | ${iv} s | $f30 ($fa) | $ecell | $v30 ($va) | $kcell | $(ratio "$f30" "$k30") | $(ratio "$v30" "$k30") | $(ratio "$v30" "$f30") |"
  done
done
