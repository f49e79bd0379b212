"""control: the counter stack's operations from the host, which `make` runs (`python3 -m control
COMMAND`) and the tests import, so that each fact the operations rely on has one rule:

- the settings: the environment, then .env read with Compose's own rules, then the defaults
  (settings.py);
- the Redis topology, as the services in docker-compose.yml declare it (topology.py);
- which Redis instance is the primary: the one a strict majority of the sentinels name
  (sentinels.py).

Standard library only, and Python 3.9 or newer: what a newcomer needs before `make up` stays
Docker with Compose v2, make and python3, with nothing to install first.
"""
