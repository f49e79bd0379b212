# Stand-in for the official registry:2 image, for hosts that cannot pull it: Debian's docker-registry.
ARG BASE
FROM ${BASE}
# The lab follows Debian sid, whose versions move daily: pinning them would only break.
# hadolint ignore=DL3008
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry \
 && rm -rf /var/lib/apt/lists/*
COPY registry.yml /etc/docker/registry/config.yml
EXPOSE 5000
# The user the package makes; its uid is the package's choice.
# hadolint ignore=DL3066
USER docker-registry
ENTRYPOINT ["docker-registry", "serve", "/etc/docker/registry/config.yml"]
