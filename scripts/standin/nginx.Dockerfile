# Stand-in for the official nginx image: Debian's nginx, with the same `nginx` user (uid 101).
ARG BASE
FROM ${BASE}
# Stand-ins follow Debian sid, whose versions move daily: pinning them would only break.
# hadolint ignore=DL3008
RUN groupadd --system --gid 101 nginx \
 && useradd --system --uid 101 --gid 101 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nginx \
 && apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx wget \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
