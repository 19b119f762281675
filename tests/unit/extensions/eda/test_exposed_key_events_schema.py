"""The shipped argument schema and the source's own argument checks (parse_args) agree, value by value."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ansible_collections.keyguard.aws.extensions.eda.plugins.event_source import exposed_key_events as source

SCHEMA = json.loads((Path(source.__file__).parent / "schemas" / "exposed_key_events.json").read_text(encoding="utf-8"))
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/keyguard-exposed-keys"
SECRETS = {"access_key", "secret_key", "session_token"}


def schema_accepts(args):
    """Return whether the JSON Schema accepts these arguments."""
    return jsonschema.Draft202012Validator(SCHEMA).is_valid(args)


def source_accepts(args):
    """Return whether the source's own checks accept these arguments."""
    try:
        source.parse_args(args)
    except ValueError:
        return False
    return True


def test_the_schema_is_a_valid_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_names_defaults_and_required_fields_agree_with_the_source_and_its_documentation():
    options = yaml.safe_load(source.DOCUMENTATION)["options"]
    names = set(source.STRING_ARGS) | set(source.INT_ARGS) | set(source.LIST_ARGS)
    assert set(SCHEMA["properties"]) == names == set(options)
    assert SCHEMA["required"] == [name for name, spec in options.items() if spec.get("required")] == ["queue_url"]
    for name, spec in SCHEMA["properties"].items():
        assert ("default" in spec) == ("default" in options[name]), name
        if "default" in spec:
            assert spec["default"] == options[name]["default"], name
    assert tuple(SCHEMA["properties"]["guardduty_finding_types"]["default"]) == source.GUARDDUTY_FINDING_TYPES


def test_secrets_and_only_secrets_are_marked_as_passwords():
    marked = {name for name, spec in SCHEMA["properties"].items() if spec.get("format") == "password"}
    assert marked == SECRETS


def test_integer_bounds_are_the_sources_bounds():
    for name, (default, lowest, highest) in source.INT_ARGS.items():
        spec = SCHEMA["properties"][name]
        assert (spec["type"], spec["minimum"], spec["maximum"], spec["default"]) == (
            "integer",
            lowest,
            highest,
            default,
        )


def bound_cases():
    """Yield (case id, arguments) at and just past each integer bound."""
    for name, (_default, lowest, highest) in source.INT_ARGS.items():
        for value in (lowest - 1, lowest, lowest + 1, highest - 1, highest, highest + 1, -1, 10**6):
            yield f"{name}={value}", {"queue_url": QUEUE, name: value}


def type_cases():
    """Yield (case id, arguments) with a value of the right and of each wrong JSON type for every argument."""
    samples = {
        "string": "x",
        "integer": 5,
        "number": 5.5,
        "boolean": True,
        "array": ["UnauthorizedAccess:IAMUser/"],
        "object": {"a": 1},
        "null": None,
    }
    for name in SCHEMA["properties"]:
        for kind, value in samples.items():
            args = {"queue_url": QUEUE, name: value}
            if name == "queue_url":
                args = {name: QUEUE if kind == "string" else value}
            elif name in ("access_key", "secret_key"):
                args.update({"access_key": "AKIAIOSFODNN7EXAMPLE", "secret_key": "wJalr/K7MDENG"}, **{name: value})
            elif name == "session_token":
                args.update({"access_key": "AKIAIOSFODNN7EXAMPLE", "secret_key": "wJalr/K7MDENG"})
            elif name == "endpoint_url" and kind == "string":
                args[name] = "http://127.0.0.1:5000"
            elif name == "region" and kind == "string":
                args[name] = "eu-west-1"
            yield f"{name}:{kind}", args


# Values the source reads although the schema, which describes the typed form a form or a rulebook gives, does not:
# null (YAML's empty value) counts as unset for every optional argument. (A null access_key or secret_key leaves the
# other one alone, which both refuse.)
NULL_IS_UNSET = {
    f"{name}:null" for name in SCHEMA["properties"] if name not in ("queue_url", "access_key", "secret_key")
}
# The source also reads an integer argument given as text, its digits or "" for unset (a templated value); the
# typed schema says integer.
INTEGER_AS_TEXT = {
    f"{name} as {kind}": {"queue_url": QUEUE, name: value}
    for name in source.INT_ARGS
    for kind, value in (("digits", "5"), ("empty text", ""))
}

OTHER_CASES = {
    "only queue_url": {"queue_url": QUEUE},
    "no arguments": {},
    "queue_url empty": {"queue_url": ""},
    "queue_url not a URL": {"queue_url": "sqs/keyguard"},
    "queue_url ftp": {"queue_url": "ftp://example.com/q"},
    "endpoint_url not a URL": {"queue_url": QUEUE, "endpoint_url": "localhost:5000"},
    "region upper case": {"queue_url": QUEUE, "region": "US-EAST-1"},
    "region with a space": {"queue_url": QUEUE, "region": "us east"},
    "region empty counts as unset": {"queue_url": QUEUE, "region": ""},
    "unknown argument": {"queue_url": QUEUE, "queue": "keyguard"},
    "eda_ arguments ansible-rulebook adds": {"queue_url": QUEUE, "eda_queue": "x"},
    "access_key without secret_key": {"queue_url": QUEUE, "access_key": "AKIAIOSFODNN7EXAMPLE"},
    "secret_key without access_key": {"queue_url": QUEUE, "secret_key": "s"},
    "access and secret key": {"queue_url": QUEUE, "access_key": "AKIAIOSFODNN7EXAMPLE", "secret_key": "s"},
    "session_token alone": {"queue_url": QUEUE, "session_token": "t"},
    "all three": {"queue_url": QUEUE, "access_key": "AKIAIOSFODNN7EXAMPLE", "secret_key": "s", "session_token": "t"},
    "profile": {"queue_url": QUEUE, "profile": "security"},
    "profile and keys": {"queue_url": QUEUE, "profile": "p", "access_key": "AKIAIOSFODNN7EXAMPLE", "secret_key": "s"},
    "finding types as a list": {"queue_url": QUEUE, "guardduty_finding_types": ["PenTest:IAMUser/KaliLinux"]},
    "finding types as a string": {
        "queue_url": QUEUE,
        "guardduty_finding_types": "PenTest:IAMUser/, CredentialAccess:IAMUser/AnomalousBehavior",
    },
    "finding type not of GuardDuty's shape": {"queue_url": QUEUE, "guardduty_finding_types": ["IAMUser"]},
    "finding type list holding a number": {"queue_url": QUEUE, "guardduty_finding_types": [1]},
    "finding types string with an empty part": {"queue_url": QUEUE, "guardduty_finding_types": "PenTest:IAMUser/,"},
    # An empty text argument is unset for the combination rules too (the schema took it as set, both ways).
    "access_key empty, secret_key set": {"queue_url": QUEUE, "access_key": "", "secret_key": "s"},
    "profile empty with keys": {
        "queue_url": QUEUE,
        "profile": "",
        "access_key": "AKIAIOSFODNN7EXAMPLE",
        "secret_key": "s",
    },
    "session_token empty without keys": {"queue_url": QUEUE, "session_token": ""},
    "profile and access_key empty": {"queue_url": QUEUE, "profile": "p", "access_key": "", "secret_key": ""},
    # Text with spaces around it or a control character, which the source refuses (the schema took it).
    "profile with spaces around": {"queue_url": QUEUE, "profile": " security "},
    "secret_key with a trailing newline": {
        "queue_url": QUEUE,
        "access_key": "AKIAIOSFODNN7EXAMPLE",
        "secret_key": "s\n",
    },
    "queue_url with a trailing newline": {"queue_url": QUEUE + "\n"},
    "region with a trailing newline": {"queue_url": QUEUE, "region": "us-east-1\n"},
    "endpoint_url with a leading space": {"queue_url": QUEUE, "endpoint_url": " http://127.0.0.1:5000"},
    "access_key with a tab inside": {"queue_url": QUEUE, "access_key": "AKIA\tX", "secret_key": "s"},
    # JSON Schema's integer includes 5.0 (the source refused it).
    "wait_seconds 5.0": {"queue_url": QUEUE, "wait_seconds": 5.0},
    "max_messages 10.5": {"queue_url": QUEUE, "max_messages": 10.5},
}

CASES = dict(bound_cases()) | dict(type_cases()) | OTHER_CASES | INTEGER_AS_TEXT


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_the_schema_accepts_exactly_what_the_source_accepts(request, args):
    case = request.node.callspec.id
    if case in NULL_IS_UNSET or case in INTEGER_AS_TEXT:
        assert (schema_accepts(args), source_accepts(args)) == (False, True)
    else:
        assert schema_accepts(args) == source_accepts(args), args


def test_the_cases_include_both_verdicts_at_every_bound():
    verdicts = {case: source_accepts(args) for case, args in dict(bound_cases()).items()}
    for name, (_default, lowest, highest) in source.INT_ARGS.items():
        assert [verdicts[f"{name}={v}"] for v in (lowest - 1, lowest, highest, highest + 1)] == [
            False,
            True,
            True,
            False,
        ]
