"""Serving /openapi/v2 and /openapi/v3 as upstream's kube-openapi handlers do.

The documents are built once per version of the served resource table and kept as
bytes; every later request is a dictionary lookup. HTTP behaviour follows
kube-openapi (what kubectl's cache relies on):

- /openapi/v3: the index, each group-version's URL carrying ``?hash=<ETag>``;
- /openapi/v3/<gv>: JSON; with the current hash ``Cache-Control: public,
  immutable`` and an ``Expires`` a year ahead; with a stale hash a 301 to the
  current URL; no hash, no caching headers;
- /openapi/v2: JSON or gnostic protobuf by ``Accept`` (406 when neither fits);
- ETag (SHA-512 of the JSON, upper-case hex, quoted) on all of them, ``Vary:
  Accept`` where the Accept header picks the form, and 304 for a matching
  ``If-None-Match``.

Public names:

    OpenAPIService(table, clock=time.time, custom=None)
        custom: a callable giving the custom resources' definitions (or None)
        .reply(rel, query, headers) -> Reply | None   rel is the path below
            /openapi/ ("v3", "v3/apis/apps/v1", "v2"); None when there is no such
            document (the server answers 404)
    Reply(status, body, content_type, headers)
    negotiate(accept, offers) -> str | None            the offer Accept prefers
    PROTOBUF_V2, PROTOBUF_V2_LEGACY                     the protobuf media types
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Callable, Hashable, Mapping, Optional

from k8snet.apiserver import openapi, openapiv2pb
from k8snet.apiserver.openapipaths import gv_path

JSON = "application/json"
PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTOBUF_V2_LEGACY = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Doc:
    body: bytes
    etag: str


@dataclass(frozen=True)
class _V3:
    key: Hashable
    modified: str
    docs: dict          # "apis/apps/v1" -> _Doc
    index: _Doc


@dataclass(frozen=True)
class _V2:
    key: Hashable
    modified: str
    json: _Doc
    protobuf: bytes


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _doc(doc: Any) -> _Doc:
    body = _dumps(doc)
    return _Doc(body, openapi.document_hash(body))


def negotiate(accept: Optional[str], offers: list[str]) -> Optional[str]:
    """The offered media type the Accept header prefers (q, then specificity), or None."""
    clauses = []
    for i, part in enumerate((accept or "*/*").split(",")):
        media, *params = [x.strip() for x in part.split(";")]
        if "/" not in media:
            continue
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        kind, _, sub = media.lower().partition("/")
        clauses.append(((-q, kind == "*", sub == "*", i), kind, sub))
    for _, kind, sub in sorted(clauses):
        for offer in offers:
            o_kind, _, o_sub = offer.lower().partition("/")
            if kind in ("*", o_kind) and sub in ("*", o_sub):
                return offer
    return None


def _a_year_later(now: float) -> str:
    """HTTP date of the same day next year (Go's AddDate(1, 0, 0); 29 Feb -> 1 Mar)."""
    t = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    try:
        later = t.replace(year=t.year + 1)
    except ValueError:
        later = t.replace(year=t.year + 1, month=3, day=1)
    return formatdate(calendar.timegm(later.timetuple()), usegmt=True)


def _etag_matches(header: Optional[str], etag: str) -> bool:
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == f'"{etag}"':
            return True
    return False


class OpenAPIService:
    """The OpenAPI documents of one resource table, built once per table version."""

    def __init__(self, table: Any, clock: Callable[[], float] = time.time,
                 custom: Optional[Callable[[], Any]] = None) -> None:
        self.table = table
        self.clock = clock
        # the served custom resources' definitions (k8snet.apiextensions.crdopenapi)
        self.custom = custom or (lambda: None)
        self._lock = threading.Lock()
        self._v3: Optional[_V3] = None
        self._v2: Optional[_V2] = None

    def _key(self, custom: Any) -> Hashable:
        return (tuple((g, v, tuple(self.table.resources_in(g, v)))
                      for g, v in self.table.group_versions()),
                custom.key if custom is not None else ())

    def v3(self) -> _V3:
        """The v3 documents of the table as it is now (built when it changed)."""
        custom = self.custom()
        key = self._key(custom)
        with self._lock:
            if self._v3 is None or self._v3.key != key:
                docs = {gv_path(g, v): _doc(openapi.v3_document(self.table, g, v, custom))
                        for g, v in self.table.group_versions()}
                index = _doc(openapi.v3_index(self.table, {gv: d.etag for gv, d in docs.items()}))
                self._v3 = _V3(key, formatdate(self.clock(), usegmt=True), docs, index)
            return self._v3

    def v2(self) -> _V2:
        """The v2 document (JSON and protobuf) of the table as it is now."""
        custom = self.custom()
        key = self._key(custom)
        with self._lock:
            if self._v2 is None or self._v2.key != key:
                doc = openapi.v2_document(self.table, custom)
                self._v2 = _V2(key, formatdate(self.clock(), usegmt=True), _doc(doc),
                               openapiv2pb.encode(doc))
            return self._v2

    def reply(self, rel: str, query: Mapping[str, str],
              headers: Mapping[str, str]) -> Optional[Reply]:
        """The answer to GET /openapi/<rel>, or None when there is no such document."""
        rel = rel.strip("/")
        if rel == "v2":
            return self._reply_v2(headers)
        if rel == "v3":
            built = self.v3()
            return self._cacheable(built.index, JSON, built.modified, headers, ())
        if rel.startswith("v3/"):
            built = self.v3()
            gv = rel[3:]
            doc = built.docs.get(gv)
            if doc is None:
                return None
            if negotiate(headers.get("Accept"), [JSON]) is None:
                return Reply(406, b"", "text/plain", (("Vary", "Accept"),))
            extra: tuple = (("Vary", "Accept"),)
            wanted = query.get("hash")
            if wanted:
                if wanted != doc.etag:
                    location = f"/openapi/v3/{gv}?hash={doc.etag}"
                    return Reply(301, b"", "text/plain",
                                 (("Location", location), ("Etag", f'"{doc.etag}"')) + extra)
                expires = _a_year_later(self.clock())
                extra += (("Cache-Control", "public, immutable"), ("Expires", expires))
            return self._cacheable(doc, JSON, built.modified, headers, extra)
        return None

    def _reply_v2(self, headers: Mapping[str, str]) -> Reply:
        chosen = negotiate(headers.get("Accept"), [JSON, PROTOBUF_V2_LEGACY, PROTOBUF_V2])
        if chosen is None:
            return Reply(406, b"", "text/plain", (("Vary", "Accept"),))
        built = self.v2()
        if chosen == JSON:
            return self._cacheable(built.json, JSON, built.modified, headers,
                                   (("Vary", "Accept"),))
        doc = _Doc(built.protobuf, built.json.etag)
        return self._cacheable(doc, PROTOBUF_V2, built.modified, headers, (("Vary", "Accept"),))

    @staticmethod
    def _cacheable(doc: _Doc, content_type: str, modified: str, headers: Mapping[str, str],
                   extra: tuple) -> Reply:
        tags = (("Etag", f'"{doc.etag}"'), ("Last-Modified", modified)) + extra
        if _etag_matches(headers.get("If-None-Match"), doc.etag):
            return Reply(304, b"", content_type, tags)
        return Reply(200, doc.body, content_type, tags)
