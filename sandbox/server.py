"""The names this module held before the sandbox was split; import from :mod:`sandbox`.

The sandbox now lives in :mod:`sandbox.world` (the simulated Telegram),
:mod:`sandbox.methods` (the Bot API methods), :mod:`sandbox.transport` (the HTTP
server, polling and webhooks) and :mod:`sandbox.spec` (the official method list).
"""

from sandbox.model import SentRecord, SimChat, SimDocument, SimMessage, SimUser, scope_key
from sandbox.params import ApiError, Params
from sandbox.transport import BotApiSandbox

__all__ = [
    "ApiError",
    "BotApiSandbox",
    "Params",
    "SentRecord",
    "SimChat",
    "SimDocument",
    "SimMessage",
    "SimUser",
    "scope_key",
]
