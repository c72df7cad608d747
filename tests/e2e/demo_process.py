"""`python -m bot demo` as a subprocess, for the demo tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoProcess:
    """The whole demo (sandbox, bot subprocess, web page) started as a user would."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out_path = data_dir.parent / f"{data_dir.name}-demo.out"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        with self.out_path.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "demo",
                    "--port",
                    str(self.port),
                    "--fresh",
                    "--data-dir",
                    str(self.data_dir),
                ],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the demo exited with {self.process.returncode}:\n"
                    f"{self.output()}\n{self.bot_log()}"
                )
            if "Mend demo: open" in self.output():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the demo did not start:\n{self.output()}\n{self.bot_log()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as a service manager (or Ctrl-C) would; returns the exit code."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
                raise
        return process.returncode

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def bot_log(self) -> str:
        path = self.data_dir / "bot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
