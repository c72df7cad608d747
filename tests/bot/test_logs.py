"""The log never carries the token, not even inside a traceback; a rejected token is one line."""

from __future__ import annotations

import http.server
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import setup_logging

TOKEN = "123456789:AAHsecret-part-of-the-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    named = {
        name: logging.getLogger(name).level
        for name in ("telegram", "httpx", "httpcore", "apscheduler", "tornado")
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in named.items():
        logging.getLogger(name).setLevel(old)


def test_the_token_is_redacted_in_messages_arguments_and_tracebacks(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("DEBUG", TOKEN)
    log = logging.getLogger("bot.anything")
    log.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"request to /bot{TOKEN}/sendMessage failed")
    except RuntimeError:
        log.exception("delivery failed")
    try:
        raise ValueError("escaped: bot123456789%3AAAHsecret-part-of-the-token")
    except ValueError:
        log.error("odd", exc_info=True)
    written = capsys.readouterr().err
    assert "delivery failed" in written and "Traceback" in written and "<token>" in written
    assert "AAHsecret-part-of-the-token" not in written


def test_library_loggers_stay_quiet_whatever_log_level_says(restore_logging: None) -> None:
    setup_logging("DEBUG", TOKEN)
    # PTB logs whole updates ("Processing update ...", a webhook's JSON) at DEBUG.
    for name in (
        "telegram",
        "telegram.ext.Application",
        "telegram.Bot",
        "telegram.ext._utils.webhookhandler",
    ):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    for name in ("httpx", "httpcore", "apscheduler", "tornado.access"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert logging.getLogger("bot").isEnabledFor(logging.DEBUG)


class _NotFound(http.server.BaseHTTPRequestHandler):
    """A wrong TELEGRAM_API_URL, or a proxy that answers 404 to everything."""

    def do_POST(self) -> None:
        body = b'{"ok":false,"error_code":404,"description":"Not Found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.mark.subprocess
def test_a_rejected_token_stops_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {k: v for k, v in os.environ.items() if k not in {"DATA_KEY", "BOT_TOKEN"}}
        env.update(
            BOT_TOKEN=TOKEN,
            DATABASE_URL=f"sqlite:///{tmp_path / 'mend.db'}",
            TELEGRAM_API_URL=f"http://127.0.0.1:{server.server_address[1]}",
            LOG_LEVEL="DEBUG",
            PYTHONPATH=str(ROOT),
        )
        finished = subprocess.run(
            [sys.executable, "-m", "bot"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        server.shutdown()
    output = finished.stdout + finished.stderr
    assert finished.returncode == 2, output
    lines = [line for line in finished.stderr.splitlines() if line.startswith("mend:")]
    assert len(lines) == 1 and "BOT_TOKEN" in lines[0] and "TELEGRAM_API_URL" in lines[0]
    assert "Traceback" not in output
    assert "AAHsecret-part-of-the-token" not in output
