"""What a container is started with, gathered from the apiserver and the node.

`PodInputs` resolves a container's environment (ConfigMaps, Secrets,
Services), sets up the Pod's volumes and /etc files, and refreshes
configMap/secret/downwardAPI/projected volumes of running Pods. The
decisions are in envvars, volumes and etcfiles; this module fetches the
objects they need and applies their results through volumesetup.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from k8snet.kubelet import envvars, etcfiles, volumes, volumesetup
from k8snet.kubelet.volumes import TokenSource, VolumeError
from k8snet.machinery.client import ApiClient, ApiError, NotFound
from k8snet.machinery.informer import Informer

RESOURCES = {"ConfigMap": "configmaps", "Secret": "secrets",
             "PersistentVolumeClaim": "persistentvolumeclaims",
             "PersistentVolume": "persistentvolumes"}


def api_token_source(api: ApiClient) -> TokenSource:
    """Service account tokens from the apiserver's TokenRequest API, bound to the Pod."""
    def issue(namespace: str, account: str, audience: str, seconds: int,
              pod: Mapping[str, Any]) -> str:
        meta = pod.get("metadata", {})
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": [audience] if audience else [],
                         "expirationSeconds": seconds,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                            "name": meta.get("name", ""),
                                            "uid": meta.get("uid", "")}}}
        try:
            got = api.create_subresource("serviceaccounts", account, "token", body, namespace)
        except ApiError as exc:
            raise VolumeError(f"failed to fetch token: {exc.message}") from exc
        return str((got.get("status") or {}).get("token", ""))
    return issue


class TokenCache:
    """Reuses a Pod's token until 80% of its lifetime has passed, as the kubelet does.

    Without it every volume refresh would ask the apiserver for a new token
    and rewrite the volume.
    """

    def __init__(self, source: TokenSource, clock: Callable[[], float] = time.time):
        self.source, self.clock = source, clock
        self._tokens: Dict[tuple, Tuple[str, float]] = {}

    def __call__(self, namespace: str, account: str, audience: str, seconds: int,
                 pod: Mapping[str, Any]) -> str:
        key = (namespace, account, audience, seconds, pod.get("metadata", {}).get("uid", ""))
        now = self.clock()
        cached = self._tokens.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        token = self.source(namespace, account, audience, seconds, pod)
        self._tokens[key] = (token, now + 0.8 * seconds)
        return token

    def forget(self, uid: str) -> None:
        for key in [k for k in self._tokens if k[4] == uid]:
            del self._tokens[key]


class WatchedObjects:
    """The ConfigMaps, Secrets and Services a kubelet reads, from informers.

    Upstream's kubelet watches the objects its Pods use and lists Services from an
    informer, rather than asking the apiserver at each container start and volume
    refresh. Without this a Pod cost 3 ConfigMap reads and a Service list, a quarter of
    the apiserver's requests in a burst of Pods. One cluster-wide informer per resource
    (a testbed's ConfigMaps and Secrets are few), started at the first read, so a node
    without Pods watches nothing. A read the cache cannot answer (not listed within
    ``sync_wait``, or no such object: it may have been made a moment ago) goes to the
    apiserver, so a container never starts with less than a direct read gives it.
    """

    RESOURCES = ("configmaps", "secrets", "services")

    def __init__(self, api: ApiClient, stop: threading.Event, sync_wait: float = 5.0,
                 make: Callable[..., Informer] = Informer, log=None):
        self.api, self.stop, self.sync_wait = api, stop, sync_wait
        self.make, self.log = make, log
        self._lock = threading.Lock()
        self._informers: Dict[str, Informer] = {}

    def _synced(self, resource: str) -> Optional[Informer]:
        with self._lock:
            informer = self._informers.get(resource)
            if informer is None:
                kwargs = {"log": self.log} if self.log is not None else {}
                informer = self._informers[resource] = self.make(self.api, resource, **kwargs)
                informer.start(self.stop)
        return informer if informer.wait_synced(self.sync_wait) else None

    def get(self, resource: str, namespace: str, name: str) -> Dict[str, Any]:
        """The object (a copy); NotFound, or another ApiError, from the apiserver."""
        informer = self._synced(resource) if resource in self.RESOURCES else None
        if informer is not None:
            obj = informer.get(f"{namespace}/{name}")
            if obj is not None:
                return copy.deepcopy(obj)
        return self.api.get(resource, name, namespace or None)

    def list(self, resource: str, namespace: str) -> List[Dict[str, Any]]:
        """The namespace's objects (copies); ApiError from the apiserver."""
        informer = self._synced(resource)
        if informer is None:
            return self.api.list(resource, namespace).get("items") or []
        return [copy.deepcopy(obj) for obj in informer.snapshot().values()
                if (obj.get("metadata") or {}).get("namespace") == namespace]


def _fs_group(pod: Mapping[str, Any]) -> Optional[int]:
    value = (pod.get("spec", {}).get("securityContext") or {}).get("fsGroup")
    return int(value) if value is not None else None


class PodInputs:
    """Environment, volumes and /etc files for the containers of one node's Pods."""

    def __init__(self, api: ApiClient, root_dir: str, node_ip: str,
                 tokens: Optional[TokenSource] = None,
                 cluster_dns: Sequence[str] = etcfiles.CLUSTER_DNS,
                 cluster_domain: str = etcfiles.CLUSTER_DOMAIN,
                 objects: Optional[WatchedObjects] = None):
        self.api, self.root_dir, self.node_ip = api, root_dir, node_ip
        self.objects = objects
        self.cluster_dns, self.cluster_domain = tuple(cluster_dns), cluster_domain
        self.tokens = TokenCache(tokens or api_token_source(api))

    def _get(self, error: Callable[[str], Exception]) -> envvars.Lookup:
        """A lookup of ConfigMaps, Secrets, claims and volumes; other API errors -> error()."""
        def lookup(kind: str, namespace: str, name: str) -> Optional[Dict[str, Any]]:
            try:
                if self.objects is not None:
                    return self.objects.get(RESOURCES[kind], namespace, name)
                return self.api.get(RESOURCES[kind], name, namespace or None)
            except NotFound:
                return None
            except ApiError as exc:
                raise error(str(exc)) from exc
        return lookup

    def services(self, pod: Mapping[str, Any]) -> List[Dict[str, Any]]:
        """Services for the Pod's service variables: its namespace's and default's."""
        ns = pod["metadata"].get("namespace", "")
        out: List[Dict[str, Any]] = []
        for namespace in dict.fromkeys([ns, "default"]):
            try:
                items = (self.objects.list("services", namespace) if self.objects
                         is not None else self.api.list("services", namespace).get("items")
                         or [])
            except ApiError as exc:
                raise envvars.ContainerConfigError(str(exc)) from exc
            for item in items:
                item.setdefault("metadata", {}).setdefault("namespace", namespace)
            out += items
        return out

    def env(self, pod: Mapping[str, Any], container: Mapping[str, Any],
            pod_ip: str) -> envvars.EnvResult:
        """The container's environment; ContainerConfigError with the kubelet's message."""
        return envvars.container_env(pod, container, pod_ip, self.node_ip,
                                     self._get(envvars.ContainerConfigError),
                                     services=self.services(pod))

    def _setup(self, pod: Mapping[str, Any], pod_ip: str) -> Dict[str, str]:
        return volumesetup.setup_pod(self.root_dir, pod, self._get(VolumeError), self.tokens,
                                     pod_ip, self.node_ip, _fs_group(pod))

    def mounts(self, pod: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str,
               env: Mapping[str, str]) -> Tuple[List[Dict[str, Any]], Dict[str, str]]:
        """Set up (or refresh) the Pod's volumes and /etc files for a container.

        Returns its CRI mounts and its memory-backed emptyDirs (host path ->
        size) for the runtime; VolumeError in the kubelet's FailedMount words.
        """
        dirs = self._setup(pod, pod_ip)
        mounts = volumes.container_mounts(pod, container, dirs, env)
        volumesetup.ensure_sub_paths(mounts)
        taken = {m["container_path"] for m in mounts}
        etc = volumesetup.write_etc_files(self.root_dir, pod, pod_ip, self.cluster_dns,
                                          self.cluster_domain)
        used = {m["host_path"] for m in mounts}
        tmpfs = {p: size for p, size in volumesetup.memory_volumes(pod, dirs).items()
                 if any(u == p or u.startswith(p + "/") for u in used)}
        return [m for m in etcfiles.etc_mounts(etc)
                if m["container_path"] not in taken] + mounts, tmpfs

    def refresh(self, pod: Mapping[str, Any], pod_ip: str) -> None:
        """Bring configMap/secret/downwardAPI/projected volumes up to date (atomic swap)."""
        if pod.get("spec", {}).get("volumes"):
            self._setup(pod, pod_ip)

    def cleanup(self, uid: str) -> None:
        self.tokens.forget(uid)
        volumesetup.cleanup_pod(self.root_dir, uid)
