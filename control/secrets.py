"""`make secrets` (make up and make deploy run it too): what Redis's users log in with, made on
first use beside each other in SECRETS_DIR (secrets/), never committed.

The passwords, and the ACL files Redis and the sentinels load: `admin` may do anything, `counter`
(the app) only the commands the counter needs, `exporter` (redis_exporter, `make monitor`) only
what reading Redis's figures needs, and no key; `healthcheck` (the container's probe) only PING,
with no password, so the probe needs no secret. The app may wait for its increments to reach the
replicas under Sentinel (WAIT, and WAITAOF, which Redis has from 7.2 on: an older Redis refuses
the whole file). Under Sentinel also `replica`, which replicas log in to the primary as, and
`sentinel`, which the sentinels log in to Redis and to each other as.

The stack's own certificate authority and a certificate per role, for Redis's traffic over TLS
(REDIS_TLS=on; on by default on Swarm), each given to its containers as a secret (certificate and
key in one file); Redis and the sentinels accept only clients with a certificate from it:
  redis_tls_server   the Redis instances and the sentinels (they are each other's clients too)
  redis_tls_app      the web tier (make stats runs there too)
  redis_tls_exporter redis_exporter (make monitor)
  redis_tls_admin    operators: make deploy's admin calls, the bench's ceiling, the tests
The server certificate names every instance and sentinel that docker-compose.yml declares (a
client that checks names, as redis_exporter does, needs them), and is made anew when they change.
A certificate lasts CERT_DAYS (90): short enough that a copied key stops working within a season,
long enough that a running stack never meets an expiry; the authority lasts CA_DAYS (1825).
ROTATE=certs makes new certificates from the same authority (a running Compose stack takes them
up at once: rotate.py; on Swarm the next make deploy ships them), and a certificate that expires
within 14 days is said. Your own authority: its certificate in redis_tls_ca.crt, and either its
key beside it (redis_tls_ca.key: the certificates are made from it) or each role's certificate and
key made by you."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from control import docker, rotate
from control.errors import Stop
from control.topology import Topology

PASSWORDS = (
    "redis_admin_password",
    "redis_app_password",
    "redis_exporter_password",
    "redis_replica_password",
    "redis_sentinel_password",
)
ROLES = ("server", "app", "exporter", "admin")
EXPIRY_WARNING = 14 * 86400  # s

# `default` cannot log in (off, no password) but keeps every permission: Redis replays its
# append-only log as that user, and a restricted default would drop logged increments.
USERS = """\
user default off resetpass ~* &* +@all
user admin on #{admin} ~* &* +@all
user counter on #{app} resetchannels ~counter:* -@all +ping +get +set +incr +incrby +hincrby +hgetall +multi +exec +discard +eval +evalsha +script|load +wait +waitaof
user healthcheck on nopass resetchannels resetkeys -@all +ping
user exporter on #{exporter} resetchannels resetkeys -@all +ping +info +config|get +client|list +client|setname +slowlog|get +slowlog|len +latency|latest +latency|histogram +select +dbsize +memory|stats
user replica on #{replica} resetchannels resetkeys -@all +psync +replconf +ping
user sentinel on #{sentinel} allchannels resetkeys -@all +client +subscribe +publish +ping +info +multi +slaveof +config +exec +role +script|kill
"""  # noqa: E501
# The sentinels' own users: the app may only ask which instance is the primary, the sentinels
# talk to each other as `sentinel`, the exporter reads their figures.
SENTINEL_USERS = """\
user default off resetpass ~* &* +@all
user admin on #{admin} ~* &* +@all
user counter on #{app} resetchannels resetkeys -@all +ping +sentinel|masters +sentinel|master +sentinel|get-master-addr-by-name
user healthcheck on nopass resetchannels resetkeys -@all +ping
user exporter on #{exporter} resetchannels resetkeys -@all +ping +info +client|setname +sentinel|masters +sentinel|master +sentinel|sentinels +sentinel|replicas +sentinel|slaves +sentinel|ckquorum
user sentinel on #{sentinel} allchannels resetkeys -@all +ping +publish +subscribe +client|setname +client|kill +info +sentinel|is-master-down-by-addr +role
"""  # noqa: E501


def main(environ):
    folder = Path(environ.get("SECRETS_DIR") or "secrets")
    rotating = environ.get("ROTATE", "")
    if rotating not in ("", "certs"):
        raise Stop(f"ROTATE must be certs (new certificates from the same authority), got '{rotating}'")
    passwords(folder)
    certificates(folder, rotating == "certs", environ)
    # Renewed certificates, taken up by the stack running here (rotate.py says how).
    if rotating and folder == Path("secrets"):
        rotate.main(environ)


def passwords(folder):
    """The passwords, made once, and the ACL files with their hashes."""
    folder.mkdir(exist_ok=True)
    folder.chmod(0o700)  # the files inside are world-readable so container users can read their mounts
    for name in PASSWORDS:
        path = folder / name
        if not path.is_file() or path.stat().st_size == 0:
            path.write_text(os.urandom(24).hex())
            print(f"made {path}")
    hashes = {
        name.removeprefix("redis_").removesuffix("_password"): hashlib.sha256(
            (folder / name).read_text().rstrip("\n").encode()
        ).hexdigest()
        for name in PASSWORDS
    }
    (folder / "redis_users.acl").write_text(USERS.format(**hashes))
    (folder / "redis_sentinel.acl").write_text(SENTINEL_USERS.format(**hashes))
    # (redis_exporter's file that maps each instance's address to its password: make monitor
    # writes it, from the instances docker-compose.yml declares.)
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o644)


def openssl(*args):
    done = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise Stop(f"openssl {args[0]} failed: {(done.stderr.strip().splitlines() or ['no message'])[-1]}")
    return done.stdout


def server_names():
    """The server certificate's names, as subjectAltName's value ("" where docker-compose.yml
    cannot be read: no Docker here)."""
    if shutil.which("docker") is None:
        return ""
    done = docker.run("docker", "compose", "--profile", "sentinel", "config", "--format", "json", check=False)
    if done.returncode != 0:
        return ""
    topology = Topology(json.loads(done.stdout))
    return ",".join(f"DNS:{name}" for name in topology.instances + topology.sentinels)


def names_in(pem):
    """The names a certificate holds, in the same form."""
    done = subprocess.run(
        ["openssl", "x509", "-in", str(pem), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
    )
    return "".join(done.stdout.splitlines()[1:]).replace(" ", "")


def certificates(folder, rotating, environ):
    """The authority, made once, and each role's certificate: made when missing, when rotating, or
    (the server's) when the names change; one that expires soon is said."""
    if shutil.which("openssl") is None:
        raise Stop("openssl is needed to make the TLS certificates (apt-get install openssl)")
    days, ca_days = environ.get("CERT_DAYS") or "90", environ.get("CA_DAYS") or "1825"
    ca = folder / "redis_tls_ca"
    umask = os.umask(0o077)  # keys are made the owner's only
    try:
        made(folder, ca, rotating, days, ca_days)
    finally:
        os.umask(umask)


def made(folder, ca, rotating, days, ca_days):
    """The authority and the certificates that are missing, due, or (the server's) renamed."""
    if not (folder / "redis_tls_ca.crt").is_file():
        authority(ca, ca_days)
        rotating = True  # every certificate from the new authority
    names = server_names()
    for role in ROLES:
        pem = folder / f"redis_tls_{role}.pem"
        renamed = role == "server" and names and names_in(pem) != names
        if not pem.is_file() or pem.stat().st_size == 0 or rotating or renamed:
            if not Path(f"{ca}.key").is_file():
                raise Stop(
                    f"no {ca}.key to make {pem} with: put the certificate and key of your authority's "
                    "making there (one file)"
                )
            certificate(ca, pem, role, days, names if role == "server" else "")
        else:
            expiring = subprocess.run(
                ["openssl", "x509", "-in", str(pem), "-noout", "-checkend", str(EXPIRY_WARNING)],
                capture_output=True,
            )
            if expiring.returncode != 0:
                ends = openssl("x509", "-in", str(pem), "-noout", "-enddate").strip().split("=", 1)[1]
                print(
                    f"secrets: {pem} expires on {ends}: 'make secrets ROTATE=certs' renews it",
                    file=sys.stderr,
                )
    # Read by the containers' users, as the passwords are (the folder itself is the owner's only).
    for path in [Path(f"{ca}.crt"), *folder.glob("redis_tls_*.pem")]:
        path.chmod(0o644)
    for private in (Path(f"{ca}.key"), Path(f"{ca}.srl")):
        if private.exists():
            private.chmod(0o600)


def authority(ca, days):
    """The stack's own certificate authority: CA.crt, and its key CA.key."""
    openssl(
        *("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
        *("-sha256", "-days", days, "-subj", "/CN=counter Redis CA"),
        *("-keyout", f"{ca}.key", "-out", f"{ca}.crt"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    print(f"made {ca}.crt (the certificate authority, {days} days)")


def certificate(ca, pem, role, days, names):
    """A role's certificate and key in one file, signed by the authority."""
    with tempfile.TemporaryDirectory() as work:
        key, request, signed, extensions = (Path(work) / name for name in ("key", "csr", "crt", "ext"))
        openssl(
            *("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-subj", f"/CN=counter-{role}", "-keyout", str(key), "-out", str(request)),
        )
        lines = [
            "basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=serverAuth,clientAuth",
            "subjectKeyIdentifier=hash",
            "authorityKeyIdentifier=keyid",
            *([f"subjectAltName={names}"] if names else []),
        ]
        extensions.write_text("\n".join(lines) + "\n")
        openssl(
            *(
                "x509",
                "-req",
                "-in",
                str(request),
                "-CA",
                f"{ca}.crt",
                "-CAkey",
                f"{ca}.key",
                "-CAcreateserial",
            ),
            *("-sha256", "-days", days, "-out", str(signed), "-extfile", str(extensions)),
        )
        pem.write_text(signed.read_text() + key.read_text())
    print(f"made {pem} ({days} days)")
