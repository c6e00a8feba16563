"""Swagger 2.0 documents as gnostic's OpenAPI v2 protobuf, the form kubectl asks for.

kubectl reads /openapi/v2 with ``Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and unmarshals an
``openapi.v2.Document`` (the gnostic model). The message definitions are in
openapiv2.proto beside this module; the Python classes are made from it on first
use: protoc from grpcio-tools runs once, in a child process (its compiler library
would otherwise stay mapped in the apiserver, ~9 MiB), and writes a descriptor set
to a temporary directory; nothing is generated into the package.

Vendor extensions, defaults, examples and enum values travel as ``Any.yaml``
text: JSON text here, which is YAML too.

Public names:

    encode(doc: dict) -> bytes        a swagger 2.0 document (as JSON would hold it)
    decode(data: bytes) -> message    an openapi.v2.Document (for tests and tools)
    messages() -> dict[str, type]     the message classes by name
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from k8snet.errors import K8snetError

PROTO = Path(__file__).resolve().parent / "openapiv2.proto"
PACKAGE = "openapi.v2"
PROTOC_DEADLINE = 60.0
_SCHEMA_TEXT = {"$ref": "_ref", "format": "format", "title": "title",
                "description": "description", "pattern": "pattern",
                "discriminator": "discriminator"}
_SCHEMA_NUMBERS = {"multipleOf": "multiple_of", "maximum": "maximum", "minimum": "minimum",
                   "maxLength": "max_length", "minLength": "min_length",
                   "maxItems": "max_items", "minItems": "min_items",
                   "maxProperties": "max_properties", "minProperties": "min_properties"}
_SCHEMA_FLAGS = {"exclusiveMaximum": "exclusive_maximum",
                 "exclusiveMinimum": "exclusive_minimum", "uniqueItems": "unique_items",
                 "readOnly": "read_only"}


@lru_cache(maxsize=1)
def messages() -> dict[str, type]:
    """The openapi.v2 message classes, compiled from openapiv2.proto once per process."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    with tempfile.TemporaryDirectory(prefix="k8snet-openapiv2-") as tmp:
        out = Path(tmp) / "openapiv2.desc"
        try:
            done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                                   f"-I{PROTO.parent}", f"--descriptor_set_out={out}",
                                   PROTO.name], capture_output=True, text=True,
                                  timeout=PROTOC_DEADLINE)
        except subprocess.TimeoutExpired:
            raise K8snetError(f"protoc did not compile {PROTO} within {PROTOC_DEADLINE:.0f}s"
                              ) from None
        if done.returncode != 0 or not out.exists():
            raise K8snetError(f"protoc could not compile {PROTO} (exit {done.returncode}): "
                              f"{done.stderr.strip()[-500:]}")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in files.file:
        pool.Add(file_proto)
    file_desc = pool.FindFileByName(PROTO.name)
    return {name: message_factory.GetMessageClass(desc)
            for name, desc in file_desc.message_types_by_name.items()}


def _yaml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _extensions(target: Any, source: dict, m: dict) -> None:
    for key, value in source.items():
        if isinstance(key, str) and key.startswith("x-"):
            target.vendor_extension.add(name=key, value=m["Any"](yaml=_yaml(value)))


def _schema(source: Any, m: dict) -> Any:
    msg = m["Schema"]()
    if not isinstance(source, dict):
        return msg
    for key, value in source.items():
        if key in _SCHEMA_TEXT and isinstance(value, str):
            setattr(msg, _SCHEMA_TEXT[key], value)
        elif key in _SCHEMA_NUMBERS and isinstance(value, (int, float)):
            setattr(msg, _SCHEMA_NUMBERS[key], value)
        elif key in _SCHEMA_FLAGS and isinstance(value, bool):
            setattr(msg, _SCHEMA_FLAGS[key], value)
        elif key == "type":
            msg.type.value.extend([value] if isinstance(value, str) else list(value))
        elif key == "items":
            items = value if isinstance(value, list) else [value]
            msg.items.schema.extend(_schema(x, m) for x in items)
        elif key == "properties" and isinstance(value, dict):
            msg.properties.SetInParent()
            for name, sub in value.items():
                msg.properties.additional_properties.add(name=name, value=_schema(sub, m))
        elif key == "additionalProperties":
            if isinstance(value, bool):
                msg.additional_properties.boolean = value
            else:
                msg.additional_properties.schema.CopyFrom(_schema(value, m))
        elif key == "allOf" and isinstance(value, list):
            msg.all_of.extend(_schema(x, m) for x in value)
        elif key == "required" and isinstance(value, list):
            msg.required.extend(str(x) for x in value)
        elif key == "enum" and isinstance(value, list):
            for item in value:
                msg.enum.add(yaml=_yaml(item))
        elif key in ("default", "example"):
            getattr(msg, key).yaml = _yaml(value)
        elif key == "externalDocs" and isinstance(value, dict):
            msg.external_docs.description = str(value.get("description", ""))
            msg.external_docs.url = str(value.get("url", ""))
    _extensions(msg, source, m)
    return msg


def _parameter(source: dict, m: dict) -> Any:
    item = m["ParametersItem"]()
    where = source.get("in")
    if where == "body":
        body = item.parameter.body_parameter
        body.name = source.get("name", "")
        setattr(body, "in", "body")
        body.required = bool(source.get("required"))
        body.description = source.get("description", "")
        body.schema.CopyFrom(_schema(source.get("schema"), m))
        return item
    non_body = item.parameter.non_body_parameter
    sub = (non_body.path_parameter_sub_schema if where == "path"
           else non_body.query_parameter_sub_schema)
    sub.name = source.get("name", "")
    setattr(sub, "in", where or "query")
    sub.required = bool(source.get("required"))
    sub.description = source.get("description", "")
    sub.type = source.get("type", "")
    sub.unique_items = bool(source.get("uniqueItems"))
    return item


def _operation(source: dict, m: dict) -> Any:
    msg = m["Operation"]()
    msg.tags.extend(source.get("tags") or [])
    msg.description = source.get("description", "")
    msg.operation_id = source.get("operationId", "")
    msg.produces.extend(source.get("produces") or [])
    msg.consumes.extend(source.get("consumes") or [])
    msg.schemes.extend(source.get("schemes") or [])
    msg.parameters.extend(_parameter(p, m) for p in source.get("parameters") or [])
    msg.responses.SetInParent()
    for code, response in (source.get("responses") or {}).items():
        value = m["ResponseValue"]()
        value.response.description = response.get("description", "")
        if "schema" in response:
            value.response.schema.schema.CopyFrom(_schema(response["schema"], m))
        msg.responses.response_code.add(name=code, value=value)
    _extensions(msg, source, m)
    return msg


def encode(doc: dict) -> bytes:
    """The gnostic protobuf bytes of a swagger 2.0 document."""
    m = messages()
    out = m["Document"]()
    out.swagger = doc.get("swagger", "2.0")
    out.info.title = (doc.get("info") or {}).get("title", "")
    out.info.version = (doc.get("info") or {}).get("version", "")
    out.paths.SetInParent()
    for path, item in (doc.get("paths") or {}).items():
        entry = m["PathItem"]()
        for method in ("get", "put", "post", "delete", "options", "head", "patch"):
            if method in item:
                getattr(entry, method).CopyFrom(_operation(item[method], m))
        entry.parameters.extend(_parameter(p, m) for p in item.get("parameters") or [])
        _extensions(entry, item, m)
        out.paths.path.add(name=path, value=entry)
    out.definitions.SetInParent()
    for name, schema in (doc.get("definitions") or {}).items():
        out.definitions.additional_properties.add(name=name, value=_schema(schema, m))
    for requirement in doc.get("security") or []:
        req = out.security.add()
        for name, scopes in requirement.items():
            req.additional_properties.add(name=name, value=m["StringArray"](value=scopes))
    for name, scheme in (doc.get("securityDefinitions") or {}).items():
        entry = out.security_definitions.additional_properties.add(name=name)
        key = entry.value.api_key_security
        key.type = scheme.get("type", "")
        key.name = scheme.get("name", "")
        setattr(key, "in", scheme.get("in", ""))
        key.description = scheme.get("description", "")
    return out.SerializeToString()


def decode(data: bytes) -> Any:
    """An openapi.v2.Document from its bytes."""
    return messages()["Document"].FromString(data)
