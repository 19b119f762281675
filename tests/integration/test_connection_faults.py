"""Endpoints that answer non-IAM content, refused role assumption, and the self-lockout guard behind assumed roles."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from harness import allow, assert_clean_failure

ROLE_ARN = "arn:aws:iam::123456789012:role/keyguard-rotation"
PAGES = {
    # not well-formed XML: botocore raises ResponseParserError
    "proxy-login-page": b"<html><head><title>Sign in</title></head><body><p>Please sign in<br></body></html>",
    # well-formed XML without IAM's result element: botocore raises KeyError('ListAccessKeysResult')
    "other-xml": b"<html><body><p>It works!</p></body></html>",
}


@pytest.fixture
def html_endpoint():
    """Yield (URL of a loopback HTTP server answering every request 200 with a page, a setter for the page)."""
    page = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page["body"])))
            self.end_headers()
            self.wfile.write(page["body"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", lambda body: page.update(body=body)
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("page", sorted(PAGES))
def test_endpoint_answering_html_is_one_line_naming_it(ansible, html_endpoint, page):
    url, serve = html_endpoint
    serve(PAGES[page])
    args = dict(access_key_id="AKIAIOSFODNN7EXAMPLE", user_name="bob", status="Inactive", **ansible.connection())
    run = ansible.run(dict(args, endpoint_url=url))
    assert_clean_failure(
        run,
        f"iam:ListAccessKeys: the endpoint {url} answered with something that is not an IAM response",
        "endpoint_url",
    )


def role_profiles(tmp_path, alice, moto, region="region = us-east-1\n"):
    """Write profile alice (alice's static key) and alice-role (assumes a role with it); return the environment."""
    static = f"aws_access_key_id = {alice['AccessKeyId']}\naws_secret_access_key = {alice['SecretAccessKey']}\n"
    other = "aws_access_key_id = AKIAOTHEREXAMPLE0000\naws_secret_access_key = other\n"
    (tmp_path / "aws-credentials").write_text(
        f"[alice]\n{static}\n[self-role]\n{static}\n[mixed]\n{static}\n[other]\n{other}"
    )
    # aws-vault style: a credential_process prints alice's static key.
    process = tmp_path / "alice-keys.sh"
    keys = json.dumps(dict(Version=1, AccessKeyId=alice["AccessKeyId"], SecretAccessKey=alice["SecretAccessKey"]))
    process.write_text(f"#!/bin/sh\necho '{keys}'\n")
    process.chmod(0o700)
    (tmp_path / "aws-config").write_text(
        f"[profile alice-role]\nrole_arn = {ROLE_ARN}\nsource_profile = alice\n{region}\n"
        f"[profile vault]\ncredential_process = {process}\n"
        f"[profile process-role]\nrole_arn = {ROLE_ARN}\nsource_profile = vault\n{region}\n"
        # botocore signs AssumeRole with a source profile's own static key, not with its role's.
        f"[profile mixed]\nrole_arn = {ROLE_ARN}\nsource_profile = other\n"
        f"[profile mixed-role]\nrole_arn = {ROLE_ARN}\nsource_profile = mixed\n{region}\n"
        f"[profile chained-role]\nrole_arn = {ROLE_ARN}\nsource_profile = alice-role\n{region}\n"
        f"[profile self-role]\nrole_arn = {ROLE_ARN}\nsource_profile = self-role\n{region}\n"
        f"[profile env-role]\nrole_arn = {ROLE_ARN}\ncredential_source = Environment\n{region}"
    )
    return {"AWS_ENDPOINT_URL_STS": moto.url}  # botocore's AssumeRole goes to moto too


def test_refused_role_assumption_is_one_line_naming_the_profile(ansible, moto, tmp_path):
    alice = moto.user_with_key("alice", policy=allow("iam:ListAccessKeys"))
    env = role_profiles(tmp_path, alice, moto)
    moto.enforce_auth()
    run = ansible.run(
        dict(access_key_id=alice["AccessKeyId"], status="Inactive", profile="alice-role", endpoint_url=moto.url),
        env=env,
    )
    assert_clean_failure(
        run, "Could not get credentials: sts:AssumeRole failed (AccessDenied)", "source_profile", "'alice-role'"
    )
    assert alice["SecretAccessKey"] not in run.stdout
    assert run.calls == Counter(AssumeRole=1)  # refused, so no IAM call follows


@pytest.mark.parametrize(
    "profile, check",  # check mode does not depend on where the key comes from: once is enough
    [
        ("alice-role", True),
        ("alice-role", False),
        ("chained-role", False),
        ("self-role", False),
        ("env-role", False),
        ("process-role", False),
        ("mixed-role", False),
    ],
    ids=["alice-role-check", "alice-role", "chained-role", "self-role", "env-role", "process-role", "mixed-role"],
)
def test_refuses_to_deactivate_the_static_key_behind_an_assumed_role(ansible, moto, tmp_path, profile, check):
    alice = moto.user_with_key("alice")
    env = role_profiles(tmp_path, alice, moto)
    if profile == "env-role":
        env.update(AWS_ACCESS_KEY_ID=alice["AccessKeyId"], AWS_SECRET_ACCESS_KEY=alice["SecretAccessKey"])
    args = dict(access_key_id=alice["AccessKeyId"], status="Inactive", profile=profile, endpoint_url=moto.url)
    run = ansible.run(args, check=check, env=env)
    assert_clean_failure(run, f"Refusing to deactivate access key {alice['AccessKeyId']}", "allow_self_deactivation")
    assumed = 2 if profile == "chained-role" else 1  # a role assumed from a role: two AssumeRole calls
    assert run.calls == Counter(AssumeRole=assumed)  # the credentials, then nothing: refused before any IAM call
    assert moto.status("alice", alice["AccessKeyId"]) == "Active"

    run = ansible.run(dict(args, user_name="alice", allow_self_deactivation=True), check=check, env=env)
    assert run.result["changed"] is True, run.stdout
    assert run.calls == Counter(AssumeRole=assumed, ListAccessKeys=1, **({} if check else {"UpdateAccessKey": 1}))
    assert moto.status("alice", alice["AccessKeyId"]) == ("Active" if check else "Inactive")


@pytest.mark.parametrize("region", ["option", "none"])
def test_role_profile_without_a_region(ansible, moto, tmp_path, region):
    """STS needs a region to assume the role; the task's region option serves, and without one the line says so."""
    alice = moto.user_with_key("alice")
    env = role_profiles(tmp_path, alice, moto, region="")
    args = dict(user_name="alice", access_key_id=alice["AccessKeyId"], status="Active", profile="alice-role")
    args["endpoint_url"] = moto.url
    run = ansible.run(dict(args, region="us-east-1") if region == "option" else args, env=env)
    if region == "none":
        assert_clean_failure(run, "Assuming the profile's role needs a region for STS: set region, AWS_REGION")
        assert run.calls == Counter()
        return
    assert run.result["changed"] is False, run.stdout
    assert run.calls == Counter(AssumeRole=1, ListAccessKeys=1)


def test_leaked_key_found_when_the_caller_may_not_list_its_own_keys(ansible, moto, fault_proxy):
    """Under a policy narrowed to user/service/*, the caller's own ListAccessKeys is denied; the owner lookup still runs.

    moto checks policies against Resource "*" only, so the proxy denies that first, caller-wide listing itself.
    """
    bob, carol = moto.user_with_key("bob"), moto.user_with_key("carol")
    fault_proxy.fail("ListAccessKeys", times=1, status=403, code="AccessDenied", message="not authorized")
    keys = [{"access_key_id": bob["AccessKeyId"]}, {"access_key_id": carol["AccessKeyId"]}]
    connection = dict(ansible.connection(), endpoint_url=fault_proxy.url)
    run = ansible.run(dict(access_keys=keys, status="Inactive", **connection))
    assert run.result.get("failed") is not True, run.stdout
    assert fault_proxy.injected == 1
    assert [(k["user_name"], k["changed"]) for k in run.result["access_keys"]] == [("bob", True), ("carol", True)]
    # the denied listing never reached moto; then per key: who owns it, its owner's keys, the write
    assert run.calls == Counter(GetAccessKeyLastUsed=2, ListAccessKeys=2, UpdateAccessKey=2)
    assert [moto.status(u, k["AccessKeyId"]) for u, k in (("bob", bob), ("carol", carol))] == ["Inactive"] * 2
