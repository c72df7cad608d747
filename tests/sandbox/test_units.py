"""Unit tests: HTML entity parsing, command detection, spec loading, running_sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import BotApiSandbox
from sandbox.entities import (
    EntityParseError,
    leading_command,
    parse_html,
    user_entities,
    utf16_len,
)
from sandbox.methods import METHODS
from sandbox.spec import ENV_VAR, find_spec_path, load_spec
from sandbox.testing import running_sandbox


def test_parse_html_entities_and_offsets() -> None:
    text, entities = parse_html('😀 <b>bold <i>both</i></b> &lt;x&gt; <a href="https://e.x">l</a>')
    assert text == "😀 bold both <x> l"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 9},  # the emoji counts 2 UTF-16 units
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "text_link", "offset": 17, "length": 1, "url": "https://e.x"},
    ]
    text, entities = parse_html('<pre><code class="language-py">x = 1</code></pre>')
    assert text == "x = 1"
    assert {"type": "pre", "offset": 0, "length": 5, "language": "py"} in entities
    assert parse_html("a &amp; b &#33; &copy;")[0] == "a & b ! &copy;"
    assert utf16_len("😀a") == 3


@pytest.mark.parametrize(
    "bad",
    ["<b>open", "<b>x</i>", "</b>", "a < b", "<script>x</script>", "<span>x</span>", "<b"],
)
def test_parse_html_rejects_what_telegram_rejects(bad: str) -> None:
    with pytest.raises(EntityParseError):
        parse_html(bad)


def test_commands_and_mentions() -> None:
    assert leading_command("/start abc") == ("/start", None)
    assert leading_command("/start@Mend_bot") == ("/start", "Mend_bot")
    assert leading_command("/start-x") is None
    assert leading_command("hello /start") is None
    assert user_entities("/go@some_bot hi @ann_b") == [
        {"type": "bot_command", "offset": 0, "length": 12},
        {"type": "mention", "offset": 16, "length": 6},
    ]


def test_spec_loading_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = {
        "version": "Bot API 0.1",
        "methods": {
            "sendThing": {
                "name": "sendThing",
                "fields": [
                    {"name": "chat_id", "types": ["Integer"], "required": True},
                    {"name": "extra", "types": ["String"], "required": False},
                ],
                "returns": ["Message"],
            }
        },
        "types": {},
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv(ENV_VAR, str(path))
    assert find_spec_path() == path
    spec = load_spec()
    assert spec is not None and spec.version == "Bot API 0.1"
    assert spec.canonical("SENDTHING") == "sendThing" and spec.canonical("nope") is None
    assert spec.missing_required("sendthing", ["extra"]) == ["chat_id"]
    assert spec.unknown_params("sendThing", ["chat_id", "bogus"]) == ["bogus"]
    assert load_spec(tmp_path / "missing.json") is None


def test_real_spec_if_present() -> None:
    path = find_spec_path()
    if path is None:
        pytest.skip("api.json not found (set TELEGRAM_API_SPEC)")
    spec = load_spec(path)
    assert spec is not None
    for method in ["getMe", "sendMessage", "editMessageText", "sendDocument", "getUpdates"]:
        assert spec.canonical(method.lower()) == method
    assert spec.missing_required("sendMessage", []) == ["chat_id", "text"]


def test_every_sandbox_method_is_spelt_as_in_the_official_list() -> None:
    """Without api.json, these spellings are the only method names the sandbox knows."""
    path = find_spec_path()
    if path is None:
        pytest.skip("api.json not found (set TELEGRAM_API_SPEC)")
    spec = load_spec(path)
    assert spec is not None
    for method in [*METHODS, "getUpdates", "setWebhook", "deleteWebhook", "getWebhookInfo"]:
        assert spec.canonical(method.lower()) == method


async def test_running_sandbox_asserts_no_violations() -> None:
    with pytest.raises(AssertionError, match="violations"):
        async with running_sandbox() as sb:
            sb.violations.append("something broke")
    async with running_sandbox(check_violations=False) as sb:
        sb.violations.append("tolerated")


async def test_simulation_world_without_bot() -> None:
    async with running_sandbox() as sb:
        ann, ben = sb.add_user("Ann", "ann"), sb.add_user("Ben")
        assert ann.id != ben.id and ann.id > 0
        group = sb.create_group("G", [ann, ben])
        supergroup = sb.create_group("S", [ann], supergroup=True)
        assert group.id < 0 and str(supergroup.id).startswith("-100")
        msg = await sb.user_sends(ann, group, "no bot here")
        assert not msg.delivered and sb.pending_updates == []
        private = sb.private_chat(ann)
        assert private.id == ann.id and private.type == "private"
        await sb.user_sends(ann, private, "/start ref_123")
        [update] = sb.pending_updates
        assert update["message"]["text"] == "/start ref_123"
        assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
        with pytest.raises(TimeoutError):
            await sb.wait_for_message(private, timeout=0.1)
        with pytest.raises(LookupError):
            BotApiSandbox.button(msg, "x")
