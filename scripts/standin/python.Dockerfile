# Stand-in for the official python image: Debian's python3 in a venv on PATH, so `python` and `pip` work alike.
ARG BASE
FROM ${BASE}
COPY host-ca.crt /usr/local/share/host-ca.crt
# Stand-ins follow Debian sid, whose versions move daily: pinning them would only break.
# hadolint ignore=DL3008
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /usr/local/python
ENV PATH=/usr/local/python/bin:$PATH \
    PIP_CERT=/usr/local/share/host-ca.crt \
    SSL_CERT_FILE=/usr/local/share/host-ca.crt
CMD ["python3"]
