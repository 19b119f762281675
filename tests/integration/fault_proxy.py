"""An HTTP proxy on 127.0.0.1 in front of moto that answers the first N requests of one action with an error.

It also answers as AWS does today where moto lags behind: it takes the fields AWS has retired (moto_org.RETIRED)
out of moto's JSON answers, so that the code under test never sees them.

A fault may be limited to requests with given parameters (for example one RoleArn of sts:AssumeRole). The proxy
forwards one request at a time and logs each in the order moto applied it, with moto's answer, so tests of
concurrent runs know which write came last, and tests of secrets know what the server handed out.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from moto_org import drop_retired  # the fields AWS has retired, taken out of moto's answers

ERROR_BODY = (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    "<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


class FaultProxy:
    """Forward AWS query-protocol requests (IAM, STS) to `target`, failing those of an action as told."""

    def __init__(self, target, tls=None):
        """Start serving on a free loopback port; with `tls` (an ssl.SSLContext), over HTTPS."""
        self.target = urlsplit(target)
        self.faults = {}
        self.injected = 0
        self.applied = []  # (action, params) of each forwarded request, in the order moto answered them
        self.replies = []  # (action, body) of moto's answer to each forwarded request, in the same order
        self.rewrites = {}  # action: function(moto's answer as text) -> the answer to give instead
        self.lock = threading.Lock()
        self.upstream_lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        if tls:  # a TLS front, like a TLS-inspecting proxy or a private endpoint with its own CA
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail(self, action, times, status=400, code="Throttling", message="Rate exceeded", match=None):
        """Answer the next `times` requests of `action` (with the parameters in `match`, if given) with this error.

        message None echoes the request.
        """
        with self.lock:
            self.faults[action] = [times, status, code, message, match or {}]

    def rewrite(self, action, function):
        """Give function(moto's answer) instead of moto's answer to every later request of `action`."""
        with self.lock:
            self.rewrites[action] = function

    def _take_fault(self, action, params):
        """Return (status, code, message) if this request must fail, else None."""
        with self.lock:
            fault = self.faults.get(action)
            if not fault or fault[0] <= 0:
                return None
            if any(params.get(name) != value for name, value in fault[4].items()):
                return None
            fault[0] -= 1
            self.injected += 1
            return fault[1], fault[2], fault[3]

    def close(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        """Return the request handler class bound to this proxy."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                if target:  # JSON protocol (Organizations): the action is in the header, the parameters JSON
                    action, params = target.rpartition(".")[2], json.loads(body or b"{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                    action = params.pop("Action", "")
                fault = proxy._take_fault(action, params)
                if fault:
                    status, code, message = fault
                    if message is None:  # like a service that quotes the request back in its error
                        message = escape(f"{dict(self.headers)} {body.decode('utf-8', 'replace')}")
                    kind = "Receiver" if status >= 500 else "Sender"
                    self._answer(status, ERROR_BODY.format(kind=kind, code=code, message=message).encode(), "text/xml")
                    return
                with proxy.upstream_lock:
                    upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                    upstream.request("POST", self.path, body, dict(self.headers))
                    response = upstream.getresponse()
                    payload = drop_retired(target, response.read())
                    upstream.close()
                    proxy.applied.append((action, params))
                    proxy.replies.append((action, payload.decode("utf-8", "replace")))
                    rewrite = proxy.rewrites.get(action)
                    if rewrite is not None and response.status == 200:
                        payload = rewrite(payload.decode("utf-8")).encode("utf-8")
                self._answer(response.status, payload, response.getheader("Content-Type", "text/xml"))

            def _answer(self, status, payload, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler
