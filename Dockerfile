# syntax=docker/dockerfile:1
# vipd's container image: a static vipd on scratch. No shell, no package manager, nothing to
# install at start; the binary is the only file (plus CA certificates for HTTPS checks).
#
#   docker build -t ghcr.io/vipd/vipd:0.1.0 .
#   docker run --rm ghcr.io/vipd/vipd:0.1.0 manifest static-pod --interface eth0 --vip 10.0.0.100/24 --vrid 51
#
# In Kubernetes it runs with hostNetwork and only NET_ADMIN and NET_RAW (charts/vipd). The
# default command is `vipd run`; the entrypoint is vipd itself so that the image also serves
# `vipd manifest static-pod` and `vipd check-config` for day-1 bootstrap.
#
# Static glibc (static-pie, crt-static) rather than musl: vrrp-net's raw-socket code does not
# build for the musl target yet. vipd resolves no names at run time in the chart's setups
# (checks use addresses); a static glibc cannot load NSS modules, so write check URLs with IP
# addresses. scripts/chart-test.sh builds the same binary the same way and checks it is static.

ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The build platform's own target (x86_64 or aarch64 glibc), given explicitly so that
# RUSTFLAGS reach vipd and not the build scripts.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(rustc -vV | sed -n 's/^host: //p')" \
 && RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=symbols \
      cargo build --release --locked -p vipd --bin vipd --target "$target" \
      --target-dir target/static \
 && install -D -m 0755 "target/static/$target/release/vipd" /out/usr/local/bin/vipd \
 && if ldd /out/usr/local/bin/vipd 2>&1 | grep -q '=>'; then echo "vipd is not static" >&2; exit 1; fi \
 && /out/usr/local/bin/vipd --version

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/usr/local/bin/vipd /usr/local/bin/vipd
# Root with every capability dropped but NET_ADMIN and NET_RAW (the chart's securityContext):
# a non-root uid would lose them at exec.
USER 0:0
ENV PATH=/usr/local/bin
ENTRYPOINT ["/usr/local/bin/vipd"]
CMD ["run"]
