"""CNI: render a node's network configuration and invoke plugins per the CNI 1.0 spec.

Decisions (pure): `render_conflist`, `render_loopback`, `pod_mtu`, `plugin_env`,
`plugin_stdin`, `parse_output`, `result_ips`, `host_interfaces`.
Effects (thin): `exec_plugin` runs one plugin executable with a deadline;
`CniRunner` runs a configuration list plugin by plugin (ADD in order with
prevResult chaining, DEL in reverse order), as libcni does.

Routed mode uses the reference ``ptp`` plugin (a veth per Pod, a /32 route
on the node, Calico's workload-interface model); overlay mode uses the
reference ``bridge`` plugin; macvlan mode (an underlay) puts the Pod straight
on the node's fabric interface with the reference ``macvlan`` plugin (mode bridge;
see :mod:`k8snet.macvlan` for the node side and the Pod routes). All take
addresses from ``host-local`` in the node's podCIDR, with a per-node
``dataDir``: every Mininet host shares the machine's filesystem, so the default
/var/lib/cni/networks would collide.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from k8snet.errors import K8snetError

CNI_VERSION = "1.0.0"
NETWORK_NAME = "k8snet"
OVERLAY_BRIDGE = "cni0"
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
DEFAULT_TIMEOUT = 30.0
MODES = ("routed", "overlay", "macvlan")


class CniError(K8snetError):
    """A CNI plugin failed; carries the plugin's own code, msg and details."""

    def __init__(self, plugin: str, command: str, code: int, msg: str, details: str = ""):
        self.plugin, self.command, self.code, self.msg, self.details = (
            plugin, command, code, msg, details)
        text = f"CNI plugin {plugin} {command} failed (code {code}): {msg}"
        if details:
            text += f"; {details}"
        super().__init__(text)


# ---------------------------------------------------------------- rendering


def pod_mtu(mode: str, uplink_mtu: int) -> int:
    """The Pod interface MTU for a mode: overlay leaves room for VXLAN's 50 bytes."""
    if mode not in MODES:
        raise ValueError(f"unknown network mode {mode!r}; use one of {', '.join(MODES)}")
    return uplink_mtu - VXLAN_OVERHEAD if mode == "overlay" else uplink_mtu


def render_conflist(mode: str, pod_cidr: str, mtu: int, node_name: str, data_dir: str,
                    gateway_ip: Optional[str] = None, master: Optional[str] = None,
                    node_ip: Optional[str] = None) -> dict:
    """The node's CNI network configuration list (a dict to write as JSON).

    mode: "routed" (ptp), "overlay" (bridge) or "macvlan"; pod_cidr: Node.spec.podCIDR;
    mtu: the node uplink's MTU (the Pod MTU is derived by mode); data_dir: the
    host-local IPAM directory for this node; gateway_ip: defaults to the first
    address of pod_cidr (host-local's own default). macvlan mode also needs
    master (the node's fabric interface) and node_ip (its address).
    """
    if mode == "macvlan":
        from k8snet import macvlan

        if not master or not node_ip:
            raise ValueError("macvlan mode needs the node's fabric interface and address")
        plugin = macvlan.cni_plugin(pod_cidr, master, node_ip, pod_mtu(mode, mtu), data_dir)
        return {"cniVersion": CNI_VERSION, "name": NETWORK_NAME,
                "k8snet": {"mode": mode, "node": node_name}, "plugins": [plugin]}
    net = ipaddress.ip_network(pod_cidr, strict=True)
    rng: dict[str, Any] = {"subnet": str(net)}
    if gateway_ip is not None:
        if ipaddress.ip_address(gateway_ip) not in net:
            raise ValueError(f"gateway {gateway_ip} is outside the podCIDR {pod_cidr}")
        rng["gateway"] = gateway_ip
    default_dst = "0.0.0.0/0" if net.version == 4 else "::/0"
    ipam = {"type": "host-local", "ranges": [[rng]], "routes": [{"dst": default_dst}],
            "dataDir": data_dir}
    if mode == "routed":
        plugin: dict[str, Any] = {"type": "ptp", "ipMasq": False, "mtu": pod_mtu(mode, mtu),
                                  "ipam": ipam}
    elif mode == "overlay":
        plugin = {"type": "bridge", "bridge": OVERLAY_BRIDGE, "isGateway": True,
                  "ipMasq": False, "hairpinMode": True, "mtu": pod_mtu(mode, mtu), "ipam": ipam}
    else:
        pod_mtu(mode, mtu)  # raises the clear error
        raise AssertionError("unreachable")
    return {"cniVersion": CNI_VERSION, "name": NETWORK_NAME,
            "k8snet": {"mode": mode, "node": node_name}, "plugins": [plugin]}


def render_loopback() -> dict:
    """The network configuration that brings up the Pod's ``lo`` (CNI_IFNAME=lo)."""
    return {"cniVersion": CNI_VERSION, "name": "cni-loopback",
            "plugins": [{"type": "loopback"}]}


def load_conflist(conf_dir: str) -> Optional[dict]:
    """The first network configuration in conf_dir by file name, as libcni picks it.

    A single-plugin ``.conf`` is turned into a one-element list. None if none.
    """
    try:
        names = sorted(os.listdir(conf_dir))
    except FileNotFoundError:
        return None
    for name in names:
        if not name.endswith((".conflist", ".conf", ".json")):
            continue
        with open(os.path.join(conf_dir, name), encoding="utf-8") as fh:
            conf = json.load(fh)
        if "plugins" not in conf:
            plugin = {k: v for k, v in conf.items() if k not in ("cniVersion", "name")}
            conf = {"cniVersion": conf.get("cniVersion", CNI_VERSION),
                    "name": conf.get("name", NETWORK_NAME), "plugins": [plugin]}
        return conf
    return None


# ------------------------------------------------------------ invocation


@dataclass(frozen=True)
class Invocation:
    """The runtime facts every plugin call in one attachment shares."""

    container_id: str
    netns: str            # a path, e.g. /run/netns/NAME
    ifname: str = "eth0"
    args: dict = field(default_factory=dict)   # CNI_ARGS key/values (K8S_POD_NAME...)


def cni_args(namespace: str, name: str, uid: str, infra_id: str) -> dict:
    """The CNI_ARGS a kubelet passes for a Pod."""
    return {"IgnoreUnknown": "1", "K8S_POD_NAMESPACE": namespace, "K8S_POD_NAME": name,
            "K8S_POD_INFRA_CONTAINER_ID": infra_id, "K8S_POD_UID": uid}


def plugin_env(command: str, inv: Invocation, cni_path: Sequence[str],
               base_env: Optional[dict] = None) -> dict:
    """The environment of one plugin call (CNI spec section 3, parameters)."""
    env = {k: v for k, v in (base_env or {}).items() if not k.startswith("CNI_")}
    env.update({
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": inv.container_id,
        "CNI_NETNS": inv.netns,
        "CNI_IFNAME": inv.ifname,
        "CNI_PATH": ":".join(cni_path),
    })
    if inv.args:
        env["CNI_ARGS"] = ";".join(f"{k}={v}" for k, v in inv.args.items())
    return env


def plugin_stdin(conflist: dict, plugin: dict, prev_result: Optional[dict]) -> dict:
    """The configuration one plugin of a list receives: name and version injected."""
    conf = dict(plugin)
    conf["cniVersion"] = conflist.get("cniVersion", CNI_VERSION)
    conf["name"] = conflist["name"]
    if prev_result is not None:
        conf["prevResult"] = prev_result
    return conf


def parse_output(plugin: str, command: str, returncode: int, stdout: bytes,
                 stderr: bytes) -> Optional[dict]:
    """A plugin's result (None when it prints nothing), or CniError on failure."""
    text = stdout.decode("utf-8", "replace").strip()
    parsed: Any = None
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    if returncode != 0:
        if isinstance(parsed, dict) and "msg" in parsed:
            raise CniError(plugin, command, int(parsed.get("code", returncode)),
                           str(parsed["msg"]), str(parsed.get("details", "")))
        msg = text or stderr.decode("utf-8", "replace").strip() or "no output"
        raise CniError(plugin, command, returncode, f"exit status {returncode}: {msg}")
    if text and not isinstance(parsed, dict):
        raise CniError(plugin, command, 999, f"unparsable result: {text[:200]}")
    return parsed


def result_ips(result: Optional[dict]) -> list[str]:
    """The addresses (without prefix length) a CNI 1.0 result gives the container."""
    if not result:
        return []
    return [ip["address"].split("/")[0] for ip in result.get("ips", []) if "address" in ip]


def host_interfaces(result: Optional[dict], exclude: Sequence[str] = (OVERLAY_BRIDGE,)
                    ) -> list[str]:
    """Host-side interfaces (no ``sandbox`` key) in a result, bridges excluded."""
    if not result:
        return []
    return [i["name"] for i in result.get("interfaces", [])
            if not i.get("sandbox") and i.get("name") not in exclude]


def exec_plugin(bin_dirs: Sequence[str], plugin_type: str, command: str, env: dict,
                conf: dict, timeout: float = DEFAULT_TIMEOUT) -> Optional[dict]:
    """Run one plugin executable from bin_dirs; its result, or CniError."""
    path = next((os.path.join(d, plugin_type) for d in bin_dirs
                 if os.access(os.path.join(d, plugin_type), os.X_OK)), None)
    if path is None:
        raise CniError(plugin_type, command, 127,
                       f"plugin {plugin_type!r} not found in {':'.join(bin_dirs)}")
    try:
        proc = subprocess.run([path], input=json.dumps(conf).encode(), env=env,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CniError(plugin_type, command, 998,
                       f"no answer within {timeout:g}s (plugin killed)") from exc
    return parse_output(plugin_type, command, proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class CniRunner:
    """Runs network configuration lists against one set of plugin directories."""

    bin_dirs: tuple = ("/usr/lib/cni",)
    timeout: float = DEFAULT_TIMEOUT

    def _env(self, command: str, inv: Invocation) -> dict:
        return plugin_env(command, inv, self.bin_dirs, base_env={"PATH": os.environ.get(
            "PATH", "/usr/sbin:/usr/bin:/sbin:/bin")})

    def add(self, conflist: dict, inv: Invocation) -> dict:
        """ADD every plugin in order, chaining prevResult; the final result."""
        result: Optional[dict] = None
        for plugin in conflist["plugins"]:
            conf = plugin_stdin(conflist, plugin, result)
            out = exec_plugin(self.bin_dirs, plugin["type"], "ADD", self._env("ADD", inv), conf,
                              self.timeout)
            if out is not None:
                result = out
        return result or {"cniVersion": conflist.get("cniVersion", CNI_VERSION)}

    def delete(self, conflist: dict, inv: Invocation, prev_result: Optional[dict]) -> None:
        """DEL every plugin in reverse order, each given the cached ADD result."""
        for plugin in reversed(conflist["plugins"]):
            conf = plugin_stdin(conflist, plugin, prev_result)
            exec_plugin(self.bin_dirs, plugin["type"], "DEL", self._env("DEL", inv), conf,
                        self.timeout)

    def check(self, conflist: dict, inv: Invocation, prev_result: dict) -> None:
        """CHECK every plugin in order against the cached ADD result."""
        for plugin in conflist["plugins"]:
            conf = plugin_stdin(conflist, plugin, prev_result)
            exec_plugin(self.bin_dirs, plugin["type"], "CHECK", self._env("CHECK", inv), conf,
                        self.timeout)
