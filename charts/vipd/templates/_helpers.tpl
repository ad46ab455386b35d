{{/*
Names and labels.
*/}}
{{- define "vipd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vipd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vipd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vipd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vipd.labels" -}}
{{ include "vipd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: vip
{{- if not .Values.static }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}
{{- end }}

{{/* A duration value: a string as written ("2s", "500ms"), a number as seconds. */}}
{{- define "vipd.duration" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ printf "%vs" . }}{{ end }}
{{- end }}

{{/* A duration as vipd.duration renders it ("2s", "500ms", "1.5", "2m"), in seconds (a float). */}}
{{- define "vipd.seconds" -}}
{{- $d := toString . -}}
{{- if hasSuffix "ms" $d }}{{ divf (float64 (trimSuffix "ms" $d)) 1000 }}{{ else if hasSuffix "s" $d }}{{ float64 (trimSuffix "s" $d) }}{{ else if hasSuffix "m" $d }}{{ mulf (float64 (trimSuffix "m" $d)) 60 }}{{ else if hasSuffix "h" $d }}{{ mulf (float64 (trimSuffix "h" $d)) 3600 }}{{ else }}{{ float64 $d }}{{ end }}
{{- end }}

{{/* "yes" when a duration (as vipd.duration renders it) is a whole number of centiseconds, the
unit of VRRP's timers (vipd refuses the others). */}}
{{- define "vipd.isCentis" -}}
{{- $c := mulf (float64 (include "vipd.seconds" .)) 100 -}}
{{- $off := subf $c (round $c 0) -}}
{{- if and (lt $off 0.000001) (gt $off -0.000001) }}yes{{ else }}no{{ end }}
{{- end }}

{{/*
vipd.settings: everything the templates render, decided once from the values: vipd's own keys
first, then the legacy keys of the keepalived-ingress-vip and vipalived charts, then the defaults
of the legacy chart in use, then vipd's. Rendered as YAML; use it as
  $s := include "vipd.settings" . | fromYaml
*/}}
{{- define "vipd.settings" -}}
{{- $v := .Values -}}
{{- $k := dict -}}{{- if kindIs "map" $v.keepalived }}{{ $k = $v.keepalived }}{{ end -}}
{{- $pod := dict -}}{{- if kindIs "map" $v.pod }}{{ $pod = $v.pod }}{{ end -}}
{{- $vi := dict -}}{{- if kindIs "map" $k.vrrpInstance }}{{ $vi = $k.vrrpInstance }}{{ end -}}
{{- $lg := dict -}}{{- if kindIs "map" $k.garp }}{{ $lg = $k.garp }}{{ end -}}
{{- $la := dict -}}{{- if kindIs "map" $vi.authentication }}{{ $la = $vi.authentication }}{{ end -}}
{{- $r := $v.vrrp | default dict -}}
{{- $ra := $r.auth | default dict -}}
{{- $rg := $r.garp | default dict -}}
{{- $c := $v.checks | default dict -}}
{{- $errors := list -}}
{{- $warnings := list -}}
{{- /* Legacy keys in use. */ -}}
{{- $jKeys := list -}}
{{- range (list "debug" "authPassword" "vrrpInterfaceName" "vipInterfaceName" "vipAddressCidr" "virtualRouterId" "vrrpNoPreempt" "checkServiceUrl" "checkServiceInterval" "checkServiceFailAfter" "checkKubelet" "checkKubeletInterval" "checkKubeletFailAfter" "checkKubeletUrl" "checkKubeApi" "checkKubeApiInterval" "checkKubeApiFailAfter") }}
{{- if hasKey $k . }}{{ $jKeys = append $jKeys (printf "keepalived.%s" .) }}{{ end }}
{{- end }}
{{- range $key, $_ := $pod }}{{ $jKeys = append $jKeys (printf "pod.%s" $key) }}{{ end }}
{{- if and (kindIs "map" $v.rbac) (hasKey ($v.rbac | default dict) "pspEnabled") }}{{ $jKeys = append $jKeys "rbac.pspEnabled" }}{{ end }}
{{- $lKeys := list -}}
{{- range $key, $_ := $vi }}{{ $lKeys = append $lKeys (printf "keepalived.vrrpInstance.%s" $key) }}{{ end }}
{{- range $key, $_ := $lg }}{{ $lKeys = append $lKeys (printf "keepalived.garp.%s" $key) }}{{ end }}
{{- range (list "routerId" "vrrpVersion") }}{{ if hasKey $k . }}{{ $lKeys = append $lKeys (printf "keepalived.%s" .) }}{{ end }}{{ end }}
{{- range (list "namespace" "hostNetwork") }}{{ if hasKey $v . }}{{ $lKeys = append $lKeys . }}{{ end }}{{ end }}
{{- if and (kindIs "map" $v.updateStrategy) (or (hasKey $v.updateStrategy "maxUnavailable") (and (hasKey $v.updateStrategy "type") (not (hasKey $v.updateStrategy "rollingUpdate")))) }}
{{- $lKeys = append $lKeys "updateStrategy.maxUnavailable" }}
{{- end }}
{{- $compat := $v.compat | default "auto" -}}
{{- $profile := "vipd" -}}
{{- if eq $compat "none" }}
{{- if or $jKeys $lKeys }}{{ $warnings = append $warnings (printf "compat: none: these legacy keys are ignored: %s" (join ", " (concat $jKeys $lKeys))) }}{{ end }}
{{- $jKeys = list }}{{ $lKeys = list }}
{{- $k = dict }}{{ $pod = dict }}{{ $vi = dict }}{{ $lg = dict }}{{ $la = dict }}
{{- else if and $jKeys $lKeys }}
{{- $errors = append $errors (printf "the values mix keys of the keepalived-ingress-vip chart (%s) with keys of the vipalived chart (%s): keep one chart's keys, or use vipd's keys (see the chart's README)" (join ", " $jKeys) (join ", " $lKeys)) }}
{{- else if eq $compat "auto" }}
{{- if $jKeys }}{{ $profile = "keepalived-ingress-vip" }}{{ else if $lKeys }}{{ $profile = "vipalived" }}{{ end }}
{{- else }}
{{- $profile = $compat }}
{{- if and (eq $compat "vipalived") $jKeys }}{{ $errors = append $errors (printf "compat: vipalived, but keepalived-ingress-vip keys are set: %s" (join ", " $jKeys)) }}{{ end }}
{{- if and (eq $compat "keepalived-ingress-vip") $lKeys }}{{ $errors = append $errors (printf "compat: keepalived-ingress-vip, but vipalived keys are set: %s" (join ", " $lKeys)) }}{{ end }}
{{- end }}
{{- $J := eq $profile "keepalived-ingress-vip" -}}
{{- $L := eq $profile "vipalived" -}}
{{- if not $J }}{{ $pod = dict }}{{ end -}}
{{- /* Workload. */ -}}
{{- $kind := "Deployment" -}}
{{- if $L }}{{ $kind = "DaemonSet" }}{{ end }}
{{- if $v.kind }}{{ $kind = ternary "DaemonSet" "Deployment" (eq (lower (toString $v.kind)) "daemonset") }}{{ end }}
{{- $static := $v.static | default false -}}
{{- $replicas := 2 -}}
{{- if hasKey $pod "replicas" }}{{ $replicas = $pod.replicas }}{{ end }}
{{- if not (kindIs "invalid" $v.replicas) }}{{ $replicas = $v.replicas }}{{ end }}
{{- $namespace := .Release.Namespace -}}
{{- if $L }}{{ $namespace = $v.namespace | default "kube-system" }}{{ end }}
{{- if $v.namespaceOverride }}{{ $namespace = $v.namespaceOverride }}{{ end }}
{{- if and (hasKey $v "hostNetwork") (not $v.hostNetwork) }}
{{- $errors = append $errors "hostNetwork: false: vipd must run in the host network namespace to hold the VIP on a host interface; remove hostNetwork (vipd pods always use it)" }}
{{- end }}
{{- /* The virtual router. */ -}}
{{- $name := "vip" -}}
{{- if $L }}{{ $name = $vi.name | default "VI_CONTROL_PLANE" }}{{ end }}
{{- if not (kindIs "invalid" $r.name) }}{{ $name = $r.name }}{{ end }}
{{- $iface := "eth0" -}}
{{- if $J }}{{ $iface = $k.vrrpInterfaceName | default "eth0" }}{{ end }}
{{- if $L }}{{ $iface = $vi.interface | default "eth0" }}{{ end }}
{{- if not (kindIs "invalid" $r.interface) }}{{ $iface = $r.interface }}{{ end }}
{{- $vipIface := $iface -}}
{{- if $J }}{{ $vipIface = $k.vipInterfaceName | default "eth0" }}{{ end }}
{{- if not (kindIs "invalid" $r.vipInterface) }}{{ $vipIface = $r.vipInterface }}{{ end }}
{{- $vrid := 51 -}}
{{- if $J }}{{ $vrid = 10 }}{{ if hasKey $k "virtualRouterId" }}{{ $vrid = $k.virtualRouterId }}{{ end }}{{ end }}
{{- if and $L (hasKey $vi "virtualRouterId") }}{{ $vrid = $vi.virtualRouterId }}{{ end }}
{{- if not (kindIs "invalid" $r.vrid) }}{{ $vrid = $r.vrid }}{{ end }}
{{- $version := 3 -}}
{{- if $J }}{{ $version = 2 }}{{ end }}
{{- if and $L (hasKey $k "vrrpVersion") }}{{ $version = $k.vrrpVersion }}{{ end }}
{{- if not (kindIs "invalid" $r.version) }}{{ $version = $r.version }}{{ end }}
{{- $version = int $version -}}
{{- $priority := 100 -}}
{{- if and $L (hasKey $vi "priority") }}{{ $priority = $vi.priority }}{{ end }}
{{- if not (kindIs "invalid" $r.priority) }}{{ $priority = $r.priority }}{{ end }}
{{- $advert := "1s" -}}
{{- if and $L (hasKey $vi "advertInt") }}{{ $advert = include "vipd.duration" $vi.advertInt }}{{ end }}
{{- if not (kindIs "invalid" $r.advertInterval) }}{{ $advert = include "vipd.duration" $r.advertInterval }}{{ end }}
{{- $preempt := true -}}
{{- if and $J (hasKey $k "vrrpNoPreempt") }}{{ $preempt = not $k.vrrpNoPreempt }}{{ end }}
{{- if $L }}
{{- $preempt = false }}{{ if hasKey $vi "nopreempt" }}{{ $preempt = not $vi.nopreempt }}{{ end }}
{{- $state := upper (toString ($vi.state | default "BACKUP")) }}
{{- if eq $state "MASTER" }}
{{- $warnings = append $warnings "keepalived.vrrpInstance.state: MASTER is not needed: vipd starts every node as Backup and the highest priority becomes Master after about 3 advert intervals (priority 255 takes over at once); as keepalived does, MASTER turns nopreempt off" }}
{{- $preempt = true }}
{{- end }}
{{- if and (not $preempt) (eq (int $priority) 255) }}
{{- $warnings = append $warnings "keepalived.vrrpInstance.nopreempt is dropped with priority 255: the address owner always preempts (keepalived resets it too)" }}
{{- $preempt = true }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" $r.preempt) }}{{ $preempt = $r.preempt }}{{ end }}
{{- $vips := list -}}
{{- if and $J $k.vipAddressCidr }}{{ $vips = list $k.vipAddressCidr }}{{ end }}
{{- if $L }}{{ $vips = list ($vi.virtualIpAddress | default "172.16.101.101/32") }}{{ end }}
{{- if $r.vips }}{{ $vips = $r.vips }}{{ end }}
{{- if not $vips }}
{{- $errors = append $errors "no VIP is configured: set vrrp.vips, e.g. --set 'vrrp.vips={192.168.1.100/24}' (keepalived-ingress-vip values: keepalived.vipAddressCidr; vipalived values: keepalived.vrrpInstance.virtualIpAddress)" }}
{{- end }}
{{- if and (not $preempt) (eq (int $priority) 255) }}
{{- $errors = append $errors "vrrp.preempt: false (nopreempt) with priority 255: the address owner always preempts; lower vrrp.priority or allow preemption" }}
{{- end }}
{{- $v6 := 0 }}{{ range $vips }}{{ if contains ":" (toString .) }}{{ $v6 = add1 $v6 }}{{ end }}{{ end -}}
{{- if and (gt $v6 0) (lt $v6 (len $vips)) }}
{{- $errors = append $errors (printf "vrrp.vips mixes IPv4 and IPv6 (%s): one family per instance; put the other family in extraInstances (it may share the VRID)" (join ", " $vips)) }}
{{- end }}
{{- if and (gt $v6 0) (eq $version 2) }}
{{- $errors = append $errors "VRRPv2 is IPv4 only: use vrrp.version 3 for IPv6 VIPs" }}
{{- end }}
{{- $seen := dict -}}
{{- range $vips }}
{{- $a := lower (first (splitList "/" (toString .))) }}
{{- if or (hasPrefix "127." $a) (eq $a "0.0.0.0") (regexMatch "^2(2[4-9]|3[0-9])\\." $a) (and (contains ":" $a) (or (hasPrefix "ff" $a) (regexMatch "^[0:]*1?$" $a))) }}
{{- $errors = append $errors (printf "vrrp.vips: %s cannot be a virtual address (multicast, unspecified or loopback): use a unicast address of the link's subnet" .) }}
{{- end }}
{{- if hasKey $seen $a }}
{{- $errors = append $errors (printf "vrrp.vips lists the address %s twice (%s and %s): remove one" $a (get $seen $a) .) }}
{{- else }}{{ $_ := set $seen $a (toString .) }}{{ end }}
{{- end }}
{{- if $vips }}
{{- $family6 := contains ":" (toString (first $vips)) }}
{{- range ($r.unicastPeers | default list) }}
{{- $p := lower (toString .) }}
{{- if ne (contains ":" $p) $family6 }}
{{- $errors = append $errors (printf "vrrp.unicastPeers: %s is not of the VIPs' family (%s): list the peers' %s addresses" . (ternary "IPv6" "IPv4" $family6) (ternary "IPv6" "IPv4" $family6)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" $r.preemptDelay) }}
{{- $pd := include "vipd.duration" $r.preemptDelay }}
{{- if or (gt (float64 (include "vipd.seconds" $pd)) 1000.0) (ne (include "vipd.isCentis" $pd) "yes") }}
{{- $errors = append $errors (printf "vrrp.preemptDelay %s is not valid: at most 1000s, in steps of 10ms (keepalived's preempt_delay)" $pd) }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" $r.vipLifetime) }}
{{- $lt := include "vipd.duration" $r.vipLifetime }}
{{- if ne (lower $lt) "forever" }}
{{- $ls := float64 (include "vipd.seconds" $lt) }}
{{- if or (lt $ls 2.0) (ne $ls (floor $ls)) }}
{{- $errors = append $errors (printf "vrrp.vipLifetime %s is not valid: whole seconds, at least 2s (vipd renews it every quarter of it, at most every 0.5s), or forever" $lt) }}
{{- end }}
{{- end }}
{{- end }}
{{- $garp := dict "master_delay" "5s" "master_repeat" 5 "master_refresh" "0s" "master_refresh_repeat" 1 -}}
{{- if $L }}
{{- $_ := set $garp "master_refresh" "10s" }}
{{- if hasKey $lg "masterDelay" }}{{ $_ := set $garp "master_delay" (include "vipd.duration" $lg.masterDelay) }}{{ end }}
{{- if hasKey $lg "masterRefresh" }}{{ $_ := set $garp "master_refresh" (include "vipd.duration" $lg.masterRefresh) }}{{ end }}
{{- if hasKey $lg "masterRepeat" }}{{ $_ := set $garp "master_repeat" $lg.masterRepeat }}{{ end }}
{{- if hasKey $lg "masterRefreshRepeat" }}{{ $_ := set $garp "master_refresh_repeat" $lg.masterRefreshRepeat }}{{ end }}
{{- end }}
{{- if not (kindIs "invalid" $rg.masterDelay) }}{{ $_ := set $garp "master_delay" (include "vipd.duration" $rg.masterDelay) }}{{ end }}
{{- if not (kindIs "invalid" $rg.masterRefresh) }}{{ $_ := set $garp "master_refresh" (include "vipd.duration" $rg.masterRefresh) }}{{ end }}
{{- if not (kindIs "invalid" $rg.masterRepeat) }}{{ $_ := set $garp "master_repeat" $rg.masterRepeat }}{{ end }}
{{- if not (kindIs "invalid" $rg.masterRefreshRepeat) }}{{ $_ := set $garp "master_refresh_repeat" $rg.masterRefreshRepeat }}{{ end }}
{{- range (list (list "master_delay" "vrrp.garp.masterDelay") (list "master_refresh" "vrrp.garp.masterRefresh")) }}
{{- $d := get $garp (index . 0) }}
{{- if ne (include "vipd.isCentis" $d) "yes" }}
{{- $errors = append $errors (printf "%s %s is not valid: a duration in steps of 10ms (keepalived's garp_%s)" (index . 1) $d (index . 0)) }}
{{- end }}
{{- end }}
{{- if and $L (hasKey $k "routerId") }}
{{- $warnings = append $warnings "keepalived.routerId has no vipd equivalent and is ignored: vipd's logs and metrics name the instance (keepalived.vrrpInstance.name / vrrp.name)" }}
{{- end }}
{{- /* Authentication: VRRPv2 only; the password stays out of the config. */ -}}
{{- $auth := false -}}
{{- $authLegacy := "" -}}
{{- $password := "" -}}
{{- if $J }}
{{- $auth = true }}{{ $authLegacy = "keepalived-ingress-vip authenticates every advert (keepalived.authPassword, or a generated password)" }}
{{- $password = toString ($k.authPassword | default "") }}
{{- end }}
{{- if $L }}
{{- $authType := upper (toString ($la.authType | default "PASS")) }}
{{- if eq $version 2 }}
{{- if eq $authType "AH" }}
{{- $errors = append $errors "keepalived.vrrpInstance.authentication.authType AH (IPsec AH) is not supported by vipd: use PASS with keepalived.vrrpVersion 2, or VRRPv3 without authentication" }}
{{- else }}
{{- $auth = true }}{{ $authLegacy = "keepalived.vrrpInstance.authentication" }}
{{- $password = toString ($la.authPass | default "k8s_vip") }}
{{- end }}
{{- else if hasKey $vi "authentication" }}
{{- $warnings = append $warnings "keepalived.vrrpInstance.authentication is not used: VRRPv3 (keepalived.vrrpVersion 3, the vipalived default) has no authentication; keepalived ignored authPass silently, vipd runs VRRPv3 unauthenticated and says so. To authenticate, set keepalived.vrrpVersion: 2 on every node (VRRPv2, IPv4 only)" }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" $ra.enabled) }}{{ $auth = $ra.enabled }}{{ $authLegacy = "" }}{{ end }}
{{- if $ra.password }}{{ $password = toString $ra.password }}{{ end }}
{{- if and $auth (ne $version 2) }}
{{- if $authLegacy }}
{{- $warnings = append $warnings (printf "no VRRP password is used: %s, but vrrp.version is %d and VRRPv3 (RFC 5798) has no authentication, so vipd runs unauthenticated instead of pretending (keepalived silently ignores auth_pass on v3). Unset vrrp.version to keep VRRPv2 with the password" $authLegacy $version) }}
{{- $auth = false }}
{{- else }}
{{- $errors = append $errors (printf "vrrp.auth.enabled is true but vrrp.version is %d: VRRPv3 (RFC 5798) has no authentication; set vrrp.version: 2 to authenticate, or vrrp.auth.enabled: false" $version) }}
{{- end }}
{{- end }}
{{- $secretName := include "vipd.fullname" . -}}
{{- $secretKey := "password" -}}
{{- if $ra.existingSecret }}{{ $secretName = $ra.existingSecret }}{{ $secretKey = $ra.existingSecretKey | default "password" }}{{ end }}
{{- if and $static $auth }}
{{- if $ra.existingSecret }}
{{- $errors = append $errors "static: true cannot use vrrp.auth.existingSecret: a static Pod cannot refer to a Secret" }}
{{- else if not $password }}
{{- $errors = append $errors "static: true with VRRPv2 authentication needs the password given (vrrp.auth.password): a static Pod cannot refer to a Secret, and every node's manifest must carry the same password. Prefer VRRPv3 without authentication" }}
{{- else }}
{{- $warnings = append $warnings "static: true with a VRRP password: the password is in the Pod manifest (and its mirror Pod) as VIPD_PASSWORD; keep /etc/kubernetes/manifests root-only" }}
{{- end }}
{{- end }}
{{- /* Health checks. */ -}}
{{- $svc := $c.service | default dict -}}
{{- $kl := $c.kubelet | default dict -}}
{{- $ka := $c.kubeApi | default dict -}}
{{- $nr := $c.nodeReady | default dict -}}
{{- $svcOn := false }}{{ $svcUrl := "http://127.0.0.1:10254/healthz" }}{{ $svcInt := "2s" }}{{ $svcFall := 2 -}}
{{- $klOn := false }}{{ $klUrl := "http://127.0.0.1:10248/healthz" }}{{ $klInt := "5s" }}{{ $klFall := 5 -}}
{{- $kaOn := false }}{{ $kaInt := "5s" }}{{ $kaFall := 5 -}}
{{- if $J }}
{{- $svcOn = true }}
{{- if hasKey $k "checkServiceUrl" }}{{ $svcUrl = toString ($k.checkServiceUrl | default "") }}{{ $svcOn = ne $svcUrl "" }}{{ end }}
{{- if hasKey $k "checkServiceInterval" }}{{ $svcInt = include "vipd.duration" $k.checkServiceInterval }}{{ end }}
{{- if hasKey $k "checkServiceFailAfter" }}{{ $svcFall = $k.checkServiceFailAfter }}{{ end }}
{{- $klOn = true }}{{ if hasKey $k "checkKubelet" }}{{ $klOn = $k.checkKubelet }}{{ end }}
{{- if $k.checkKubeletUrl }}{{ $klUrl = $k.checkKubeletUrl }}{{ end }}
{{- if hasKey $k "checkKubeletInterval" }}{{ $klInt = include "vipd.duration" $k.checkKubeletInterval }}{{ end }}
{{- if hasKey $k "checkKubeletFailAfter" }}{{ $klFall = $k.checkKubeletFailAfter }}{{ end }}
{{- $kaOn = true }}{{ if hasKey $k "checkKubeApi" }}{{ $kaOn = $k.checkKubeApi }}{{ end }}
{{- if hasKey $k "checkKubeApiInterval" }}{{ $kaInt = include "vipd.duration" $k.checkKubeApiInterval }}{{ end }}
{{- if hasKey $k "checkKubeApiFailAfter" }}{{ $kaFall = $k.checkKubeApiFailAfter }}{{ end }}
{{- end }}
{{- if not (kindIs "invalid" $svc.enabled) }}{{ $svcOn = $svc.enabled }}{{ end }}
{{- if $svc.url }}{{ $svcUrl = $svc.url }}{{ end }}
{{- if not (kindIs "invalid" $svc.interval) }}{{ $svcInt = include "vipd.duration" $svc.interval }}{{ end }}
{{- if not (kindIs "invalid" $svc.fall) }}{{ $svcFall = $svc.fall }}{{ end }}
{{- if not (kindIs "invalid" $kl.enabled) }}{{ $klOn = $kl.enabled }}{{ end }}
{{- if $kl.url }}{{ $klUrl = $kl.url }}{{ end }}
{{- if not (kindIs "invalid" $kl.interval) }}{{ $klInt = include "vipd.duration" $kl.interval }}{{ end }}
{{- if not (kindIs "invalid" $kl.fall) }}{{ $klFall = $kl.fall }}{{ end }}
{{- if not (kindIs "invalid" $ka.enabled) }}{{ $kaOn = $ka.enabled }}{{ end }}
{{- if not (kindIs "invalid" $ka.interval) }}{{ $kaInt = include "vipd.duration" $ka.interval }}{{ end }}
{{- if not (kindIs "invalid" $ka.fall) }}{{ $kaFall = $ka.fall }}{{ end }}
{{- $checks := list -}}
{{- if $svcOn }}
{{- $ck := dict "builtin" "service" "http" (dict "url" $svcUrl) "interval" $svcInt "fall" $svcFall }}
{{- if not (kindIs "invalid" $svc.rise) }}{{ $_ := set $ck "rise" $svc.rise }}{{ end }}
{{- $checks = append $checks $ck }}
{{- if and (hasPrefix "http://" $svcUrl) (contains ":6443" $svcUrl) }}
{{- $warnings = append $warnings (printf "the service check URL %s is plain HTTP on port 6443, where the API server speaks HTTPS: the check fails until the URL is https:// (with a CA vipd trusts)" $svcUrl) }}
{{- end }}
{{- end }}
{{- if $klOn }}{{ $checks = append $checks (dict "builtin" "kubelet" "http" (dict "url" $klUrl) "interval" $klInt "fall" $klFall) }}{{ end }}
{{- if $kaOn }}{{ $checks = append $checks (dict "builtin" "kube-api" "interval" $kaInt "fall" $kaFall) }}{{ end }}
{{- if $nr.enabled }}
{{- $ck := dict "builtin" "node-ready" }}
{{- if not (kindIs "invalid" $nr.interval) }}{{ $_ := set $ck "interval" (include "vipd.duration" $nr.interval) }}{{ end }}
{{- $checks = append $checks $ck }}
{{- end }}
{{- $intervalKeys := dict "service" "checks.service.interval" "kubelet" "checks.kubelet.interval" "kube-api" "checks.kubeApi.interval" "node-ready" "checks.nodeReady.interval" -}}
{{- range $checks }}
{{- if hasKey . "interval" }}
{{- if lt (float64 (include "vipd.seconds" .interval)) 0.01 }}
{{- $errors = append $errors (printf "%s %s is below 10ms, the shortest interval of a vipd check: raise it" (get $intervalKeys .builtin) .interval) }}
{{- end }}
{{- end }}
{{- end }}
{{- $needsApi := or $kaOn $nr.enabled -}}
{{- $needsNodes := $nr.enabled -}}
{{- range ($c.extra | default list) }}
{{- $checks = append $checks . }}
{{- if and (kindIs "map" .) (or (hasKey . "kube_api") (hasKey . "node_ready") (has (toString (get . "builtin")) (list "kube-api" "node-ready"))) }}{{ $needsApi = true }}{{ end }}
{{- if and (kindIs "map" .) (or (hasKey . "node_ready") (eq (toString (get . "builtin")) "node-ready")) }}{{ $needsNodes = true }}{{ end }}
{{- end }}
{{- /* Unicast peers from the Kubernetes API. */ -}}
{{- $disc := $r.discovery | default dict -}}
{{- $dMode := toString ($disc.mode | default "") -}}
{{- if not (has $dMode (list "" "pods" "nodes")) }}
{{- $errors = append $errors (printf "vrrp.discovery.mode: %q is not a mode: pods (the pods of this release, a namespaced Role), nodes (Nodes by label, a ClusterRole), or empty (off)" $dMode) }}
{{- $dMode = "" }}
{{- end }}
{{- if and $static (ne $dMode "") }}
{{- $errors = append $errors "static: true with vrrp.discovery.mode: a static Pod runs before the Kubernetes API exists and has no service account token; list the peers in vrrp.unicastPeers (vipd manifest static-pod does the same)" }}
{{- end }}
{{- if and (ne $dMode "") (not $static) }}{{ $needsApi = true }}{{ end }}
{{- if and $static $needsApi }}
{{- $errors = append $errors "static: true with a check that talks to the Kubernetes API (kube-api, node-ready, kube_api, node_ready): a static Pod has no service account token; disable it (checks.kubeApi.enabled=false, keepalived.checkKubeApi=false, checks.nodeReady.enabled=false, or leave it out of checks.extra)" }}
{{- end }}
{{- /* The vipd config. */ -}}
{{- $inst := dict "name" $name "interface" $iface "vip_interface" $vipIface "vrid" $vrid "version" $version "priority" $priority "advert_interval" $advert "preempt" $preempt "vips" $vips "garp" $garp -}}
{{- if not (kindIs "invalid" $r.preemptDelay) }}{{ $_ := set $inst "preempt_delay" (include "vipd.duration" $r.preemptDelay) }}{{ end }}
{{- if $r.unicastPeers }}{{ $_ := set $inst "unicast_peers" $r.unicastPeers }}{{ end }}
{{- if eq $dMode "pods" }}
{{- $_ := set $inst "unicast_peers_from" (dict "kubernetes" (dict "pods" (dict "selector" (printf "app.kubernetes.io/name=%s,app.kubernetes.io/instance=%s" (include "vipd.name" .) .Release.Name) "namespace" $namespace))) }}
{{- else if eq $dMode "nodes" }}
{{- $_ := set $inst "unicast_peers_from" (dict "kubernetes" (dict "nodes" (dict "selector" (toString ($disc.nodeSelector | default ""))))) }}
{{- end }}
{{- if not (kindIs "invalid" $r.vipLifetime) }}{{ $_ := set $inst "vip_lifetime" (include "vipd.duration" $r.vipLifetime) }}{{ end }}
{{- if $r.v3ChecksumAsV2 }}{{ $_ := set $inst "v3_checksum_as_v2" true }}{{ end }}
{{- if $checks }}{{ $_ := set $inst "checks" $checks }}{{ end }}
{{- if $r.extra }}{{ $inst = mergeOverwrite $inst (deepCopy $r.extra) }}{{ end }}
{{- if hasKey $inst "password" }}
{{- $errors = append $errors "vrrp.extra.password: the password never goes into the ConfigMap; use vrrp.auth (a Secret, passed as VIPD_PASSWORD)" }}
{{- end }}
{{- $instances := prepend ($v.extraInstances | default list) $inst -}}
{{- range $v.extraInstances }}{{ if and (kindIs "map" .) (hasKey . "password") }}{{ $errors = append $errors "extraInstances[].password: the password never goes into the ConfigMap; use vrrp.auth (VIPD_PASSWORD applies to the file's single instance only)" }}{{ end }}{{ end }}
{{- if and $auth $v.extraInstances }}
{{- $errors = append $errors "vrrp.auth with extraInstances: vipd takes the password from VIPD_PASSWORD only for a single-instance config" }}
{{- end }}
{{- /* Pod placement. */ -}}
{{- $priorityClass := "system-node-critical" -}}
{{- if $J }}{{ $priorityClass = $pod.priorityClassName | default "system-cluster-critical" }}{{ end }}
{{- if not (kindIs "invalid" $v.priorityClassName) }}{{ $priorityClass = $v.priorityClassName }}{{ end }}
{{- $nodeSelector := dict -}}
{{- if $L }}{{ $nodeSelector = dict "node-role.kubernetes.io/control-plane" "true" }}{{ end }}
{{- if $pod.nodeSelector }}{{ $nodeSelector = $pod.nodeSelector }}{{ end }}
{{- if $v.nodeSelector }}{{ $nodeSelector = $v.nodeSelector }}{{ end }}
{{- $tolerations := list (dict "key" "node.kubernetes.io/unreachable" "operator" "Exists" "effect" "NoExecute" "tolerationSeconds" 15) (dict "key" "node.kubernetes.io/not-ready" "operator" "Exists" "effect" "NoExecute" "tolerationSeconds" 15) -}}
{{- if and (eq $kind "DaemonSet") (not $J) }}{{ $tolerations = list (dict "key" "CriticalAddonsOnly" "operator" "Exists") }}{{ end }}
{{- if $L }}
{{- $tolerations = list (dict "key" "CriticalAddonsOnly" "operator" "Exists") }}
{{- range (list "not-ready" "unreachable") }}{{ $tolerations = append $tolerations (dict "key" (printf "node.kubernetes.io/%s" .) "operator" "Exists" "effect" "NoExecute") }}{{ end }}
{{- range (list "disk-pressure" "memory-pressure" "pid-pressure" "unschedulable" "network-unavailable") }}{{ $tolerations = append $tolerations (dict "key" (printf "node.kubernetes.io/%s" .) "operator" "Exists" "effect" "NoSchedule") }}{{ end }}
{{- end }}
{{- if hasKey $pod "tolerations" }}{{ $tolerations = $pod.tolerations | default list }}{{ end }}
{{- if not (kindIs "invalid" $v.tolerations) }}{{ $tolerations = $v.tolerations }}{{ end }}
{{- if or $v.tolerateMasterTaints $pod.tolerateMasterTaints }}
{{- range (list "master" "control-plane" "controlplane") }}{{ $tolerations = append $tolerations (dict "key" (printf "node-role.kubernetes.io/%s" .) "operator" "Exists" "effect" "NoSchedule") }}{{ end }}
{{- $tolerations = append $tolerations (dict "key" "node-role.kubernetes.io/etcd" "operator" "Exists" "effect" "NoExecute") }}
{{- end }}
{{- $affinity := dict -}}
{{- if $pod.affinity }}{{ $affinity = deepCopy $pod.affinity }}{{ end }}
{{- if $v.affinity }}{{ $affinity = deepCopy $v.affinity }}{{ end }}
{{- $pullSecrets := list -}}
{{- $ps := $v.imagePullSecrets | default list -}}
{{- if and (not $ps) $pod.imagePullSecrets }}{{ $ps = $pod.imagePullSecrets }}{{ end }}
{{- range $ps }}{{ if kindIs "string" . }}{{ $pullSecrets = append $pullSecrets (dict "name" .) }}{{ else }}{{ $pullSecrets = append $pullSecrets . }}{{ end }}{{ end }}
{{- $extraEnv := $v.extraEnv | default list -}}
{{- if and (not $extraEnv) $pod.extraEnv }}{{ $extraEnv = $pod.extraEnv }}{{ end }}
{{- $resources := deepCopy ($v.resources | default dict) -}}
{{- if $pod.resources }}{{ $resources = mergeOverwrite $resources (deepCopy $pod.resources) }}{{ end }}
{{- $logLevel := "info" -}}
{{- if and $J $k.debug }}{{ $logLevel = "debug" }}{{ end }}
{{- if $v.logLevel }}{{ $logLevel = $v.logLevel }}{{ end }}
{{- $image := $v.image | default dict -}}
{{- $repo := $image.repository | default "ghcr.io/vipd/vipd" -}}
{{- $tag := toString ($image.tag | default "") -}}
{{- if has $repo (list "janeczku/keepalived-ingress-vip" "docker.io/janeczku/keepalived-ingress-vip" "alpine" "docker.io/library/alpine" "library/alpine") }}
{{- $warnings = append $warnings (printf "image.repository %s is the keepalived chart's image, which cannot run vipd: ghcr.io/vipd/vipd is used instead (image.tag is ignored with it)" $repo) }}
{{- $repo = "ghcr.io/vipd/vipd" }}{{ $tag = "" }}
{{- end }}
{{- $tag = $tag | default .Chart.AppVersion -}}
{{- $sa := $v.serviceAccount | default dict -}}
{{- $saCreate := not $static -}}
{{- if and (hasKey $sa "create") (not (kindIs "invalid" $sa.create)) (not $sa.create) }}{{ $saCreate = false }}{{ end }}
{{- if and $J $sa.name }}{{ $saCreate = false }}{{ end }}
{{- $saName := $sa.name | default (include "vipd.fullname" .) -}}
{{- if and (not $saCreate) (not $sa.name) }}{{ $saName = "default" }}{{ end }}
{{- $rbacRules := list -}}
{{- if $needsNodes }}{{ $rbacRules = append $rbacRules (dict "apiGroups" (list "") "resources" (list "nodes") "verbs" (list "get")) }}{{ end }}
{{- if eq $dMode "nodes" }}{{ $rbacRules = append $rbacRules (dict "apiGroups" (list "") "resources" (list "nodes") "verbs" (list "list" "watch")) }}{{ end }}
{{- $rbacRules = concat $rbacRules ($v.rbac.extraRules | default list) -}}
{{- $rbacCreate := and (not $static) $v.rbac.create (gt (len $rbacRules) 0) -}}
{{- $roleRules := list -}}
{{- if eq $dMode "pods" }}{{ $roleRules = append $roleRules (dict "apiGroups" (list "") "resources" (list "pods") "verbs" (list "get" "list" "watch")) }}{{ end }}
{{- $roleCreate := and (not $static) $v.rbac.create (gt (len $roleRules) 0) -}}
{{- if and $J $v.rbac.pspEnabled }}
{{- $warnings = append $warnings "rbac.pspEnabled is ignored: PodSecurityPolicy was removed in Kubernetes 1.25; the namespace needs the privileged Pod Security level (hostNetwork, NET_ADMIN)" }}
{{- end }}
{{- $strategy := dict "type" "RollingUpdate" -}}
{{- $us := $v.updateStrategy | default dict -}}
{{- if eq $kind "Deployment" }}
{{- $_ := set $strategy "rollingUpdate" (dict "maxSurge" 0 "maxUnavailable" 1) }}
{{- else }}
{{- $_ := set $strategy "rollingUpdate" (dict "maxUnavailable" 1) }}
{{- end }}
{{- if hasKey $us "maxUnavailable" }}
{{- $strategy = dict "type" ($us.type | default "RollingUpdate") }}
{{- if eq $strategy.type "RollingUpdate" }}{{ $_ := set $strategy "rollingUpdate" (dict "maxUnavailable" $us.maxUnavailable) }}{{ end }}
{{- if and (eq $kind "Deployment") (eq $strategy.type "RollingUpdate") }}{{ $_ := set $strategy.rollingUpdate "maxSurge" 0 }}{{ end }}
{{- else if $us }}
{{- $strategy = deepCopy $us }}
{{- end }}
{{- $advertSecs := float64 (include "vipd.seconds" $advert) -}}
{{- if eq $version 3 }}
{{- if or (lt $advertSecs 0.01) (gt $advertSecs 40.95) (ne (include "vipd.isCentis" $advert) "yes") }}
{{- $errors = append $errors (printf "the advert interval %s is not valid for VRRPv3: 10ms to 40.95s in steps of 10ms (vrrp.advertInterval, keepalived.vrrpInstance.advertInt)" $advert) }}
{{- end }}
{{- else if or (lt $advertSecs 1.0) (gt $advertSecs 255.0) (ne $advertSecs (floor $advertSecs)) }}
{{- $errors = append $errors (printf "the advert interval %s is not valid for VRRPv2: whole seconds from 1s to 255s (vrrp.advertInterval, keepalived.vrrpInstance.advertInt)" $advert) }}
{{- end }}
{{- $handover := add (ceil (mulf $advertSecs 4)) 10 -}}
{{- if lt (int $v.terminationGracePeriodSeconds) (int $handover) }}
{{- $warnings = append $warnings (printf "terminationGracePeriodSeconds %d may cut the handover short: with an advert interval of %s, a handover takes up to %d s (4 intervals and the stop hooks' 10 s); raise it" (int $v.terminationGracePeriodSeconds) $advert (int $handover)) }}
{{- end }}
{{- /* The legacy keys in use, with their vipd keys, for NOTES.txt. */ -}}
{{- $legacy := list -}}
{{- $map := dict "keepalived.debug" "logLevel: debug" "keepalived.authPassword" "vrrp.auth.password (VRRPv2)" "keepalived.vrrpInterfaceName" "vrrp.interface" "keepalived.vipInterfaceName" "vrrp.vipInterface" "keepalived.vipAddressCidr" "vrrp.vips" "keepalived.virtualRouterId" "vrrp.vrid" "keepalived.vrrpNoPreempt" "vrrp.preempt (negated)" "keepalived.checkServiceUrl" "checks.service.url" "keepalived.checkServiceInterval" "checks.service.interval" "keepalived.checkServiceFailAfter" "checks.service.fall" "keepalived.checkKubelet" "checks.kubelet.enabled" "keepalived.checkKubeletInterval" "checks.kubelet.interval" "keepalived.checkKubeletFailAfter" "checks.kubelet.fall" "keepalived.checkKubeletUrl" "checks.kubelet.url" "keepalived.checkKubeApi" "checks.kubeApi.enabled" "keepalived.checkKubeApiInterval" "checks.kubeApi.interval" "keepalived.checkKubeApiFailAfter" "checks.kubeApi.fall" "rbac.pspEnabled" "(none)" "pod.replicas" "replicas" "pod.priorityClassName" "priorityClassName" "pod.extraEnv" "extraEnv" "pod.resources" "resources" "pod.nodeSelector" "nodeSelector" "pod.tolerations" "tolerations" "pod.tolerateMasterTaints" "tolerateMasterTaints" "pod.affinity" "affinity" "pod.imagePullSecrets" "imagePullSecrets" "keepalived.vrrpInstance.advertInt" "vrrp.advertInterval" "keepalived.vrrpInstance.authentication" "vrrp.auth" "keepalived.vrrpInstance.interface" "vrrp.interface" "keepalived.vrrpInstance.name" "vrrp.name" "keepalived.vrrpInstance.nopreempt" "vrrp.preempt (negated)" "keepalived.vrrpInstance.priority" "vrrp.priority" "keepalived.vrrpInstance.state" "(none)" "keepalived.vrrpInstance.virtualIpAddress" "vrrp.vips" "keepalived.vrrpInstance.virtualRouterId" "vrrp.vrid" "keepalived.garp.masterDelay" "vrrp.garp.masterDelay" "keepalived.garp.masterRefresh" "vrrp.garp.masterRefresh" "keepalived.garp.masterRepeat" "vrrp.garp.masterRepeat" "keepalived.garp.masterRefreshRepeat" "vrrp.garp.masterRefreshRepeat" "keepalived.routerId" "(none)" "keepalived.vrrpVersion" "vrrp.version" "namespace" "namespaceOverride" "hostNetwork" "(always true)" "updateStrategy.maxUnavailable" "updateStrategy.rollingUpdate.maxUnavailable" -}}
{{- range (concat $jKeys $lKeys) }}{{ $legacy = append $legacy (printf "%s -> %s" . (get $map . | default "?")) }}{{ end }}
{{- $out := dict "profile" $profile "kind" $kind "static" $static "replicas" $replicas "namespace" $namespace -}}
{{- $_ := set $out "config" (dict "api" (dict "listen" (printf "%s:%d" (include "vipd.apiHost" $v) (int $v.metrics.port))) "instances" $instances) -}}
{{- $su := $v.scriptUser | default dict -}}
{{- if not (kindIs "invalid" $su.user) }}
{{- $_ := set $out.config "script_user" (dict "user" (int64 $su.user) "group" (int64 (ternary $su.user $su.group (kindIs "invalid" $su.group)))) -}}
{{- end }}
{{- $_ := set $out "scriptUser" (not (kindIs "invalid" $su.user)) -}}
{{- $_ := set $out "auth" (dict "enabled" $auth "password" $password "secretName" $secretName "secretKey" $secretKey "createSecret" (and $auth (not $static) (not $ra.existingSecret))) -}}
{{- $_ := set $out "needsApi" $needsApi -}}
{{- $_ := set $out "priorityClassName" $priorityClass -}}
{{- $_ := set $out "nodeSelector" $nodeSelector -}}
{{- $_ := set $out "tolerations" $tolerations -}}
{{- $_ := set $out "affinity" $affinity -}}
{{- $_ := set $out "imagePullSecrets" $pullSecrets -}}
{{- $_ := set $out "extraEnv" $extraEnv -}}
{{- $_ := set $out "resources" $resources -}}
{{- $_ := set $out "logLevel" $logLevel -}}
{{- $_ := set $out "image" (printf "%s:%s" $repo $tag) -}}
{{- $_ := set $out "serviceAccount" (dict "create" $saCreate "name" $saName) -}}
{{- $_ := set $out "rbac" (dict "create" $rbacCreate "rules" $rbacRules "roleCreate" $roleCreate "roleRules" $roleRules) -}}
{{- $_ := set $out "strategy" $strategy -}}
{{- $pdb := $v.podDisruptionBudget | default dict -}}
{{- $_ := set $out "pdb" (and (not $static) (eq $kind "Deployment") (gt (int $replicas) 1) (ne (toString $pdb.enabled) "false")) -}}
{{- $_ := set $out "pdbMaxUnavailable" ($pdb.maxUnavailable | default 1) -}}
{{- $_ := set $out "legacy" $legacy -}}
{{- $_ := set $out "warnings" $warnings -}}
{{- $_ := set $out "errors" $errors -}}
{{- toYaml $out }}
{{- end }}

{{/*
vipd.auth: the VRRPv2 password and its checksum, decided once per render: the Secret
(secret.yaml) and the pods' checksum/vrrp-auth annotation (workload.yaml) are separate templates,
and a generated password must be the same in both, so the first one to ask remembers the answer
in .Values (under a key the schema does not know, set after validation). Takes
(dict "s" $s "root" .), renders YAML:
  password  the password the chart's Secret holds ("" when the chart renders no Secret)
  checksum  sha256 for checksum/vrrp-auth ("" without authentication); never the password
Where the password comes from, in order:
  1. given: vrrp.auth.password, keepalived.authPassword (keepalived-ingress-vip), or
     keepalived.vrrpInstance.authentication.authPass (vipalived, default k8s_vip);
  2. the live Secret (`lookup`): an upgrade keeps the password the pods run with;
  3. generated (8 characters), on a cluster only: `helm install` on a fresh namespace;
  4. none: the render fails. `lookup` returns an empty map both for a Secret that does not exist
     and when there is no cluster to ask (helm template, helm install --dry-run without
     =server, Argo CD, kustomize's helmCharts; helm lint only logs the refusal): a password
     generated there would change on every render, and pods with the old and the new one
     would not hear each other (both Master). The cluster is told apart by the Namespace object: the target namespace, or
     `default` (which every cluster has) for `helm install --create-namespace`, whose namespace
     does not exist yet while the chart renders. Reading it needs `get` on namespaces (the
     `view`, `edit` and `admin` roles have it for their namespace), asked only in that case.
With vrrp.auth.existingSecret the chart renders no Secret: the checksum is the live Secret's
password's when `lookup` can read it, otherwise the Secret's name and key (a rotated password
then needs `kubectl rollout restart`).
*/}}
{{- define "vipd.auth" -}}
{{- $s := .s -}}
{{- $values := .root.Values -}}
{{- if not (hasKey $values "__vipdAuth") }}
{{- $password := "" -}}
{{- $checksum := "" -}}
{{- if and $s.auth.enabled (not $s.static) }}
{{- $live := lookup "v1" "Secret" $s.namespace $s.auth.secretName -}}
{{- $liveData := dict -}}
{{- if and $live (kindIs "map" $live.data) }}{{ $liveData = $live.data }}{{ end -}}
{{- if $s.auth.createSecret }}
{{- $password = toString $s.auth.password -}}
{{- if and (not $password) (hasKey $liveData $s.auth.secretKey) }}
{{- $password = index $liveData $s.auth.secretKey | b64dec -}}
{{- end }}
{{- if not $password }}
{{- if or (lookup "v1" "Namespace" "" $s.namespace) (lookup "v1" "Namespace" "" "default") }}
{{- $password = randAlphaNum 8 -}}
{{- else }}
{{- fail (printf "\nVRRPv2 authentication is on and no password is given, and this render cannot see a cluster (helm template, helm install --dry-run, Argo CD or another client-side renderer: `lookup` finds nothing). A password generated here would change on every render, and pods with the old and the new one would reject each other's adverts (both Master). Give it in the values: --set vrrp.auth.password=PASSWORD (1 to 8 characters; keepalived.authPassword with keepalived-ingress-vip values), or create a Secret and set vrrp.auth.existingSecret=NAME (and vrrp.auth.existingSecretKey, default password). If this release was installed before, its password is in Secret %s/%s (kubectl -n %s get secret %s -o jsonpath='{.data.%s}' | base64 -d). helm install and helm upgrade against the cluster (or --dry-run=server) generate one and keep it." $s.namespace $s.auth.secretName $s.namespace $s.auth.secretName $s.auth.secretKey) }}
{{- end }}
{{- end }}
{{- $checksum = include "vipd.authChecksum" $password -}}
{{- else if hasKey $liveData $s.auth.secretKey }}
{{- $checksum = include "vipd.authChecksum" (index $liveData $s.auth.secretKey | b64dec) -}}
{{- else }}
{{- $checksum = sha256sum (printf "existingSecret:%s/%s" $s.auth.secretName $s.auth.secretKey) -}}
{{- end }}
{{- end }}
{{- $_ := set $values "__vipdAuth" (dict "password" $password "checksum" $checksum) }}
{{- end }}
{{- toYaml (get $values "__vipdAuth") }}
{{- end }}

{{/* A digest of the VRRPv2 password for the pods' checksum/vrrp-auth annotation: it changes
with the password, and only then, so every pod rolls together. A plain sha256 of an 8-character
password could be reversed by brute force by anyone who can read pods; derivePassword stretches
it with scrypt (Master Password's algorithm), so each guess costs a noticeable fraction of a
second. */}}
{{- define "vipd.authChecksum" -}}
{{- derivePassword 1 "maximum" . "vipd" "checksum/vrrp-auth" | sha256sum -}}
{{- end }}

{{/* Fails the render with every configuration error at once. */}}
{{- define "vipd.validate" -}}
{{- if .errors }}
{{- fail (printf "\n%s" (join "\n" (.errors | uniq))) }}
{{- end }}
{{- end }}

{{/* The vipd config file, as rendered into the ConfigMap or the static Pod's annotation. */}}
{{- define "vipd.configFile" -}}
# vipd configuration rendered by the vipd chart (vipd check-config validates it).
# The VRRP password is not here: it reaches vipd as VIPD_PASSWORD.
{{ toYaml .config }}
{{- end }}

{{/* The API's address as a host: IPv6 in brackets. */}}
{{- define "vipd.apiHost" -}}
{{- $a := .metrics.address | default "127.0.0.1" -}}
{{- if and (contains ":" $a) (not (hasPrefix "[" $a)) }}[{{ $a }}]{{ else }}{{ $a }}{{ end }}
{{- end }}

{{/* The pod spec, shared by the Deployment, the DaemonSet and the static Pod. */}}
{{- define "vipd.podSpec" -}}
{{- $s := .s -}}
{{- $v := .root.Values -}}
{{- if not $s.static }}
serviceAccountName: {{ $s.serviceAccount.name }}
automountServiceAccountToken: {{ $s.needsApi }}
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
hostNetwork: true
enableServiceLinks: false
{{- with $s.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
{{- with $s.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if not $s.static }}
{{- with $s.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $affinity := deepCopy $s.affinity }}
{{- if eq $s.kind "Deployment" }}
{{- $anti := $affinity.podAntiAffinity | default dict }}
{{- $req := $anti.requiredDuringSchedulingIgnoredDuringExecution | default list }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "vipd.selectorLabels" .root | fromYaml)) }}
{{- $_ := set $anti "requiredDuringSchedulingIgnoredDuringExecution" (append $req $term) }}
{{- $_ := set $affinity "podAntiAffinity" $anti }}
{{- end }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $s.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- with $v.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: vipd
    image: {{ $s.image }}
    imagePullPolicy: {{ $v.image.pullPolicy | default "IfNotPresent" }}
    args: [run]
    env:
      - name: VIPD_CONFIG
        value: /etc/vipd/vipd.yaml
      - name: VIPD_LOG_FORMAT
        value: {{ $v.logFormat | default "json" }}
      - name: VIPD_LOG_LEVEL
        value: {{ $s.logLevel | quote }}
      - name: NODE_NAME
        valueFrom:
          fieldRef:
            fieldPath: spec.nodeName
      {{- if $s.auth.enabled }}
      - name: VIPD_PASSWORD
        {{- if $s.static }}
        value: {{ $s.auth.password | quote }}
        {{- else }}
        valueFrom:
          secretKeyRef:
            name: {{ $s.auth.secretName }}
            key: {{ $s.auth.secretKey }}
        {{- end }}
      {{- end }}
      {{- with $s.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if $v.probes.enabled }}
    ports:
      - name: http
        containerPort: {{ $v.metrics.port }}
        protocol: TCP
    livenessProbe:
      httpGet:
        path: /healthz
        port: {{ $v.metrics.port }}
        {{- if not (has $v.metrics.address (list "0.0.0.0" "::" "[::]")) }}
        host: {{ $v.metrics.address | trimPrefix "[" | trimSuffix "]" | quote }}
        {{- end }}
      {{- toYaml $v.probes.liveness | nindent 6 }}
    readinessProbe:
      httpGet:
        path: /readyz
        port: {{ $v.metrics.port }}
        {{- if not (has $v.metrics.address (list "0.0.0.0" "::" "[::]")) }}
        host: {{ $v.metrics.address | trimPrefix "[" | trimSuffix "]" | quote }}
        {{- end }}
      {{- toYaml $v.probes.readiness | nindent 6 }}
    {{- end }}
    {{- with $s.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- $sc := deepCopy ($v.securityContext | default dict) }}
    {{- if and $s.scriptUser $sc.capabilities }}
    {{- /* Switching to the script user, and killing its hooks at their timeout. */}}
    {{- $add := $sc.capabilities.add | default list }}
    {{- range list "SETUID" "SETGID" "KILL" }}{{ if not (has . $add) }}{{ $add = append $add . }}{{ end }}{{ end }}
    {{- $_ := set $sc.capabilities "add" $add }}
    {{- end }}
    {{- with $sc }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: config
        mountPath: /etc/vipd
        readOnly: true
volumes:
  - name: config
    {{- if $s.static }}
    downwardAPI:
      items:
        - path: vipd.yaml
          fieldRef:
            fieldPath: metadata.annotations['vipd.io/config']
    {{- else }}
    configMap:
      name: {{ include "vipd.fullname" .root }}
    {{- end }}
{{- end }}
