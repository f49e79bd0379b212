# Stand-in for oliver006/redis_exporter: Debian's exporter at the official image's path.
ARG BASE
FROM ${BASE}
# Stand-ins follow Debian sid, whose versions move daily: pinning them would only break.
# hadolint ignore=DL3008
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-redis-exporter \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/prometheus-redis-exporter /redis_exporter
USER 59000
EXPOSE 9121
ENTRYPOINT ["/redis_exporter"]
