"""A moto server on 127.0.0.1 standing in for AWS IAM, for the tests and the demo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """Start moto's server, with an IAM clock that can be turned back, on a free loopback port."""

    def __init__(self, workdir, env=None):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "moto.log"
        self.clock = self.workdir / "clock"
        env = dict(os.environ, **(env or {}), KEYGUARD_MOTO_CLOCK=str(self.clock))
        script = Path(__file__).with_name("moto_clock.py")
        command = [sys.executable, str(script), "-H", "127.0.0.1", "-p", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_until_up()

    def days_ago(self, days):
        """Turn IAM's clock back this many days (0: now) for what the server does next."""
        self.clock.write_text(str(days))

    def _wait_until_up(self, seconds=30):
        """Wait until the server answers, or raise with its log."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.close()
        raise RuntimeError(f"moto server did not start:\n{self.log_path.read_text()}")

    def close(self):
        """Stop the server."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
