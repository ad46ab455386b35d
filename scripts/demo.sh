#!/usr/bin/env bash
# The vipd demo (run as root): builds a three-node lab in network namespaces, starts vipd on each
# node (priorities 150, 100, 50), shows which node answers ARP for the VIP, kills the master with
# SIGKILL, shows the VIP moving, hands it over gracefully with SIGTERM, and removes everything it
# made, even on Ctrl-C or error. It touches nothing outside the namespaces it creates.
set -euo pipefail
cd "$(dirname "$0")/.."

VIP=10.200.0.100
RUN=vipdemo$$
NODES=(1 2 3)
PRIO=(150 100 50)
DIR=$(mktemp -d /tmp/vipd-demo.XXXXXX)
PIDS=()

if [ "$(id -u)" != 0 ]; then
  echo "the demo creates network namespaces: run it as root (sudo $0)" >&2
  exit 1
fi
# iproute2 builds the lab, python3 runs the project's own ARP prober (scripts/arp-who-has.py);
# on Debian or Ubuntu the demo installs them when they are missing, as .ci/run does.
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "installing ${need[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]}: install them with your package manager" >&2
    exit 1
  fi
fi
command -v cargo >/dev/null || { echo "missing cargo: install Rust (https://rustup.rs)" >&2; exit 1; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for ns in sw obs "${NODES[@]/#/n}"; do ip netns del "$RUN-$ns" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
mac() { printf '02:00:00:00:00:%02x' "$1"; }
holders() {
  local out=""
  for n in "${NODES[@]}"; do
    if ip -n "$RUN-n$n" -4 -o addr show dev eth0 | grep -q " $VIP/"; then out+="node$n "; fi
  done
  echo "${out:-nobody}"
}
who_answers() {
  ip -n "$RUN-obs" neigh flush all
  local macs
  macs=$(ip netns exec "$RUN-obs" python3 scripts/arp-who-has.py eth0 "$VIP" || true)
  for m in $macs; do
    for n in "${NODES[@]}"; do [ "$m" = "$(mac "$n")" ] && printf 'node%s (%s) ' "$n" "$m"; done
  done
  echo
}
wait_for() { # wait_for SECONDS COMMAND...: poll every 50 ms
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}
holds() { ip -n "$RUN-n$1" -4 -o addr show dev eth0 | grep -q " $VIP/"; }
not_holds() { ! holds "$1"; }

say "building vipd (release)"
cargo build --release -q -p vipd
VIPD=$PWD/target/release/vipd

say "lab: a bridge, three vipd nodes (10.200.0.1-3) and an observer (10.200.0.9)"
ip netns add "$RUN-sw"
ip -n "$RUN-sw" link add br0 type bridge
ip -n "$RUN-sw" link set br0 up
attach() { # attach NS PORT MACNUM CIDR
  ip link add "$RUN-a$3" netns "$1" type veth peer name "$2" netns "$RUN-sw"
  ip -n "$1" link set "$RUN-a$3" name eth0
  ip -n "$1" link set eth0 address "$(mac "$3")"
  ip -n "$1" addr add "$4" dev eth0
  ip -n "$1" link set lo up
  ip -n "$1" link set eth0 up
  ip -n "$RUN-sw" link set "$2" master br0
  ip -n "$RUN-sw" link set "$2" up
}
ip netns add "$RUN-obs"
attach "$RUN-obs" p9 9 10.200.0.9/24
for i in 0 1 2; do
  n=${NODES[$i]}
  ip netns add "$RUN-n$n"
  attach "$RUN-n$n" "p$n" "$n" "10.200.0.$n/24"
  cat >"$DIR/node$n.yaml" <<EOF
instances:
  - name: VI_DEMO
    interface: eth0
    vrid: 51
    priority: ${PRIO[$i]}
    vips: [$VIP/24]
EOF
done

say "starting vipd on each node"
for i in 0 1 2; do
  n=${NODES[$i]}
  ip netns exec "$RUN-n$n" "$VIPD" run -c "$DIR/node$n.yaml" >"$DIR/node$n.log" 2>&1 &
  PIDS+=($!)
  echo "node$n: priority ${PRIO[$i]}, pid $!"
done

start=$(date +%s.%N)
wait_for 10 holds 1 || { echo "node1 never took the VIP"; cat "$DIR"/node*.log; exit 1; }
echo "node1 became Master $(since "$start") s after start (its Master_Down_Interval: 3.41 s)"
echo "VIP $VIP is on: $(holders)"
echo "ARP for $VIP answered by: $(who_answers)"
sleep 1
echo "vipd status on node2 (its API, 127.0.0.1:9370 in its namespace):"
ip netns exec "$RUN-n2" "$VIPD" status | sed 's/^/  /'

say "SIGKILL node1 (the master): no goodbye, no cleanup"
kill -KILL "${PIDS[0]}"
t0=$(date +%s.%N)
wait "${PIDS[0]}" 2>/dev/null || true
wait_for 10 holds 2 || { echo "node2 never took over"; exit 1; }
echo "node2 took the VIP $(since "$t0") s after the kill (its Master_Down_Interval: 3.60 s)"
echo "VIP is on: $(holders)  (node1's copy lives until its 5 s kernel lifetime ends)"
wait_for 10 not_holds 1 || { echo "node1's VIP never expired"; exit 1; }
echo "node1's orphaned VIP expired $(since "$t0") s after the kill (lifetime 5 s from its last renewal)"
echo "ARP for $VIP answered by: $(who_answers)"
echo "vipd status on node2:"
ip netns exec "$RUN-n2" "$VIPD" status | sed 's/^/  /'

say "SIGTERM node2 (planned restart): make-before-break handover to node3"
kill -TERM "${PIDS[1]}"
gap=0
until holds 3 && not_holds 2; do
  [ "$(holders)" = nobody ] && gap=1
  sleep 0.01
done
wait "${PIDS[1]}" && echo "node2 exited 0 after node3 took over"
[ "$gap" = 0 ] && echo "some node held the VIP at every 10 ms sample: no gap"
echo "VIP is on: $(holders)"
echo "ARP for $VIP answered by: $(who_answers)"

say "node3's log"
sed 's/^/  /' "$DIR/node3.log"
say "done; removing the lab"
