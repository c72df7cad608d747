"""The token never reaches a log line, whichever logger writes it and at whatever level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import setup_logging
from sandbox.testing import TEST_TOKEN


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "telegram.ext")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_a_request_url_with_the_token_is_logged_without_it(
    level: str, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(level, TEST_TOKEN)
    url = f"https://api.telegram.org/bot{TEST_TOKEN}/getUpdates"
    # httpx is quiet below WARNING, so what it does say (a failed request) must be redacted...
    logging.getLogger("httpx").warning('HTTP Request: POST %s "HTTP/1.1 502"', url)
    # ...and so must anything else that carries the URL, formatted or not.
    logging.getLogger("telegram.ext.Updater").error("Error while getting Updates: %s", url)
    logging.getLogger("bot").warning(f"failed at {url}")
    written = capsys.readouterr().err
    assert TEST_TOKEN not in written
    assert written.count("/bot<token>/getUpdates") == 3
