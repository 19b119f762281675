"""Property tests: no input, however hostile, gets past validation unnamed, reaches AWS, or shows a traceback."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.keyguard.aws.plugins.modules import iam_access_key_status as module
from ansible_collections.keyguard.aws.tests.unit.plugins.modules.task_args import controller_args, patch_module_args

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
VALID = {"access_key_id": KEY_ID, "status": "Inactive"}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text as YAML and JSON can carry it: any Unicode but lone surrogates.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
HOSTILE = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "\n",
        "AKIA IOSFODNN7EXAMPLE",
        " AKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNN7EXAMPLE\n",
        "ＡＫＩＡＩＯＳＦＯＤＮＮ７ＥＸＡＭＰＬＥ",
        "AKIAIOSFODNN7EXAMPLE'; DROP TABLE keys;--",
        "$(curl 127.0.0.1)",
        "{{ lookup('env', 'HOME') }}",
        "../../etc/passwd",
        "A" * 129,
        "x" * 10_000,
        "Expired",
        "active",
        "INACTIVE",
        "Active ",
        "null",
    ]
)
WRONG_TYPES = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=3),
)


NUL_REFUSAL = "Failed to log to syslog (embedded null character)."


class ReachedConnect(Exception):
    """Raised instead of connecting: validation let the input through."""


@pytest.fixture
def tripwire(monkeypatch):
    """Make any attempt to create an AWS client raise ReachedConnect."""

    def connect(params, max_pool_connections=None):
        raise ReachedConnect()

    monkeypatch.setattr(module, "connect", connect)


def run_main(args):
    """Run main() with these args; return its JSON result, or None if it got as far as connecting."""
    out = io.StringIO()
    try:
        with patch_module_args(controller_args(args)), redirect_stdout(out), pytest.raises(SystemExit):
            module.main()
    except ReachedConnect:
        return None
    return json.loads(out.getvalue())


def assert_refused(args, option):
    """Assert the module failed before connecting, naming `option`, without a traceback."""
    result = run_main(args)
    assert result is not None, f"{option}={args.get(option)!r} got through to AWS"
    assert result["failed"] is True
    if "\x00" in str(args.get(option)) and result["msg"].startswith(NUL_REFUSAL):
        return  # ansible-core 2.21 refuses a NUL while logging the call, before any module code can name the option
    assert option in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]
    assert "exception" not in result


def invalid(pattern):
    """Return hostile or random text that does not fully match `pattern`."""
    return st.one_of(HOSTILE, TEXT).filter(lambda value: not re.fullmatch(pattern, value))


@SETTINGS
@given(value=invalid(r"[A-Za-z0-9_]{16,128}"))
def test_access_key_id(tripwire, value):
    assert_refused(dict(VALID, access_key_id=value), "access_key_id")


@SETTINGS
@given(value=invalid(r"[A-Za-z0-9_+=,.@-]{1,128}"))
def test_user_name(tripwire, value):
    assert_refused(dict(VALID, user_name=value), "user_name")


@SETTINGS
@given(value=st.one_of(HOSTILE, TEXT).filter(lambda value: value not in ("Active", "Inactive")))
def test_status(tripwire, value):
    assert_refused(dict(VALID, status=value), "status")


@SETTINGS
@given(value=invalid(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"))
def test_region(tripwire, value):
    assert_refused(dict(VALID, region=value), "region")


@SETTINGS
@given(value=invalid(r"https?://[^\s/?#]+[^\s]*"))
def test_endpoint_url(tripwire, value):
    assert_refused(dict(VALID, endpoint_url=value), "endpoint_url")


@SETTINGS
@given(value=invalid(r"[A-Za-z0-9_]{16,128}"))
def test_access_key(tripwire, value):
    assert_refused(dict(VALID, access_key=value, secret_key="s3cr3t"), "access_key")


@SETTINGS
@given(
    option=st.sampled_from(["secret_key", "session_token"]), value=st.sampled_from(["", " ", "a b", "tok\n", "\x00x"])
)
def test_secret_values(tripwire, option, value):
    args = dict(VALID, access_key=KEY_ID, secret_key="s3cr3t")
    assert_refused(dict(args, **{option: value}), option)


@SETTINGS
@given(
    option=st.sampled_from(["access_key_id", "user_name", "status", "region", "endpoint_url", "profile"]),
    value=WRONG_TYPES,
)
def test_wrong_types(tripwire, option, value):
    assert_refused(dict(VALID, **{option: value}), option)


@SETTINGS
@given(value=st.one_of(st.dictionaries(TEXT.filter(str.isidentifier), st.integers(), min_size=1), TEXT, WRONG_TYPES))
def test_aws_config(tripwire, value):
    known = {"read_timeout", "connect_timeout", "max_pool_connections", "retries", "region_name"}
    if isinstance(value, dict) and set(value) <= known:
        result = run_main(dict(VALID, aws_config=value))  # botocore's own settings: it may accept or refuse them
        assert result is None or ("aws_config" in result["msg"] and "Traceback" not in result["msg"]), result
        return
    assert_refused(dict(VALID, aws_config=value), "aws_config")


@SETTINGS
@given(
    access_key_id=st.from_regex(r"[A-Za-z0-9_]{16,128}", fullmatch=True),
    user_name=st.none() | st.from_regex(r"[A-Za-z0-9_+=,.@-]{1,128}", fullmatch=True),
    status=st.sampled_from(["Active", "Inactive"]),
)
def test_every_valid_input_gets_through(tripwire, access_key_id, user_name, status):
    args = {"access_key_id": access_key_id, "user_name": user_name, "status": status}
    assert run_main(args) is None
