"""The message methods: send, edit, delete, answer a button press, send and fetch a file."""

from __future__ import annotations

import mimetypes
import secrets
import time
from typing import Any

from sandbox.methods.checks import (
    MAX_CAPTION,
    MAX_TEXT,
    existing_chat,
    find_message,
    format_text,
    reply_markup,
    reply_target,
    writable_chat,
)
from sandbox.model import JSON, SimChat, SimDocument, SimMessage
from sandbox.params import Params, bad, malformed
from sandbox.world import World

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


def send_message(world: World, params: Params) -> JSON:
    chat = writable_chat(world, params.chat_id())
    text, entities = format_text(
        params.get_str("text") or "",
        params.get_str("parse_mode"),
        params.get_json("entities"),
        limit=MAX_TEXT,
        too_long="message is too long",
        empty="message text is empty",
    )
    return _send(
        world,
        chat,
        params,
        "sendMessage",
        text=text,
        entities=entities,
        raw_text=params.get_str("text"),
    )


def _send(world: World, chat: SimChat, params: Params, method: str, **content: Any) -> JSON:
    """What every send shares once its content is checked: markup, reply, recording."""
    keyboard, other = reply_markup(params)
    reply_to = reply_target(world, chat, params)
    message = SimMessage(
        message_id=world.new_message_id(chat),
        chat=chat,
        from_user=world.bot,
        date=int(time.time()),
        reply_markup=keyboard,
        other_markup=other,
        reply_to=reply_to,
        parse_mode=params.get_str("parse_mode"),
        **content,
    )
    return world.record_bot_message(message, method)


def send_document(world: World, params: Params) -> JSON:
    chat = writable_chat(world, params.chat_id())
    document = uploaded_document(world, params)
    caption: str | None = None
    caption_entities: list[JSON] = []
    if params.get_str("caption"):
        caption, caption_entities = format_text(
            params.get_str("caption") or "",
            params.get_str("parse_mode"),
            params.get_json("caption_entities"),
            limit=MAX_CAPTION,
            too_long="message caption is too long",
            empty="message caption is empty",
        )
    return _send(
        world,
        chat,
        params,
        "sendDocument",
        document=document,
        caption=caption,
        caption_entities=caption_entities,
    )


def uploaded_document(world: World, params: Params) -> SimDocument:
    ref = params.get_str("document")
    upload: tuple[str, bytes, str] | None = None
    if ref is None or ref == "":
        upload = params.files.get("document")
    elif ref.startswith("attach://"):
        upload = params.files.get(ref[len("attach://") :])
        if upload is None:
            raise malformed("wrong file identifier/HTTP URL specified")
    else:
        existing = world.files.get(ref)
        if existing is None:
            raise bad("wrong file identifier/HTTP URL specified", malformed=True)
        return existing
    if upload is None:
        raise malformed("there is no document in the request")
    filename, body, content_type = upload
    if not body:
        raise malformed("file must be non-empty")
    if not content_type or content_type == "application/octet-stream":
        content_type = mimetypes.guess_type(filename)[0] or content_type
    number = next(world.file_numbers)
    document = SimDocument(
        file_id=f"BQACAgIAAxkDAAI{number:06d}{secrets.token_urlsafe(18)}",
        file_unique_id=f"AgAD{number:04d}{secrets.token_urlsafe(6)}",
        file_name=filename or None,
        mime_type=content_type or None,
        data=body,
    )
    world.files[document.file_id] = document
    return document


def get_file(world: World, params: Params) -> JSON:
    document = world.files.get(params.get_str("file_id") or "")
    if document is None:
        raise bad("invalid file_id")
    path = f"documents/file_{document.file_unique_id}"
    if document.file_name and "." in document.file_name:
        path += "." + document.file_name.rsplit(".", 1)[1]
    world.file_paths[path] = document
    return {**document.to_api(), "file_path": path}


def editable_message(world: World, params: Params, what: str) -> SimMessage:
    if params.has("inline_message_id"):
        raise bad("MESSAGE_ID_INVALID")
    chat = existing_chat(world, params.chat_id())
    message = find_message(world, chat, params.get_int("message_id"))
    if message is None:
        raise bad(f"message to {what} not found")
    if not message.is_from_bot:
        raise bad(f"message can't be {what}ed")
    return message


def edit_message_text(world: World, params: Params) -> JSON:
    message = editable_message(world, params, "edit")
    if message.text is None:
        raise bad("there is no text in the message to edit")
    text, entities = format_text(
        params.get_str("text") or "",
        params.get_str("parse_mode"),
        params.get_json("entities"),
        limit=MAX_TEXT,
        too_long="message is too long",
        empty="message text is empty",
    )
    keyboard, other = reply_markup(params)
    if other is not None:
        raise malformed("inline keyboard expected")
    if text == message.text and entities == message.entities and (keyboard == message.reply_markup):
        raise bad(
            "message is not modified: specified new message content and reply markup "
            "are exactly the same as a current content and reply markup of the message"
        )
    message.text = text
    message.entities = entities
    message.raw_text = params.get_str("text")
    message.parse_mode = params.get_str("parse_mode")
    message.reply_markup = keyboard  # no reply_markup removes the keyboard, like Telegram
    message.edit_date = int(time.time())
    world.emit_message("edited_message", message)
    return message.to_api()


def edit_message_reply_markup(world: World, params: Params) -> JSON:
    message = editable_message(world, params, "edit")
    keyboard, other = reply_markup(params)
    if other is not None:
        raise malformed("inline keyboard expected")
    if keyboard == message.reply_markup or (not keyboard and not message.reply_markup):
        raise bad(
            "message is not modified: specified new message content and reply markup "
            "are exactly the same as a current content and reply markup of the message"
        )
    message.reply_markup = keyboard or None
    message.edit_date = int(time.time())
    world.emit_message("edited_message", message)
    return message.to_api()


def delete_message(world: World, params: Params) -> bool:
    chat = existing_chat(world, params.chat_id())
    message = find_message(world, chat, params.get_int("message_id"))
    if message is None:
        raise bad("message to delete not found")
    if chat.is_group and not message.is_from_bot:
        raise bad("message can't be deleted")
    message.deleted = True
    world.emit(
        {
            "type": "deleted_message",
            "chat_id": chat.id,
            "message_id": message.message_id,
            "from_bot": message.is_from_bot,
        }
    )
    return True


def answer_callback_query(world: World, params: Params) -> bool:
    query_id = params.get_str("callback_query_id") or ""
    query = world.callbacks.get(query_id)
    if query is None or query.answer is not None:
        raise bad("query is too old and response timeout expired or query ID is invalid")
    text = params.get_str("text")
    if text is not None and len(text) > 200:
        raise malformed("MESSAGE_TOO_LONG")
    query.answer = {
        "text": text,
        "show_alert": bool(params.get_bool("show_alert")),
        "url": params.get_str("url"),
        "cache_time": params.get_int("cache_time") or 0,
    }
    world.emit(
        {
            "type": "callback_answer",
            "callback_query_id": query_id,
            "chat_id": query.message.chat.id,
            "message_id": query.message.message_id,
            "user_id": query.user.id,
            "data": query.data,
            **query.answer,
        }
    )
    return True


def send_chat_action(world: World, params: Params) -> bool:
    writable_chat(world, params.chat_id())
    action = params.get_str("action")
    if action not in CHAT_ACTIONS:
        raise malformed("wrong parameter action in request")
    return True
