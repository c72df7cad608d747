"""A local Telegram Bot API server for tests and the demo (see :mod:`sandbox.server`)."""

from sandbox.server import (
    ApiError,
    BotApiSandbox,
    SentRecord,
    SimChat,
    SimDocument,
    SimMessage,
    SimUser,
    scope_key,
)
from sandbox.spec import ApiSpec, MethodSpec, load_spec

__all__ = [
    "ApiError",
    "ApiSpec",
    "BotApiSandbox",
    "MethodSpec",
    "SentRecord",
    "SimChat",
    "SimDocument",
    "SimMessage",
    "SimUser",
    "load_spec",
    "scope_key",
]
