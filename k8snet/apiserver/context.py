"""Per-request options shared by the registry verbs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Ctx:
    """Query parameters of one request plus warnings to send back."""

    params: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    user_agent: str = ""
    applying: bool = False

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
