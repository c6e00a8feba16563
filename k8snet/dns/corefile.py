"""The Corefile, CoreDNS's configuration, parsed (pure).

A Corefile is a list of server blocks: keys (``.:53``, ``cluster.local``)
then ``{`` directives ``}``; a directive is a plugin name with arguments and
an optional block of sub-directives, one per line. ``#`` starts a comment;
double quotes group words. `parse` returns the blocks as plain data and
raises `CorefileError` with the line number of what it could not read;
`server_config` turns one block into a `Config` for the plugins k8snet's
server honours and lists the others as ``ignored`` (reported in the log,
as the issue asks, rather than refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from k8snet.errors import K8snetError

SUPPORTED = ("kubernetes", "forward", "cache", "health", "ready", "prometheus", "errors",
             "log", "loop", "reload", "hosts", "loadbalance")
DEFAULT_PORT = 53


class CorefileError(K8snetError):
    """The Corefile cannot be read; the message names the line."""


@dataclass(frozen=True)
class Directive:
    name: str
    args: Tuple[str, ...] = ()
    block: Tuple[Directive, ...] = ()
    line: int = 0

    def sub(self, name: str) -> Optional[Directive]:
        """The first sub-directive called ``name``, or None."""
        return next((d for d in self.block if d.name == name), None)


@dataclass(frozen=True)
class ServerBlock:
    zones: Tuple[str, ...]        # normalised: lower case, ending with a dot ("." for root)
    port: int
    directives: Tuple[Directive, ...]

    def get(self, name: str) -> Optional[Directive]:
        return next((d for d in self.directives if d.name == name), None)


def _tokens(text: str) -> List[Tuple[str, int]]:
    """(word, line) pairs; ``{`` and ``}`` are words of their own; a newline is ``\\n``."""
    out: List[Tuple[str, int]] = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|([{}])|([^\s{}"#]+)|(#.*)', line):
            quoted, brace, word, comment = match.groups()
            if comment is not None:
                break
            out.append((quoted if quoted is not None else brace or word, number))
        out.append(("\n", number))
    return out


def normalise_zone(zone: str) -> str:
    zone = zone.lower()
    for scheme in ("dns://", "tls://", "grpc://", "https://"):
        if zone.startswith(scheme):
            zone = zone[len(scheme):]
    return zone if zone.endswith(".") else zone + "."


def _key(word: str, line: int) -> Tuple[str, int]:
    zone, _, port = word.rpartition(":") if ":" in word else (word, "", "")
    if not port:
        return normalise_zone(word), DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CorefileError(f"line {line}: bad port in server key {word!r}")
    return normalise_zone(zone or "."), int(port)


def _directives(tokens: List[Tuple[str, int]], pos: int, depth: int
                ) -> Tuple[Tuple[Directive, ...], int]:
    """Directives up to the matching ``}``; returns them and the position after it."""
    out: List[Directive] = []
    while pos < len(tokens):
        word, line = tokens[pos]
        if word == "\n":
            pos += 1
            continue
        if word == "}":
            return tuple(out), pos + 1
        if word == "{":
            raise CorefileError(f"line {line}: '{{' without a directive before it")
        args: List[str] = []
        pos += 1
        block: Tuple[Directive, ...] = ()
        while pos < len(tokens) and tokens[pos][0] not in ("\n", "}"):
            if tokens[pos][0] == "{":
                if depth > 1:
                    raise CorefileError(f"line {tokens[pos][1]}: blocks nest two deep at most")
                block, pos = _directives(tokens, pos + 1, depth + 1)
                break
            args.append(tokens[pos][0])
            pos += 1
        out.append(Directive(word, tuple(args), block, line))
    raise CorefileError(f"line {tokens[-1][1] if tokens else 0}: missing '}}'")


def parse(text: str) -> List[ServerBlock]:
    """The server blocks of a Corefile."""
    tokens = _tokens(text)
    blocks: List[ServerBlock] = []
    pos = 0
    while pos < len(tokens):
        keys: List[Tuple[str, int]] = []
        while pos < len(tokens) and tokens[pos][0] != "{":
            if tokens[pos][0] == "}":
                raise CorefileError(f"line {tokens[pos][1]}: '}}' without a block to close")
            if tokens[pos][0] != "\n":
                keys.append(tokens[pos])
            pos += 1
        if pos >= len(tokens):
            if keys:
                raise CorefileError(f"line {keys[0][1]}: server key {keys[0][0]!r} has no "
                                    "'{ ... }' block")
            break
        if not keys:
            raise CorefileError(f"line {tokens[pos][1]}: a block needs a server key "
                                "before '{' (for example '.:53')")
        directives, pos = _directives(tokens, pos + 1, 1)
        parsed = [_key(word, line) for word, line in keys]
        ports = {p for _, p in parsed}
        if len(ports) > 1:
            raise CorefileError(f"line {keys[0][1]}: one server block, several ports {ports}")
        blocks.append(ServerBlock(tuple(z for z, _ in parsed), ports.pop(), directives))
    if not blocks:
        raise CorefileError("the Corefile has no server block (for example '.:53 { ... }')")
    return blocks


# ------------------------------------------------------------- configuration


@dataclass(frozen=True)
class KubernetesConfig:
    zones: Tuple[str, ...] = ("cluster.local.",)
    pods: str = "disabled"              # disabled | insecure | verified
    fallthrough: Optional[Tuple[str, ...]] = None   # None: off; (): every zone
    ttl: int = 5
    kubeconfig: str = ""                # CoreDNS's `kubeconfig PATH`: else in-cluster
    endpoint: str = ""

    def falls_through(self, qname: str) -> bool:
        if self.fallthrough is None:
            return False
        return not self.fallthrough or any(in_zone(qname, z) for z in self.fallthrough)


@dataclass(frozen=True)
class Config:
    """What one server block asks for (the plugins k8snet honours)."""

    zones: Tuple[str, ...] = (".",)
    port: int = DEFAULT_PORT
    kubernetes: Optional[KubernetesConfig] = None
    forward_from: str = "."
    forward_to: Tuple[str, ...] = ()    # "IP" or "IP:PORT", or "/etc/resolv.conf"
    cache_ttl: Optional[int] = None     # None: no cache
    health: str = ""                    # "HOST:PORT" or "" (off)
    ready: str = ""
    prometheus: str = ""
    errors: bool = False
    log: bool = False
    loop: bool = False
    loadbalance: bool = False           # shuffle the records of an answer
    reload: Optional[float] = None      # seconds between Corefile checks
    hosts: Tuple[Tuple[str, str], ...] = ()    # (name., ip) from `hosts` inline entries
    hosts_file: str = ""
    ignored: Tuple[str, ...] = field(default=())


def in_zone(name: str, zone: str) -> bool:
    name, zone = name.lower(), zone.lower()
    return zone == "." or name == zone or name.endswith("." + zone)


def _duration(text: str, line: int) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text)
    if not match:
        raise CorefileError(f"line {line}: bad duration {text!r} (e.g. 30s, 2m)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * scale


def _address(args: Tuple[str, ...], default: str) -> str:
    if not args:
        return default
    host, _, port = args[0].rpartition(":")
    return f"{host or '0.0.0.0'}:{port}"


def _kubernetes(d: Directive, block_zones: Tuple[str, ...]) -> KubernetesConfig:
    zones = tuple(normalise_zone(z) for z in d.args) or block_zones
    pods, fallthrough, ttl, kubeconfig, endpoint = "disabled", None, 5, "", ""
    for sub in d.block:
        if sub.name == "pods":
            if sub.args not in (("disabled",), ("insecure",), ("verified",)):
                raise CorefileError(f"line {sub.line}: pods takes disabled, insecure or "
                                    "verified")
            pods = sub.args[0]
        elif sub.name == "fallthrough":
            fallthrough = tuple(normalise_zone(z) for z in sub.args)
        elif sub.name == "ttl":
            if len(sub.args) != 1 or not sub.args[0].isdigit() or int(sub.args[0]) > 3600:
                raise CorefileError(f"line {sub.line}: ttl takes seconds from 0 to 3600")
            ttl = int(sub.args[0])
        elif sub.name == "kubeconfig" and sub.args:
            kubeconfig = sub.args[0]
        elif sub.name == "endpoint" and sub.args:
            endpoint = sub.args[0]
    return KubernetesConfig(zones, pods, fallthrough, ttl, kubeconfig, endpoint)


def server_config(block: ServerBlock) -> Config:
    """A `Config` from one server block; unknown plugins land in ``ignored``."""
    values: dict = {"zones": block.zones, "port": block.port}
    ignored: List[str] = []
    for d in block.directives:
        if d.name == "kubernetes":
            values["kubernetes"] = _kubernetes(d, block.zones)
        elif d.name == "forward":
            if len(d.args) < 2:
                raise CorefileError(f"line {d.line}: forward needs a zone and an upstream "
                                    "(forward . 10.0.0.53)")
            values["forward_from"] = normalise_zone(d.args[0])
            values["forward_to"] = tuple(a.replace("dns://", "") for a in d.args[1:])
        elif d.name == "cache":
            if d.args and not d.args[0].isdigit():
                raise CorefileError(f"line {d.line}: cache takes a TTL in seconds")
            values["cache_ttl"] = int(d.args[0]) if d.args else 3600
        elif d.name in ("health", "ready", "prometheus"):
            default = {"health": ":8080", "ready": ":8181", "prometheus": ":9153"}[d.name]
            values[d.name] = _address(d.args, "0.0.0.0" + default)
        elif d.name in ("errors", "log", "loop", "loadbalance"):
            values[d.name] = True
        elif d.name == "reload":
            values["reload"] = max(2.0, _duration(d.args[0], d.line)) if d.args else 30.0
        elif d.name == "hosts":
            values["hosts_file"] = d.args[0] if d.args and "/" in d.args[0] else ""
            values["hosts"] = tuple(
                (normalise_zone(name), sub.name) for sub in d.block
                if sub.name[0].isdigit() for name in sub.args)
        else:
            ignored.append(d.name)
    return Config(**values, ignored=tuple(ignored))


def configs(text: str) -> List[Config]:
    return [server_config(b) for b in parse(text)]
