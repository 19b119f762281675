"""A TCP relay on 127.0.0.1 that a test can cut, to lose a client's connection mid-request and bring it back."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit


class TcpLink:
    """Relay connections to `target`; cut() drops every open one and refuses new ones until restore()."""

    def __init__(self, target):
        parsed = urlsplit(target)
        self.target = (parsed.hostname, parsed.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.up = True
        self.closed = False
        self.open = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self):
        """Drop every relayed connection now, and close new ones as soon as they arrive."""
        with self.lock:
            self.up = False
            doomed, self.open = self.open, set()
        for sock in doomed:
            _drop(sock)

    def restore(self):
        """Relay new connections again."""
        with self.lock:
            self.up = True

    def close(self):
        """Stop listening and drop everything."""
        self.closed = True
        self.cut()
        self.listener.close()

    def _accept(self):
        """Accept clients and relay each to the target, or drop it while the link is cut."""
        while not self.closed:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            with self.lock:
                up = self.up
            if not up:
                _drop(client)
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        """Copy bytes one way until either side closes."""
        try:
            data = source.recv(65536)
            while data:
                sink.sendall(data)
                data = source.recv(65536)
        except OSError:
            pass  # the link was cut, or one side closed: drop both below
        finally:
            _drop(source)
            _drop(sink)


def _drop(sock):
    """Shut a socket down both ways (waking a thread blocked on it) and close it."""
    with contextlib.suppress(OSError):  # already disconnected
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
