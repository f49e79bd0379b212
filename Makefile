# counter: `make help` lists what you can do. Most targets run `python3 -m control TARGET`, whose
# settings have their defaults in control/ and docker-compose.yml.

SHELL := bash
.DEFAULT_GOAL := help
VENV := .venv
PYTHON := $(VENV)/bin/python
ALL_PROFILES := --profile sentinel --profile loadtest --profile monitoring --profile autoscale

.PHONY: help  ## list the targets
help:
	@grep -E '^\.PHONY: [a-z-]+ +## ' $(MAKEFILE_LIST) \
	  | sed -E 's/^\.PHONY: ([a-z-]+) +## (.*)/\1\t\2/' \
	  | awk -F'\t' '{ printf "  make %-15s %s\n", $$1, $$2 }'

.PHONY: up  ## build and start the stack with SCALE web replicas (default 3), or AUTOSCALE=MIN-MAX; REDIS_MODE=single|sentinel; PLAN=1 says what it would change
up:
	@python3 -m control up

.PHONY: scale  ## change the running stack to SCALE web replicas (required), with no downtime
scale:
	@python3 -m control scale

.PHONY: down  ## stop the stack (and its load generators and monitoring); the count is kept
down:
	@docker compose $(ALL_PROFILES) down --remove-orphans

.PHONY: clean  ## stop the stack and remove its volumes (the count) and built images
clean:
	@docker compose $(ALL_PROFILES) down --volumes --rmi local --remove-orphans

.PHONY: ps  ## list the stack's containers
ps:
	@docker compose $(ALL_PROFILES) ps

.PHONY: logs  ## follow the logs (all services, or SERVICE=web)
logs:
	@docker compose $(ALL_PROFILES) logs --follow --tail=100 $(SERVICE)

.PHONY: reset  ## set the counter back to zero (operator credentials)
reset:
	@python3 -m control reset

.PHONY: switch  ## move the Redis primary to a replica under Sentinel, unnoticed by clients (a planned switch)
switch:
	@python3 -m control switch

.PHONY: stats  ## show the count and each replica's share (run in a replica, outside its metrics)
stats:
	@docker compose exec -T web env -u PROMETHEUS_MULTIPROC_DIR flask --app counter stats

.PHONY: load  ## headless locust run: USERS=50 SPAWN_RATE=10 DURATION=30s WORKERS=0 MAX_FAIL_RATIO=0; SHAPE=wave|step
load:
	@python3 -m control load

.PHONY: load-ui  ## locust's web UI on port 8089 (WORKERS=0); then make check
load-ui:
	@python3 -m control load-ui

.PHONY: check  ## exactness verdict of the newest locust run (or REPORT=reports/...)
check:
	@python3 -m control check

.PHONY: monitor  ## Prometheus (port 9090) and the nginx and Redis exporters, beside the running stack
monitor:
	@python3 -m control monitor

.PHONY: bench  ## measure throughput and latency at BENCH_REPLICAS (1 2 3 4) against baselines; reports/bench-*
bench:
	@python3 -m control bench

.PHONY: deploy  ## deploy to the Docker Swarm the CLI points at, as STACK (counter); SCALE or AUTOSCALE=MIN-MAX, REGISTRY=host:port; PLAN=1 says what it would change
deploy:
	@python3 -m control deploy

.PHONY: deploy-scale  ## change the Swarm stack's web tier to SCALE replicas (required), with no downtime
deploy-scale:
	@python3 -m control deploy-scale

.PHONY: deploy-switch  ## move the Swarm stack's Redis primary to a replica under Sentinel (a planned switch)
deploy-switch:
	@python3 -m control deploy-switch

.PHONY: undeploy  ## remove the Swarm stack; the count's volume stays unless REMOVE_DATA=yes
undeploy:
	@python3 -m control undeploy

.PHONY: swarm-lab  ## a swarm of three Docker engines in containers, and a registry, on this host
swarm-lab:
	@python3 -m control swarm-lab

.PHONY: swarm-lab-down  ## remove the swarm lab
swarm-lab-down:
	@python3 -m control swarm-lab-down

.PHONY: secrets  ## make the Redis passwords and TLS certificates if missing (make up does this); ROTATE=certs renews the certificates
secrets:
	@python3 -m control secrets

.PHONY: offline-images  ## build stand-ins for the base images from Debian's packages (no registry needed)
offline-images:
	@python3 -m control offline-images

.PHONY: lint  ## check style and the Dockerfiles and shell scripts (ruff, hadolint, shellcheck)
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint */Dockerfile bench/baselines/Dockerfile scripts/standin/*.Dockerfile lab/*.Dockerfile
	$(VENV)/bin/shellcheck -x redis/*.sh lb/entrypoint.sh autoscaler/docker.sh .ci/run

.PHONY: test  ## lint, then run every test: unit, integration and end-to-end in Docker
test: lint
	$(PYTHON) -m pytest

.PHONY: test-fast  ## lint, then the unit and integration tests only (no Docker)
test-fast: lint
	$(PYTHON) -m pytest tests/unit tests/integration

$(VENV)/.installed: requirements-dev.txt web/requirements.txt web/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@
