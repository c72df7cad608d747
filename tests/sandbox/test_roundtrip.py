"""The sandbox driven by a real python-telegram-bot Application (polling)."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter

from sandbox import BotApiSandbox
from tests.sandbox.conftest import EchoBot


async def test_private_round_trip_and_button(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann", "ann")
    chat = sb.private_chat(ann)
    start = await sb.user_sends(ann, chat, "/start")
    assert start.entities == [{"type": "bot_command", "offset": 0, "length": 6}]

    welcome = await sb.wait_for_message(chat, after=start, timeout=5)
    assert welcome.text == "Welcome to Mend & friends"  # HTML parsed like Telegram
    assert welcome.entities == [{"type": "bold", "offset": 11, "length": 4}]
    assert welcome.from_user is sb.bot and welcome.from_user.id == 123456789
    assert [b["text"] for b in welcome.buttons] == ["Yes 👍", "No"]

    hello = await sb.user_sends(ann, chat, "hello there")
    echo = await sb.wait_for_message(chat, lambda m: m.text == "echo: hello there", 5)
    assert echo.message_id > hello.message_id

    query_id = await sb.user_presses(ann, welcome, sb.button(welcome, "Yes"))
    answer = await sb.wait_for_callback_answer(query_id, 5)
    assert answer["text"] == "got yes" and answer["show_alert"] is False
    edited = await sb.wait_for_message(chat, lambda m: m.text == "You chose yes", 5)
    assert edited is welcome and edited.edit_date is not None
    assert edited.reply_markup is None  # editMessageText without markup drops the keyboard

    assert [m.text for m in sb.messages(chat)] == [
        "/start",
        "You chose yes",
        "hello there",
        "echo: hello there",
    ]
    assert sb.calls["sendMessage"] == 2 and sb.calls["answerCallbackQuery"] == 1
    assert len(sb.sends_to(chat)) == 2


async def test_forged_callback_is_delivered(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    chat = sb.private_chat(ann)
    await sb.user_sends(ann, chat, "/start")
    welcome = await sb.wait_for_message(chat, timeout=5)
    query_id = await sb.user_presses(ann, welcome, "not-on-keyboard")
    answer = await sb.wait_for_callback_answer(query_id, 5)
    assert answer["text"] == "got not-on-keyboard"


async def test_group_privacy_mode(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann, ben = sb.add_user("Ann", "ann"), sb.add_user("Ben", "ben")
    group = sb.create_group("Us", [ann, ben])
    assert group.id < 0
    sb.add_bot_to_group(group, by=ann)

    plain = await sb.user_sends(ann, group, "just chatting")
    other_bot = await sb.user_sends(ann, group, "/start@other_bot")
    for_us = await sb.user_sends(ben, group, "/start@mend_test_bot")
    welcome = await sb.wait_for_message(group, after=for_us, timeout=5)
    assert welcome.reply_to is for_us  # PTB quotes in groups
    reply = await sb.user_sends(ben, group, "replying to you", reply_to=welcome)
    await sb.wait_for_message(group, lambda m: m.text == "echo: replying to you", 5)
    mention = await sb.user_sends(ann, group, "hey @Mend_Test_Bot look")
    await sb.wait_for_message(group, lambda m: m.text == "echo: hey @Mend_Test_Bot look", 5)

    assert not plain.delivered and not other_bot.delivered
    assert for_us.delivered and reply.delivered and mention.delivered
    assert for_us.entities[0] == {"type": "bot_command", "offset": 0, "length": 20}
    received = [u.message.text for u in echo_bot.updates if u.message]
    assert "just chatting" not in received and "/start@other_bot" not in received
    assert [u.my_chat_member.new_chat_member.status for u in echo_bot.updates
            if u.my_chat_member] == ["member"]  # fmt: skip
    # recorded in the chat all the same
    assert any(m is plain for m in sb.messages(group))


async def test_blocked_user_and_uninitiated_chat_get_403(
    sb: BotApiSandbox, echo_bot: EchoBot
) -> None:
    ann = sb.add_user("Ann")
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await echo_bot.bot.send_message(ann.id, "hi")
    chat = sb.private_chat(ann)
    await sb.user_sends(ann, chat, "/start")
    await sb.wait_for_message(chat, timeout=5)

    sb.block_bot(ann)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await echo_bot.bot.send_message(ann.id, "still there?")
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await echo_bot.bot.send_chat_action(ann.id, "typing")
    sb.unblock_bot(ann)
    await echo_bot.bot.send_message(ann.id, "welcome back")
    assert sb.bot_messages(chat)[-1].text == "welcome back"
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await echo_bot.bot.send_message(424242, "nobody")


async def test_kicked_from_group(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    group = sb.create_group("G", [ann])
    sb.add_bot_to_group(group, by=ann)
    await echo_bot.bot.send_message(group.id, "hello group")
    sb.remove_bot_from_group(group, by=ann)
    with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the group chat"):
        await echo_bot.bot.send_message(group.id, "are you there")
    for _ in range(50):
        statuses = [u.my_chat_member.new_chat_member.status for u in echo_bot.updates
                    if u.my_chat_member]  # fmt: skip
        if statuses == ["member", "kicked"]:
            break
        await asyncio.sleep(0.05)
    assert statuses == ["member", "kicked"]


async def test_retry_after_on_demand(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    chat = sb.private_chat(ann)
    await sb.user_sends(ann, chat, "/start")
    await sb.wait_for_message(chat, timeout=5)
    sb.fail_next("sendMessage", retry_after=3, count=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await echo_bot.bot.send_message(chat.id, "x")
        assert "retry after 3" in str(info.value).lower() or "3" in str(info.value)
    await echo_bot.bot.send_message(chat.id, "now it works")
    assert [m.text for m in sb.bot_messages(chat)][-1] == "now it works"
    assert sb.calls["sendMessage"] == 4
    assert len(sb.sends_to(chat)) == 2  # failed calls are not sends


async def test_migration_to_supergroup(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    group = sb.create_group("Family", [ann])
    sb.add_bot_to_group(group, by=ann)
    supergroup = sb.migrate_to_supergroup(group)
    assert supergroup.type == "supergroup" and str(supergroup.id).startswith("-100")

    for _ in range(100):
        migrations = [
            (u.message.migrate_to_chat_id, u.message.migrate_from_chat_id)
            for u in echo_bot.updates
            if u.message and (u.message.migrate_to_chat_id or u.message.migrate_from_chat_id)
        ]
        if len(migrations) == 2:
            break
        await asyncio.sleep(0.05)
    assert migrations == [(supergroup.id, None), (None, group.id)]

    with pytest.raises(ChatMigrated) as info:
        await echo_bot.bot.send_message(group.id, "old id")
    assert info.value.new_chat_id == supergroup.id
    await echo_bot.bot.send_message(supergroup.id, "new id")
    assert sb.bot_messages(supergroup)[-1].text == "new id"


async def test_send_document_stores_bytes(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    chat = sb.private_chat(ann)
    await sb.user_sends(ann, chat, "hi")
    payload = b"date,mood\n2024-01-01,ok\n"
    sent = await echo_bot.bot.send_document(
        chat.id, document=payload, filename="export.csv", caption="<i>Your data</i>",
        parse_mode="HTML",
    )  # fmt: skip
    assert sent.document is not None and sent.document.file_name == "export.csv"
    assert sent.document.file_size == len(payload)
    stored = sb.bot_messages(chat)[-1]
    assert stored.document is not None
    assert stored.document.data == payload and stored.document.file_name == "export.csv"
    assert stored.document.mime_type == "text/csv"
    assert stored.caption == "Your data"
    # the file can be fetched back through getFile + the file URL
    tg_file = await echo_bot.bot.get_file(sent.document.file_id)
    assert bytes(await tg_file.download_as_bytearray()) == payload
    # and re-sent by file_id
    again = await echo_bot.bot.send_document(chat.id, document=sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id


async def test_text_limits_and_markup_validation(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    chat = sb.private_chat(ann)
    await sb.user_sends(ann, chat, "hi")
    await sb.wait_for_message(chat, timeout=5)
    bot = echo_bot.bot

    await bot.send_message(chat.id, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat.id, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat.id, "😀" * 2049)  # 4098 UTF-16 code units
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(chat.id, "   ")
    too_long_data = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(chat.id, "buttons", reply_markup=too_long_data)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(chat.id, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)unsupported start tag"):
        await bot.send_message(chat.id, "1 < 2 <3", parse_mode="HTML")
    assert len(sb.violations) == 6, sb.violations
    assert "message is too long" in sb.violations[0]
    sb.violations.clear()
    assert len(sb.bot_messages(chat)) == 2  # the echo and the 4096-char message


async def test_edit_not_modified_and_delete(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    chat = sb.private_chat(ann)
    await sb.user_sends(ann, chat, "hi")
    bot = echo_bot.bot
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    msg = await bot.send_message(chat.id, "one", reply_markup=kb)
    await bot.edit_message_text("two", chat.id, msg.message_id, reply_markup=kb)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("two", chat.id, msg.message_id, reply_markup=kb)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(chat.id, msg.message_id, reply_markup=kb)
    await bot.edit_message_reply_markup(chat.id, msg.message_id, reply_markup=None)
    stored = sb.message(chat, msg.message_id)
    assert stored is not None and stored.text == "two" and stored.reply_markup is None
    assert await bot.delete_message(chat.id, msg.message_id) is True
    assert stored not in sb.messages(chat)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(chat.id, msg.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("three", chat.id, msg.message_id)


async def test_commands_chat_member_and_get_chat(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    from telegram import BotCommand, BotCommandScopeAllGroupChats

    bot = echo_bot.bot
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await bot.set_my_commands([BotCommand("pair", "Pair up")], scope=BotCommandScopeAllGroupChats())
    assert [c["command"] for c in sb.commands['{"type":"default"}']] == ["start", "help"]
    assert sb.get_commands({"type": "all_group_chats"}) == [
        {"command": "pair", "description": "Pair up"}
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    sb.violations.clear()

    ann, ben, cat = sb.add_user("Ann"), sb.add_user("Ben"), sb.add_user("Cat")
    group = sb.create_group("Pair", [ann, ben])
    sb.add_bot_to_group(group, by=ann)
    assert (await bot.get_chat_member(group.id, ann.id)).status == "creator"
    assert (await bot.get_chat_member(group.id, ben.id)).status == "member"
    assert (await bot.get_chat_member(group.id, cat.id)).status == "left"
    assert (await bot.get_chat_member(group.id, bot.id)).status == "member"
    info = await bot.get_chat(group.id)
    assert info.title == "Pair" and info.type == "group"
    private = await bot.get_chat(ann.id)
    assert private.first_name == "Ann"
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.get_chat(-1)


async def test_leave_chat(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    group = sb.create_group("G", [ann])
    sb.add_bot_to_group(group, by=ann)
    assert await echo_bot.bot.leave_chat(group.id) is True
    with pytest.raises(Forbidden, match=r"(?i)not a member"):
        await echo_bot.bot.send_message(group.id, "hi")


async def test_sent_log_rate_window(sb: BotApiSandbox, echo_bot: EchoBot) -> None:
    ann = sb.add_user("Ann")
    group = sb.create_group("G", [ann])
    sb.add_bot_to_group(group, by=ann)
    for i in range(5):
        await echo_bot.bot.send_message(group.id, f"m{i}")
    assert sb.max_sends_in_window(group, 60.0) == 5
    assert all(r.method == "sendMessage" and r.chat_id == group.id for r in sb.sent_log)
    assert sb.sent_log[-1].time <= time.monotonic()


async def test_subscribe_sees_messages_edits_and_answers(
    sb: BotApiSandbox, echo_bot: EchoBot
) -> None:
    events: list[dict[str, object]] = []
    unsubscribe = sb.subscribe(events.append)
    ann = sb.add_user("Ann")
    chat = sb.private_chat(ann)
    await sb.user_sends(ann, chat, "/start")
    welcome = await sb.wait_for_message(chat, timeout=5)
    query_id = await sb.user_presses(ann, welcome, "no")
    await sb.wait_for_callback_answer(query_id, 5)
    await sb.wait_for_message(chat, lambda m: m.text == "You chose no", 5)
    unsubscribe()
    kinds = [(e["type"], e.get("from_bot")) for e in events]
    assert kinds == [
        ("message", False),
        ("message", True),
        ("callback_answer", None),
        ("edited_message", True),
    ]
    assert events[2]["text"] == "got no"


async def test_member_count_follows_joins_leaves_and_the_bot(
    sb: BotApiSandbox, echo_bot: EchoBot
) -> None:
    ann, ben, cleo = sb.add_user("Ann"), sb.add_user("Ben"), sb.add_user("Cleo")
    group = sb.create_group("G", [ann, ben])
    assert await echo_bot.bot.get_chat_member_count(group.id) == 2
    sb.add_bot_to_group(group, by=ann)
    assert await echo_bot.bot.get_chat_member_count(group.id) == 3
    joined = sb.join_group(group, cleo)
    assert joined.extra["new_chat_members"][0]["id"] == cleo.id
    assert await echo_bot.bot.get_chat_member_count(group.id) == 4
    left = sb.leave_group(group, cleo)
    assert left.extra["left_chat_member"]["id"] == cleo.id
    assert await echo_bot.bot.get_chat_member_count(group.id) == 3
