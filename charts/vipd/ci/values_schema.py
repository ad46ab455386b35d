"""Generates ../values.schema.json (run: python3 charts/vipd/ci/values_schema.py >
charts/vipd/values.schema.json); scripts/chart-test.sh checks that the two agree.

Every value is typed and bounded (VRID and priority 1 to 255, durations, counts, addresses in
CIDR form, interface names) and unknown keys are refused, so that `helm install` fails early
naming the value. Keys that values.yaml leaves unset (`~`) accept null.
"""
import json

# Address patterns (RE2: what helm's schema validator speaks).
V4 = r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# IPv6 in its textual forms (RFC 4291 2.2, without embedded IPv4 or a zone): what vipd parses.
H16 = r"[0-9A-Fa-f]{1,4}"
V6 = ("(?:" + "|".join([
    rf"(?:{H16}:){{7}}{H16}",
    rf"(?:{H16}:){{1,7}}:",
    rf"(?:{H16}:){{1,6}}:{H16}",
] + [rf"(?:{H16}:){{1,{6 - k}}}(?::{H16}){{1,{k + 1}}}" for k in range(1, 6)] + [
    rf"{H16}:(?::{H16}){{1,6}}",
    rf":(?:(?::{H16}){{1,7}}|:)",
]) + ")")
CIDR = rf"^(?:{V4}/(?:3[0-2]|[12]?[0-9])|{V6}/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))$"
IP = rf"^(?:{V4}|{V6})$"
# A VIP: CIDR, then as in keepalived's virtual_ipaddress `dev IFNAME`, `label LABEL`, `no_track`.
IFN = r"[^/:\s]{1,15}"
VIP = CIDR[:-1] + rf"(?: dev {IFN}| label [^\s]{{1,15}}| no_track)*$"
# A duration as vipd parses it: no digits below the millisecond (`1.5ms`, `1.0005s` are refused).
DUR = r"^(?:[0-9]+(?:\.[0-9]{1,3}0*)?s?|[0-9]+(?:\.0+)?ms|[0-9]+(?:\.[0-9]{1,4}0*)?m|[0-9]+(?:\.[0-9]{1,5}0*)?h)$"


def n(t):
    """`t`, also accepting null (an unset key)."""
    t = dict(t)
    ty = t.get("type")
    if isinstance(ty, str):
        t["type"] = [ty, "null"]
    elif isinstance(ty, list):
        t["type"] = ty + ["null"]
    return t


def obj(props, extra=False, desc=None, nullable=False):
    """An object with these properties and, unless `extra`, no others."""
    o = {"type": ["object", "null"] if nullable else "object", "properties": props, "additionalProperties": extra}
    if desc:
        o["description"] = desc
    return o


# Value kinds.
dur = {"type": ["string", "number"], "pattern": DUR, "minimum": 0, "description": "a duration: 500ms, 1s, 1.5s, 2m, or a number of seconds"}
secs = {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 1, "description": "whole seconds"}
cidr = {"type": "string", "pattern": CIDR, "description": "an address in CIDR form, e.g. 192.168.1.100/24 or fd00::100/64"}
vip = {"type": "string", "pattern": VIP,
       "description": "an address in CIDR form, optionally followed by dev IFNAME, label LABEL, no_track: e.g. 192.168.1.100/24 or \"192.168.2.100/24 dev eth1 label eth1:vip\""}
ip = {"type": "string", "pattern": IP}
ifname = {"type": "string", "pattern": r"^(?:[^/:\s.]|\.[^/:\s.]|[^/:\s.][^/:\s]|[^/:\s]{3,15})$",
          "description": "an interface name: 1 to 15 characters, no '/', ':' or spaces, not . or .."}
u8 = {"type": "integer", "minimum": 1, "maximum": 255}
count = {"type": "integer", "minimum": 0, "maximum": 255}
fall = {"type": "integer", "minimum": 1, "maximum": 1000}
url = {"type": "string", "pattern": r"^https?://[^\s]+$", "description": "an http:// or https:// URL"}
password = {"type": ["string", "integer"], "minLength": 1, "maxLength": 8, "minimum": 0, "maximum": 99999999, "description": "VRRPv2 simple password, 1 to 8 characters"}
kmap = {"type": "object"}
klist = {"type": "array"}
stringmap = {"type": "object", "additionalProperties": {"type": "string"}}
tolerations = {"type": "array", "items": {"type": "object"}}
pullsecrets = {"type": "array", "items": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "object", "required": ["name"]}]}}
resources = {"type": "object", "properties": {"requests": kmap, "limits": kmap, "claims": klist}, "additionalProperties": False}
kinds = {"enum": ["Deployment", "DaemonSet", "Daemonset", "deployment", "daemonset", "daemonSet", None], "description": "Deployment or DaemonSet"}
image = obj({"repository": {"type": "string", "minLength": 1}, "tag": {"type": ["string", "number"]}, "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]}})
probe = obj({k: {"type": "integer", "minimum": 0 if k == "initialDelaySeconds" else 1} for k in ["initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"]})
http_check = obj({"enabled": n({"type": "boolean"}), "url": n(url), "interval": n(dur), "fall": n(fall), "rise": n(fall)})

# The chart's values: vipd's keys, then the legacy keys of both keepalived charts.
props = {
    "global": {"type": "object"},
    "compat": {"enum": ["auto", "none", "vipalived", "keepalived-ingress-vip"]},
    "kind": kinds,
    "static": {"type": "boolean"},
    "replicas": n({"type": "integer", "minimum": 1}),
    "image": image,
    "imagePullSecrets": pullsecrets,
    "nameOverride": {"type": "string", "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", "maxLength": 63},
    "fullnameOverride": {"type": "string", "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", "maxLength": 63},
    "namespaceOverride": {"type": "string", "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", "maxLength": 63},
    "vrrp": obj({
        "name": n({"type": "string", "minLength": 1, "pattern": r"^[^\s]+$"}),
        "interface": n(ifname),
        "vipInterface": n(ifname),
        "vips": {"type": "array", "items": vip, "uniqueItems": True},
        "vrid": n(u8),
        "version": {"enum": [2, 3, None], "description": "VRRP version 2 or 3"},
        "priority": n(u8),
        "advertInterval": n(dur),
        "preempt": n({"type": "boolean"}),
        "preemptDelay": n(dur),
        "unicastPeers": {"type": "array", "items": ip},
        "discovery": obj({
            "mode": {"type": "string", "enum": ["", "pods", "nodes"],
                     "description": "pods (a namespaced Role), nodes (a ClusterRole), or empty (off)"},
            "nodeSelector": {"type": "string"},
        }),
        "vipLifetime": {"type": ["string", "number", "null"], "pattern": r"^(?:forever|[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h)?)$", "minimum": 1, "description": "a duration or forever"},
        "v3ChecksumAsV2": {"type": "boolean"},
        "garp": obj({"masterDelay": n(dur), "masterRepeat": n(count), "masterRefresh": n(dur), "masterRefreshRepeat": n(count)}),
        "auth": obj({"enabled": n({"type": "boolean"}), "password": password | {"minLength": 0},
                     "existingSecret": {"type": "string"}, "existingSecretKey": {"type": "string", "minLength": 1}}),
        "extra": {"type": "object"},
    }),
    "extraInstances": {"type": "array", "items": {"type": "object", "required": ["interface", "vrid", "vips"]}},
    "checks": obj({
        "service": http_check,
        "kubelet": http_check,
        "kubeApi": obj({"enabled": n({"type": "boolean"}), "interval": n(dur), "fall": n(fall)}),
        "nodeReady": obj({"enabled": {"type": "boolean"}, "interval": n(dur)}),
        "extra": {"type": "array", "items": {"type": "object"}},
    }),
    "logLevel": n({"type": "string", "minLength": 1}),
    "logFormat": {"enum": ["json", "text"]},
    "metrics": obj({"address": {"type": "string", "pattern": rf"^(?:{V4}|{V6}|\[{V6}\])$"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535}}),
    "probes": obj({"enabled": {"type": "boolean"}, "liveness": probe, "readiness": probe}),
    "resources": resources,
    "priorityClassName": n({"type": "string"}),
    "nodeSelector": n(stringmap),
    "tolerations": n(tolerations),
    "tolerateMasterTaints": {"type": "boolean"},
    "affinity": n(kmap),
    "updateStrategy": n(obj({"type": {"enum": ["RollingUpdate", "OnDelete", "Recreate"]}, "rollingUpdate": kmap,
                             "maxUnavailable": {"type": ["integer", "string"]}})),
    "podDisruptionBudget": obj({"enabled": {"type": "boolean"},
                                "maxUnavailable": {"type": ["integer", "string"], "minimum": 1, "pattern": r"^(?:[1-9][0-9]?|100)%$",
                                                   "description": "a count (at least 1) or a percentage"}}),
    "terminationGracePeriodSeconds": {"type": "integer", "minimum": 1},
    "podLabels": n(stringmap),
    "podAnnotations": n(stringmap),
    "extraEnv": n({"type": "array", "items": {"type": "object", "required": ["name"]}}),
    "scriptUser": obj({"user": n({"type": "integer", "minimum": 0, "maximum": 4294967294,
                                  "description": "a numeric uid (the image has no /etc/passwd)"}),
                       "group": n({"type": "integer", "minimum": 0, "maximum": 4294967294,
                                   "description": "a numeric gid"})}),
    "podSecurityContext": n(kmap),
    "securityContext": n(kmap),
    "serviceAccount": obj({"create": {"type": "boolean"}, "name": {"type": "string"}, "annotations": stringmap}),
    "rbac": obj({"create": {"type": "boolean"}, "extraRules": {"type": "array", "items": {"type": "object"}},
                 "pspEnabled": {"type": "boolean", "description": "legacy (keepalived-ingress-vip), ignored"}}),
    # Legacy keys of both seeds.
    "keepalived": obj({
        # keepalived-ingress-vip
        "debug": {"type": "boolean"},
        "authPassword": password,
        "vrrpInterfaceName": ifname,
        "vipInterfaceName": ifname,
        "vipAddressCidr": cidr | {"pattern": "^$|" + CIDR},
        "virtualRouterId": u8,
        "vrrpNoPreempt": {"type": "boolean"},
        "checkServiceUrl": url | {"pattern": r"^$|^https?://[^\s]+$"},
        "checkServiceInterval": secs,
        "checkServiceFailAfter": fall,
        "checkKubelet": {"type": "boolean"},
        "checkKubeletInterval": secs,
        "checkKubeletFailAfter": fall,
        "checkKubeletUrl": url,
        "checkKubeApi": {"type": "boolean"},
        "checkKubeApiInterval": secs,
        "checkKubeApiFailAfter": fall,
        # vipalived
        "garp": obj({"masterDelay": secs | {"minimum": 0}, "masterRefresh": secs | {"minimum": 0},
                     "masterRepeat": count, "masterRefreshRepeat": count}),
        "routerId": {"type": "string"},
        "vrrpInstance": obj({
            "advertInt": {"type": ["number", "string"], "pattern": DUR, "exclusiveMinimum": 0},
            "authentication": obj({"authPass": password, "authType": {"enum": ["PASS", "AH", "pass", "ah"]}}),
            "interface": ifname,
            "name": {"type": "string", "minLength": 1, "pattern": r"^[^\s]+$"},
            "nopreempt": {"type": "boolean"},
            "priority": u8,
            "state": {"enum": ["MASTER", "BACKUP", "master", "backup"]},
            "virtualIpAddress": cidr,
            "virtualRouterId": u8,
        }),
        "vrrpVersion": {"enum": [2, 3]},
    }, desc="legacy keys of the keepalived-ingress-vip and vipalived charts"),
    "pod": obj({
        "replicas": {"type": "integer", "minimum": 1},
        "priorityClassName": {"type": "string"},
        "extraEnv": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "resources": resources,
        "nodeSelector": stringmap,
        "tolerations": tolerations,
        "tolerateMasterTaints": {"type": "boolean"},
        "affinity": kmap,
        "imagePullSecrets": pullsecrets,
    }, desc="legacy keys of the keepalived-ingress-vip chart"),
    "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "description": "legacy (vipalived)"},
    "hostNetwork": {"const": True, "description": "legacy (vipalived): vipd always runs on the host network"},
}
schema = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "vipd chart values",
    "type": "object",
    "properties": props,
    "additionalProperties": False,
}
print(json.dumps(schema, indent=2))
