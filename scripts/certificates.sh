#!/usr/bin/env bash
# The stack's own certificate authority and a certificate per role, for Redis's traffic over TLS
# (REDIS_TLS=on; on by default on Swarm): made on first use beside the passwords, never committed,
# each given to its containers as a secret (cert and key in one file). Redis and the sentinels
# accept only clients with a certificate from this authority.
#   redis_tls_server   the Redis instances and the sentinels (they are each other's clients too)
#   redis_tls_app      the web tier (make stats runs there too)
#   redis_tls_exporter redis_exporter (make monitor)
#   redis_tls_admin    operators: make deploy's admin calls, the bench's ceiling, the tests
# The server certificate names every instance and sentinel that docker-compose.yml declares (a
# client that checks names, as redis_exporter does, needs them), and is made anew when they change.
# A certificate lasts CERT_DAYS (90): short enough that a copied key stops working within a season,
# long enough that a running stack never meets an expiry; the authority lasts CA_DAYS (1825).
# `make secrets ROTATE=certs` makes new certificates from the same authority (a running Compose
# stack takes them up at once: control/rotate.py; on Swarm the next make deploy ships them),
# and make secrets warns when one expires within 14 days. Your own authority:
# its certificate in redis_tls_ca.crt, and either its key beside it (redis_tls_ca.key: the
# certificates are made from it) or each role's certificate and key made by you.
#   ROTATE=certs certificates.sh DIR
set -euo pipefail
dir=$1 rotate=${ROTATE:-}
case "$rotate" in
  "" | certs) ;;
  *) echo "make secrets: ROTATE must be certs (new certificates from the same authority), got '$rotate'" >&2; exit 2 ;;
esac
ca=$dir/redis_tls_ca
roles=(server app exporter admin)
days=${CERT_DAYS:-90} ca_days=${CA_DAYS:-1825}

command -v openssl >/dev/null || { echo "make secrets: openssl is needed to make the TLS certificates (apt-get install openssl)" >&2; exit 1; }
umask 077
if [ ! -s "$ca.crt" ]; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -days "$ca_days" \
    -subj "/CN=counter Redis CA" -keyout "$ca.key" -out "$ca.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  rotate=certs   # every certificate from the new authority
  echo "made $ca.crt (the certificate authority, $ca_days days)"
fi

# The server certificate's names, as subjectAltName's value (empty where docker-compose.yml cannot
# be read: no Docker here).
server_names() {
  local names
  names=$(docker compose --profile sentinel config --format json 2>/dev/null | python3 -m control topology group 2>/dev/null) \
    || return 0
  # shellcheck disable=SC2086  # one name per word
  [ -z "$names" ] || printf 'DNS:%s\n' $names | paste -sd, -
}
# The names a certificate holds, in the same form.
names_in() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' '; }

# A role's certificate and key in one file, signed by the authority: make_certificate ROLE
make_certificate() {
  local out=$dir/redis_tls_$1.pem request names=""
  [ "$1" != server ] || [ -z "$server_names" ] || names="subjectAltName=$server_names"
  request=$(mktemp)
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=counter-$1" \
    -keyout "$out.key" -out "$request" 2>/dev/null
  openssl x509 -req -in "$request" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -sha256 \
    -days "$days" -out "$out.crt" 2>/dev/null \
    -extfile <(printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature \
      extendedKeyUsage=serverAuth,clientAuth subjectKeyIdentifier=hash authorityKeyIdentifier=keyid "$names")
  cat "$out.crt" "$out.key" >"$out"
  rm -f "$request" "$out.crt" "$out.key"
  echo "made $out ($days days)"
}

server_names=$(server_names)
for role in "${roles[@]}"; do
  pem=$dir/redis_tls_$role.pem
  renamed=""
  [ "$role" != server ] || [ -z "$server_names" ] || [ "$(names_in "$pem")" = "$server_names" ] || renamed=yes
  if [ ! -s "$pem" ] || [ "$rotate" = certs ] || [ -n "$renamed" ]; then
    [ -s "$ca.key" ] || { echo "make secrets: no $ca.key to make $pem with: put the certificate and key of your authority's making there (one file)" >&2; exit 1; }
    make_certificate "$role"
  elif ! openssl x509 -in "$pem" -noout -checkend $((14 * 86400)) >/dev/null; then
    echo "make secrets: $pem expires on $(openssl x509 -in "$pem" -noout -enddate | cut -d= -f2): 'make secrets ROTATE=certs' renews it" >&2
  fi
done
# Read by the containers' users, as the passwords are (the folder itself is the owner's only).
chmod 644 "$ca.crt" "$dir"/redis_tls_*.pem
for private in "$ca.key" "$ca.srl"; do [ ! -e "$private" ] || chmod 600 "$private"; done
