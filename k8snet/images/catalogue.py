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
busybox-static through a directory of applet links, other tools are the
node's own.

Each image is one YAML file (k8snet/images/known/*.yaml; a user adds files
in /etc/k8snet/images.d/): its repositories, entrypoint and cmd, whether it
has busybox applets, which node tools it has, and `programs`: what an
executable of the image does (``module``: run a k8snet Python module;
``http_server``: serve one of the file's ``pages`` on a port; ``host``: a
node tool by another name; ``python``: the interpreter).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

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
    """One catalogue entry (one YAML file in k8snet/images/known/ or an image directory)."""

    name: str
    repositories: tuple
    entrypoint: tuple = ()
    default_cmd: tuple = ()
    description: str = ""
    size: int = 1 << 20       # reported size in bytes (CRI requires > 0)
    busybox: bool = True      # busybox applets (sh, ls, wget, nslookup...) are in the image
    host_tools: tuple = ()    # node executables the image has; "*": any on the node's PATH
    programs: tuple = ()      # ((executable, behaviour dict), ...): see `host_argv`
    pages: tuple = ()         # ((page name, HTML text), ...) for http_server programs


BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "known")
USER_DIRS = ("/etc/k8snet/images.d",)


def image_from_dict(data: Mapping[str, Any], source: str = "") -> Image:
    """An Image from one file's mapping; ValueError naming the file when malformed."""
    try:
        repos = tuple(parse_reference(r).repository for r in data["repositories"])
        programs = tuple(sorted((str(k), dict(v)) for k, v in
                                (data.get("programs") or {}).items()))
        for exe, behaviour in programs:
            if len(behaviour) != 1 or next(iter(behaviour)) not in BEHAVIOURS:
                raise ValueError(f"program {exe}: one of {', '.join(BEHAVIOURS)} expected")
        tools = data.get("host_tools") or ()
        return Image(name=str(data["name"]), repositories=repos,
                     entrypoint=tuple(str(a) for a in data.get("entrypoint") or ()),
                     default_cmd=tuple(str(a) for a in data.get("cmd") or ()),
                     description=str(data.get("description") or ""),
                     busybox=bool(data.get("busybox", True)),
                     host_tools=("*",) if tools == "*" else tuple(str(t) for t in tools),
                     programs=programs,
                     pages=tuple(sorted((str(k), str(v))
                                        for k, v in (data.get("pages") or {}).items())))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"image file {source}: {exc}") from exc


def load_dir(path: str) -> List[Image]:
    """Every *.yaml / *.yml / *.json image file of a directory (none if it does not exist)."""
    out: List[Image] = []
    if not os.path.isdir(path):
        return out
    for name in sorted(os.listdir(path)):
        if name.endswith((".yaml", ".yml", ".json")):
            full = os.path.join(path, name)
            with open(full, encoding="utf-8") as fh:
                out.append(image_from_dict(yaml.safe_load(fh), full))
    return out


def load(extra_dirs: Sequence[str] = ()) -> tuple:
    """The built-in catalogue, then images from extra directories (later files win)."""
    images: Dict[str, Image] = {}
    for directory in (BUILTIN_DIR, *extra_dirs):
        for image in load_dir(directory):
            images[image.name] = image
    return tuple(images.values())


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


def lookup(ref: str, images: Optional[Sequence[Image]] = None) -> Optional[Image]:
    """The catalogue entry for a reference, or None (also for an image ID).

    A later entry naming the same repository wins (a user's file over ours).
    """
    images = CATALOGUE if images is None else images
    for image in images:
        if ref == image_id(image):
            return image
    try:
        parsed = parse_reference(ref)
    except ValueError:
        return None
    return next((i for i in reversed(tuple(images)) if parsed.repository in i.repositories),
                None)


def image_id(image: Image) -> str:
    """A stable image ID (the same for every tag of an entry)."""
    return "sha256:" + hashlib.sha256(f"k8snet-image/{image.name}".encode()).hexdigest()


def known_names(images: Optional[Sequence[Image]] = None) -> list[str]:
    return sorted(image.repositories[0] for image in (CATALOGUE if images is None else images))


def pull_error(ref: str, images: Optional[Sequence[Image]] = None) -> str:
    """The message a failed pull reports, in containerd's words."""
    return (f'failed to pull and unpack image "{ref}": image not found in the k8snet '
            f"catalogue (known: {', '.join(known_names(images))}, any tag; add an image "
            f"file to {USER_DIRS[0]} to run another)")


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
    www_dir: str = ""               # <www_dir>/<page>/index.html: the pages servers serve
    bin_dirs: tuple = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin",
                       "/bin")      # where the node's tools are looked up


BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
# what an image file's programs may do with the rest of the argv
BEHAVIOURS = ("module", "http_server", "host", "python")


def _which(name: str, ctx: HostContext) -> Optional[str]:
    for d in ctx.bin_dirs:
        full = os.path.join(d, name)
        if os.path.isfile(full) and os.access(full, os.X_OK):
            return full
    return None


def _program(image: Image, head: str) -> Optional[dict]:
    """The image file's behaviour for an executable (by full path, or by name in a bin dir)."""
    programs = dict(image.programs)
    if head in programs:
        return programs[head]
    if head.startswith("/") and os.path.dirname(head) not in BIN_DIRS:
        return None
    return programs.get(os.path.basename(head))


def _in_bin_dir(head: str) -> bool:
    return not head.startswith("/") or os.path.dirname(head) in BIN_DIRS


def host_argv(image: Image, argv: Sequence[str], ctx: HostContext) -> list[str]:
    """The argv to execute on this machine for a container argv of an image.

    In order: the image's own programs (a k8snet module, a static HTTP server
    on a port, a node tool, the Python interpreter), the node tools it lists,
    busybox applets, then any node tool for images with ``host_tools: "*"``;
    an absolute path outside the usual bin directories runs as it is.
    Raises ValueError when the executable does not exist in the image.
    """
    if not argv:
        raise ValueError(f"no command to run: image {image.repositories[0]} has no default "
                         "command; give the container a command")
    head, rest = argv[0], list(argv[1:])
    behaviour = _program(image, head)
    if behaviour is not None:
        kind, value = next(iter(behaviour.items()))
        if kind == "module":
            return [ctx.python, "-m", str(value), *rest]
        if kind == "python":
            return [ctx.python, *rest]
        if kind == "http_server":
            root = value.get("root") or os.path.join(ctx.www_dir,
                                                     str(value.get("page", image.name)))
            return [ctx.busybox, "httpd", "-f", "-p", str(value.get("port", 80)), "-h",
                    str(root)]
        found = _which(str(value), ctx)
        if found:
            return [found, *rest]
    base = os.path.basename(head)
    listed = [t for t in image.host_tools if t != "*"]
    if _in_bin_dir(head) and base in listed:
        found = _which(base, ctx)
        if found:
            return [found, *rest]
    if image.busybox and _in_bin_dir(head) and base in ctx.applets:
        return [os.path.join(ctx.applet_dir, base) if ctx.applet_dir else ctx.busybox,
                *([] if ctx.applet_dir else [base]), *rest]
    if "*" in image.host_tools and _in_bin_dir(head):
        found = _which(base, ctx)
        if found:
            return [found, *rest]
    if head.startswith("/") and not _in_bin_dir(head):
        return [head, *rest]
    what = ", ".join(x for x in (
        "busybox applets" if image.busybox else "",
        "the node's tools" if "*" in image.host_tools else ", ".join(listed),
        ", ".join(dict(image.programs))) if x)
    raise ValueError(f'exec: "{head}": executable file not found in $PATH '
                     f"(image {image.repositories[0]} provides {what or 'nothing to run'})")


def image_mounts(image: Image, argv: Sequence[str], ctx: HostContext) -> list[dict]:
    """Mounts the image's program needs: an HTTP server's page at its document root.

    Stands in for the image's files; a volume the Pod mounts at the same
    path replaces it (nginx serving an emptyDir, as in the docs).
    """
    behaviour = _program(image, argv[0]) if argv else None
    if not behaviour or "http_server" not in behaviour:
        return []
    value = behaviour["http_server"]
    if not value.get("root"):
        return []
    page = os.path.join(ctx.www_dir, str(value.get("page", image.name)))
    return [{"container_path": str(value["root"]), "host_path": page, "readonly": True}]


def default_env(ctx: HostContext) -> dict:
    """The environment every container starts with, before the Pod's own."""
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {"PATH": f"{ctx.applet_dir}:{path}" if ctx.applet_dir else path}


CATALOGUE: tuple = load()   # the built-in images (the runtime adds its image directories)
