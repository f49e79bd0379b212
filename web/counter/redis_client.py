"""How a process reaches Redis: one node at REDIS_URL, or the primary that the sentinels name.

Either way `connect()` returns one client per process that makes one try per call (CounterStore
retries within its budget) and bounds every name lookup. Nothing else here knows the topology.
"""

import socket
import threading
import time
import weakref
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress

from flask import current_app
from redis import Redis
from redis import exceptions as redis_errors
from redis.backoff import NoBackoff
from redis.connection import SENTINEL, Connection, ConnectionPool, SSLConnection
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelManagedConnection

from .settings import sentinel_addresses

# Every connection (to Redis and to the sentinels) probes an idle peer after 2 s, once a second,
# and is closed after 2 probes unanswered: a pooled connection whose peer vanished without a word
# is then found out within about 4 s, and the pool opens a new one when it is next used, instead
# of a call waiting REDIS_TIMEOUT on it. On Swarm a replaced task's container goes with its
# address, and nothing answers there, not even a reset: after the sentinels were replaced in a
# roll, the first question asked of them after the switch of the primary, a minute later, went
# unanswered on every replica's old connections, and a few requests failed.
KEEPALIVE = {socket.TCP_KEEPIDLE: 2, socket.TCP_KEEPINTVL: 1, socket.TCP_KEEPCNT: 2}

# Each process uses its connection to each sentinel this often (a PING), so that one is always open:
# at a switch every process asks the sentinels at once, and a round must then cost one question to
# each, not a new TLS connection to each (on a busy host, a sentinel of a quarter of a core took
# longer than REDIS_TIMEOUT to accept them). A sentinel replaced in a roll leaves only dead
# connections behind (KEEPALIVE closes them): the next PING opens a new one.
KEEP_OPEN_EVERY = 2.0

# A lookup that has never answered yet (a process's first connect, on a busy host) gets the
# time of a whole try (lookup, connect and reply) rather than of one step.
FIRST_LOOKUP_FACTOR = 3

# The deadline of the call this thread is making (CounterStore's budget), if any.
_call = threading.local()


@contextmanager
def replies_by(deadline):
    """Within it, this thread's replies are awaited until `deadline` (time.monotonic()), not for
    REDIS_TIMEOUT only: a reply made late by a moment's stall (an fsync, a busy host) is still
    taken, where a new try could not have fitted in what is left of the budget."""
    _call.deadline = deadline
    try:
        yield
    finally:
        _call.deadline = None


class LoginRefused(RuntimeError):
    """Redis or a sentinel refused the app's credentials: a configuration error, not an outage."""


class BoundedLookup(Connection):
    """A connection whose look-up of Redis's name is bounded by the connect timeout.

    Docker's DNS can stall while the engine handles a container's death (a lookup then takes
    the resolver's 5 s), and nothing else here bounds a name lookup. A lookup that takes longer
    than the connect timeout is given up, to finish in its own thread; the last address found
    is tried meanwhile (a restarted Redis usually keeps its address).
    """

    last_found = {}  # (host, port) -> the address of the last lookup that answered

    def read_response(self, *args, timeout=SENTINEL, **kwargs):
        return super().read_response(*args, timeout=self.reply_wait(timeout), **kwargs)

    def can_read(self, timeout=0):
        """What the pool asks of a connection before it hands it out: a connection that died while
        idle (KEEPALIVE) is refused here, so the pool opens a new one. redis-py's own check reads
        the ETIMEDOUT the dead socket raises as a read timeout (Python's TimeoutError, both), that
        is "nothing to read", and hands it out."""
        if self._sock is not None and self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.disconnect()
            raise redis_errors.ConnectionError(f"{self.host}:{self.port}: the connection died while idle")
        return super().can_read(timeout)

    def reply_wait(self, timeout):
        """How long to await a reply: REDIS_TIMEOUT, or until the call's deadline (replies_by)."""
        deadline = getattr(_call, "deadline", None)
        if timeout is not SENTINEL or deadline is None:
            return timeout
        return max(self.socket_timeout, deadline - time.monotonic())

    def _connect(self):
        name = self.host
        self.host = self.look_up(name, self.port, self.socket_connect_timeout)
        try:
            return super()._connect()
        finally:
            self.host = name

    @classmethod
    def look_up(cls, host, port, timeout):
        def resolve():
            try:
                cls.last_found[host, port] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
            except OSError as error:
                failed.append(error)

        failed = []
        lookup = threading.Thread(target=resolve, daemon=True)
        lookup.start()
        waited = timeout if (host, port) in cls.last_found else FIRST_LOOKUP_FACTOR * timeout
        lookup.join(waited)
        if failed and not lookup.is_alive():
            raise redis_errors.ConnectionError(f"cannot look up {host}: {failed[0]}")
        if (host, port) not in cls.last_found:
            raise redis_errors.TimeoutError(f"looking up {host} took longer than {waited:g} s")
        return cls.last_found[host, port]


class BoundedTlsLookup(BoundedLookup, SSLConnection):
    """A TLS connection, its name lookup bounded as above."""


class Demoted(redis_errors.ConnectionError):
    """The instance written to answered READONLY: it is a replica now, after a switch of the
    primary. The connection is closed, so the next try asks the sentinels again."""


class PrimaryConnection(BoundedLookup, SentinelManagedConnection):
    """A connection to the primary the sentinels name (asked again at every reconnect; a demoted
    primary's READONLY closes it, as Demoted), with its name lookup bounded as above."""

    def read_response(self, *args, timeout=SENTINEL, **kwargs):
        try:
            return Connection.read_response(self, *args, timeout=self.reply_wait(timeout), **kwargs)
        except redis_errors.ReadOnlyError:
            self.disconnect()
            raise Demoted(f"{self.host}:{self.port} is a replica now: the primary was switched") from None


class Round:
    """One asking of the sentinels, that the threads needing the primary at the same time share."""

    def __init__(self):
        self.over = threading.Event()
        self.answer = None
        self.error = None

    def outcome(self):
        if self.error is not None:
            raise type(self.error)(*self.error.args)  # each thread its own, the leader's untouched
        return self.answer


class Sentinels(Sentinel):
    """The sentinels, asked all at once: the primary is the one named with the newest configuration
    epoch by those that answer within `timeout` (a majority of them is enough), each of which must
    see another sentinel (so one cut off alone is not believed). When none names a primary that
    is up, the reason says what each sentinel said, in one line.

    A process asks one round at a time: a thread that needs the primary while a round is under
    way takes that round's answer. At a switch every thread of every replica loses its connection
    to the old primary at once; were each to ask each sentinel, the sentinels (a fraction of a core
    each) would take new connections by the dozen in the same moment, and on a busy host none
    would answer within `timeout`."""

    def __init__(self, addresses, timeout, sentinel_kwargs, **connection_kwargs):
        super().__init__([], 1, sentinel_kwargs, **connection_kwargs)
        self.sentinels = [
            Redis(connection_pool=ConnectionPool(host=host, port=port, **sentinel_kwargs))
            for host, port in addresses
        ]
        self.timeout = timeout
        # Twice as many as the sentinels: a round's question still waiting on a slow connect when
        # the round ended does not hold up the next round's.
        self.asking = ThreadPoolExecutor(2 * len(addresses), thread_name_prefix="sentinel")
        self.rounds = {}  # service name -> the Round under way
        self.rounds_lock = threading.Lock()
        threading.Thread(target=keep_open, args=(weakref.ref(self),), daemon=True).start()

    def discover_master(self, service_name):
        with self.rounds_lock:
            current = self.rounds.get(service_name)
            leading = current is None
            if leading:
                current = self.rounds[service_name] = Round()
        if not leading:
            current.over.wait()  # the leader's round ends within `timeout`
            return current.outcome()
        try:
            current.answer = self.ask(service_name)
        except Exception as error:
            current.error = error
            raise
        finally:
            with self.rounds_lock:
                del self.rounds[service_name]
            current.over.set()
        return current.answer

    def ask(self, service_name):
        asked = {self.asking.submit(sentinel.sentinel_masters): sentinel for sentinel in self.sentinels}
        deadline = time.monotonic() + self.timeout
        majority = len(asked) // 2 + 1
        named, reasons, pending = [], [], set(asked)
        while pending and len(named) < majority:
            done, pending = wait(pending, max(0.0, deadline - time.monotonic()), FIRST_COMPLETED)
            if not done:
                break
            for answer in done:
                where = address(asked[answer])
                try:
                    state = answer.result().get(service_name)
                except redis_errors.AuthenticationError as error:
                    raise redis_errors.AuthenticationError(f"sentinel {where}: {error}") from None
                except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
                    reasons.append(f"{where}: {error}")
                    continue
                reason = self.doubt(state, service_name)
                if reason:
                    reasons.append(f"{where} {reason}")
                else:
                    named.append(state)
        reasons += [f"{address(asked[answer])}: no answer within {self.timeout:g} s" for answer in pending]
        if not named:
            raise MasterNotFoundError(f"no primary for {service_name!r}: {'; '.join(reasons)}")
        newest = max(named, key=lambda state: state["config-epoch"])
        return newest["ip"], newest["port"]

    def doubt(self, state, service_name):
        """Why a sentinel's view of the primary is not to be used, or None."""
        if state is None:
            return f"watches no primary named {service_name!r}"
        if not state["is_master"] or state["is_sdown"] or state["is_odown"]:
            return f"sees the primary {state['ip']}:{state['port']} down"
        # The sentinel that runs a failover names the old primary until the failover ends, with
        # the new epoch already; the others learn the new primary as soon as it is promoted.
        if "failover_in_progress" in state["flags"].split(","):
            return f"is replacing the primary {state['ip']}:{state['port']}"
        if state["num-other-sentinels"] < self.min_other_sentinels:
            return "sees no other sentinel (no quorum)"
        return None


def keep_open(sentinels):
    """KEEP_OPEN_EVERY: a PING to each sentinel, until the process's Sentinels are gone."""
    while True:
        time.sleep(KEEP_OPEN_EVERY)
        alive = sentinels()
        if alive is None:
            return
        for sentinel in alive.sentinels:
            with suppress(redis_errors.RedisError):  # tried again next time; a round says what is wrong
                sentinel.ping()
        del alive


def address(client):
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs['host']}:{kwargs['port']}"


def password_of(config):
    if not config["REDIS_PASSWORD_FILE"]:
        return None
    with open(config["REDIS_PASSWORD_FILE"]) as secret:
        return secret.read().strip()


class PrimaryTlsConnection(PrimaryConnection, SSLConnection):
    """The same, over TLS."""


def tls_of(config):
    """redis-py's TLS settings under REDIS_TLS=on: this process's certificate, and the stack's
    authority as the only one trusted. Like Redis between its own nodes, the peer is checked
    against the authority, not against its name (every certificate is the stack's own)."""
    if config["REDIS_TLS"] != "on":
        return {}
    return {
        "ssl_certfile": config["REDIS_TLS_CERT_FILE"],
        "ssl_keyfile": config["REDIS_TLS_CERT_FILE"],
        "ssl_ca_certs": config["REDIS_TLS_CA_FILE"],
        "ssl_check_hostname": False,
    }


def connect(config):
    """The process's client, built from the app's settings: one try per call, every wait bounded."""
    timeout = config["REDIS_TIMEOUT"]
    tls = tls_of(config)
    common = {
        "username": config["REDIS_USERNAME"] or None,
        "password": password_of(config),
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "socket_keepalive": True,
        "socket_keepalive_options": KEEPALIVE,
        "retry": Retry(NoBackoff(), 0),  # redis-py's default retries would spend the budget unseen
        **tls,
    }
    lookup, primary = (BoundedTlsLookup, PrimaryTlsConnection) if tls else (BoundedLookup, PrimaryConnection)
    if config["REDIS_MODE"] == "single":
        return Redis.from_url(config["REDIS_URL"], connection_class=lookup, **common)
    sentinels = Sentinels(
        sentinel_addresses(config["REDIS_SENTINELS"]),
        timeout,
        sentinel_kwargs={**common, "connection_class": lookup},
    )
    return sentinels.master_for(config["REDIS_PRIMARY_NAME"], connection_class=primary, **common)


def check_login(client, config):
    """Wait until Redis answers before serving, so that a new replica takes requests only once it
    can count them (on Swarm a new container's overlay network can take a moment). Fail at once
    when Redis or a sentinel refuses the credentials, so the replica never turns healthy and its
    log names the cause. Redis not answering within REDIS_START_WAIT is no reason to fail:
    /readyz says it."""
    deadline = time.monotonic() + config["REDIS_START_WAIT"]
    while True:
        try:
            client.ping()
            return
        except redis_errors.AuthenticationError as error:
            user = config["REDIS_USERNAME"] or "default"
            raise LoginRefused(
                f"Redis refused the login of user {user!r} ({error}): check REDIS_USERNAME and the "
                f"password in REDIS_PASSWORD_FILE against Redis's ACL"
            ) from None
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
            if time.monotonic() > deadline:
                current_app.logger.warning("counter store not reachable yet: %s", error)
                return
            time.sleep(0.2)
