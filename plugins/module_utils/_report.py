# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence report of a sweep: accounts' policy results in, one HTML page and one CSV out. Pure, no I/O.

Every value that came from AWS or from the task (names, IDs, reasons, errors, ARNs) reaches the HTML only
through esc(), which escapes quotes too, so it is text in element and attribute contexts alike; the page has no
script, no style attribute built from data and no URL built from data. CSV cells go through csv_cell(), which
defuses spreadsheet formulas.
"""

from __future__ import annotations

import csv
import html
import io
from datetime import datetime, timezone

# The policy module's actions, in the order the report shows them; `none` is a key left alone.
ACTIONS = ("deactivated", "warned", "pending", "exempt", "cleared", "failed", "none")
TAKEN = ACTIONS[:-1]
# Lower bounds of the age buckets, in days; a key of exactly 45 days is in 45-90.
AGE_BUCKETS = ((0, "0\u201345 days"), (45, "45\u201390 days"), (90, "90\u2013180 days"), (180, "180\u2013365 days"))
AGE_BUCKETS += ((365, "over 365 days"),)
STATUSES = ("Active", "Inactive", "unknown")
TOP_ACCOUNTS = 25  # bars in the per-account chart; the rest fold into one
FAILED_IN_HEADLINE = 10  # failed accounts named in the headline; all are in the accounts table
CSV_COLUMNS = (
    "account_id",
    "account_name",
    "user_name",
    "access_key_id",
    "slot",
    "status_before",
    "status_after",
    "created",
    "last_used",
    "days_unused",
    "age_days",
    "action",
    "reason",
    "deadline",
    "check_mode",
)
# OWASP's CSV injection guidance: a cell a spreadsheet would read as a formula gets a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
REPORT_ONLY_REASON = "report only: no policy was applied to this key"


class ReportError(Exception):
    """The report's input does not have the shape the contract gives."""


def esc(value):
    """Return value as HTML text, safe in element content and in quoted attributes alike."""
    return html.escape("" if value is None else str(value), quote=True)


def csv_cell(value):
    """Return value for a CSV cell: None empty, numbers as they are, text that looks like a formula defused."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        text = str(value)
        return "'" + text if text.startswith(FORMULA_STARTS) else text
    return value


def moment(value):
    """Return an ISO 8601 time as 'YYYY-MM-DD HH:MM UTC' (text that is not one comes back as it is), or None."""
    if not value:
        return None
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        return parsed.strftime("%Y-%m-%d %H:%M")
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def duration(started, finished):
    """Return how long the run took, in words, when both ends are ISO 8601 times; else None."""
    try:
        ends = [datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith("Z") else t) for t in (started, finished)]
        seconds = int((ends[1] - ends[0]).total_seconds())
    except (TypeError, ValueError, AttributeError):
        return None
    if seconds < 0:
        return None
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return " ".join(f"{n} {unit}" for n, unit in ((hours, "h"), (minutes, "min"), (seconds, "s")) if n) or "0 s"


# ---------------------------------------------------------------------------------------------------------------
# The model: the accounts and their keys, normalised, and the numbers the page and the module report.


def build(accounts, run):
    """Return the report's model from the accounts (as the contract gives them) and the run's metadata."""
    if not isinstance(accounts, list):
        raise ReportError("accounts must be a list of {account_id, account_name, error, result}.")
    run = dict(run or {})
    rows, summaries = [], []
    for index, entry in enumerate(accounts):
        summary, keys = account(entry, index, run)
        summaries.append(summary)
        rows.extend(keys)
    summaries.sort(key=lambda item: (item["label"].lower(), item["account_id"]))
    order = {item["account_id"]: position for position, item in enumerate(summaries)}
    rows.sort(
        key=lambda row: (order[row["account_id"]], row["user_name"] or "", row["access_key_id"] or "", row["slot"] or 0)
    )
    policy = run.get("policy") or next((s["policy"] for s in summaries if s["policy"]), None) or {}
    callers = sorted({s["caller_arn"] for s in summaries if s["caller_arn"]})
    model = dict(run=run, policy=policy, accounts=summaries, rows=rows, callers=callers)
    model["headline"] = headline(summaries, rows)
    return model


def account(entry, index, run):
    """Return (summary, rows) of one account entry: its outcome, and one row per key it saw."""
    if not isinstance(entry, dict) or not entry.get("account_id"):
        raise ReportError(f"accounts[{index}] must be a dict with an account_id; got {str(entry)[:80]!r}.")
    account_id = str(entry["account_id"])
    result = entry.get("result")
    error = entry.get("error")
    if result is not None and not isinstance(result, dict):
        raise ReportError(f"accounts[{index}].result must be a policy or info result (a dict) or null.")
    if result is None and not error:
        error = "no result was recorded for this account (it failed or stopped before its sweep finished)"
    name = entry.get("account_name") or None
    summary = dict(
        account_id=account_id,
        account_name=name,
        label=name or account_id,
        error=" ".join(str(error).split()) if error else None,
        source=None,
        report_generated=None,
        caller_arn=None,
        policy=None,
        report_only=False,
        skipped_keys=[],
        counts=dict.fromkeys(ACTIONS, 0),
        seen=0,
        stale=0,
    )
    if result is None:
        return summary, []
    report_only = "counts" not in result and "policy" not in result  # an iam_access_key_info result
    summary.update(
        source=result.get("source"),
        report_generated=result.get("credential_report_generated"),
        caller_arn=result.get("caller_arn"),
        policy=result.get("policy"),
        report_only=report_only,
        skipped_keys=list(result.get("skipped_keys") or result.get("skipped") or []),
    )
    keys = result.get("access_keys") or []
    if not isinstance(keys, list):
        raise ReportError(f"accounts[{index}].result.access_keys must be a list.")
    rows = [key_row(summary, key, report_only) for key in keys]
    for row in rows:
        summary["counts"][row["action"]] = summary["counts"].get(row["action"], 0) + 1
    summary["seen"] = len(rows)
    counted = (result.get("counts") or {}).get("stale")
    policy = summary["policy"] or run.get("policy") or {}
    summary["stale"] = counted if isinstance(counted, int) else sum(1 for row in rows if is_stale(row, policy))
    return summary, rows


def key_row(summary, key, report_only):
    """Return the report's row for one key of a result."""
    status = key.get("status")
    action = "none" if report_only else (key.get("action") or "none")
    reason = key.get("reason") or (REPORT_ONLY_REASON if report_only else "")
    return dict(
        account_id=summary["account_id"],
        account_name=summary["account_name"],
        label=summary["label"],
        user_name=key.get("user_name"),
        access_key_id=key.get("access_key_id") or None,
        slot=key.get("slot"),
        status_before=key.get("previous_status") or status,
        status_after=status,
        created=key.get("create_date"),
        last_used=key.get("last_used_date"),
        days_unused=key.get("days_since_last_use"),
        age_days=key.get("age_days"),
        action=action if action in ACTIONS else "failed",
        reason=reason if action in ACTIONS else f"unknown action {action!r}: {reason}",
        deadline=key.get("deadline"),
    )


def is_stale(row, policy):
    """Return whether an Active key passes the policy's selection (report-only results carry no count)."""
    if row["status_before"] != "Active":
        return False
    older, unused = policy.get("older_than_days"), policy.get("unused_for_days")
    if older is None and unused is None:
        return False
    too_old = number(older) and number(row["age_days"]) and row["age_days"] > older
    too_idle = number(unused) and number(row["days_unused"]) and row["days_unused"] > unused
    return too_old or too_idle


def number(value):
    """Return whether value is a whole number (not a bool, not text)."""
    return isinstance(value, int) and not isinstance(value, bool)


def headline(summaries, rows):
    """Return the headline numbers: accounts swept and failed, keys seen, stale and per action."""
    failed = [s for s in summaries if s["error"]]
    numbers = dict(accounts_swept=len(summaries) - len(failed), accounts_failed=len(failed))
    numbers["keys_seen"] = len(rows)
    numbers["keys_stale"] = sum(s["stale"] for s in summaries)
    for action in ACTIONS:
        numbers[f"keys_{action}"] = sum(1 for row in rows if row["action"] == action)
    numbers["keys_skipped"] = sum(len(s["skipped_keys"]) for s in summaries)
    return numbers


def age_bucket(age_days):
    """Return the index of the age bucket of a key this many days old, or None when the age is unknown."""
    if not number(age_days):
        return None
    index = 0
    for position, (low, _label) in enumerate(AGE_BUCKETS):
        if age_days >= low:
            index = position
    return index


def age_chart_data(rows):
    """Return [(label, {status: keys})] per age bucket, plus an 'age unknown' row only when some age is."""
    buckets = [(label, dict.fromkeys(STATUSES, 0)) for _low, label in AGE_BUCKETS]
    unknown = dict.fromkeys(STATUSES, 0)
    for row in rows:
        status = row["status_after"] if row["status_after"] in ("Active", "Inactive") else "unknown"
        index = age_bucket(row["age_days"])
        (unknown if index is None else buckets[index][1])[status] += 1
    if sum(unknown.values()):
        buckets.append(("age unknown", unknown))
    return buckets


def action_chart_data(summaries, top=TOP_ACCOUNTS):
    """Return ([(label, title, {action: keys})] of the top accounts by actions taken, plus one folded bar, idle count)."""
    busy = [s for s in summaries if any(s["counts"][a] for a in TAKEN)]
    busy.sort(key=lambda s: (-sum(s["counts"][a] for a in TAKEN), s["label"].lower(), s["account_id"]))
    bars = [(s["label"], f"{s['label']} ({s['account_id']})", {a: s["counts"][a] for a in TAKEN}) for s in busy[:top]]
    rest = busy[top:]
    if rest:
        folded = {a: sum(s["counts"][a] for s in rest) for a in TAKEN}
        label = f"{len(rest)} other accounts"
        bars.append((label, label, folded))
    return bars, len(summaries) - len(busy)


# ---------------------------------------------------------------------------------------------------------------
# The CSV: every key seen, plus one row per account that could not be swept and per key left out meanwhile.


def render_csv(model):
    """Return the CSV text: a header and one row per key seen, per key skipped and per account not swept."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(model):
        writer.writerow([csv_cell(row.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()


def csv_rows(model):
    """Return the CSV's rows as dicts, account by account: a row if it was not swept, then its keys by user."""
    by_account = {}
    for row in model["rows"]:
        by_account.setdefault(row["account_id"], []).append(row)
    rows = []
    # Every row says whether it is a preview: a --check run's CSV would otherwise read exactly like the real run's.
    check_mode = "true" if model["run"].get("check_mode") else "false"
    for summary in model["accounts"]:
        base = dict(account_id=summary["account_id"], account_name=summary["account_name"], check_mode=check_mode)
        if summary["error"]:
            rows.append(dict(base, action="not_swept", reason=summary["error"]))
        mine = [dict(row, check_mode=check_mode) for row in by_account.get(summary["account_id"], [])]
        for item in summary["skipped_keys"]:
            reason = item.get("reason") or "left out while the sweep ran"
            key = dict(user_name=item.get("user_name"), access_key_id=item.get("access_key_id"))
            mine.append(dict(base, **key, action="skipped", reason=reason))
        # Stable: the keys keep their order within a user, skipped entries come after that user's keys.
        rows.extend(sorted(mine, key=lambda row: row["user_name"] or ""))
    return rows


# ---------------------------------------------------------------------------------------------------------------
# The HTML page.

CSS = """
:root{--ink:#1b1f24;--mute:#57606a;--line:#d0d7de;--bg:#f6f8fa;--active:#1a7f37;--inactive:#8c959f;
--deactivated:#cf222e;--warned:#bf8700;--pending:#8250df;--exempt:#0969da;--cleared:#1a7f37;--failed:#1b1f24}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1180px;padding:24px;color:var(--ink);background:#fff;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans","DejaVu Sans",Arial,sans-serif}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.sub{color:var(--mute);margin:0 0 16px}
.preview{border:2px solid var(--warned);background:#fff8c5;padding:8px 12px;margin:0 0 16px;font-weight:600}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 16px}
dl.run dt{color:var(--mute)}dl.run dd{margin:0;overflow-wrap:anywhere}
ul.tiles{list-style:none;padding:0;margin:0 0 12px;display:flex;flex-wrap:wrap;gap:8px}
ul.tiles li{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:104px;background:var(--bg)}
ul.tiles b{display:block;font-size:24px;line-height:1.2}
ul.tiles li.hot{border-color:var(--deactivated)}ul.tiles li.bad{border:2px solid var(--failed)}
ul.failed{margin:4px 0 0;padding-left:20px}ul.failed li{overflow-wrap:anywhere}
figure{margin:0}figcaption{color:var(--mute);margin:4px 0 0}
svg.chart{width:100%;height:auto;display:block}
svg text{font:13px system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans","DejaVu Sans",Arial,sans-serif;fill:var(--ink)}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0 0;padding:0;list-style:none;color:var(--mute)}
.legend svg{vertical-align:-3px;margin-right:4px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:var(--bg);position:sticky;top:0}
table.keys td:nth-child(1),table.accounts td:nth-child(1),table.keys td:nth-child(3){white-space:nowrap}
table.keys td:nth-child(2){overflow-wrap:anywhere;min-width:9em}
table.keys td:nth-child(3){font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
table.accounts td:nth-child(3){min-width:18em}
.num,table.keys td:nth-child(4),table.keys td:nth-child(5){text-align:right;font-variant-numeric:tabular-nums}
td.a{white-space:nowrap;font-weight:600}
.deactivated{color:var(--deactivated)}.warned{color:var(--warned)}.pending{color:var(--pending)}
.exempt{color:var(--exempt)}.failed{color:var(--failed)}.cleared{color:var(--cleared)}
td small{font-weight:400;color:var(--mute)}
.err{color:var(--deactivated)}
footer{margin:32px 0 0;color:var(--mute);font-size:12px}
@media print{
@page{size:landscape;margin:12mm}
body{max-width:none;padding:0;font-size:10pt}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
thead{display:table-header-group}thead th{position:static}
table{font-size:8pt}table.keys td:nth-child(3){font-size:7.5pt}table.accounts td:nth-child(3){min-width:0}
tr,figure,ul.tiles li{break-inside:avoid}
h2{break-after:avoid}
}
"""

# Each series is told apart by pattern as well as colour, so the charts read on a black-and-white printout.
PATTERNS = """<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="p-inactive" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="6" height="6" fill="#d0d7de"/><rect width="2" height="6" fill="#57606a"/></pattern>
<pattern id="p-warned" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="6" height="6" fill="#f5d67b"/><rect width="2" height="6" fill="#7d4e00"/></pattern>
<pattern id="p-pending" width="5" height="5" patternUnits="userSpaceOnUse">
<rect width="5" height="5" fill="#e2d3fb"/><circle cx="2.5" cy="2.5" r="1.2" fill="#5a32a3"/></pattern>
<pattern id="p-exempt" width="6" height="6" patternUnits="userSpaceOnUse">
<rect width="6" height="6" fill="#b6d7ff"/><path d="M0 3H6M3 0V6" stroke="#0550ae" stroke-width="1"/></pattern>
<pattern id="p-cleared" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">
<rect width="6" height="6" fill="#d2f4d3"/><rect width="1" height="6" fill="#1a7f37"/></pattern>
<pattern id="p-unknown" width="4" height="4" patternUnits="userSpaceOnUse">
<rect width="4" height="4" fill="#fff"/><rect width="1" height="1" fill="#1b1f24"/></pattern>
</defs></svg>"""
FILLS = {
    "Active": "#2da44e",
    "Inactive": "url(#p-inactive)",
    "unknown": "url(#p-unknown)",
    "deactivated": "#cf222e",
    "warned": "url(#p-warned)",
    "pending": "url(#p-pending)",
    "exempt": "url(#p-exempt)",
    "cleared": "url(#p-cleared)",
    "failed": "#1b1f24",
}
LEGEND_NAMES = {"Active": "active", "Inactive": "inactive", "unknown": "status unknown"}


def render_html(model, table_limit=None):
    """Return the report as one self-contained HTML page."""
    run, head = model["run"], model["headline"]
    when = moment(run.get("finished") or run.get("started")) or ""
    title = f"Access key sweep {when}".strip()
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No script, no network: the page may be opened from an email or an artifact store.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        PATTERNS,
        '<header><h1>Access key sweep</h1><p class="sub">keyguard.aws evidence report: what the sweep saw in '
        "each account, what it did, and why.</p>",
    ]
    if run.get("check_mode"):
        parts.append(
            '<p class="preview" id="preview">Preview (check mode): nothing was changed. Statuses after the run and '
            "actions are what the sweep would do.</p>"
        )
    parts += ["</header>", headline_html(model), age_chart_html(model["rows"]), action_chart_html(model["accounts"])]
    parts += [accounts_html(model["accounts"]), keys_html(model["rows"], table_limit)]
    parts.append(
        "<footer>Written by the keyguard.aws.sweep_report module. The CSV beside this page (keyguard-keys.csv) "
        f"lists every key seen, {head['keys_seen']} in all, including those left alone.</footer></body></html>\n"
    )
    return "".join(parts)


def headline_html(model):
    """Return the headline: when, where, the policy and by whom, then the numbers and the failed accounts."""
    run, head, summaries = model["run"], model["headline"], model["accounts"]
    started, finished = run.get("started"), run.get("finished")
    when = " \u2013 ".join(esc(moment(t)) for t in (started, finished) if t) or "not given"
    took = duration(started, finished)
    if took:
        when += f" ({esc(took)})"
    where = run.get("scope") or (
        f"{len(summaries)} account"
        + ("" if len(summaries) == 1 else "s")
        + ": "
        + ", ".join(s["label"] for s in summaries[:5])
        + (f" and {len(summaries) - 5} more" if len(summaries) > 5 else "")
    )
    callers = [run["caller_arn"]] if run.get("caller_arn") else model["callers"]
    who = "<br>".join(esc(arn) for arn in callers[:5]) or "not given"
    if not run.get("caller_arn") and len(callers) > 5:
        who += f"<br>and {len(callers) - 5} more (one per account)"
    rows = [("When", when), ("Where", esc(where))]
    if run.get("controller"):
        rows.append(("Controller", esc(run["controller"])))
    rows += [("By", who), ("Policy", policy_html(model["policy"]))]
    sources = sorted({s["source"] for s in summaries if s["source"]})
    if sources:
        rows.append(("Read from", esc(", ".join(s.replace("_", " ") for s in sources))))
    parts = ['<section id="headline"><dl class="run">']
    parts += [f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows]
    parts.append('</dl><ul class="tiles">')
    # A preview's tiles say what the sweep would do: a tile read alone (a slide, a cropped print) says it too.
    preview = bool(model["run"].get("check_mode"))
    tiles = [
        ("accounts_swept", "accounts swept", ""),
        ("accounts_failed", "accounts failed", "bad" if head["accounts_failed"] else ""),
        ("keys_seen", "keys seen", ""),
        ("keys_stale", "stale", ""),
        ("keys_deactivated", "to deactivate" if preview else "deactivated", "hot" if head["keys_deactivated"] else ""),
        ("keys_warned", "to warn" if preview else "warned", ""),
        ("keys_pending", "pending", ""),
        ("keys_exempt", "exempt", ""),
        ("keys_failed", "failed", "bad" if head["keys_failed"] else ""),
    ]
    if head["keys_cleared"]:
        tiles.append(("keys_cleared", "cleared", ""))
    for key, label, css in tiles:
        css_attr = f' class="{css}"' if css else ""
        parts.append(f'<li{css_attr}><b id="{key}">{head[key]}</b>{label}</li>')
    parts.append("</ul>")
    failed = [s for s in summaries if s["error"]]
    if failed:
        parts.append(
            f'<p>Accounts that could not be swept ({len(failed)}):</p><ul class="failed" id="failed-accounts">'
        )
        for s in failed[:FAILED_IN_HEADLINE]:
            named = (
                f"<b>{esc(s['account_name'])}</b> ({esc(s['account_id'])})"
                if s["account_name"]
                else f"<b>{esc(s['account_id'])}</b>"
            )
            parts.append(f"<li>{named}: {esc(s['error'])}</li>")
        if len(failed) > FAILED_IN_HEADLINE:
            parts.append(f"<li>and {len(failed) - FAILED_IN_HEADLINE} more: see Accounts below</li>")
        parts.append("</ul>")
    if head["keys_skipped"]:
        parts.append(
            f"<p>{head['keys_skipped']} keys or users were deleted while the sweep ran and are left out; the CSV "
            "lists them (action skipped).</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def policy_html(policy):
    """Return the policy in force as one line of text: selection, grace and exemptions."""
    if not policy:
        return "not given (a report-only sweep)"
    bits = []
    if policy.get("unused_for_days") is not None:
        bits.append(f"keys unused for more than {esc(policy['unused_for_days'])} days")
    if policy.get("older_than_days") is not None:
        bits.append(f"keys older than {esc(policy['older_than_days'])} days")
    selection = " or ".join(bits) or "no age or last-use selection"
    if policy.get("path_prefix"):
        selection += f", users under {esc(policy['path_prefix'])}"
    parts = [selection]
    if policy.get("grace_days") is not None:
        parts.append(f"grace {esc(policy['grace_days'])} days")
    exemptions = []
    if policy.get("exempt_tag"):
        exemptions.append(f"tag {esc(policy['exempt_tag'])}")
    for option, noun in (("exempt_users", "user"), ("exempt_groups", "group"), ("exempt_access_keys", "key")):
        values = policy.get(option) or []
        if values:
            shown = ", ".join(esc(v) for v in values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
            exemptions.append(f"{noun}{'s' if len(values) > 1 else ''} {shown}")
    parts.append("exempt: " + ("; ".join(exemptions) if exemptions else "none"))
    if policy.get("source"):
        parts.append(f"source {esc(policy['source'])}")
    return "; ".join(parts)


def legend_html(series):
    """Return the legend of these series: a swatch with the same fill and pattern, and the name."""
    items = []
    for name in series:
        swatch = (
            f'<svg width="14" height="14" aria-hidden="true"><rect x="0.5" y="0.5" width="13" height="13" '
            f'fill="{FILLS[name]}" stroke="#57606a"/></svg>'
        )
        items.append(f"<li>{swatch}{LEGEND_NAMES.get(name, name)}</li>")
    return f'<ul class="legend">{"".join(items)}</ul>'


def stacked_bars(bars, series, label_width, chart_id, empty_text, scale=None):
    """Return an inline SVG of horizontal stacked bars, each labelled and followed by its numbers in words.

    With scale, the track is that many keys long; a bar with more is drawn broken, across the track.
    """
    bar_height, gap, width, char_width = 20, 8, 960, 7.4  # char_width: 13px sans-serif, generously
    texts = []
    for _label, _title, values in bars:
        total = sum(values.values())
        words = ", ".join(f"{values[name]} {LEGEND_NAMES.get(name, name)}" for name in series if values.get(name))
        texts.append((f"{total} {'key' if total == 1 else 'keys'}", f": {words}" if words else ""))
    # The numbers in words must fit after the longest bar: the track gives way, then the chart widens.
    text_width = max([len(a + b) * char_width for a, b in texts] + [120]) + 12
    track = max(width - label_width - text_width, 300)
    width = int(label_width + track + text_width)
    top = scale or max([sum(values.values()) for _label, _title, values in bars] + [1])
    height = len(bars) * (bar_height + gap) + gap
    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title"><title id="{chart_id}-title">{esc(empty_text)}</title>'
    ]
    for index, ((label, title, values), (total, words)) in enumerate(zip(bars, texts)):
        y = gap + index * (bar_height + gap)
        short = label if len(label) <= 30 else label[:29] + "\u2026"
        parts.append(
            f'<g><title>{esc(title)}</title><text x="{label_width - 8}" y="{y + 14}" text-anchor="end">'
            f"{esc(short)}</text>"
        )
        x = float(label_width)
        longer = sum(values.values()) > top  # drawn across the track, in proportion, with a break mark
        for name in series:
            count = values.get(name, 0)
            if not count:
                continue
            w = track * count / (sum(values.values()) if longer else top)
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1.5):.1f}" height="{bar_height}" fill="{FILLS[name]}" '
                'stroke="#57606a" stroke-width="0.5"/>'
            )
            x += w
        if longer:
            cut = label_width + track * 0.4
            parts.append(
                f'<path class="break" d="M{cut:.1f} {y - 3}l6 {bar_height + 6}m4 0l-6 {-bar_height - 6}" '
                'stroke="#fff" stroke-width="3" fill="none"/>'
            )
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 14}"><tspan font-weight="600">{total}</tspan>{words}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def age_chart_html(rows):
    """Return the age chart: keys per age bucket, split by status after the run."""
    buckets = age_chart_data(rows)
    bars = [(label, label, counts) for label, counts in buckets]
    chart = stacked_bars(bars, STATUSES, 140, "age-chart", "Keys by age, split by status after the run")
    used = [s for s in STATUSES if any(counts[s] for _label, counts in buckets)] or ["Active", "Inactive"]
    return (
        '<section id="ages"><h2>Keys by age</h2><figure>'
        f"{chart}{legend_html(used)}<figcaption>Every key seen ({len(rows)}), by days since it was created, "
        "split by its status after the run. A key of exactly 45 days counts in 45\u201390.</figcaption>"
        "</figure></section>"
    )


def action_chart_html(summaries):
    """Return the per-account chart of actions taken: the busiest accounts, the rest folded into one bar."""
    bars, idle = action_chart_data(summaries)
    parts = ['<section id="actions"><h2>Actions per account</h2><figure>']
    broken = False
    if bars:
        used = [a for a in TAKEN if any(values[a] for _label, _title, values in bars)]
        # The track is as long as the busiest account's bar: a folded bar of many accounts that is longer would
        # shrink every account's bar to a sliver, so it is drawn shortened, with a break mark.
        scale = max(sum(values.values()) for _label, _title, values in bars[:TOP_ACCOUNTS])
        broken = len(bars) > TOP_ACCOUNTS and sum(bars[-1][2].values()) > scale
        parts.append(
            stacked_bars(bars, TAKEN, 220, "action-chart", "Keys acted on or exempted, per account", scale=scale)
        )
        parts.append(legend_html(used))
    else:
        parts.append('<p id="no-actions">No key was acted on or exempted in any account.</p>')
    caption = (
        f"Accounts by number of keys acted on or exempted; the top {TOP_ACCOUNTS} have a bar each, the rest share one."
    )
    if broken:
        caption += (
            " The folded bar holds more than any account and is drawn shortened (broken); its count is beside it."
        )
    if idle:
        caption += f" {idle} account{'s' if idle != 1 else ''} with no action (or not swept) {'are' if idle != 1 else 'is'} not shown."
    parts.append(f"<figcaption>{caption}</figcaption></figure></section>")
    return "".join(parts)


def accounts_html(summaries):
    """Return the accounts table: each account's outcome, where its keys came from, and its counts."""
    # Columns of actions no account took are left out, so the table fits a printed page.
    actions = [a for a in TAKEN if a == "failed" or any(s["counts"][a] for s in summaries)]
    skipped = any(s["skipped_keys"] for s in summaries)
    columns = ["Account", "ID", "Outcome", "Seen", "Stale"] + [a.capitalize() for a in actions]
    columns += ["Skipped"] if skipped else []
    parts = ['<section id="accounts"><h2>Accounts</h2><table class="accounts"><thead><tr>']
    parts += [f"<th>{c}</th>" for c in columns]
    parts.append("</tr></thead><tbody>")
    for s in summaries:
        if s["error"]:
            outcome = f'<span class="err">not swept: {esc(s["error"])}</span>'
        else:
            outcome = "swept"
            source = (s["source"] or "").replace("_", " ")
            if source:
                generated = f", report of {esc(moment(s['report_generated']))}" if s["report_generated"] else ""
                outcome += f" ({esc(source)}{generated})"
            if s["report_only"]:
                outcome += ", report only"
        cells = [esc(s["account_name"] or ""), esc(s["account_id"]), outcome, s["seen"], s["stale"]]
        cells += [s["counts"][a] for a in actions] + ([len(s["skipped_keys"])] if skipped else [])
        parts.append(
            "<tr>"
            + "".join(f'<td class="num">{c}</td>' if isinstance(c, int) else f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    parts.append("</tbody></table></section>")
    return "".join(parts)


def keys_html(rows, table_limit=None):
    """Return the table of every key acted on or exempted, account then user; lean markup for thousands of rows."""
    acted = [row for row in rows if row["action"] != "none"]
    shown = acted if not table_limit else acted[:table_limit]
    parts = [
        f'<section id="keys"><h2>Keys acted on or exempted ({len(acted)})</h2>',
        '<p class="sub">By account, then user. Age and unused are in days; a key never used counts as unused '
        "since it was created. A key the credential report shows only by its slot has no ID here.</p>",
        '<table class="keys"><thead><tr><th>Account</th><th>User</th><th>Key</th><th>Age</th>'
        "<th>Unused</th><th>Action</th><th>Reason</th></tr></thead><tbody>\n",
    ]
    # Closing </td> and </tr> are optional in HTML and left out: a third less markup at 5,000 rows.
    for row in shown:
        key = esc(row["access_key_id"]) if row["access_key_id"] else f"slot {esc(row['slot'])}"
        action = esc(row["action"])
        if row["deadline"]:
            # A deactivated key's deadline has passed: "until" would read as if it came back on that day.
            word = "deadline" if row["action"] == "deactivated" else "until"
            action += f" <small>{word} {esc(row['deadline'])}</small>"
        parts.append(
            f"<tr><td>{esc(row['label'])}<td>{esc(row['user_name'])}<td>{key}<td>{esc(row['age_days'])}"
            f'<td>{esc(row["days_unused"])}<td class="a {esc(row["action"])}">{action}<td>{esc(row["reason"])}\n'
        )
    parts.append("</tbody></table>")
    if len(shown) < len(acted):
        parts.append(
            f'<p id="truncated">The first {len(shown)} of {len(acted)} keys are shown; the CSV lists them all.</p>'
        )
    elif not acted:
        parts.append('<p id="no-keys">No key was acted on or exempted.</p>')
    parts.append("</section>")
    return "".join(parts)
