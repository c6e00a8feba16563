"""The local image catalogue: image references real manifests use -> what to run.

There are no image layers: an "image" is a known entrypoint. References are
normalised the way container registries do (``busybox`` is
``docker.io/library/busybox:latest``), then matched by repository; any tag
or digest of a known repository is accepted, as manifests pin many tags.

Kubernetes' rule for what runs: ``command`` replaces the image's
entrypoint, ``args`` replace its default command; with neither, the
image's entrypoint and default command run (`container_argv`).
`host_argv` then maps the container's argv onto this machine: k8snet's own
implementations run under Python, busybox applets run from Debian's
busybox-static through a directory of applet links.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference."""

    repository: str   # with registry, e.g. docker.io/library/busybox
    tag: str = "latest"
    digest: str = ""

    def __str__(self) -> str:
        text = f"{self.repository}:{self.tag}" if self.tag else self.repository
        return f"{text}@{self.digest}" if self.digest else text


@dataclass(frozen=True)
class Image:
    """One catalogue entry."""

    name: str
    repositories: tuple
    entrypoint: tuple = ()
    default_cmd: tuple = ()
    description: str = ""
    size: int = 1 << 20       # reported size in bytes (CRI requires > 0)


CATALOGUE: tuple = (
    Image("agnhost",
          ("registry.k8s.io/e2e-test-images/agnhost",
           "gcr.io/k8s-staging-e2e-test-images/agnhost",
           "k8s.gcr.io/e2e-test-images/agnhost"),
          entrypoint=("/agnhost",),
          description="k8snet's agnhost: netexec, serve-hostname, pause"),
    Image("busybox", ("docker.io/library/busybox",), default_cmd=("sh",),
          description="Debian's busybox-static applets"),
    Image("pause", ("registry.k8s.io/pause", "k8s.gcr.io/pause", "gcr.io/google_containers/pause"),
          entrypoint=("/pause",), description="holds a sandbox; exits cleanly on SIGTERM"),
    Image("nginx", ("docker.io/library/nginx",),
          entrypoint=("/docker-entrypoint.sh",), default_cmd=("nginx", "-g", "daemon off;"),
          description="busybox httpd serving a default page on port 80 (not real nginx)"),
)


def parse_reference(ref: str) -> ImageRef:
    """Normalise an image reference (registry, library/ prefix, tag, digest)."""
    text = ref.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"invalid image reference {ref!r}")
    digest = ""
    if "@" in text:
        text, digest = text.split("@", 1)
    tag = ""
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
    parts = text.split("/")
    first = parts[0]
    if len(parts) == 1 or not ("." in first or ":" in first or first == "localhost"):
        parts = [DEFAULT_REGISTRY, *parts]
    if parts[0] == DEFAULT_REGISTRY and len(parts) == 2:
        parts = [DEFAULT_REGISTRY, "library", parts[1]]
    if parts[0] == "index.docker.io":
        parts[0] = DEFAULT_REGISTRY
    if not tag and not digest:
        tag = "latest"
    return ImageRef("/".join(parts).lower(), tag, digest)


def lookup(ref: str) -> Optional[Image]:
    """The catalogue entry for a reference, or None (also for an image ID)."""
    for image in CATALOGUE:
        if ref == image_id(image):
            return image
    try:
        parsed = parse_reference(ref)
    except ValueError:
        return None
    return next((i for i in CATALOGUE if parsed.repository in i.repositories), None)


def image_id(image: Image) -> str:
    """A stable image ID (the same for every tag of an entry)."""
    return "sha256:" + hashlib.sha256(f"k8snet-image/{image.name}".encode()).hexdigest()


def known_names() -> list[str]:
    return [image.repositories[0] for image in CATALOGUE]


def pull_error(ref: str) -> str:
    """The message a failed pull reports, in containerd's words."""
    return (f'failed to pull and unpack image "{ref}": image not found in the k8snet '
            f"catalogue (known: {', '.join(known_names())}, any tag)")


def container_argv(image: Image, command: Sequence[str], args: Sequence[str]) -> list[str]:
    """Kubernetes' command/args over the image's entrypoint/default command."""
    if command:
        return [*command, *args]
    return [*image.entrypoint, *(args if args else image.default_cmd)]


@dataclass(frozen=True)
class HostContext:
    """Where things are on this machine (filled in by the runtime)."""

    python: str
    busybox: str = "/bin/busybox"
    applet_dir: str = ""            # directory of links named after busybox applets
    applets: frozenset = field(default_factory=frozenset)
    www_dir: str = ""               # the default page nginx serves


def _applet(name: str, ctx: HostContext) -> Optional[str]:
    base = os.path.basename(name)
    if name.startswith("/") and os.path.dirname(name) not in ("/bin", "/sbin", "/usr/bin",
                                                               "/usr/sbin", "/usr/local/bin"):
        return None
    return base if base in ctx.applets else None


def host_argv(image: Image, argv: Sequence[str], ctx: HostContext) -> list[str]:
    """The argv to execute on this machine for a container argv of an image.

    Raises ValueError when the executable does not exist in the image.
    """
    if not argv:
        raise ValueError(f"no command to run: image {image.repositories[0]} has no default "
                         "command; give the container a command")
    head, rest = argv[0], list(argv[1:])
    if image.name == "agnhost" and head in ("/agnhost", "agnhost"):
        return [ctx.python, "-m", "k8snet.images.agnhost", *rest]
    if image.name == "pause" and head in ("/pause", "pause"):
        return [ctx.python, "-m", "k8snet.images.pause", *rest]
    if image.name == "nginx" and head in ("/docker-entrypoint.sh", "nginx"):
        return [ctx.busybox, "httpd", "-f", "-p", "80", "-h", ctx.www_dir]
    applet = _applet(head, ctx)
    if applet is not None:
        return [os.path.join(ctx.applet_dir, applet) if ctx.applet_dir else ctx.busybox,
                *([] if ctx.applet_dir else [applet]), *rest]
    if head.startswith("/"):
        return [head, *rest]
    raise ValueError(f'exec: "{head}": executable file not found in $PATH '
                     f"(image {image.repositories[0]} provides busybox applets"
                     + (" and /agnhost" if image.name == "agnhost" else "") + ")")


def default_env(ctx: HostContext) -> dict:
    """The environment every container starts with, before the Pod's own."""
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {"PATH": f"{ctx.applet_dir}:{path}" if ctx.applet_dir else path}
