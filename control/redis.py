"""The Redis group of a running stack, as make reaches it: its instances and sentinels (the
topology, under REDIS_MODE), redis-cli as Redis's admin on any of them, which instance is the
primary (the one Redis, or under Sentinel the one a strict majority of the sentinels name:
sentinels.py), waiting until the group can take a failover, and rolling it one member at a time.

How to reach them is passed in: `reach(argv, stdin)` runs argv in a container of the Redis image
on the stack's back network, where every member answers to its name, with the admin's password in
REDISCLI_AUTH, and returns its CompletedProcess; `compose_reach` is Compose's, swarm.py has
Swarm's. So is how to replace a member: `replace(name)` starts its new container or task."""

import time
from pathlib import Path

from control import docker, sentinels, settings
from control.errors import Stop
from control.say import say, timed
from control.topology import INSTANCE_PORT, SENTINEL_PORT

# sh -c: the admin's password from the container's secret, then ARGV
AS_ADMIN = 'REDISCLI_AUTH="$(cat /run/secrets/redis_admin_password)" && export REDISCLI_AUTH && exec "$@"'
REDIS_IMAGE = Path(__file__).resolve().parent.parent / "redis"
# The switch, after the rule for which instance the sentinels name (both run in a Redis container).
SWITCH = [REDIS_IMAGE / "majority.sh", REDIS_IMAGE / "switch-primary.sh"]
# ms: how lately a sentinel must have heard from a member it sees up (it pings every second, and
# a sentinel says hello every 2 s)
PINGED_WITHIN, HELLO_WITHIN = 1500, 2500
MEMBER_BACK_WAIT = 90  # s a replaced member may take to be back as it was


def pairs(text):
    """redis-cli's lines of a reply of key and value pairs (SENTINEL MASTER, REPLICAS, ...), as
    dicts: a new one at each "name" key."""
    lines = text.split("\n")
    entries = []
    for at in range(0, len(lines) - 1, 2):  # (python 3.9 has no zip(strict=...))
        key, value = lines[at], lines[at + 1]
        if key == "name" or not entries:
            entries.append({})
        entries[-1][key] = value
    return entries


class Group:
    def __init__(self, topology, mode, reach, acknowledging=1):
        self.topology = topology
        self.instances, self.sentinels = topology.of(mode)
        self.reach = reach
        self.acknowledging = acknowledging  # REDIS_ACK_REPLICAS

    def admin(self, name, *args, stdin=None):
        """redis-cli as the admin on an instance or a sentinel: its standard output ("" where it
        did not answer)."""
        port = SENTINEL_PORT if name in self.sentinels else INSTANCE_PORT
        argv = ["redis-cli", "--no-auth-warning", "--user", "admin", "-h", name, "-p", str(port), *args]
        done = self.reach(argv, stdin)
        return done.stdout.replace("\r", "").rstrip("\n") if done.returncode == 0 else ""

    def named(self):
        """What each sentinel names primary ("" where one does not answer)."""
        name = self.topology.primary_name
        return [
            self.admin(s, "SENTINEL", "get-master-addr-by-name", name).split("\n")[0] for s in self.sentinels
        ]

    def primary(self):
        """The primary, or None while no majority of the sentinels names one."""
        if not self.sentinels:
            return self.instances[0]
        return sentinels.primary(self.named(), len(self.sentinels))

    def replication(self, name, field):
        """A field of an instance's INFO replication ("" where it does not answer)."""
        for line in self.admin(name, "INFO", "replication").split("\n"):
            if line.startswith(f"{field}:"):
                return line.split(":", 1)[1]
        return ""

    def quorum_whole(self, sentinel):
        """Whether the sentinel counts every sentinel usable for a failover."""
        answer = self.admin(sentinel, "SENTINEL", "CKQUORUM", self.topology.primary_name)
        return answer.startswith(f"OK {len(self.sentinels)} usable")

    def sees_up(self, sentinel, name, within=PINGED_WITHIN):
        """Whether a sentinel sees a member as it is when all is well: a replica answering its pings
        with its link to the primary up, a sentinel answering and saying hello; each heard from
        within `within` ms as well."""
        kind, want = ("SENTINELS", "sentinel") if name in self.sentinels else ("REPLICAS", "slave")
        for seen in pairs(self.admin(sentinel, "SENTINEL", kind, self.topology.primary_name)):
            if seen.get("ip") != name or seen.get("flags") != want:
                continue
            pinged = int(seen.get("last-ok-ping-reply", PINGED_WITHIN))
            if pinged >= min(PINGED_WITHIN, within):
                return False
            if want == "slave":
                return seen.get("master-link-status") == "ok"
            return int(seen.get("last-hello-message", HELLO_WITHIN)) < min(HELLO_WITHIN, within)
        return False

    def acknowledged(self):
        """Whether a write made now on the primary is on disk on REDIS_ACK_REPLICAS replicas within
        0.1 s (a key outside counter:*, gone a second later)."""
        if self.acknowledging == 0:
            return True
        primary = self.primary()
        if primary is None:
            return False
        script = f"SET stack:acknowledged 1 PX 1000\nWAITAOF 1 {self.acknowledging} 100\n"
        answer = self.admin(primary, stdin=script).split("\n")
        return answer[-1] == str(self.acknowledging)

    def whole(self):
        """Whether every sentinel sees every other sentinel and every replica up and answering, so
        that the group can take a failover, and increments are acknowledged."""
        primary = self.primary()
        if primary is None:
            return False
        for sentinel in self.sentinels:
            if not self.quorum_whole(sentinel):
                return False
            if not all(self.sees_up(sentinel, name) for name in self.instances if name != primary):
                return False
        return self.acknowledged()

    def wait(self, seconds):
        """Under Sentinel, until the group can take a failover and acknowledge increments (a
        sentinel learns of a replica from the primary's INFO, every 10 s; a replica that just
        copied the data set rewrites its append-only file first)."""
        if not self.sentinels:
            return
        deadline = time.monotonic() + seconds
        while not self.whole():
            if time.monotonic() > deadline:
                raise Stop(
                    f"the Redis instances and sentinels did not all find each other within {seconds} s "
                    "(see 'make logs')"
                )
            time.sleep(0.5)

    def back(self, name, replaced):
        """Whether a member replaced at `replaced` (time.time()) is back: a sentinel that counts
        every sentinel usable, or a replica in sync; seen up since by every other sentinel; and
        increments acknowledged again."""
        if name in self.sentinels:
            if not self.quorum_whole(name):
                return False
        elif (
            self.replication(name, "master_link_status"),
            self.replication(name, "master_sync_in_progress"),
        ) != (
            "up",
            "0",
        ):
            return False
        since = int((time.time() - replaced) * 1000)
        others = [s for s in self.sentinels if s != name]
        return all(self.sees_up(s, name, since) for s in others) and self.acknowledged()

    def replace_member(self, replace, name):
        """Replace one member, and wait until it is back as it was before."""
        replace(name)
        replaced = time.time()
        deadline = time.monotonic() + MEMBER_BACK_WAIT
        while not self.back(name, replaced):
            if time.monotonic() > deadline:
                raise Stop(
                    f"{name} was not back within {MEMBER_BACK_WAIT} s after it was replaced (see 'make logs')"
                )
            time.sleep(0.5)

    def switch(self, old):
        """A planned switch of the primary away from `old` that loses no acknowledged increment
        (redis/switch-primary.sh says how), said with how long writes were refused."""
        argv = [
            "sh",
            "-s",
            "--",
            old,
            self.topology.primary_name,
            str(INSTANCE_PORT),
            " ".join(self.instances),
            " ".join(f"{s}:{SENTINEL_PORT}" for s in self.sentinels),
        ]
        done = self.reach(argv, "".join(path.read_text() for path in SWITCH))
        if done.returncode != 0:
            print(done.stderr, end="", flush=True)
            raise Stop("the primary was not switched (the reason is above)")
        print(done.stderr, end="", flush=True)  # a warning: the switch may have taken longer
        new, refused_ms, *phases = done.stdout.strip().split("\n")[-1].split()
        say(
            f"{new} is the primary now; writes were refused for {refused_ms} ms while it took over from {old}"
            f" (in ms: {', '.join(phases)})"
        )

    def roll(self, replace, changed):
        """The changed members replaced one at a time, serving throughout (make up, make deploy):
        the sentinels first, each back among the others before the next (a quorum is always
        kept); then the replicas, each back in sync; then a planned switch of the primary to an
        up-to-date replica; then the old primary, which joins as a replica."""
        # From a group that can take a failover: after a fault, a member may still be on its way back.
        self.wait(120)
        for name in self.sentinels:
            if name in changed:
                timed(
                    f"sentinel {name} replaced, and back among the others", self.replace_member, replace, name
                )
        primary = self.primary()
        if primary is None:
            raise Stop(
                "no majority of the sentinels names one primary: "
                "not replacing the Redis instances (see 'make logs')"
            )
        for name in self.instances:
            if name != primary and name in changed:
                timed(f"replica {name} replaced, and back in sync", self.replace_member, replace, name)
        if primary in changed:
            timed(f"primary switched from {primary}", self.switch, primary)
            timed(f"{primary} replaced, and back in sync as a replica", self.replace_member, replace, primary)


def group_of(compose, declared, reach):
    """The group of the stack COMPOSE describes, under its REDIS_MODE and REDIS_ACK_REPLICAS."""
    acknowledging = int(settings.setting("REDIS_ACK_REPLICAS", "1", environ=compose.environ))
    return Group(declared, compose.mode, reach, acknowledging)


def compose_group(compose, declared=None):
    """The group under Compose, as make up and make reset reach it."""
    return group_of(compose, declared or compose.declared(), compose_reach(compose))


def compose_reach(compose):
    """Compose's reach: in a running Redis instance's container, which has the admin's secret
    (found anew at each call, since a roll replaces them; `docker ps` answers quicker than
    `docker compose ps`)."""
    declared = compose.declared()
    instances, _ = declared.of(compose.mode)
    project = declared.config["name"]

    def reach(argv, stdin=None):
        for name in instances:
            labels = [
                f"label=com.docker.compose.project={project}",
                f"label=com.docker.compose.service={name}",
            ]
            filters = [option for label in labels for option in ("--filter", label)]
            found = docker.run(
                "docker", "ps", "--quiet", *filters, "--filter", "status=running"
            ).stdout.split()
            if found:
                command = ["docker", "exec", "-i", found[0], "sh", "-c", AS_ADMIN, "sh", *argv]
                return docker.run(*command, check=False, stdin=stdin or "")
        raise Stop("no Redis instance is running: start the stack with 'make up'")

    return reach
