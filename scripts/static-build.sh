#!/usr/bin/env bash
# Builds vipd as the Dockerfile builds it (static, musl, symbols stripped), outside Docker, and
# checks it is static. Prints the binary's absolute path as its last line of stdout; the build's
# output goes to stderr. Used by scripts/chart-test.sh and scripts/image-build.sh.
#
# The musl target of this machine's toolchain, with musl-gcc for ring's C and assembly, in its
# own target directory ($CARGO_TARGET_DIR/static, default target/static). A toolchain without the
# musl target gets a glibc static-pie build instead (said so), which is static too but cannot
# load NSS modules (the image has no /etc/passwd anyway: it takes numeric ids).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CARGO_TARGET_DIR:-target}/static"
musl="$(uname -m)-unknown-linux-musl"
{
  if [ -d "$(rustc --print sysroot)/lib/rustlib/$musl" ] && command -v musl-gcc >/dev/null; then
    target="$musl"
    TARGET_CC=musl-gcc CARGO_PROFILE_RELEASE_STRIP=symbols \
      cargo build --release --locked -p vipd --bin vipd --target "$target" --target-dir "$dir"
  else
    echo "no $musl target or musl-gcc here: building glibc static-pie instead of the Dockerfile's musl"
    target="$(rustc -vV | sed -n 's/^host: //p')"
    RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=symbols \
      cargo build --release --locked -p vipd --bin vipd --target "$target" --target-dir "$dir"
  fi
} >&2
vipd="$(cd "$dir/$target/release" && pwd)/vipd"
file "$vipd" >&2
if ! file "$vipd" | grep -Eq 'static-pie linked|statically linked'; then
  echo "vipd is not static" >&2
  exit 1
fi
if ldd "$vipd" 2>&1 | grep -q '=>'; then
  echo "vipd links shared libraries:" >&2
  ldd "$vipd" >&2
  exit 1
fi
echo "static vipd: $(stat -c %s "$vipd") bytes ($(du -h "$vipd" | cut -f1)), $("$vipd" --version)" >&2
echo "$vipd"
