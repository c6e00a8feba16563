"""Per-request options shared by the registry verbs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass
class Ctx:
    """Query parameters of one request plus warnings to send back.

    ``user`` is who makes the request (an identity.UserInfo; None for the apiserver's own
    writes), ``auth`` the server's auth.Auth (the review kinds ask it), and ``admit`` is
    called as ``admit(info, new object, old object or None)`` before the registry stores
    anything (it raises to refuse: RBAC escalation checks).
    """

    params: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    user_agent: str = ""
    applying: bool = False
    user: Any = None
    auth: Any = None
    admit: Optional[Callable[[Any, dict, Optional[dict]], None]] = None

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self.params.get(name, default)

    @property
    def dry_run(self) -> bool:
        return bool(self.params.get("dryRun"))

    @property
    def field_manager(self) -> str:
        return self.params.get("fieldManager") or ""

    @property
    def manager(self) -> str:
        """The field manager of an Update: fieldManager, else the client program's name."""
        return self.field_manager or (self.user_agent.split("/")[0].strip() or "unknown")

    @property
    def strict(self) -> str:
        """'Strict' | 'Warn' | 'Ignore' (Kubernetes' default is Warn... we default Warn)."""
        return self.params.get("fieldValidation") or "Warn"
