"""The settings the host side reads, each by one rule for `make up` and `make deploy` alike: the
environment first, then .env (read as Compose reads it), then the default; and checked, so that a
bad value stops an operation before anything starts, in one line that names the setting.

.env is read with Compose's rules: `KEY=VALUE` lines, `export ` before the key allowed; blank
lines and lines starting with `#` skipped; an unquoted value trimmed, a ` #` in it starting a
comment; a value in single quotes taken as it is; one in double quotes with the escapes \\n, \\t,
\\", \\\\ and \\$; `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}` in an unquoted or
double-quoted value replaced by an earlier line's value, else the environment's."""

import os
import re
from pathlib import Path

from control.errors import Stop

KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}

# Each setting's choices, where it has a fixed set: a value outside it is refused.
CHOICES = {"REDIS_MODE": ("single", "sentinel"), "REDIS_TLS": ("on", "off")}
# The defaults under Compose; Swarm's differ where its callers say (REDIS_TLS is on there, where
# Redis's traffic crosses the network between machines).
DEFAULTS = {"REDIS_MODE": "single", "REDIS_TLS": "off"}


class SettingError(Stop, ValueError):
    """A setting whose value cannot be used; its message is one line for the user."""


def parse_dotenv(text, environ=None):
    """{name: value} of a .env file's text, as Compose reads it (the module's docstring)."""
    environ = os.environ if environ is None else environ
    values = {}
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = KEY.match(line)
        if not match:
            raise SettingError(f".env has a line that is not NAME=VALUE: {line.strip()!r}")
        name, raw = match.groups()
        if raw[:1] in ("'", '"') and not closed(raw):
            raw = continued(raw, lines)  # a quoted value on several lines
        values[name] = value_of(raw, lambda key: values.get(key, environ.get(key)))
    return values


def closed(raw):
    """Whether a quoted value ends on its own line."""
    if raw[0] == "'":
        return "'" in raw[1:]
    return re.match(r'"(?:[^"\\]|\\.)*"', raw) is not None


def continued(raw, lines):
    for line in lines:
        raw += "\n" + line
        if closed(raw):
            break
    return raw


def value_of(raw, lookup):
    if raw.startswith("'"):
        return raw[1:].split("'", 1)[0]
    if raw.startswith('"'):
        body = re.match(r'"((?:[^"\\]|\\.)*)"', raw, re.S)
        text = body.group(1) if body else raw[1:]
        return interpolate(re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(0)), text), lookup)
    return interpolate(re.split(r"\s+#", raw, maxsplit=1)[0].strip(), lookup)


def interpolate(text, lookup):
    def replace(match):
        name = match.group(1) or match.group(4)
        value = lookup(name)
        if match.group(2) == ":-" and not value or match.group(2) == "-" and value is None:
            return match.group(3)
        return value or ""

    return VARIABLE.sub(replace, text)


def read_dotenv(path=Path(".env"), environ=None):
    """The .env file's values, or {} where there is none."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return {}
    return parse_dotenv(text, environ)


def setting(name, default=None, environ=None, dotenv=Path(".env")):
    """NAME's value: from the environment (set and not empty), else .env, else `default` (or the
    module's own), checked against its choices."""
    environ = os.environ if environ is None else environ
    value = environ.get(name) or read_dotenv(dotenv, environ).get(name)
    value = value or (DEFAULTS.get(name, "") if default is None else default)
    choices = CHOICES.get(name)
    if choices and value not in choices:
        raise SettingError(f"{name} must be {' or '.join(choices)}, got '{value}'")
    return value


def whole_number(name, value, low, high):
    """VALUE as a whole number from LOW to HIGH, or a refusal naming NAME."""
    if not re.fullmatch(r"[0-9]+", value or "") or not low <= int(value) <= high:
        raise SettingError(f"{name} must be a whole number from {low} to {high}, got '{value}'")
    return int(value)


# web replicas when SCALE is not given, where a default makes sense (make up); the most SCALE
# may ask for unless MAX_SCALE says otherwise
DEFAULT_SCALE, DEFAULT_MAX_SCALE = 3, 64


def plan_only(environ):
    """PLAN=1: say what a change would do, and change nothing (make up, make deploy)."""
    value = environ.get("PLAN", "")
    if value not in ("", "0", "1"):
        raise SettingError(
            f"PLAN must be 1 (say what would change, and change nothing) or empty, got '{value}'"
        )
    return value == "1"


def web_replicas(usage=None, environ=None):
    """SCALE, the web replicas asked for (1 to MAX_SCALE, 64), checked; without SCALE, the
    default, or where there is none (`usage` says how to give it) a refusal that asks for it."""
    environ = os.environ if environ is None else environ
    most = max_scale(environ)
    if "SCALE" not in environ:
        if usage:
            raise SettingError(f"say how many web replicas: {usage} SCALE=N (1 to {most})")
        return DEFAULT_SCALE
    return whole_number("SCALE", environ["SCALE"], 1, most)


def max_scale(environ):
    """MAX_SCALE, the most web replicas SCALE (or AUTOSCALE) may ask for, checked."""
    return whole_number("MAX_SCALE", environ.get("MAX_SCALE") or str(DEFAULT_MAX_SCALE), 1, 1000)
