#!/usr/bin/env bash
# The project's test command: formatting, lints, docs, every test, and the dependency rule of
# vrrp-core. Run from anywhere, as root; needs the Rust toolchain (rustup with clippy and rustfmt)
# and the tools .ci/run installs (iproute2, keepalived, buildah, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (RUSTDOCFLAGS=-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "docs as docs.rs builds them (all features, --cfg docsrs, -D warnings)"
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo doc -p vrrp-core -p vrrp-net -p vip-health -p vipd \
  --all-features --no-deps --locked

step "cargo package: vrrp-core, vrrp-net, vip-health, vipd (--no-verify: the tests build them)"
cargo package --workspace --exclude vipd-examples --exclude vipd-benches --no-verify --locked

step "cargo semver-checks: vrrp-core's API against its baseline (scripts/semver.sh)"
./scripts/semver.sh

step "vrrp-core depends on no I/O crate"
deps=$(cargo tree -p vrrp-core -e normal --prefix none --locked | awk '{print $1}' | sort -u)
for banned in tokio socket2 rtnetlink libc nix mio; do
  if grep -qx "$banned" <<<"$deps"; then
    echo "vrrp-core depends on $banned: it must stay sans-IO" >&2
    exit 1
  fi
done
echo "ok: $(wc -l <<<"$deps") crates, none of tokio socket2 rtnetlink libc nix mio"

step "python venv for the tests (prometheus-client: the strict OpenMetrics parser)"
venv="target/test-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import prometheus_client" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check prometheus-client
fi
export VIPD_TEST_PYTHON="$PWD/$venv/bin/python"

step "image: buildah from the static binary, unpacked for vipd/tests/image_caps.rs (scripts/image-build.sh)"
image="${CARGO_TARGET_DIR:-$PWD/target}/image"
./scripts/image-build.sh "$image"
export VIPD_IMAGE="$image"

step "cargo test (workspace, release: the simulation runs thousands of scenarios)"
cargo test --workspace --release --locked

step "chart: helm lint and template matrix, kubernetes-validate, static binary (scripts/chart-test.sh)"
./scripts/chart-test.sh

if [ -f fuzz/Cargo.toml ]; then
  step "fuzz targets compile"
  cargo check --manifest-path fuzz/Cargo.toml --locked
fi

step "fuzz: every target for ${FUZZ_SECONDS:-60} s on stable, fails on a crash (scripts/fuzz.sh)"
./scripts/fuzz.sh

step "soak: three vipd nodes under random faults for 60 s, root (scripts/soak.py)"
python3 scripts/soak.py --duration 60

step "mixed soak: two vipd nodes and keepalived 2.2.7 under random faults for 60 s (scripts/soak.py --keepalived 3)"
python3 scripts/soak.py --duration 60 --keepalived 3

printf '\nall checks passed\n'
