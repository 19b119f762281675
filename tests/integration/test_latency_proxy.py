"""The latency proxy the account-scale tests and benchmark put in front of moto: it delays, counts, and never serialises."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from harness import ADMIN_KEY, ADMIN_SECRET
from latency_proxy import LatencyProxy


def iam(url, pool=10):
    """Return an IAM client that reaches `url`."""
    return boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ADMIN_KEY,
        aws_secret_access_key=ADMIN_SECRET,
        config=Config(max_pool_connections=pool, retries={"mode": "standard", "max_attempts": 1}),
    )


def test_counts_by_action_and_forwards_in_parallel(moto):
    """Eight calls are in the proxy at once (a barrier all eight must reach), and each one is counted."""
    barrier = threading.Barrier(8, timeout=30)
    passed = []

    def hook(service, action, params, number):
        if action == "ListAccessKeys":
            barrier.wait()  # a proxy that serialised requests would leave this barrier broken
            passed.append(number)

    with LatencyProxy(moto.url, latency=0.05, hook=hook) as proxy:
        client = iam(proxy.url)
        client.create_user(UserName="alice")
        with ThreadPoolExecutor(8) as pool:
            listed = list(pool.map(lambda _: client.list_access_keys(UserName="alice"), range(8)))
        assert [page["AccessKeyMetadata"] for page in listed] == [[]] * 8
        assert sorted(passed) == list(range(2, 10))
        assert proxy.counts() == {("iam", "CreateUser"): 1, ("iam", "ListAccessKeys"): 8}
        assert proxy.total() == 9
        proxy.reset()
        assert proxy.counts() == {}


def test_hook_sees_each_request_numbered(moto):
    """The hook runs before the request is forwarded, so it can change what that request finds."""
    seen = []

    def hook(service, action, params, number):
        seen.append((service, action, params.get("UserName"), number))
        if number == 2:
            moto.iam.delete_user(UserName="bob")

    moto.iam.create_user(UserName="bob")
    with LatencyProxy(moto.url, latency=0, hook=hook) as proxy:
        client = iam(proxy.url)
        assert client.get_user(UserName="bob")["User"]["UserName"] == "bob"
        error = client.exceptions.NoSuchEntityException
        try:
            client.get_user(UserName="bob")
        except error:
            pass
        else:
            raise AssertionError("the hook's deletion did not land before the second request")
    assert seen == [("iam", "GetUser", "bob", 1), ("iam", "GetUser", "bob", 2)]
