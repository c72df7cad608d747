"""`python -m bot demo` starts, serves its page and live stream, and stops cleanly.

No browser needed: the page, the API and the server-sent events are read over HTTP.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.demo_process import REPO, DemoProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoProcess]:
    running = DemoProcess(tmp_path / "demo-data")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def read_events(demo: DemoProcess, until: str, timeout: float = 15.0) -> list[dict[str, object]]:
    """Events from /api/events until one whose JSON contains `until`."""
    connection = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=timeout)
    connection.request("GET", "/api/events")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    events: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = response.readline().decode()
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
                if until in line:
                    return events
        raise AssertionError(f"no event with {until!r} in {events!r}")
    finally:
        connection.close()


def post(
    demo: DemoProcess, path: str, body: object, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    connection.request(
        "POST", path, json.dumps(body), headers or {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    status, data = response.status, json.loads(response.read() or b"{}")
    connection.close()
    return status, data


def test_demo_serves_the_page_and_the_live_stream_and_stops_cleanly(demo: DemoProcess) -> None:
    status, page = demo.get("/")
    assert status == 200 and b"/static/demo.js" in page
    for asset in ("demo.js", "demo.css"):
        assert demo.get(f"/static/{asset}")[0] == 200

    status, raw = demo.get("/api/state")
    state = json.loads(raw)
    assert status == 200
    assert [p["name"] for p in state["people"]] == ["Ana", "Ben", "Cleo"]
    assert {c["key"] for c in state["chats"]} == {"group", "ana", "ben"}

    # The stream opens with the whole state, then the real bot's welcome arrives in the
    # group (it may already be in the first snapshot) once it saw it was added.
    events = read_events(demo, "I'm Mend")
    assert events[0]["type"] == "state"
    assert "Ana added Mend" in json.dumps(events[0])

    # Time moves only forward, through the bot's clock file.
    status, moved = post(demo, "/api/time", {"next": True})
    assert status == 200 and moved["moved"] is False
    status, moved = post(demo, "/api/time", {"minutes": 60})
    clock = moved["clock"]
    assert isinstance(clock, dict)
    assert status == 200 and abs(int(clock["offset_ms"]) - 3_600_000) < 2000
    assert float((demo.data_dir / "clock").read_text()) == pytest.approx(3600, abs=1)
    assert post(demo, "/api/time", {"minutes": -5})[0] == 400

    # Only JSON, only from this machine, only what a person could do.
    assert (
        post(
            demo,
            "/api/send",
            {"as": "ana", "chat": "group", "text": "/help"},
            {"Content-Type": "text/plain"},
        )[0]
        == 415
    )
    assert post(demo, "/api/send", {"as": "cleo", "chat": "ana", "text": "hi"})[0] == 400
    assert (
        post(
            demo,
            "/api/press",
            {"as": "ana", "chat": "group", "message_id": 2, "data": "v1|join|1|in"},
        )[0]
        == 400
    )
    connection = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    connection.request("GET", "/api/state", headers={"Host": "evil.example:80"})
    assert connection.getresponse().status == 403
    connection.close()

    assert demo.stop() == 0
    assert "Mend stopped" in demo.bot_log()  # the bot was shut down, not left running
    assert "violation" not in demo.output()


def test_demo_on_a_taken_port_says_so_and_exits_2(demo: DemoProcess, tmp_path: Path) -> None:
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "demo",
            "--port",
            str(demo.port),
            "--data-dir",
            str(tmp_path / "other"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {demo.port}" in lines[0]
    assert not (tmp_path / "other" / "bot.log").exists()  # nothing was started
