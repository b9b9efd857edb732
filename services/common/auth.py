"""API keys with roles (viewer < member < admin). Auth is always on.

Keys are kept only as SHA-256 digests in memory and are never logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "member", "admin"]
ROLE_RANK: Mapping[str, int] = {"viewer": 0, "member": 1, "admin": 2}
AUTH_FAILED = "Authentication failed: invalid API key"


def forbidden(needed: str, has: str) -> str:
    """The refusal of an action a key's role does not allow (REST routes and dashboard alike)."""
    return f"Forbidden: this action needs the {needed} role; your API key has the {has} role"


class KeyConfigError(ValueError):
    pass


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    key_id: str  # first 12 hex chars of the key's digest: safe to log, stable per key
    role: Role

    def can(self, needed: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]


@dataclass(frozen=True)
class KeyRing:
    by_digest: Mapping[str, Role]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse ``k1:admin,k2:member`` (every entry needs a role)."""
        out: dict[str, Role] = {}
        for n, item in enumerate(p.strip() for p in spec.split(",")):
            if not item:
                continue
            key, sep, role = item.rpartition(":")
            if not sep or not key:
                raise KeyConfigError(f"INVARIUM_API_KEYS entry {n + 1} must look like <key>:<role>")
            if role not in ROLE_RANK:
                raise KeyConfigError(
                    f"INVARIUM_API_KEYS entry {n + 1} has unknown role {role!r}; use viewer, member or admin"
                )
            if len(key) < 16:
                raise KeyConfigError(f"INVARIUM_API_KEYS entry {n + 1}: keys must be at least 16 characters")
            out[digest(key)] = role  # type: ignore[assignment]
        return cls(out)

    def __len__(self) -> int:
        return len(self.by_digest)

    def authenticate(self, key: str | None) -> Principal | None:
        if not key:
            return None
        return self.principal_of(digest(key))

    def principal_of(self, key_digest: str) -> Principal | None:
        """The principal of a key known only by its digest (a dashboard session keeps no key)."""
        role = self.by_digest.get(key_digest)
        return Principal(key_id=key_digest[:12], role=role) if role else None

