# Stand-in for nginx/nginx-prometheus-exporter: Debian's exporter at the official image's path.
ARG BASE
FROM ${BASE}
# Stand-ins follow Debian sid, whose versions move daily: pinning them would only break.
# hadolint ignore=DL3008
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-nginx-exporter \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/prometheus-nginx-exporter /usr/bin/nginx-prometheus-exporter
USER 65534
EXPOSE 9113
ENTRYPOINT ["/usr/bin/nginx-prometheus-exporter"]
