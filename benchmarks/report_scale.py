"""Benchmark the sweep report at 5,000 keys across 100 accounts: size, rendering time, and a browser's time to show it.

Run with `.venv/bin/python benchmarks/report_scale.py` (needs chromium: tools/ensure_chromium.sh). It measures:
- the HTML and CSV sizes for 5,000 keys, all acted on (the worst case for the page: every key is a table row);
- the renderer in Python (build + HTML + CSV, median of 5);
- the keyguard.aws.sweep_report task end to end in ansible-playbook (the 5,000 keys go through module arguments);
- headless Chromium: --dump-dom and --screenshot of the page against the same of a 1-key page (the difference is
  the cost of this page, without the browser's start-up), and --print-to-pdf with its page count.
Prints a table and saves benchmarks/results/report_scale.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tools"), str(REPO / ".collections")]
import report_demo  # noqa: E402

from ansible_collections.keyguard.aws.plugins.module_utils._report import build, render_csv, render_html  # noqa: E402

RUNS = 5


def median_seconds(work, runs=RUNS):
    """Return the median wall time of work() over runs."""
    times = []
    for _run in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    """Measure and print; save the figures."""
    entries = report_demo.synthetic_accounts(accounts=100, keys=5000)
    small = report_demo.synthetic_accounts(accounts=1, keys=1)
    figures = dict(accounts=100, keys=5000, python=platform.python_version(), runs=RUNS, cpus=os.cpu_count())
    # Shared CI machines run other jobs: the load says how much of the wall time is waiting for a core.
    figures["load_average_before"] = round(os.getloadavg()[0], 1)
    figures["render_seconds"] = median_seconds(
        lambda: (render_html(build(entries, {})), render_csv(build(entries, {})))
    )
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        _proc, result = report_demo.write_report(entries, {}, Path(workdir) / "big", workdir)
        figures["module_task_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        _proc, tiny = report_demo.write_report(small, {}, Path(workdir) / "tiny", workdir)
        figures["module_task_1_key_seconds"] = time.perf_counter() - start
        figures["html_bytes"] = result["sizes"]["keyguard-report.html"]
        figures["csv_bytes"] = result["sizes"]["keyguard-keys.csv"]
        for name, do in (
            ("dump_dom", report_demo.dump_dom),
            ("screenshot", lambda page: report_demo.screenshot(page, Path(workdir) / "s.png", 1200, 1800)),
        ):
            big = median_seconds(lambda do=do: do(result["html_path"]), runs=3)
            base = median_seconds(lambda do=do: do(tiny["html_path"]), runs=3)
            figures[f"chromium_{name}_seconds"] = big
            figures[f"chromium_{name}_1_key_seconds"] = base
        pdf = Path(workdir) / "report.pdf"
        start = time.perf_counter()
        report_demo.chromium(result["html_path"], f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
        figures["chromium_print_to_pdf_seconds"] = time.perf_counter() - start
        figures["pdf_pages"] = pdf.read_bytes().count(b"/Type /Page") - pdf.read_bytes().count(b"/Type /Pages")
    figures["load_average_after"] = round(os.getloadavg()[0], 1)
    out = HERE / "results" / "report_scale.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"Sweep report, {figures['keys']} keys acted on across {figures['accounts']} accounts (Python {figures['python']})"
    )
    print(f"  HTML {figures['html_bytes'] / 1e6:.2f} MB, CSV {figures['csv_bytes'] / 1e6:.2f} MB")
    print(f"  render in Python (build + HTML + CSV), median of {RUNS}: {figures['render_seconds']:.2f} s")
    print(
        f"  sweep_report task in ansible-playbook (whole run): {figures['module_task_seconds']:.1f} s "
        f"(1 key: {figures['module_task_1_key_seconds']:.1f} s)"
    )
    for name in ("dump_dom", "screenshot"):
        big, base = figures[f"chromium_{name}_seconds"], figures[f"chromium_{name}_1_key_seconds"]
        print(f"  chromium --{name.replace('_', '-')}: {big:.2f} s (1-key page {base:.2f} s: +{big - base:.2f} s)")
    print(
        f"  load average {figures['load_average_before']} before, {figures['load_average_after']} after, {figures['cpus']} CPUs"
    )
    print(f"  chromium --print-to-pdf: {figures['chromium_print_to_pdf_seconds']:.2f} s, {figures['pdf_pages']} pages")
    print(f"saved {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
