#!/usr/bin/env bash
# Builds vipd's container image with buildah, without a registry or a daemon, from the static
# binary (scripts/static-build.sh) and this machine's CA bundle, and unpacks it for the tests.
#
#   scripts/image-build.sh [OUT]        # OUT default: ${CARGO_TARGET_DIR:-target}/image
#
# The Containerfile is the Dockerfile's final stage (FROM scratch), its two `COPY --from=build`
# taking the prebuilt files instead, so the two cannot drift; the built image's configuration
# (entrypoint, command, user, environment) is then checked against the Dockerfile's lines.
# Leaves in OUT:
#   vipd-image.oci.tar   the image (OCI archive: `skopeo copy oci-archive:... docker://...`,
#                        or `podman load -i`)
#   rootfs/              its layers unpacked in order (what a container's root would hold)
#   config.json          its OCI configuration (Entrypoint, Cmd, User, Env)
# and prints the image's size and layers. VIPD_IMAGE=OUT makes vipd/tests/image_caps.rs run the
# image's own vipd, chrooted into rootfs/, as its configuration says.
#
# buildah runs rootless-free and daemonless here: vfs storage in OUT (no overlay mount needed),
# chroot isolation (the final stage has no RUN, so nothing is executed in it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-${CARGO_TARGET_DIR:-target}/image}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
command -v buildah >/dev/null || { echo "buildah is missing: apt-get install buildah" >&2; exit 1; }
CA=/etc/ssl/certs/ca-certificates.crt
[ -s "$CA" ] || { echo "$CA is missing: apt-get install ca-certificates" >&2; exit 1; }

started=$(date +%s)
VIPD=$(./scripts/static-build.sh | tail -n 1)
built=$(date +%s)

ctx="$OUT/context"
rm -rf "$ctx" "$OUT/rootfs" "$OUT/vipd-image.oci.tar" "$OUT/config.json"
mkdir -p "$ctx"
cp "$VIPD" "$ctx/vipd"
cp "$CA" "$ctx/ca-certificates.crt"
sed -n '/^FROM scratch/,$p' Dockerfile |
  sed -e 's#^COPY --from=build /etc/ssl/certs/ca-certificates.crt #COPY ca-certificates.crt #' \
      -e 's#^COPY --from=build /out/usr/local/bin/vipd #COPY vipd #' >"$ctx/Containerfile"
if ! grep -q '^FROM scratch' "$ctx/Containerfile" || grep -q -- '--from=' "$ctx/Containerfile"; then
  echo "the Dockerfile's final stage is not what scripts/image-build.sh expects:" >&2
  cat "$ctx/Containerfile" >&2
  exit 1
fi
echo "Containerfile (the Dockerfile's final stage, prebuilt files):"
grep -v '^#' "$ctx/Containerfile" | sed '/^$/d; s/^/  /'

bh() { buildah --root "$OUT/storage" --runroot "$OUT/run" --storage-driver vfs "$@"; }
tag=localhost/vipd:ci
bh rmi -f "$tag" >/dev/null 2>&1 || true
bh build --quiet --isolation chroot --timestamp 0 -f "$ctx/Containerfile" -t "$tag" "$ctx" >/dev/null
bh push --quiet "$tag" "oci-archive:$OUT/vipd-image.oci.tar:vipd:ci"
bh rmi -f "$tag" >/dev/null
rm -rf "$OUT/storage" "$OUT/run" "$ctx"
finished=$(date +%s)

# Unpack the archive: index -> manifest -> config and layers (in order) into rootfs/; check the
# configuration against the Dockerfile; print sizes.
python3 - "$OUT" "$ROOT/Dockerfile" <<'PY'
import hashlib, io, json, os, re, sys, tarfile

out, dockerfile = sys.argv[1], sys.argv[2]
archive = tarfile.open(os.path.join(out, "vipd-image.oci.tar"))


def blob(digest):
    algo, hexdigest = digest.split(":")
    data = archive.extractfile(f"blobs/{algo}/{hexdigest}").read()
    if hashlib.new(algo, data).hexdigest() != hexdigest:
        sys.exit(f"blob {digest} does not match its digest")
    return data


index = json.load(archive.extractfile("index.json"))
(desc,) = index["manifests"]
manifest = json.loads(blob(desc["digest"]))
config = json.loads(blob(manifest["config"]["digest"]))
rootfs = os.path.join(out, "rootfs")
os.makedirs(rootfs)
unpacked = 0
for layer in manifest["layers"]:
    data = blob(layer["digest"])
    mode = "r:gz" if layer["mediaType"].endswith("gzip") else "r:"
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as t:
        for m in t.getmembers():
            name = os.path.basename(m.name)
            if name.startswith(".wh."):
                sys.exit(f"whiteout {m.name} in a FROM scratch image")
            unpacked += m.size
        t.extractall(rootfs, filter="tar" if hasattr(tarfile, "data_filter") else None)
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)

# The Dockerfile's final stage, as the image configuration must hold it.
text = open(dockerfile).read()
final = text[text.index("\nFROM scratch"):]
want = {
    "Entrypoint": json.loads(re.search(r"^ENTRYPOINT (.*)$", final, re.M).group(1)),
    "Cmd": json.loads(re.search(r"^CMD (.*)$", final, re.M).group(1)),
    "User": re.search(r"^USER (.*)$", final, re.M).group(1),
    "Env": [e.replace(" ", "=", 1) if "=" not in e else e for e in re.findall(r"^ENV (.*)$", final, re.M)],
}
got = {k: config["config"].get(k) for k in want}
if got != want:
    sys.exit(f"the image's configuration {got} is not the Dockerfile's {want}")
files = sorted(os.path.relpath(os.path.join(d, f), rootfs) for d, _, fs in os.walk(rootfs) for f in fs)
size = sum(l["size"] for l in manifest["layers"])
print(f"image: {len(manifest['layers'])} layers, {size} bytes compressed ({size / 1048576:.1f} MiB), "
      f"{unpacked} bytes unpacked ({unpacked / 1048576:.1f} MiB); archive "
      f"{os.path.getsize(os.path.join(out, 'vipd-image.oci.tar'))} bytes")
for i, l in enumerate(manifest["layers"]):
    print(f"  layer {i + 1}: {l['digest'][:19]} {l['size']} bytes ({l['mediaType']})")
print(f"  files: {', '.join('/' + f for f in files)}")
print(f"  config: Entrypoint {got['Entrypoint']} Cmd {got['Cmd']} User {got['User']} Env {got['Env']}")
PY
echo "image built in $((finished - built)) s after the static binary ($((built - started)) s); unpacked in $OUT/rootfs"
echo "VIPD_IMAGE=$OUT"
