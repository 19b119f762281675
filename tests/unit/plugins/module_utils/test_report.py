"""The sweep report's renderer: the numbers, the charts' data, escaping, the CSV's formula guard, and its size."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest

from ansible_collections.keyguard.aws.plugins.module_utils._report import (
    CSV_COLUMNS,
    REPORT_ONLY_REASON,
    ReportError,
    action_chart_data,
    age_bucket,
    age_chart_data,
    build,
    csv_cell,
    duration,
    moment,
    render_csv,
    render_html,
)

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
# Every element the page is built from; anything else in a parse of the page was injected.
PAGE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "section", "dl", "dt", "dd", "ul",
    "li", "b", "br", "span", "figure", "figcaption", "svg", "defs", "pattern", "rect", "circle", "path", "g", "text",
    "tspan", "table", "thead", "tbody", "tr", "th", "td", "small", "footer",
}  # fmt: skip


def key(user, key_id, action="none", **fields):
    """Return one access_keys entry of a policy result, as the contract gives it."""
    entry = dict(
        user_name=user,
        access_key_id=key_id,
        slot=None,
        previous_status="Active",
        status="Inactive" if action == "deactivated" else "Active",
        create_date="2026-01-01T00:00:00+00:00",
        age_days=100,
        last_used_date=None,
        days_since_last_use=100,
        action=action,
        reason=f"{action} because the test says so",
        deadline=None,
    )
    entry.update(fields)
    return entry


def policy_result(keys, stale=None, **fields):
    """Return a policy result holding these keys."""
    counts = dict(seen=len(keys), stale=stale if stale is not None else sum(k["action"] != "none" for k in keys))
    result = dict(
        changed=True,
        account_id="111111111111",
        caller_arn="arn:aws:sts::111111111111:assumed-role/Audit/keyguard",
        policy=dict(unused_for_days=45, grace_days=14, exempt_tag="keyguard:exempt", exempt_users=["break-glass"]),
        source="credential_report",
        credential_report_generated="2026-12-02T09:00:00+00:00",
        access_keys=keys,
        counts=counts,
        journal=[],
        notices=[],
        skipped_keys=[],
    )
    result.update(fields)
    return result


def entry(account_id, name, result=None, error=None):
    """Return one account entry of the report's input."""
    return dict(account_id=account_id, account_name=name, error=error, result=result)


class Elements(HTMLParser):
    """Collect every start tag with its attributes, and the text, of an HTML document."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page):
    """Return the Elements parse of a page."""
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


def test_headline_counts_every_key_and_account():
    accounts = [
        entry(
            "111111111111",
            "prod",
            policy_result(
                [
                    key("alice", "AKIA0000000000000001", "deactivated"),
                    key("bob", "AKIA0000000000000002", "warned", deadline="2026-12-16"),
                    key("carol", "AKIA0000000000000003", "pending", deadline="2026-12-09"),
                    key("break-glass", "AKIA0000000000000004", "exempt"),
                    key("dave", "AKIA0000000000000005", "failed"),
                    key("erin", "AKIA0000000000000006", "cleared"),
                    key("frank", "AKIA0000000000000007"),
                ],
                stale=5,
            ),
        ),
        entry("222222222222", "staging", policy_result([key("gina", None, slot=2)], stale=0)),
        entry("333333333333", "legacy", error="AssumeRole: AccessDenied\n  for the role"),
    ]
    model = build(accounts, {"started": "2026-12-02T15:00:00Z"})
    assert model["headline"] == dict(
        accounts_swept=2,
        accounts_failed=1,
        keys_seen=8,
        keys_stale=5,
        keys_deactivated=1,
        keys_warned=1,
        keys_pending=1,
        keys_exempt=1,
        keys_cleared=1,
        keys_failed=1,
        keys_none=2,
        keys_skipped=0,
    )
    assert [s["error"] for s in model["accounts"]] == ["AssumeRole: AccessDenied for the role", None, None]
    page = parse(render_html(model))
    ids = {attrs["id"]: index for index, (_tag, attrs) in enumerate(page.tags) if "id" in attrs}
    assert {"keys_seen", "keys_deactivated", "accounts_failed", "failed-accounts", "age-chart"} <= set(ids)


def test_an_info_result_is_reported_with_action_none_and_stale_from_the_run_policy():
    info = dict(
        changed=False,
        access_keys=[
            dict(user_name="a", access_key_id="AKIA1", status="Active", age_days=10, days_since_last_use=60),
            dict(user_name="b", access_key_id="AKIA2", status="Inactive", age_days=10, days_since_last_use=60),
            dict(user_name="c", access_key_id="AKIA3", status="Active", age_days=10, days_since_last_use=45),
        ],
        skipped_keys=[dict(user_name="gone", access_key_id=None, reason="the user was deleted while the sweep ran")],
        source="api",
    )
    model = build([entry("111111111111", None, info)], {"policy": {"unused_for_days": 45}})
    assert [(row["action"], row["reason"]) for row in model["rows"]] == [("none", REPORT_ONLY_REASON)] * 3
    assert [row["status_before"] for row in model["rows"]] == ["Active", "Inactive", "Active"]
    assert model["headline"]["keys_stale"] == 1  # more than 45 days, and Active
    assert model["headline"]["keys_skipped"] == 1
    assert model["accounts"][0]["report_only"] is True
    rows = list(csv.DictReader(io.StringIO(render_csv(model))))
    assert [(r["user_name"], r["action"]) for r in rows] == [
        ("a", "none"),
        ("b", "none"),
        ("c", "none"),
        ("gone", "skipped"),
    ]


@pytest.mark.parametrize(
    "age, bucket",
    [(0, 0), (44, 0), (45, 1), (89, 1), (90, 2), (179, 2), (180, 3), (364, 3), (365, 4), (9000, 4), (None, None)],
)
def test_age_buckets_have_inclusive_lower_bounds(age, bucket):
    assert age_bucket(age) == bucket


def test_the_age_chart_splits_each_bucket_by_status_after_the_run():
    keys = [
        key("a", "AKIA1", "deactivated", age_days=400),
        key("b", "AKIA2", age_days=400),
        key("c", "AKIA3", age_days=3),
        key("d", "AKIA4", "failed", status=None, age_days=50),
        key("e", None, slot=1, age_days=None),
    ]
    data = dict(age_chart_data(build([entry("1", "x", policy_result(keys))], {})["rows"]))
    assert data["over 365 days"] == {"Active": 1, "Inactive": 1, "unknown": 0}
    assert data["0\u201345 days"] == {"Active": 1, "Inactive": 0, "unknown": 0}
    assert data["45\u201390 days"] == {"Active": 0, "Inactive": 0, "unknown": 1}
    assert data["age unknown"] == {"Active": 1, "Inactive": 0, "unknown": 0}


def test_the_action_chart_shows_the_busiest_25_accounts_and_folds_the_rest():
    accounts = [
        entry(f"{n:012d}", f"acct-{n:02d}", policy_result([key("u", f"K{n}-{i}", "deactivated") for i in range(n)]))
        for n in range(1, 31)
    ]
    accounts.append(entry("999999999999", "quiet", policy_result([key("u", "K")])))
    accounts.append(entry("888888888888", "broken", error="no"))
    bars, idle = action_chart_data(build(accounts, {})["accounts"])
    assert [label for label, _title, _values in bars[:3]] == ["acct-30", "acct-29", "acct-28"]
    assert len(bars) == 26
    assert bars[-1][0] == "5 other accounts"
    assert bars[-1][2]["deactivated"] == 1 + 2 + 3 + 4 + 5
    assert idle == 2
    page = render_html(build(accounts, {}))
    assert ">5 other accounts</text>" in page and "15 keys</tspan>: 15 deactivated" in page


def action_bar_widths(page):
    """Return {bar label: drawn width} of the action chart's bars, from the page's SVG."""
    chart = page.split('id="action-chart"', 1)[1].split("</svg>", 1)[0]
    widths = {}
    for group in chart.split("<g>")[1:]:
        label = group.split('text-anchor="end">', 1)[1].split("</text>", 1)[0]
        widths[label] = sum(float(part.split('"', 1)[0]) for part in group.split(' width="')[1:])
    return widths


def test_a_folded_bar_larger_than_every_account_leaves_the_accounts_bars_readable():
    # 100 accounts with 30-40 actions each: the 75 folded into one bar hold about 2,500 keys. Drawn to that scale,
    # the busiest account's bar was a sliver (about 1/60 of the track); it must span the track, and the folded bar
    # is drawn broken, no longer than the track, with its true count in words.
    accounts = [
        entry(
            f"{n:012d}",
            f"acct-{n:03d}",
            policy_result([key("u", f"K{n}-{i}", "deactivated") for i in range(30 + n % 11)]),
        )
        for n in range(100)
    ]
    page = render_html(build(accounts, {}))
    widths = action_bar_widths(page)
    folded = widths.pop("75 other accounts")
    busiest = max(widths.values())
    assert busiest >= folded * 0.95
    assert min(widths.values()) >= busiest * 0.9  # the top 25 hold 40 or 39 actions each: bars of nearly equal length
    bars, _idle = action_chart_data(build(accounts, {})["accounts"])
    folded_total = sum(bars[-1][2].values())
    assert folded_total > 40 * 60
    assert f"{folded_total} keys</tspan>: {folded_total} deactivated" in page
    assert 'class="break"' in page.split('id="action-chart"', 1)[1].split("</svg>", 1)[0]
    assert "drawn shortened" in page


def test_a_folded_bar_smaller_than_the_busiest_account_is_drawn_to_scale_and_not_broken():
    accounts = [
        entry(f"{n:012d}", f"acct-{n:02d}", policy_result([key("u", f"K{n}-{i}", "deactivated") for i in range(n)]))
        for n in range(1, 31)
    ]
    page = render_html(build(accounts, {}))
    widths = action_bar_widths(page)
    assert widths["5 other accounts"] == pytest.approx(widths["acct-30"] * 15 / 30, abs=0.2)
    assert 'class="break"' not in page and "drawn shortened" not in page


def test_every_csv_row_of_a_check_mode_run_says_it_is_a_preview():
    # The preview's CSV said "deactivated" and "Inactive" for keys still Active, byte for byte what the real run's
    # CSV says: an auditor handed the file could not tell a preview from evidence.
    keys = [key("old", "AKIA1", "deactivated", status="Inactive", previous_status="Active"), key("new", "AKIA2")]
    accounts = [entry("111111111111", "prod", policy_result(keys)), entry("222222222222", "gone", error="denied")]
    preview, applied = (render_csv(build(accounts, {"check_mode": flag})) for flag in (True, False))
    assert preview != applied
    for text, expected in ((preview, "true"), (applied, "false")):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [row["action"] for row in rows] == ["not_swept", "none", "deactivated"]
        assert {row["check_mode"] for row in rows} == {expected}


def test_a_deactivated_keys_deadline_is_not_shown_as_until():
    # "deactivated until 2026-12-01" read as a deactivation that lifts on that day; the date is the deadline that
    # passed. A warned key is still active until its deadline.
    keys = [
        key("late", "AKIA1", "deactivated", status="Inactive", previous_status="Active", deadline="2026-12-01"),
        key("soon", "AKIA2", "warned", deadline="2026-12-16"),
    ]
    page = render_html(build([entry("111111111111", "a", policy_result(keys))], {}))
    assert '<td class="a deactivated">deactivated <small>deadline 2026-12-01</small>' in page
    assert '<td class="a warned">warned <small>until 2026-12-16</small>' in page
    assert "until 2026-12-01" not in page


def test_a_previews_headline_tiles_say_what_the_sweep_would_do():
    keys = [key("old", "AKIA1", "deactivated", status="Inactive"), key("mid", "AKIA2", "warned")]
    accounts = [entry("111111111111", "prod", policy_result(keys))]
    preview, applied = (render_html(build(accounts, {"check_mode": flag})) for flag in (True, False))
    assert '<b id="keys_deactivated">1</b>to deactivate</li>' in preview
    assert '<b id="keys_warned">1</b>to warn</li>' in preview
    assert '<b id="keys_deactivated">1</b>deactivated</li>' in applied
    assert '<b id="keys_warned">1</b>warned</li>' in applied


def test_every_value_from_aws_or_the_task_is_text_in_the_page():
    hostile_key = key(HOSTILE, HOSTILE, "warned", reason=HOSTILE, deadline=HOSTILE, status=HOSTILE, age_days=HOSTILE)
    unknown_action = key("u", "K", HOSTILE)
    result = policy_result(
        [hostile_key, unknown_action], caller_arn=HOSTILE, source=HOSTILE, credential_report_generated=HOSTILE
    )
    result["policy"] = dict(exempt_tag=HOSTILE, exempt_users=[HOSTILE], path_prefix=HOSTILE, unused_for_days=HOSTILE)
    accounts = [entry(HOSTILE, HOSTILE, result), entry("2" + HOSTILE, HOSTILE, error=HOSTILE)]
    run = dict(started=HOSTILE, finished=HOSTILE, scope=HOSTILE, controller=HOSTILE, check_mode=True)
    page = render_html(build(accounts, run))
    parsed = parse(page)
    assert {tag for tag, _attrs in parsed.tags} <= PAGE_TAGS
    assert not [attrs for _tag, attrs in parsed.tags if any(name.startswith("on") or name == "src" for name in attrs)]
    # The action is also a class name: an action outside the contract's list is reported as failed, naming it.
    assert ("td", {"class": "a failed"}) in parsed.tags
    assert f"unknown action {HOSTILE!r}" in "".join(parsed.text)
    assert "".join(parsed.text).count(HOSTILE) >= 12
    assert "<script" not in page and "<img" not in page


def test_csv_cells_that_a_spreadsheet_would_compute_are_prefixed():
    assert [csv_cell(v) for v in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "a=b", "", None, 7, -3)] == [
        "'=1+2",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "a=b",
        "",
        "",
        7,
        -3,
    ]


def test_the_csv_round_trips_through_the_csv_module_with_every_key_and_the_failed_account():
    keys = [
        key('=HYPERLINK("http://x")', "AKIA1", "deactivated", reason='unused, "really"\nfor long'),
        key("slot-user", None, slot=2, last_used_date="2026-11-30T10:00:00+00:00", days_since_last_use=2),
        key("quiet", "AKIA3"),
    ]
    model = build([entry("111111111111", "prod,main", policy_result(keys)), entry("2", None, error="-denied")], {})
    text = render_csv(model)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert [(r["account_id"], r["user_name"], r["access_key_id"], r["slot"], r["action"]) for r in records] == [
        ("2", "", "", "", "not_swept"),
        ("111111111111", '\'=HYPERLINK("http://x")', "AKIA1", "", "deactivated"),
        ("111111111111", "quiet", "AKIA3", "", "none"),
        ("111111111111", "slot-user", "", "2", "none"),
    ]
    assert records[0]["reason"] == "'-denied"
    assert records[1]["reason"] == 'unused, "really"\nfor long'
    assert records[1]["account_name"] == "prod,main"
    assert (records[1]["status_before"], records[1]["status_after"]) == ("Active", "Inactive")
    assert records[3]["last_used"] == "2026-11-30T10:00:00+00:00" and records[3]["days_unused"] == "2"


def test_a_key_known_only_by_its_report_slot_shows_the_slot_in_the_table():
    keys = [key("slot-user", None, "warned", slot=1, deadline="2026-12-16"), key("named", "AKIA9", "pending")]
    page = render_html(build([entry("1", "a", policy_result(keys))], {}))
    assert "<tr><td>a<td>named<td>AKIA9<td>" in page
    assert (
        '<tr><td>a<td>slot-user<td>slot 1<td>100<td>100<td class="a warned">warned <small>until 2026-12-16</small>'
        in page
    )


def test_the_keys_table_lists_keys_acted_on_in_account_then_user_order_and_says_when_it_is_cut():
    accounts = [
        entry("2", "beta", policy_result([key("zed", "K1", "deactivated"), key("amy", "K2", "exempt")])),
        entry("1", "alpha", policy_result([key("bob", "K3", "warned"), key("al", "K4")])),
    ]
    model = build(accounts, {})
    page = render_html(model)
    body = page.split('<table class="keys">')[1]
    assert [cell.split("<td>")[2] for cell in body.split("<tr>")[2:]] == ["bob", "amy", "zed"]
    cut = render_html(model, table_limit=2)
    assert 'id="truncated">The first 2 of 3 keys are shown; the CSV lists them all.' in cut


def test_the_same_input_gives_the_same_bytes():
    accounts = [entry("1", "a", policy_result([key("u", "K", "deactivated")]))]
    assert render_html(build(accounts, {})) == render_html(build(accounts, {}))
    assert render_csv(build(accounts, {})) == render_csv(build(accounts, {}))


def test_5000_keys_across_100_accounts_stay_under_the_size_limit():
    accounts = []
    for a in range(100):
        keys = [
            key(
                f"service-user-{a:03d}-{k:04d}",
                f"AKIA{a:04d}{k:012d}",
                ("deactivated", "warned", "pending", "exempt")[k % 4],
                reason=f"unused for {k % 900} days, more than 45 days and 14 days of grace",
                deadline="2026-12-16" if k % 4 in (1, 2) else None,
            )
            for k in range(50)
        ]
        accounts.append(entry(f"{a:012d}", f"workload-{a:03d}", policy_result(keys)))
    page = render_html(build(accounts, {}))
    assert page.split('<table class="keys">')[1].count("<tr><td>") == 5000
    assert len(page.encode()) < 1_500_000  # the limit the guide states


def test_input_of_the_wrong_shape_is_one_clear_error():
    with pytest.raises(ReportError, match=r"accounts\[0\] must be a dict with an account_id"):
        build([{"account_name": "x"}], {})
    with pytest.raises(ReportError, match="accounts must be a list"):
        build({"account_id": "1"}, {})
    model = build([entry("1", "x")], {})
    assert model["accounts"][0]["error"].startswith("no result was recorded")


def test_times_read_as_utc_minutes_and_the_run_says_how_long_it_took():
    assert moment("2026-12-02T15:00:59Z") == "2026-12-02 15:00 UTC"
    assert moment("2026-12-02T16:00:00+01:00") == "2026-12-02 15:00 UTC"
    assert moment("yesterday") == "yesterday" and moment(None) is None
    assert duration("2026-12-02T15:00:00Z", "2026-12-02T16:01:10Z") == "1 h 1 min 10 s"
    assert duration("2026-12-02T15:00:00Z", "2026-12-02T15:00:00Z") == "0 s"
    assert duration("2026-12-02T15:00:00Z", "later") is None and duration(None, None) is None
    page = render_html(build([], {"started": "2026-12-02T15:00:00Z", "finished": "2026-12-02T15:01:10Z"}))
    assert "<dd>2026-12-02 15:00 UTC \u2013 2026-12-02 15:01 UTC (1 min 10 s)</dd>" in page


def test_the_page_is_self_contained():
    accounts = [entry("1", "a", policy_result([key("u", "K", "deactivated")])), entry("2", "b", error="x")]
    page = render_html(build(accounts, {"check_mode": True}))
    for outside in ("<script", "<link", "<img", "<iframe", "src=", "href=", "@import", "url(http", "//"):
        assert outside not in page.lower(), outside
    assert "default-src 'none'" in page and "@media print{" in page
    assert 'id="preview">Preview (check mode)' in page
