# A Docker engine in a container: one node of the swarm lab. Debian sid's engine and CLI.
ARG BASE
FROM ${BASE}
# The lab follows Debian sid, whose versions move daily: pinning them would only break.
# hadolint ignore=DL3008
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io docker-cli iptables ca-certificates procps \
 && rm -rf /var/lib/apt/lists/*
VOLUME /var/lib/docker
EXPOSE 2375 2377 7946 4789
ENTRYPOINT ["dockerd"]
