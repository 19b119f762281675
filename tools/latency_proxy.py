"""An HTTP proxy on 127.0.0.1 that adds a fixed latency to every request it forwards to moto, and counts them.

IAM has one endpoint, in us-east-1, and from a controller elsewhere each call takes 30-150 ms. Moto on loopback
answers in a few milliseconds, which hides what sequential calls cost. This proxy puts the latency back. It forwards
requests concurrently (one keep-alive upstream connection per handler thread), so it never serialises callers that
run in parallel, and it counts requests by (service, Action).

    proxy = LatencyProxy(moto_url, latency=0.05)
    ... point endpoint_url at proxy.url ...
    proxy.counts()  # Counter({("iam", "ListAccessKeys"): 200, ...})
    proxy.close()

A hook, if set, is called with (service, action, params, n) before each request is forwarded, n counting from 1
across all requests since the last reset(); tests use it to change the server's state mid-run. If it returns
(status, body), the proxy answers with that instead of forwarding (after the same latency): a throttle, say.
counts() counts every request the proxy received, answered by the hook or forwarded.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# SigV4: "Credential=AKID/20260101/us-east-1/iam/aws4_request"
_SCOPE_SERVICE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class _Upstream(http.client.HTTPConnection):
    """A connection to the target that sends each segment at once (no Nagle delay), however often it reconnects."""

    def connect(self):
        """Connect, then turn Nagle's algorithm off."""
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class LatencyProxy:
    """Forward requests to `target_url` after sleeping `latency` seconds each; count them by (service, Action)."""

    def __init__(self, target_url, latency=0.05, hook=None):
        self.target = urlsplit(target_url)
        self.latency = float(latency)
        self.hook = hook
        self._counts = Counter()
        self._seen = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.request_queue_size = 128  # many workers may connect at once
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def counts(self):
        """Return a copy of the request counts, keyed by (service, Action)."""
        with self._lock:
            return Counter(self._counts)

    def total(self):
        """Return how many requests were forwarded since the last reset."""
        with self._lock:
            return sum(self._counts.values())

    def reset(self):
        """Forget the counts."""
        with self._lock:
            self._counts.clear()
            self._seen = 0

    def close(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _record(self, service, action):
        """Count one request; return its number since the last reset."""
        with self._lock:
            self._counts[(service, action)] += 1
            self._seen += 1
            return self._seen

    def _upstream(self):
        """Return this thread's keep-alive connection to the target."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = _Upstream(self.target.hostname, self.target.port, timeout=60)
            self._local.connection = connection
        return connection

    def _forward(self, method, path, body, headers):
        """Send one request upstream on this thread's connection, reconnecting once if the server dropped it."""
        for attempt in (1, 2):
            connection = self._upstream()
            try:
                connection.request(method, path, body, headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _handler(self):
        """Return the request handler class bound to this proxy."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep the client's connection alive too, as AWS does

            def setup(self):
                super().setup()
                # Without it, headers and body in two segments meet the client's delayed ACK: 40 ms a request.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                match = _SCOPE_SERVICE.search(self.headers.get("Authorization", ""))
                service = match.group(1) if match else ""
                query = body.decode("utf-8", "replace") if body else urlsplit(self.path).query
                params = {k: v[0] for k, v in parse_qs(query).items()}
                action = params.get("Action", "")
                number = proxy._record(service, action)
                answer = proxy.hook(service, action, params, number) if proxy.hook is not None else None
                time.sleep(proxy.latency)
                if answer is not None:
                    status, payload = answer
                    reply_headers = [("Content-Type", "text/xml")]
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    try:
                        status, reply_headers, payload = proxy._forward(self.command, self.path, body, headers)
                    except (http.client.HTTPException, OSError) as exc:
                        payload = f"upstream failed: {exc}".encode()
                        status, reply_headers = 502, [("Content-Type", "text/plain")]
                self.send_response(status)
                for name, value in reply_headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                payload = payload.encode() if isinstance(payload, str) else payload
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, *args):
                pass

        return Handler


def main():
    """Run a proxy from the command line until interrupted: latency_proxy.py TARGET_URL [LATENCY]."""
    import sys

    target = sys.argv[1]
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
    proxy = LatencyProxy(target, latency)
    print(proxy.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print(dict(proxy.counts()))
    finally:
        proxy.close()


if __name__ == "__main__":
    main()
