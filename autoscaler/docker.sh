#!/bin/sh
# `docker compose ...` and nothing else of Docker's command line: the autoscaler scales with Compose.
if [ "$1" = compose ]; then
  shift
  exec docker-compose "$@"
fi
echo "docker: only 'docker compose' runs here, not 'docker $1'" >&2
exit 1
