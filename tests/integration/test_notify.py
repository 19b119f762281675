"""playbooks/notify_owners.yml end to end: the policy on moto, its notices posted to a local webhook that records them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from harness import ADMIN_KEY, ADMIN_SECRET, REPO
from test_policy import make_key, today

NOTIFY = REPO / "playbooks" / "notify_owners.yml"
TOKEN = "T0000/B0000/XXXXwebhooksecretXXXX"


class Webhook:
    """An HTTP server on 127.0.0.1 that answers 200 and records each POST: (path, content type, JSON body)."""

    def __init__(self):
        self.posts = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                """Record the post; answer 200 ok as Slack does."""
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.posts.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args):
                """Stay quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://hook:p4ssw0rd@127.0.0.1:{self.server.server_address[1]}/services/{TOKEN}"

    def close(self):
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    """Yield a recording webhook."""
    hook = Webhook()
    yield hook
    hook.close()


def notify(ansible, webhook_url, check=False, **extra_vars):
    """Run notify_owners.yml at -vvvv; return the Run."""
    env = {"AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET, "AWS_ENDPOINT_URL": ansible.moto.url}
    if webhook_url is not None:  # from the environment, as an AWX credential injects it
        env["KEYGUARD_WEBHOOK_URL"] = webhook_url
    extra = dict(keyguard_journal_dir=str(ansible.workdir / "journals"), **extra_vars)
    return ansible.run_file(NOTIFY, check=check, env=env, extra_vars=extra, verbosity=4)


def test_each_owner_gets_one_post_and_the_url_never_shows(ansible, moto, webhook):
    stale = make_key(moto, "stale", 100, used_days_ago=60, tags={"email": "team-a@example.com"})
    old = make_key(moto, "old", 80)
    make_key(moto, "busy", 120, used_days_ago=1)

    check = notify(ansible, webhook.url, check=True, grace_days=7)
    assert check.rc == 0, check.stdout
    assert webhook.posts == []  # check mode: nothing happened, nobody is told
    assert "Would notify 2 owners: old, stale" in check.stdout

    run = notify(ansible, webhook.url, grace_days=7)
    assert run.rc == 0, run.stdout
    assert "Notified 2 owners: old, stale" in run.stdout
    assert [(path, kind) for path, kind, _body in webhook.posts] == [("/services/" + TOKEN, "application/json")] * 2
    texts = {body["text"].split()[3]: " ".join(body["text"].split()) for _path, _kind, body in webhook.posts}
    assert set(texts) == {"old", "stale"}
    assert texts["stale"] == (
        f"keyguard: IAM user stale (team-a@example.com) in AWS account 123456789012: access key "
        f"{stale['AccessKeyId']} will be deactivated on or after {today(7)} (UTC) unless it is used by then."
    )
    assert texts["old"].startswith(
        f"keyguard: IAM user old in AWS account 123456789012: access key {old['AccessKeyId']}"
    )
    for output in (check.stdout, run.stdout):
        assert TOKEN not in output and "p4ssw0rd" not in output and "webhooksecret" not in output

    again = notify(ansible, webhook.url, grace_days=7)  # pending: no news, no post
    assert again.rc == 0, again.stdout
    assert len(webhook.posts) == 2
    assert "Notified 0 owners: nobody" in again.stdout


@pytest.mark.parametrize("url", [None, "hooks.slack.com/services/x", ""], ids=["missing", "no-scheme", "empty"])
def test_a_missing_or_bad_url_fails_before_any_call(ansible, moto, webhook, url):
    run = notify(ansible, url)
    assert run.rc != 0
    assert "keyguard_webhook_url must be the webhook's https:// URL" in run.stdout
    assert run.calls == {} and webhook.posts == []


def test_a_failed_key_does_not_keep_the_other_owners_from_hearing(ansible, moto, webhook):
    # A user at IAM's 50-tag limit fails its key; the other owner was warned in this run and only ever hears now:
    # a later run reports the key pending, which is no news.
    make_key(moto, "full", 100, tags={f"team{i}": "x" for i in range(50)})
    stale = make_key(moto, "stale", 100, used_days_ago=60, tags={"email": "team-a@example.com"})

    run = notify(ansible, webhook.url, grace_days=7)
    assert run.rc != 0  # the failed key still fails the run
    assert "1 of 2 access keys failed" in run.stdout and "user full already holds 50 tags" in run.stdout
    assert [body["text"].split()[3] for _path, _kind, body in webhook.posts] == ["stale"]
    assert stale["AccessKeyId"] in webhook.posts[0][2]["text"]
    assert "Notified 1 owners: stale" in run.stdout
    assert TOKEN not in run.stdout and "p4ssw0rd" not in run.stdout
    assert len(list((ansible.workdir / "journals").iterdir())) == 1  # the warning's journal is kept
