"""A local Telegram Bot API server for tests, the demo and the benchmarks.

- :mod:`sandbox.world`: the simulated Telegram (users, chats, messages; what users do);
- :mod:`sandbox.methods`: the Bot API methods the bot calls, each a function over the world;
- :mod:`sandbox.transport`: :class:`BotApiSandbox`, the world behind an HTTP server
  (long polling, webhook delivery, errors on demand);
- :mod:`sandbox.spec`: the official method list every request is checked against;
- :mod:`sandbox.model`, :mod:`sandbox.params`, :mod:`sandbox.entities`,
  :mod:`sandbox.events`: Telegram's objects, a request's parameters and errors,
  message entities, telling watchers that something changed.
"""

from sandbox.model import SentRecord, SimChat, SimDocument, SimMessage, SimUser, scope_key
from sandbox.params import ApiError, Params
from sandbox.spec import ApiSpec, MethodSpec, load_spec
from sandbox.transport import BotApiSandbox

__all__ = [
    "ApiError",
    "ApiSpec",
    "BotApiSandbox",
    "MethodSpec",
    "Params",
    "SentRecord",
    "SimChat",
    "SimDocument",
    "SimMessage",
    "SimUser",
    "load_spec",
    "scope_key",
]
