"""Guard against the next retirement: every AWS response field the code reads is current in botocore's model.

FIELDS lists each field that plugins/ and extensions/ read from an AWS answer, as (service, operation, path), the
path walking the operation's output shape through lists and maps. Each one must be a member of the installed
botocore's model, and neither marked deprecated nor documented as retired or deprecated. CI upgrades botocore, so
this test names the next field AWS retires before a user meets an empty answer (as with Account.Status, retired
on 2026-09-09). A second test scans the source so that a newly read field cannot be left out of the list.
"""

from __future__ import annotations

import re
from pathlib import Path

import botocore
import botocore.session
import pytest

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = ("Id", "Name", "Email", "Arn", "State", "JoinedTimestamp")
FIELDS = [
    ("iam", "ListAccessKeys", "AccessKeyMetadata"),
    *[("iam", "ListAccessKeys", f"AccessKeyMetadata.{f}") for f in ("AccessKeyId", "UserName", "Status", "CreateDate")],
    ("iam", "ListUsers", "Users.UserName"),
    ("iam", "ListUsers", "IsTruncated"),
    ("iam", "ListUsers", "Marker"),
    ("iam", "GetAccessKeyLastUsed", "UserName"),
    *[("iam", "GetAccessKeyLastUsed", f"AccessKeyLastUsed.{f}") for f in ("LastUsedDate", "ServiceName", "Region")],
    ("iam", "GenerateCredentialReport", "State"),
    ("iam", "GetCredentialReport", "Content"),
    ("iam", "GetCredentialReport", "GeneratedTime"),
    *[("sts", "AssumeRole", f"Credentials.{f}") for f in ("AccessKeyId", "SecretAccessKey", "SessionToken")],
    *[("organizations", "ListAccounts", f"Accounts.{f}") for f in ACCOUNT],
    *[("organizations", "ListAccountsForParent", f"Accounts.{f}") for f in ACCOUNT],
    ("organizations", "ListOrganizationalUnitsForParent", "OrganizationalUnits.Id"),
    ("organizations", "ListOrganizationalUnitsForParent", "OrganizationalUnits.Name"),
    ("organizations", "DescribeOrganizationalUnit", "OrganizationalUnit.Name"),
    ("sqs", "GetQueueAttributes", "Attributes"),
    *[("sqs", "ReceiveMessage", f"Messages.{f}") for f in ("MessageId", "ReceiptHandle", "Body")],
    ("sqs", "DeleteMessageBatch", "Failed.Id"),
    # the key policy: every user's tags, groups and current path in one paged call, tags, group members, caller
    *[
        ("iam", "GetAccountAuthorizationDetails", f"UserDetailList.{f}")
        for f in ("UserName", "Path", "Arn", "Tags.Key", "Tags.Value", "GroupList")
    ],
    ("iam", "GetAccountAuthorizationDetails", "IsTruncated"),
    ("iam", "GetAccountAuthorizationDetails", "Marker"),
    *[("iam", "ListUserTags", f) for f in ("Tags.Key", "Tags.Value", "IsTruncated", "Marker")],
    *[("iam", "GetGroup", f) for f in ("Users.UserName", "IsTruncated", "Marker")],
    ("sts", "GetCallerIdentity", "Account"),
    ("sts", "GetCallerIdentity", "Arn"),
]
# Retired fields the code still reads, only where the current one is absent: (retired path, current path).
FALLBACKS = {("organizations", "ListAccounts", "Accounts.Status"): "Accounts.State"}
# Names the scan finds that are no field of a response model, and why.
NOT_MODEL_FIELDS = {
    "Error": "botocore's error envelope (ClientError.response)",
    "Code": "botocore's error envelope",
    "Message": "botocore's error envelope; the SNS envelope inside an SQS message body",
    "ResponseMetadata": "botocore's own metadata of every answer",
    "RequestId": "botocore's ResponseMetadata",
    "RetryAttempts": "botocore's ResponseMetadata",
    "HTTPStatusCode": "botocore's ResponseMetadata",
    "OuIds": "the inventory's own key",
    "OuPath": "the inventory's own key",
    "OuId": "the inventory's own key",
    "ExternalId": "a request parameter (sts:AssumeRole), written, not read",
    "Type": "the SNS envelope inside an SQS message body",
    "TopicArn": "the SNS envelope inside an SQS message body",
    "RedrivePolicy": "a key of the SQS Attributes map (a QueueAttributeName, checked below)",
    "User": "a request parameter (GetAccountAuthorizationDetails Filter), written, not read",
    "Skipped": "the sweep report's own column heading",
}
RETIRED = re.compile(r"\b(retired?|deprecated?|no longer (?:returned|supported|available))\b", re.IGNORECASE)
# A field read from a response: .get("X"), ["X"], "X" in ..., and the page key given to the Organizations pager.
READS = re.compile(
    r'\.get\(\s*"([A-Z]\w*)"|\[\s*"([A-Z]\w*)"\s*\]|"([A-Z]\w*)"\s+(?:not\s+)?in\s|paginate\(\s*\w+,\s*"\w+",\s*"([A-Z]\w*)"'
)
# Fields newer than the oldest botocore the collection supports, and the first botocore that models them. An
# older botocore drops them from its parsed answer; the code then reads them from the JSON answer itself.
SINCE = {("organizations", "Accounts.State"): "1.40.27"}


def retiring_sentence(documentation, name):
    """Return the sentence of the documentation that retires or deprecates `name`, or None.

    A sentence that says retired or deprecated counts unless it names other fields only: the list Accounts is
    documented with the note that retires Account.Status, and Accounts itself stays current.
    """
    for sentence in re.split(r"(?<=[.!?])\s+|</p>", documentation):
        if not RETIRED.search(sentence):
            continue
        named = set(re.findall(r"<code>(\w+)</code>", sentence))
        plain = " ".join(re.sub("<[^>]+>", " ", sentence).split())
        if not named or name in named or re.search(rf"\b{name}\b", plain):
            return plain
    return None


def problems(service, operation, path):
    """Return what is wrong with one response field in the installed botocore model: [] when it is current."""
    data = botocore.session.get_session().get_service_data(service)
    shapes = data["shapes"]
    shape_name = data["operations"][operation]["output"]["shape"]
    found = []
    for name in path.split("."):
        shape = shapes[shape_name]
        while shape["type"] in ("list", "map"):
            shape_name = shape["member" if shape["type"] == "list" else "value"]["shape"]
            shape = shapes[shape_name]
        member = shape.get("members", {}).get(name)
        where = f"{service}:{operation} {path} ({shape_name}.{name})"
        if member is None:
            return [f"{where} is not in botocore {botocore.__version__}'s model"]
        target = shapes[member["shape"]]
        if member.get("deprecated") or target.get("deprecated"):
            found.append(f"{where} is marked deprecated")
        for text in (member.get("documentation", ""), target.get("documentation", "")):
            sentence = retiring_sentence(text, name)
            if sentence:
                found.append(f"{where} is documented as {RETIRED.search(sentence).group(0)}: {sentence}")
        shape_name = member["shape"]
    return found


@pytest.mark.parametrize("service, operation, path", FIELDS, ids=[f"{s}:{o}:{p}" for s, o, p in FIELDS])
def test_every_field_the_code_reads_is_current(service, operation, path):
    since = SINCE.get((service, path))
    if since and older_than(since):
        (problem,) = problems(service, operation, path)  # too old a botocore: it cannot read the field at all
        assert problem.endswith(f"is not in botocore {botocore.__version__}'s model")
        return
    assert problems(service, operation, path) == []


def older_than(version):
    """Return whether the installed botocore is older than `version`."""
    return tuple(map(int, botocore.__version__.split("."))) < tuple(map(int, version.split(".")))


def test_the_guard_catches_a_retired_field():
    if older_than(SINCE[("organizations", "Accounts.State")]):  # the support matrix's oldest end
        assert problems("organizations", "ListAccounts", "Accounts.Status") == []  # its model predates the retirement
        return
    (problem,) = problems("organizations", "ListAccounts", "Accounts.Status")
    assert problem.startswith(
        "organizations:ListAccounts Accounts.Status (Account.Status) is documented as retired: "
        "The Status parameter in the Account object will be retired on September 9, 2026."
    )
    assert problems("iam", "ListUsers", "Users.NoSuchField") == [
        f"iam:ListUsers Users.NoSuchField (User.NoSuchField) is not in botocore {botocore.__version__}'s model"
    ]


@pytest.mark.parametrize("fallback", list(FALLBACKS))
def test_a_fallback_is_read_only_for_a_retired_field_whose_replacement_is_current(fallback):
    service, operation, path = fallback
    if older_than(SINCE[("organizations", "Accounts.State")]):
        assert problems(service, operation, path) == []  # a botocore from before the retirement: still current
        return
    assert problems(service, operation, path), f"{path} is current again: read it as a field, not a fallback"
    assert problems(service, operation, FALLBACKS[fallback]) == []


def test_redrive_policy_is_a_queue_attribute_sqs_names():
    data = botocore.session.get_session().get_service_data("sqs")
    assert "RedrivePolicy" in data["shapes"]["QueueAttributeName"]["enum"]


def source_reads():
    """Return {name: [file:line, ...]} of every capitalised name the code reads from a dict, in plugins/ and extensions/."""
    reads = {}
    for path in sorted([*REPO.glob("plugins/**/*.py"), *REPO.glob("extensions/**/*.py")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in READS.finditer(line.split("#")[0]):
                name = next(group for group in match.groups() if group)
                if re.fullmatch(r"[A-Z0-9]+(?:_[A-Z0-9]+)+", name):
                    continue  # an environment variable (os.environ["AWS_CA_BUNDLE"]), not a response field
                reads.setdefault(name, []).append(f"{path.relative_to(REPO)}:{number}")
    return reads


def test_the_list_holds_every_field_the_source_reads():
    listed = {name for entry in [*FIELDS, *FALLBACKS] for name in entry[-1].split(".")}
    reads = source_reads()
    assert {"Accounts", "State", "Status", "ReceiptHandle", "Credentials"} <= set(reads)  # the scan sees them
    unlisted = {name: where for name, where in reads.items() if name not in listed | set(NOT_MODEL_FIELDS)}
    assert unlisted == {}, "add these response fields to FIELDS (or, if no response field, NOT_MODEL_FIELDS)"
