"""What the fake bots of these tests understand: Mend sends through `Bot.do_api_request`
(its keyboards as the JSON they are stored as); a fake records the call as the matching
method call, with the keyboard as PTB's object."""

from __future__ import annotations

import json
from typing import Any

from telegram import ForceReply, InlineKeyboardMarkup


class SpeaksApi:
    async def do_api_request(self, endpoint: str, api_kwargs: dict[str, Any] | None = None) -> Any:
        bot: Any = self
        params = dict(api_kwargs or {})
        raw = params.pop("reply_markup", None)
        markup: Any = None
        if raw is not None:
            data = json.loads(raw)
            markup = (
                InlineKeyboardMarkup.de_json(data, None)
                if "inline_keyboard" in data
                else ForceReply(selective=False)
            )
        if endpoint == "sendMessage":
            message = await bot.send_message(params["chat_id"], params["text"], reply_markup=markup)
            return {"message_id": message.message_id}
        if endpoint == "editMessageText":
            return await bot.edit_message_text(
                params["text"],
                chat_id=params["chat_id"],
                message_id=params["message_id"],
                reply_markup=markup,
            )
        if endpoint == "editMessageReplyMarkup":
            return await bot.edit_message_reply_markup(
                chat_id=params["chat_id"], message_id=params["message_id"], reply_markup=markup
            )
        raise AssertionError(f"no fake for {endpoint}")
