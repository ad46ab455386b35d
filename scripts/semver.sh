#!/usr/bin/env bash
# cargo semver-checks for vrrp-core: its public API against the baseline, so that an
# accidental breaking change fails CI. The baseline is the newest tag vrrp-core-v*, else the
# commit recorded in scripts/semver-baseline (the first embeddable API: the lean vrrp-core).
# After a release, tag it (vrrp-core-vX.Y.Z) or record its commit there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-semver-checks >/dev/null 2>&1; then
  echo "cargo-semver-checks is not installed: cargo install cargo-semver-checks --locked" >&2
  exit 1
fi
baseline=$(git tag --list 'vrrp-core-v*' --sort=-v:refname | head -n1)
if [ -z "$baseline" ]; then
  baseline=$(grep -v '^#' scripts/semver-baseline | head -n1)
fi
if ! git rev-parse --verify --quiet "$baseline^{commit}" >/dev/null; then
  echo "semver baseline $baseline is not in this clone (a shallow clone? fetch it, or the tags)" >&2
  exit 1
fi
echo "vrrp-core against $baseline"
cargo semver-checks check-release -p vrrp-core --baseline-rev "$baseline"
