"""`python3 -m control COMMAND [ARGUMENTS]`, as `make` and the scripts run it:

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

A command that cannot do its work says why in one line on standard error and exits 1; a command
line that is wrong, 2."""

import sys

from control import sentinels, settings, stackfile, stale, topology


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "setting" and len(args) in (1, 2):
            print(settings.setting(*args))
        elif command == "topology" and args:
            return topology.main(args)
        elif command == "stale" and args:
            return stale.main(args)
        elif command == "stackfile":
            return stackfile.main(args)
        elif command == "primary" and len(args) == 1 and args[0].isdigit():
            named = [line.strip() for line in sys.stdin]
            print(sentinels.primary(named, int(args[0])) or "")
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except settings.SettingError as error:
        print(error, file=sys.stderr)
        return 1
    return 0
