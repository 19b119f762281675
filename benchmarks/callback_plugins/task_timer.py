# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: append each task's wall time, from its start to its result, to $TASK_TIMER_FILE."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_timer
type: aggregate
short_description: Record each task's duration for the benchmark
description: Writes one JSON line per task (name, seconds, changed) to the file named by TASK_TIMER_FILE.
"""


class CallbackModule(CallbackBase):
    """Time tasks from start to result, one JSON line each."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_timer"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task, self._started = task.get_name(), time.perf_counter()

    def _record(self, result, failed):
        seconds = time.perf_counter() - self._started
        line = {
            "task": self._task,
            "seconds": seconds,
            "changed": bool(result._result.get("changed")),
            "failed": failed,
        }
        with open(os.environ["TASK_TIMER_FILE"], "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, True)
