"""The bounded worker pool: input order, real concurrency, the stop after an endpoint-level failure, crashes."""

from __future__ import annotations

import random
import threading
import time

import pytest
from botocore.exceptions import ClientError, SSLError

from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError, describe_error
from ansible_collections.keyguard.aws.plugins.module_utils._pool import Stop, run_ordered, validate_concurrency


def test_results_keep_the_input_order_whatever_finishes_first():
    delays = random.Random(3).choices([0, 0.001, 0.005], k=60)
    outcomes = run_ordered(lambda i: (time.sleep(delays[i]), i * i)[1], range(60), 8)
    assert [outcome.value for outcome in outcomes] == [i * i for i in range(60)]
    assert {(outcome.error, outcome.not_attempted) for outcome in outcomes} == {(None, None)}


def test_workers_really_run_at_once():
    barrier = threading.Barrier(4, timeout=30)  # broken, and the test failed, unless four items run together
    outcomes = run_ordered(lambda i: barrier.wait() is not None, range(4), 4)
    assert [outcome.value for outcome in outcomes] == [True] * 4


def test_concurrency_one_runs_in_the_calling_thread():
    threads = {outcome.value for outcome in run_ordered(lambda _: threading.get_ident(), range(5), 1)}
    assert threads == {threading.get_ident()}


def test_a_per_item_failure_does_not_stop_the_others():
    def work(i):
        if i == 1:
            raise KeyguardError("IAM user 'ghost' does not exist.", "NoSuchEntity")
        return i

    outcomes = run_ordered(work, range(4), 1)
    assert [outcome.value for outcome in outcomes] == [0, None, 2, 3]
    assert outcomes[1].error.code == "NoSuchEntity"


def test_after_an_endpoint_failure_nothing_new_starts():
    stop = Stop()
    started = []
    running = threading.Barrier(4, timeout=30)  # items 0-3 are all under way before item 0 fails

    def work(i):
        started.append(i)
        if i < 4:
            running.wait()
        if i == 0:
            raise KeyguardError("could not reach the IAM endpoint", "EndpointUnreachable")
        if i < 4:  # already running when the failure lands: let it finish
            deadline = time.monotonic() + 30
            while stop.reason is None and time.monotonic() < deadline:
                time.sleep(0.001)
        return i

    outcomes = run_ordered(work, range(50), 4, stop)
    assert outcomes[0].error.code == "EndpointUnreachable"
    assert [outcome.value for outcome in outcomes[1:4]] == [1, 2, 3]
    assert all(outcome.not_attempted is outcomes[0].error for outcome in outcomes[4:])
    assert sorted(started) == [0, 1, 2, 3]
    # The stop carries over to the next batch of the same task.
    assert run_ordered(lambda i: i, [7], 4, stop)[0].not_attempted is outcomes[0].error


def test_a_bug_in_a_worker_is_raised_in_the_caller():
    with pytest.raises(ZeroDivisionError):
        run_ordered(lambda i: 1 / (i - 3), range(8), 4)


@pytest.mark.parametrize("value", [0, -1, 33, None])
def test_concurrency_bounds(value):
    with pytest.raises(KeyguardError, match="concurrency must be between 1 and 32"):
        validate_concurrency(value)


def _tls_failure():
    """Return the error a certificate that cannot be verified gives: botocore's SSLError, described."""
    return describe_error(SSLError(endpoint_url="https://iam.amazonaws.com/", error="CERTIFICATE_VERIFY_FAILED"), "X")


def _proxy_page():
    """Return the error a proxy's block page gives: an HTTP 403 with no AWS error code or request ID."""
    response = {"Error": {"Code": "403", "Message": "Forbidden"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
    return describe_error(ClientError(response, "ListAccessKeys"), "ListAccessKeys")


@pytest.mark.parametrize("make_error", [_tls_failure, _proxy_page])
def test_tls_and_non_iam_answers_stop_the_run(make_error):
    error = make_error()
    assert error.code in ("SSLError", "NotIAM")

    def work(i):
        if i == 0:
            raise error
        return i

    outcomes = run_ordered(work, range(5), 1, Stop())
    assert outcomes[0].error is error
    assert all(outcome.not_attempted is error for outcome in outcomes[1:])
