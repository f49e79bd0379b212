#!/usr/bin/env bash
# Builds stand-ins for the official python, nginx and redis images, and for the monitoring
# images (prometheus and the nginx and redis exporters), from Debian's packages, for hosts that
# cannot pull from a registry, and points .env at them.
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${STANDIN_SUITE:-sid}   # sid: nginx new enough for upstream `resolve`
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca_bundle=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
base=counter-standin/debian:$suite

source scripts/lib/checks.sh

command -v docker >/dev/null 2>&1 || die "Docker is not installed: see README.md, Prerequisites"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer: start it (dockerd or Docker Desktop)"
[ -r "$ca_bundle" ] || die "no CA bundle at $ca_bundle (set HOST_CA_BUNDLE)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if docker image inspect "$base" >/dev/null 2>&1; then
  say "reusing $base"
else
  command -v debootstrap >/dev/null 2>&1 \
    || die "debootstrap is not installed: install it (apt-get install debootstrap), then run 'make offline-images' again"
  [ "$(id -u)" = 0 ] || die "making the Debian base image needs root: run 'sudo make offline-images'"
  say "debootstrap $suite (about a minute)"
  debootstrap --variant=minbase "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap of $suite failed"; }
  tar -C "$work/rootfs" -c . | docker import - "$base" >/dev/null
  rm -rf "$work/rootfs"
fi

cp scripts/standin/*.Dockerfile "$work/"
cp "$ca_bundle" "$work/host-ca.crt"
for name in python nginx redis prometheus nginx-exporter redis-exporter; do
  say "building counter-standin/$name"
  docker build --quiet --build-arg "BASE=$base" -f "$work/$name.Dockerfile" \
    -t "counter-standin/$name:latest" "$work" >/dev/null 2>"$work/build.log" \
    || { tail -n 30 "$work/build.log" >&2; die "building counter-standin/$name failed"; }
done

# Compose reads .env: from now on `make up` uses the stand-ins.
[ -f .env ] || cp .env.example .env
for pair in PYTHON_IMAGE=counter-standin/python NGINX_IMAGE=counter-standin/nginx REDIS_IMAGE=counter-standin/redis \
  PROMETHEUS_IMAGE=counter-standin/prometheus NGINX_EXPORTER_IMAGE=counter-standin/nginx-exporter \
  REDIS_EXPORTER_IMAGE=counter-standin/redis-exporter; do
  name=${pair%%=*}
  if grep -q "^$name=" .env; then
    sed -i "s|^$name=.*|$pair|" .env
  else
    echo "$pair" >>.env
  fi
done
say "stand-in images ready; .env now points the *_IMAGE variables at them"
