"""The HTTP server: workflow endpoints, background runs, the LangGraph Platform subset."""

from runtime.server._app import create_app
from runtime.server._auth import ApiKeys, hash_key
from runtime.server._platform import assistant_id

__all__ = ["ApiKeys", "assistant_id", "create_app", "hash_key"]
