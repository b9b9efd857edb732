"""Dashboard sessions: an opaque random token in an HttpOnly, SameSite=Strict cookie; Redis keeps
the key's digest (never the key) and the session's CSRF token under the token's SHA-256.

The role is looked up in the keyring on every request, so a key taken out of the keyring ends
its sessions at once; signing out deletes the session on the server, not just the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from services.common.auth import KeyRing, Principal
from services.common.streams import PREFIX

COOKIE = "invarium_session"
SIGNIN_COOKIE = "invarium_signin"  # double-submit token of the sign-in form (login CSRF)


def _key(token: str) -> str:
    return f"{PREFIX}:web:session:{hashlib.sha256(token.encode()).hexdigest()}"


@dataclass(frozen=True)
class Session:
    token: str
    principal: Principal
    csrf: str

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(sent.encode(), self.csrf.encode())


class Sessions:
    def __init__(self, client: aioredis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s

    async def create(self, key_digest: str) -> tuple[str, str]:
        """A new session for the key with this digest: (cookie token, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        pipe = self._redis.pipeline(transaction=True)  # never a session without its expiry
        pipe.hset(_key(token), mapping={"digest": key_digest, "csrf": csrf})
        pipe.expire(_key(token), self.ttl_s)
        await pipe.execute()
        return token, csrf

    async def get(self, token: str | None, keyring: KeyRing) -> Session | None:
        if not token or len(token) > 128:
            return None
        fields = await self._redis.hgetall(_key(token))
        if not fields:
            return None
        principal = keyring.principal_of(fields[b"digest"].decode())
        if principal is None:  # the key was revoked: the session ends with it
            await self.drop(token)
            return None
        return Session(token, principal, fields[b"csrf"].decode())

    async def drop(self, token: str) -> None:
        await self._redis.delete(_key(token))
