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
# musl, linked statically: host names in check URLs resolve through /etc/hosts and the
# resolv.conf of the host network (musl's own resolver, no NSS modules). scripts/chart-test.sh
# builds the same binary the same way and checks it is static.

ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends musl-tools \
 && rustup target add "$(uname -m)-unknown-linux-musl"
# The build platform's musl target; musl-gcc builds ring's C and assembly.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(uname -m)-unknown-linux-musl" \
 && TARGET_CC=musl-gcc CARGO_PROFILE_RELEASE_STRIP=symbols \
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
