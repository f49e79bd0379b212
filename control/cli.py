"""`python3 -m control COMMAND [ARGUMENTS]`, as `make` and the scripts run it.

Operations, each a make target of the same name, with its settings from the environment:
  scale                    the running stack's web tier to SCALE replicas (scale.py)

Facts, for the scripts that are still bash:
  setting NAME [DEFAULT]   NAME's value: the environment, then .env, then DEFAULT (or its own),
                           checked (settings.py)
  topology WHAT [ARGS]     what docker-compose.yml declares of Redis, from `docker compose config
                           --format json` on standard input (topology.py says what WHAT may be)
  primary SENTINELS        the instance that a strict majority of the SENTINELS (how many there
                           are) name, from each answer on a line of standard input; nothing where
                           no majority names one (sentinels.py)
  stale ARGS               which running services differ from what is declared, and why (stale.py)
  stackfile ARGS           the stack file Swarm gets, from `docker compose config --format json`
                           on standard input (stackfile.py)

An operation that cannot go on says why in one line on standard error, after its name, and exits
1 (a fact, without the name: its caller says whose it is); a command line that is wrong exits 2."""

import os
import sys

from control import scale, sentinels, settings, stackfile, stale, topology
from control.errors import Stop

OPERATIONS = {"scale": scale.main}


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command in OPERATIONS and not args:
        try:
            OPERATIONS[command](os.environ)
        except Stop as error:
            print(f"{command}: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        return 0
    try:
        return fact(command, args)
    except Stop as error:
        print(error, file=sys.stderr)
        return 1


def fact(command, args):
    if command == "setting" and len(args) in (1, 2):
        print(settings.setting(*args))
    elif command == "topology" and args:
        return topology.main(args)
    elif command == "primary" and len(args) == 1 and args[0].isdigit():
        named = [line.strip() for line in sys.stdin]
        print(sentinels.primary(named, int(args[0])) or "")
    elif command == "stale" and args:
        return stale.main(args)
    elif command == "stackfile":
        return stackfile.main(args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0
