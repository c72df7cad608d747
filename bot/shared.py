"""What every handler reaches through `context.bot_data`, typed.

python-telegram-bot makes `bot_data` an instance of the class given in `ContextTypes`
(created without arguments); `build_application` fills it in once. So a handler reads
`context.bot_data.policy.promise_cap`, which the type checker follows, instead of a
string key that a typo would break only at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes

from flows.policy import Policy

if TYPE_CHECKING:
    from bot.app import Wakeups
    from bot.drainer import InboxDrainer
    from bot.runtime import Runtime


class Shared:
    """Set by `build_application` before any handler runs."""

    policy: Policy
    # How often the safety-net sweep runs (MEND_SWEEP_SECONDS).
    sweep_seconds: float
    runtime: Runtime
    inbox: InboxDrainer
    wakeups: Wakeups


Context = CallbackContext[Any, Any, Any, Shared]
CONTEXT_TYPES: ContextTypes[Context, Any, Any, Shared] = ContextTypes(
    context=CallbackContext, bot_data=Shared
)


def shared(application: Application[Any, Any, Any, Any, Any, Any]) -> Shared:
    data = application.bot_data
    if not isinstance(data, Shared):
        raise TypeError("the application was not built by bot.app.build_application")
    return data
