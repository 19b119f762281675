"""A password inside a URL option never shows: not in invocation, not at -vvvv, not in the registered result."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from harness import REPO

ENDPOINT_PASSWORD = "endp0int-Pa55word"  # noqa: S105 - test values, chosen to be found if echoed anywhere
PROXY_PASSWORD = "pr0xy-P@ss:word"  # noqa: S105 - '@' and ':' inside, as corporate proxy passwords have
PROXY_PASSWORD_QUOTED = "pr0xy-P%40ss%3Aword"  # as it has to be written inside a URL


class CredentialProxy:
    """A forward HTTP proxy that lets a request through to its target only with the right Proxy-Authorization."""

    def __init__(self, user, password):
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.forwarded = 0
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Proxy-Authorization") != proxy.expected:
                    proxy.refused += 1
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="corp"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                target = urlsplit(self.path)  # a forward proxy gets the absolute URL
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"}
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                upstream.request("POST", target.path or "/", body, headers)
                response = upstream.getresponse()
                payload = response.read()
                upstream.close()
                proxy.forwarded += 1
                self.send_response(response.status)
                self.send_header("Content-Type", response.getheader("Content-Type", "text/xml"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def corporate_proxy():
    """Yield a forward proxy that wants proxyuser and PROXY_PASSWORD."""
    proxy = CredentialProxy("proxyuser", PROXY_PASSWORD)
    yield proxy
    proxy.close()


def assert_never_shown(run, *secrets):
    """Assert no secret is anywhere in the run's output or its registered result."""
    registered = json.dumps(run.result)
    for secret in secrets:
        assert secret not in run.stdout, secret
        assert secret not in registered, secret


@pytest.mark.parametrize("check", [False, True])
def test_passwords_in_endpoint_url_and_proxies_are_masked_everywhere(ansible, moto, corporate_proxy, check):
    key = moto.user_with_key("bob")
    endpoint = moto.url.replace("http://", f"http://keyguard:{ENDPOINT_PASSWORD}@")
    proxy_url = f"http://proxyuser:{PROXY_PASSWORD_QUOTED}@127.0.0.1:{corporate_proxy.port}"
    args = dict(
        user_name="bob",
        access_key_id=key["AccessKeyId"],
        status="Inactive",
        **dict(ansible.connection(), endpoint_url=endpoint),
        aws_config={"proxies": {"http": proxy_url}},
    )
    run = ansible.run(args, verbosity=4, check=check, diff=True)
    assert run.result["changed"] is True, run.stdout
    assert run.calls["UpdateAccessKey"] == (0 if check else 1)
    assert moto.status("bob", key["AccessKeyId"]) == ("Active" if check else "Inactive")
    # The requests did go through the proxy with its password, and the endpoint's URL was used as given.
    assert corporate_proxy.forwarded == run.calls["ListAccessKeys"] + run.calls["UpdateAccessKey"] > 0
    assert corporate_proxy.refused == 0
    assert_never_shown(run, ENDPOINT_PASSWORD, PROXY_PASSWORD, PROXY_PASSWORD_QUOTED)
    # -vvvv prints invocation.module_args (ansible-core leaves it out of the registered result): masked there.
    assert f'"endpoint_url": "{moto.url.replace("http://", "http://keyguard:********@")}"' in run.stdout
    assert f'"http": "http://proxyuser:********@127.0.0.1:{corporate_proxy.port}"' in run.stdout


def test_passwords_are_masked_when_the_task_fails(ansible, moto, corporate_proxy):
    endpoint = moto.url.replace("http://", f"http://keyguard:{ENDPOINT_PASSWORD}@")
    proxy_url = f"http://proxyuser:{PROXY_PASSWORD_QUOTED}@127.0.0.1:{corporate_proxy.port}"
    args = dict(
        user_name="nobody",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        status="Inactive",
        **dict(ansible.connection(), endpoint_url=endpoint),
        aws_config={"proxies": {"http": proxy_url}},
    )
    run = ansible.run(args, verbosity=4)
    assert run.result["failed"] is True, run.stdout
    assert "nobody" in run.result["msg"]
    assert corporate_proxy.forwarded > 0
    assert_never_shown(run, ENDPOINT_PASSWORD, PROXY_PASSWORD, PROXY_PASSWORD_QUOTED)
    assert f'"endpoint_url": "{moto.url.replace("http://", "http://keyguard:********@")}"' in run.stdout


# One task per module that takes the connection options, doing real work against moto; found on disk, so that a
# module added later that does not mask them fails here (the KeyError names it).
TASKS = {
    "iam_access_key_status": dict(user_name="carol", access_key_id="AKIAIOSFODNN7EXAMPLE", status="Active"),
    "iam_access_key_info": dict(user_name="carol"),
    "iam_access_key_policy": dict(unused_for_days=90, source="api"),
    "iam_user_tags": dict(tags=[dict(user_name="carol", key="team", value="red")]),
}
CONNECTED_MODULES = sorted(
    path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if "CONNECTION_ARGS" in path.read_text()
)


@pytest.mark.parametrize("name", CONNECTED_MODULES)
def test_every_module_masks_the_password_in_its_endpoint_url(ansible, moto, name):
    key = moto.user_with_key("carol")
    args = dict(
        TASKS[name], **dict(ansible.connection(), endpoint_url=moto.url.replace("//", f"//kg:{ENDPOINT_PASSWORD}@"))
    )
    if name == "iam_access_key_status":
        args["access_key_id"] = key["AccessKeyId"]
    run = ansible.run(args, module=f"keyguard.aws.{name}", verbosity=4, env={"AWS_ENDPOINT_URL_STS": moto.url})
    assert run.result.get("failed") is not True, run.result.get("msg")
    assert sum(run.calls.values()) > 0  # it did reach moto through the URL with the password
    assert_never_shown(run, ENDPOINT_PASSWORD)
    assert f'"endpoint_url": "{moto.url.replace("http://", "http://kg:********@")}"' in run.stdout


@pytest.mark.parametrize("name", CONNECTED_MODULES)
def test_passwords_are_masked_when_the_arguments_are_refused(ansible, moto, name):
    # A misspelt option: Ansible refuses it while it builds the module, before the module's own code runs.
    endpoint = moto.url.replace("http://", f"http://keyguard:{ENDPOINT_PASSWORD}@")
    proxy_url = f"http://proxyuser:{PROXY_PASSWORD_QUOTED}@127.0.0.1:9"
    # the alias, as Ansible has not folded it into endpoint_url yet when it refuses the arguments
    connection = {option: value for option, value in ansible.connection().items() if option != "endpoint_url"}
    task = dict(TASKS[name], **connection, no_such_option=1, aws_endpoint_url=endpoint)
    task["aws_config"] = {"proxies": {"http": proxy_url}}
    run = ansible.run(task, module=f"keyguard.aws.{name}", verbosity=4)
    assert run.result["failed"] is True, run.stdout
    assert "no_such_option" in run.result["msg"]
    assert_never_shown(run, ENDPOINT_PASSWORD, PROXY_PASSWORD, PROXY_PASSWORD_QUOTED)
    assert f'"aws_endpoint_url": "{moto.url.replace("http://", "http://keyguard:********@")}"' in run.stdout
