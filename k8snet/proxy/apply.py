"""Apply rendered rules: iptables-restore --noflush or nft -f, atomically.

This is the effect layer: it runs iptables / nft / conntrack in the current
network namespace (kube-proxy runs inside its node's namespace), or, when
``netns`` is given, through ``ip netns exec`` (used by tests).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from typing import Callable, Iterable, Optional

from k8snet.errors import K8snetError
from k8snet.proxy import render_iptables, render_nft
from k8snet.proxy.model import NodeFacts, ServicePort

Runner = Callable[[list[str], Optional[str]], subprocess.CompletedProcess]
COMMAND_TIMEOUT = 60.0


def run_command(argv: list[str], stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run one command with a deadline, capturing its output."""
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)
    except FileNotFoundError:
        raise K8snetError(f"{argv[0]} is not installed; run 'k8snet doctor'") from None
    except subprocess.TimeoutExpired:
        raise K8snetError(f"{' '.join(argv[:3])} did not finish within "
                          f"{COMMAND_TIMEOUT:.0f}s") from None


class _Base:
    def __init__(self, netns: Optional[str] = None, runner: Runner = run_command,
                 log: Optional[logging.Logger] = None):
        self.netns = netns
        self.runner = runner
        self.log = log or logging.getLogger("k8snet.proxy")

    def _run(self, argv: list[str], stdin: Optional[str] = None,
             check: bool = True) -> subprocess.CompletedProcess:
        full = ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv
        result = self.runner(full, stdin)
        if check and result.returncode != 0:
            raise K8snetError(f"{argv[0]} failed (exit {result.returncode}): "
                              f"{(result.stderr or result.stdout).strip()[:500]}")
        return result


def parse_iptables_chains(save_output: str) -> dict[str, set[str]]:
    """Table -> chain names from iptables-save output."""
    chains: dict[str, set[str]] = {}
    table = ""
    for line in save_output.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            chains.setdefault(table, set())
        elif line.startswith(":") and table:
            chains[table].add(line[1:].split()[0])
    return chains


def parse_nft_names(json_text: str) -> tuple[set[str], set[str]]:
    """(chain names, set names) from `nft -j list table` output."""
    if not json_text.strip():
        return set(), set()
    chains, sets = set(), set()
    for item in json.loads(json_text).get("nftables", []):
        if "chain" in item:
            chains.add(item["chain"]["name"])
        elif "set" in item:
            sets.add(item["set"]["name"])
    return chains, sets


class IptablesApplier(_Base):
    """kube-proxy's iptables mode: KUBE-* chains in the nat and filter tables."""

    mode = "iptables"

    def sync(self, ports: Iterable[ServicePort], node: NodeFacts, full: bool = True) -> None:
        """Make the KUBE-* chains match ``ports``; ``full`` also re-checks the jumps."""
        save = self._run(["iptables-save", "-t", "nat"]).stdout
        text = render_iptables.render(ports, node, parse_iptables_chains(save))
        self._run(["iptables-restore", "--noflush"], text)
        if full:
            self.ensure_jumps()

    def ensure_jumps(self) -> None:
        """Jumps from the built-in chains into ours, inserted first, once each."""
        for table, chain, spec in reversed(render_iptables.JUMPS):
            if self._run(["iptables", "-w", "5", "-t", table, "-C", chain, *spec],
                         check=False).returncode != 0:
                self._run(["iptables", "-w", "5", "-t", table, "-I", chain, "1", *spec])

    def cleanup(self) -> None:
        """Remove the jumps and every KUBE-* chain (nothing else)."""
        existing = parse_iptables_chains(self._run(["iptables-save"], check=False).stdout)
        if not any(c.startswith("KUBE-") for chains in existing.values() for c in chains):
            return
        for table, chain, spec in render_iptables.JUMPS:
            while self._run(["iptables", "-w", "5", "-t", table, "-D", chain, *spec],
                            check=False).returncode == 0:
                pass
        lines = []
        for table in ("filter", "nat"):
            ours = sorted(c for c in existing.get(table, ()) if c.startswith("KUBE-"))
            if ours:
                lines += [f"*{table}", *[f":{c} - [0:0]" for c in ours],
                          *[f"-X {c}" for c in ours], "COMMIT"]
        if lines:
            self._run(["iptables-restore", "--noflush"], "\n".join(lines) + "\n")


class NftApplier(_Base):
    """nftables mode: one table, replaced in one `nft -f` transaction."""

    mode = "nftables"

    def sync(self, ports: Iterable[ServicePort], node: NodeFacts, full: bool = True) -> None:
        """Make table ip k8snet-proxy match ``ports``."""
        listing = self._run(["nft", "-j", "list", "table", render_nft.FAMILY,
                             render_nft.TABLE], check=False)
        chains, sets = parse_nft_names(listing.stdout) if listing.returncode == 0 \
            else (set(), set())
        self._run(["nft", "-f", "-"], render_nft.render(ports, node, chains, sets))

    def cleanup(self) -> None:
        """Delete the table."""
        self._run(["nft", "-f", "-"], render_nft.cleanup_script())


class Conntrack(_Base):
    """Drops stale UDP conntrack entries with the `conntrack` tool, when installed."""

    def available(self) -> bool:
        """Whether the conntrack tool is installed."""
        return shutil.which("conntrack") is not None

    def flush(self, commands: list[list[str]]) -> int:
        """Run each `conntrack` argument list; returns how many ran."""
        if not commands:
            return 0
        if not self.available():
            self.log.warning("conntrack tool not installed: %d stale UDP flow deletion(s) "
                             "skipped (install Debian's 'conntrack')", len(commands))
            return 0
        for args in commands:
            # Exit status 1 just means no entry matched.
            self._run(["conntrack", *args], check=False)
        return len(commands)


def applier_for(mode: str, **kwargs: object) -> _Base:
    """IptablesApplier or NftApplier by mode name."""
    if mode == "iptables":
        return IptablesApplier(**kwargs)  # type: ignore[arg-type]
    if mode == "nftables":
        return NftApplier(**kwargs)  # type: ignore[arg-type]
    raise K8snetError(f"unknown proxy mode '{mode}': use iptables or nftables")


def other_mode(mode: str) -> str:
    """The mode that is not ``mode`` (its leftovers are cleaned at start)."""
    return "nftables" if mode == "iptables" else "iptables"
