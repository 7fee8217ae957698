"""API keys -> tenants. Keys are kept only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from runtime.errors import ConfigError

_PREFIX = "sha256:"
KEYS_ENV_VAR = "TIERWISE_API_KEYS"
"""``tenant:key,tenant:key``: keys from the environment, hashed as they are read."""


def hash_key(key: str) -> str:
    """The form a key is stored in (``sha256:<hex>``)."""
    return _PREFIX + hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Which tenant, if any, an API key belongs to."""

    def __init__(self, hashes: Mapping[str, str]) -> None:
        """``hashes`` maps ``sha256:<hex>`` to its tenant."""
        self._tenants = dict(hashes)

    @classmethod
    def load(
        cls, configured: Mapping[str, list[str]], environ: Mapping[str, str], *, source: str
    ) -> ApiKeys:
        """Hashes from the config (tenant -> hashes) and keys from ``TIERWISE_API_KEYS``."""
        hashes: dict[str, str] = {}
        for tenant, values in configured.items():
            for value in values:
                if not value.startswith(_PREFIX) or len(value) != len(_PREFIX) + 64:
                    raise ConfigError(
                        source,
                        f"server.api_keys.{tenant}",
                        "store keys as sha256:<64 hex digits> (`tierwise keys hash KEY`), "
                        "never the key itself",
                    )
                hashes[value.lower()] = tenant
        for entry in filter(None, (e.strip() for e in environ.get(KEYS_ENV_VAR, "").split(","))):
            tenant, separator, key = entry.partition(":")
            if not separator or not tenant or not key:
                raise ConfigError("environment", KEYS_ENV_VAR, "expected tenant:key[,tenant:key]")
            hashes[hash_key(key)] = tenant
        return cls(hashes)

    def __bool__(self) -> bool:
        return bool(self._tenants)

    def tenant(self, key: str | None) -> str | None:
        """The tenant of ``key``, or None; compared in constant time."""
        if not key:
            return None
        candidate = hash_key(key)
        found = None
        for stored, tenant in self._tenants.items():
            if hmac.compare_digest(stored, candidate):
                found = tenant
        return found
