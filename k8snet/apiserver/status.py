"""Errors as Kubernetes ``Status`` objects."""

from __future__ import annotations

from typing import Any, Optional

from k8snet.api.fielderrors import invalid_message

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiStatusError(Exception):
    """An error the server answers with a Status object and an HTTP code."""

    def __init__(self, code: int, message: str, reason: Optional[str] = None,
                 details: Optional[dict] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> dict:
        """The Status object for this error."""
        return status_object(self.code, self.message, self.reason, self.details)


def status_object(code: int, message: str, reason: str = "",
                  details: Optional[dict] = None, success: bool = False) -> dict:
    """A ``v1 Status`` dict."""
    obj: dict[str, Any] = {
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Success" if success else "Failure",
        "code": code,
    }
    if message:
        obj["message"] = message
    if reason:
        obj["reason"] = reason
    if details is not None:  # NotFound carries details even when empty, as upstream
        obj["details"] = details
    return obj


def not_found(resource: str, name: str, group: str = "") -> ApiStatusError:
    """404 in the apiserver's wording: pods "x" not found."""
    qual = f"{resource}.{group}" if group else resource
    return ApiStatusError(404, f'{qual} "{name}" not found', "NotFound",
                          {"name": name, "group": group, "kind": resource})


def already_exists(resource: str, name: str, group: str = "") -> ApiStatusError:
    """409 AlreadyExists."""
    qual = f"{resource}.{group}" if group else resource
    return ApiStatusError(409, f'{qual} "{name}" already exists', "AlreadyExists",
                          {"name": name, "group": group, "kind": resource})


def conflict(resource: str, name: str, why: str, group: str = "") -> ApiStatusError:
    """409 Conflict (stale resourceVersion and the like)."""
    qual = f"{resource}.{group}" if group else resource
    return ApiStatusError(409, f'Operation cannot be fulfilled on {qual} "{name}": {why}',
                          "Conflict", {"name": name, "group": group, "kind": resource})


def invalid(kind: str, name: str, causes: list, group: str = "") -> ApiStatusError:
    """422 Invalid with causes, as kubectl prints them; the message names the kind with its
    group as upstream's does ('CronTab.stable.example.com "x" is invalid: ...')."""
    causes = [{"reason": c.get("reason") or c.get("type") or "FieldValueInvalid",
               "message": c.get("message", ""), "field": c.get("field", "")} for c in causes]
    qual = f"{kind}.{group}" if group and not kind.endswith(f".{group}") else kind
    msg = invalid_message(qual, name, causes)
    return ApiStatusError(422, msg, "Invalid",
                          {"name": name, "group": group, "kind": kind, "causes": causes})


def bad_request(message: str) -> ApiStatusError:
    """400 BadRequest."""
    return ApiStatusError(400, message, "BadRequest")
