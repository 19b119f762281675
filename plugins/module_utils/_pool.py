# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded worker pool for per-user and per-key IAM calls that keeps results in input order.

Workers share the one botocore client (botocore clients are thread-safe) and never touch the module: they return
values or raise KeyguardError, and only the calling thread reports. After an endpoint-level failure (the endpoint
is unreachable, the credentials are rejected, throttling outlasted the retries) no new item starts: each is
returned as not attempted, with the failure as its reason, instead of repeating the same wait for every item.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError, is_endpoint_failure

MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 32
DEFAULT_CONCURRENCY = 8


class Outcome(NamedTuple):
    """What became of one item: its value, or the error it raised, or why it was never started."""

    value: object = None
    error: KeyguardError = None
    not_attempted: KeyguardError = None  # the endpoint-level failure that stopped the run before this item


def validate_concurrency(value):
    """Raise KeyguardError unless the concurrency option is within its bounds."""
    if value is None or not MIN_CONCURRENCY <= value <= MAX_CONCURRENCY:
        raise KeyguardError(
            f"concurrency must be between {MIN_CONCURRENCY} and {MAX_CONCURRENCY} (IAM throttles an account's "
            f"calls, so more workers do not go faster); got {value}."
        )


def run_ordered(work, items, concurrency, stop=None):
    """Return one Outcome per item, in the order of `items`, running work(item) on up to `concurrency` threads.

    `stop` is shared between runs of one task: once an endpoint-level failure sets it, no further item starts,
    in this run or a later one.
    """
    items = list(items)
    outcomes = [None] * len(items)
    stop = stop if stop is not None else Stop()
    cursor = iter(range(len(items)))
    cursor_lock = threading.Lock()
    crashed = []  # a bug in `work` is re-raised in the calling thread, never lost in a worker

    def worker():
        """Take the next item until none is left; record what became of each."""
        while True:
            with cursor_lock:
                index = next(cursor, None)
            if index is None:
                return
            if stop.reason is not None:
                outcomes[index] = Outcome(not_attempted=stop.reason)
                continue
            try:
                outcomes[index] = Outcome(value=work(items[index]))
            except KeyguardError as err:
                outcomes[index] = Outcome(error=err)
                if is_endpoint_failure(err):
                    stop.set(err)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                crashed.append(exc)
                stop.set(KeyguardError(f"an internal error stopped the run: {exc!r}"))

    threads = [threading.Thread(target=worker, daemon=True) for _worker in range(min(concurrency, len(items)) - 1)]
    for thread in threads:
        thread.start()
    worker()  # the calling thread works too, so concurrency 1 starts no thread at all
    for thread in threads:
        thread.join()
    if crashed:
        raise crashed[0]
    return outcomes


class Stop:
    """The first endpoint-level failure of a task, shared by its workers."""

    def __init__(self):
        self.reason = None
        self._lock = threading.Lock()

    def set(self, err):
        """Remember the first endpoint-level failure; later ones change nothing."""
        with self._lock:
            if self.reason is None:
                self.reason = err
