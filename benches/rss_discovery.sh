#!/usr/bin/env bash
# The resident memory of vipd with peer discovery on and off (issue 13's figure): one instance
# in a network namespace of its own, its peers static (`static`), or from a local HTTPS fake of
# the Kubernetes API (`discovery`, benches/fake_kube_api.py, 3 pods), or multicast. Prints
# Rss/Pss/Anonymous of /proc/PID/smaps_rollup after SECS seconds. The binary's pages are evicted
# from the page cache before each run, so that what is resident is what this run faulted in
# (its code is most of vipd's RSS), not what an earlier cp or nm left cached.
#
#   sudo benches/rss_discovery.sh VIPD_BINARY [static|discovery|multicast] [SECS]
#
# Needs root (ip netns), python3 and openssl.
set -euo pipefail
bin=$(realpath "$1"); mode=${2:-discovery}; secs=${3:-6}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/vipd-rss-XXXXXX)
ns=vipd-rss-$$
pid=; fpid=
cleanup() {
  for p in $pid $fpid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link add eth0 type veth peer name eth1
ip -n "$ns" addr add 10.200.77.2/24 dev eth0
for l in lo eth0 eth1; do ip -n "$ns" link set "$l" up; done
{
  echo "instances:"
  echo "  - name: VI_RSS"
  echo "    interface: eth0"
  echo "    vrid: 51"
  echo "    priority: 100"
  echo "    vips: [10.200.77.100/24]"
  case $mode in
    static) echo "    unicast_peers: [10.200.77.3, 10.200.77.4]" ;;
    discovery) echo "    unicast_peers_from: {kubernetes: {host: 127.0.0.1, port: 6443, token_file: $work/token, ca_file: $work/ca.crt, pods: {selector: app=vipd, namespace: lab}}}" ;;
    multicast) ;;
    *) echo "mode: static, discovery or multicast" >&2; exit 2 ;;
  esac
} >"$work/vipd.yaml"
if [ "$mode" = discovery ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$work/ca.key" -out "$work/ca.crt" -subj /CN=fake-kube-ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/srv.key" -out "$work/srv.csr" -subj /CN=kubernetes 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/ext"
  openssl x509 -req -in "$work/srv.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 1 -out "$work/srv.crt" -extfile "$work/ext" 2>/dev/null
  printf 'fake-token' >"$work/token"
  ip netns exec "$ns" python3 "$here/fake_kube_api.py" 127.0.0.1 6443 "$work/srv.crt" "$work/srv.key" "$work/token" &
  fpid=$!
  sleep 1
fi
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$bin"
ip netns exec "$ns" "$bin" run -c "$work/vipd.yaml" --log-level warn >"$work/vipd.log" 2>&1 &
pid=$!
sleep "$secs"
kill -0 "$pid" 2>/dev/null || { echo "vipd exited:" >&2; cat "$work/vipd.log" >&2; exit 1; }
rss=$(awk '/^(Rss|Pss|Anonymous):/ {printf "%s %s kB  ", $1, $2}' "/proc/$pid/smaps_rollup")
echo "$(basename "$bin") $mode: ${rss}threads $(awk '/^Threads:/ {print $2}' "/proc/$pid/status")"
if [ "$mode" = discovery ]; then
  ip netns exec "$ns" "$bin" status | grep -i 'unicast peers' || { echo "no peers discovered" >&2; exit 1; }
fi
