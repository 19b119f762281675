"""Unit tests of the accounts listing: paged calls behind a Stubber, the filters, host vars and option checks."""

from __future__ import annotations

import http.server
import json
import threading

import botocore
import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.keyguard.aws.plugins.module_utils import _organizations
from ansible_collections.keyguard.aws.plugins.module_utils._aws import KeyguardError


def account(account_id, name, state="ACTIVE", partition="aws", status=None):
    """Return an account as Organizations lists it today: with State, and Status (retired) only if given."""
    listed = {
        "Id": account_id,
        "Arn": f"arn:{partition}:organizations::999999999999:account/o-exampleorg/{account_id}",
        "Email": f"{name}@example.com",
        "Name": name,
        "State": state,
        "JoinedMethod": "CREATED",
    }
    if status is not None:
        listed["Status"] = status
    if state is None:
        del listed["State"]
    return listed


def modelled(listed, members):
    """Return the account as a botocore without State in its model hands it over: with Status in its place."""
    if "State" in members:
        return listed
    return {k: v for k, v in dict(listed, Status=listed.get("State")).items() if k in members}


@pytest.fixture
def organizations():
    """Yield (client, stubber) for a real Organizations client; every queued response must be used."""
    client = botocore.session.get_session().create_client(
        "organizations", region_name="us-east-1", aws_access_key_id="AKIAEXAMPLE000000000", aws_secret_access_key="x"
    )
    members = set(client.meta.service_model.shape_for("Account").members)
    add_response = Stubber.add_response

    def add_modelled_response(self, method, response, expected_params=None):
        """Queue the response with only the Account fields this botocore models (1.35 has no State)."""
        if "Accounts" in response:
            response = dict(response, Accounts=[modelled(a, members) for a in response["Accounts"]])
        add_response(self, method, response, expected_params)

    with Stubber(client) as stubber:
        stubber.add_response = add_modelled_response.__get__(stubber)
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_list_accounts_follows_every_page(organizations):
    client, stubber = organizations
    stubber.add_response("list_accounts", {"Accounts": [account("111111111111", "a")], "NextToken": "t1"}, {})
    stubber.add_response("list_accounts", {"Accounts": [account("222222222222", "b")]}, {"NextToken": "t1"})

    accounts = _organizations.list_accounts(client)

    assert [(a["Id"], a["OuPath"], a["OuId"]) for a in accounts] == [
        ("111111111111", None, None),
        ("222222222222", None, None),
    ]


def test_walk_units_lists_each_ou_once_with_its_path(organizations):
    client, stubber = organizations
    top, child = "ou-ab12-11111111", "ou-ab12-22222222"
    stubber.add_response(
        "list_accounts_for_parent", {"Accounts": [account("111111111111", "a")], "NextToken": "p2"}, {"ParentId": top}
    )
    stubber.add_response(
        "list_accounts_for_parent", {"Accounts": [account("222222222222", "b")]}, {"ParentId": top, "NextToken": "p2"}
    )
    stubber.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": [{"Id": child, "Name": "Prod"}]},
        {"ParentId": top},
    )
    stubber.add_response("list_accounts_for_parent", {"Accounts": [account("333333333333", "c")]}, {"ParentId": child})
    stubber.add_response("list_organizational_units_for_parent", {"OrganizationalUnits": []}, {"ParentId": child})
    stubber.add_response(
        "describe_organizational_unit",
        {"OrganizationalUnit": {"Id": top, "Name": "Workloads"}},
        {"OrganizationalUnitId": top},
    )

    accounts, units = _organizations.walk_units(client, [top])

    assert units == {top: ["Workloads"], child: ["Workloads", "Prod"]}
    assert [(a["Id"], a["OuPath"], a["OuIds"], a["OuId"]) for a in accounts] == [
        ("111111111111", ["Workloads"], [top], top),
        ("222222222222", ["Workloads"], [top], top),
        ("333333333333", ["Workloads", "Prod"], [top, child], child),
    ]


@pytest.mark.parametrize("given", [["ou-ab12-22222222", "r-ab12"], ["r-ab12", "ou-ab12-22222222", "r-ab12"]])
def test_walk_units_lists_each_ou_once_and_paths_start_at_the_outermost_given(organizations, given):
    client, stubber = organizations
    root, top, child = "r-ab12", "ou-ab12-11111111", "ou-ab12-22222222"
    tree = {root: ([], [(top, "Workloads")]), top: (["222222222222"], [(child, "Prod")]), child: (["333333333333"], [])}
    # Whatever the order given, each unit is listed once: a given OU under another given one is not walked again.
    order = [child, root, top] if given[0] == child else [root, child, top]
    for unit_id in order:
        members, children = tree[unit_id]
        stubber.add_response(
            "list_accounts_for_parent", {"Accounts": [account(i, i[:1]) for i in members]}, {"ParentId": unit_id}
        )
        stubber.add_response(
            "list_organizational_units_for_parent",
            {"OrganizationalUnits": [{"Id": i, "Name": n} for i, n in children]},
            {"ParentId": unit_id},
        )

    accounts, units = _organizations.walk_units(
        client, given
    )  # no DescribeOrganizationalUnit: Prod was named by its parent

    paths = {a["Id"]: (a["OuPath"], a["OuIds"], a["OuId"]) for a in accounts}
    assert units == {root: ["Root"], top: ["Root", "Workloads"], child: ["Root", "Workloads", "Prod"]}
    assert paths == {
        "222222222222": (["Root", "Workloads"], [root, top], top),
        "333333333333": (["Root", "Workloads", "Prod"], [root, top, child], child),
    }


def test_walk_units_names_a_root_without_a_call(organizations):
    client, stubber = organizations
    stubber.add_response(
        "list_accounts_for_parent", {"Accounts": [account("111111111111", "a")]}, {"ParentId": "r-ab12"}
    )
    stubber.add_response("list_organizational_units_for_parent", {"OrganizationalUnits": []}, {"ParentId": "r-ab12"})

    accounts, units = _organizations.walk_units(client, ["r-ab12"])
    assert [a["OuPath"] for a in accounts] == [["Root"]]
    assert units == {"r-ab12": ["Root"]}


@pytest.mark.parametrize(
    "code, fragment",
    [
        (
            "AccessDeniedException",
            "Access denied: these credentials may not call organizations:ListAccounts; use the management account",
        ),
        (
            "AWSOrganizationsNotInUseException",
            "organizations:ListAccounts: the account of these credentials is not in an AWS Organization",
        ),
        ("TooManyRequestsException", "organizations:ListAccounts failed (TooManyRequestsException): slow down"),
    ],
)
def test_listing_errors_are_one_line_with_the_action(organizations, code, fragment):
    client, stubber = organizations
    stubber.add_client_error("list_accounts", code, "slow down")

    with pytest.raises(KeyguardError) as err:
        _organizations.list_accounts(client)

    assert str(err.value).startswith(fragment)
    assert err.value.code == code and "\n" not in str(err.value)


def test_select_accounts_filters_by_status_id_and_name():
    accounts = [
        account("111111111111", "prod-a"),
        account("222222222222", "prod-b"),
        account("333333333333", "dev"),
        account("444444444444", "prod-closed", state="SUSPENDED"),
    ]
    pick = _organizations.select_accounts

    assert [a["Id"] for a in pick(accounts, {})] == ["111111111111", "222222222222", "333333333333"]
    assert [a["Id"] for a in pick(accounts, {"account_name_pattern": "^prod-"})] == ["111111111111", "222222222222"]
    assert [
        a["Id"]
        for a in pick(
            accounts, {"exclude_accounts": ["222222222222"], "include_accounts": ["222222222222", "333333333333"]}
        )
    ] == ["333333333333"]
    assert [a["Id"] for a in pick(accounts, {"account_states": ["SUSPENDED"]})] == ["444444444444"]


def test_select_accounts_reads_state_and_falls_back_to_status_only_without_it():
    accounts = [
        account("111111111111", "today"),  # as AWS answers since 2026-09-09: State only
        account("222222222222", "both", state="SUSPENDED", status="ACTIVE"),  # State wins where both are sent
        account("333333333333", "older", state=None, status="ACTIVE"),  # no State: the retired Status decides
        account("444444444444", "closed", state="CLOSED"),
        account("555555555555", "new", state="PENDING_ACTIVATION"),
        account("666666666666", "closing", state=None, status="SUSPENDED"),
    ]
    pick = _organizations.select_accounts

    assert [a["Id"] for a in pick(accounts, {})] == ["111111111111", "333333333333"]
    assert [a["Id"] for a in pick(accounts, {"account_states": ["CLOSED", "PENDING_ACTIVATION"]})] == [
        "444444444444",
        "555555555555",
    ]
    # The deprecated option in the retired vocabulary: SUSPENDED covered closed accounts too.
    assert [a["Id"] for a in pick(accounts, {"account_statuses": ["SUSPENDED"]})] == [
        "222222222222",
        "444444444444",
        "666666666666",
    ]
    assert [a["Id"] for a in pick(accounts, {"account_statuses": ["ACTIVE"], "account_states": ["CLOSED"]})] == [
        "111111111111",
        "333333333333",
    ]


def test_an_empty_account_statuses_means_the_default_as_it_always_did():
    # Before account_states, account_statuses: [] kept the ACTIVE accounts; the deprecated alias must not turn it into
    # an empty inventory, and it must read as account_states: [] does.
    accounts = [account("111111111111", "today"), account("444444444444", "closed", state="CLOSED")]
    pick = _organizations.select_accounts

    assert [a["Id"] for a in pick(accounts, {"account_statuses": []})] == ["111111111111"]
    assert [a["Id"] for a in pick(accounts, {"account_statuses": []})] == [
        a["Id"] for a in pick(accounts, {"account_states": []})
    ]


def test_host_vars_build_the_role_in_the_accounts_partition():
    listed = dict(
        account("111111111111", "cn-prod", partition="aws-cn"), OuPath=["Root", "Prod"], OuId="ou-ab12-11111111"
    )

    hostvars = _organizations.host_vars(listed, "arn:{partition}:iam::{account_id}:role/Audit-{account_name}")

    assert hostvars == {
        "account_id": "111111111111",
        "account_name": "cn-prod",
        "account_email": "cn-prod@example.com",
        "account_state": "ACTIVE",
        "account_status": "ACTIVE",
        "account_arn": listed["Arn"],
        "account_ou_id": "ou-ab12-11111111",
        "account_ou_path": "Root/Prod",
        "account_role_arn": "arn:aws-cn:iam::111111111111:role/Audit-cn-prod",
    }


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"organizational_units": ["ou-1"]}, "organizational_units: 'ou-1' is not a root ID"),
        ({"include_accounts": [111111111111]}, "include_accounts: 111111111111 is not an AWS account ID"),
        ({"exclude_accounts": ["1111"]}, "exclude_accounts: '1111' is not an AWS account ID"),
        (
            {"account_statuses": ["CLOSED"]},
            "account_statuses: 'CLOSED' is not one of ACTIVE, SUSPENDED, PENDING_CLOSURE; account_statuses is "
            "deprecated, use account_states (PENDING_ACTIVATION, ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED).",
        ),
        (
            {"account_states": ["active"]},
            "account_states: 'active' is not one of PENDING_ACTIVATION, ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED.",
        ),
        ({"account_name_pattern": "[a-"}, "account_name_pattern is not a valid regular expression"),
        ({"role_arn_template": "arn:aws:iam::{account_id}:role/{region}"}, "role_arn_template uses {region}"),
        ({"role_arn_template": "arn:aws:iam::{account_id:role/X"}, "role_arn_template cannot be formatted"),
        ({"role_arn_template": "arn:aws:iam::{account_id}:role/"}, "role_arn_template must give an IAM role ARN"),
        (
            {"role_arn_template": "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"},
            "role_arn_template must have {account_id} as the ARN's account",
        ),
        (
            {"role_arn_template": "arn:aws:iam::210987654321:role/Audit-{account_id}"},
            "role_arn_template must have {account_id} as the ARN's account",
        ),
    ],
)
def test_bad_inventory_options_name_the_option(options, fragment):
    with pytest.raises(KeyguardError) as err:
        _organizations.validate_options(options)
    assert str(err.value).startswith(fragment)


def test_default_options_are_valid():
    _organizations.validate_options({"role_arn_template": _organizations.DEFAULT_ROLE_ARN_TEMPLATE})


def test_an_account_without_state_or_status_fails_instead_of_an_empty_inventory():
    accounts = [account("111111111111", "a"), account("222222222222", "b", state=None)]

    with pytest.raises(KeyguardError) as err:
        _organizations.select_accounts(accounts, {})

    assert str(err.value) == (
        "Organizations listed account 222222222222 without a State (or the retired Status), so its state is "
        "unknown; check that the endpoint is AWS Organizations'."
    )


class _OrganizationsToday(http.server.BaseHTTPRequestHandler):
    """Answer ListAccounts as AWS does since 2026-09-09: State, and no Status, in two pages."""

    def do_POST(self):  # noqa: N802 - the name http.server calls
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        page = 2 if body.get("NextToken") == "page-2" else 1
        answer = {"Accounts": [account(f"{page}11111111111", f"a{page}", state="SUSPENDED" if page == 2 else "ACTIVE")]}
        if page == 1:
            answer["NextToken"] = "page-2"
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        """Keep the test's output quiet."""


def test_state_is_read_on_every_supported_botocore_even_one_whose_model_lacks_it():
    # botocore before 1.40.27 drops State from its parsed answer (matrix-oldest runs this on 1.35.0).
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OrganizationsToday)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = botocore.session.get_session().create_client(
            "organizations",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            aws_access_key_id="AKIAEXAMPLE000000000",
            aws_secret_access_key="x",
        )
        accounts = _organizations.list_accounts(client)
    finally:
        server.shutdown()

    assert [(a["Id"], a.get("State"), a.get("Status")) for a in accounts] == [
        ("111111111111", "ACTIVE", None),
        ("211111111111", "SUSPENDED", None),
    ]
    assert [a["Id"] for a in _organizations.select_accounts(accounts, {})] == ["111111111111"]


def test_state_from_the_wire_leaves_an_unreadable_answer_to_the_listing():
    class Raw:
        content = b"<html>login</html>"

    parsed = {"Accounts": [{"Id": "111111111111"}]}
    _organizations._add_states(http_response=Raw(), parsed=parsed)
    assert parsed == {"Accounts": [{"Id": "111111111111"}]}


class _FixedAnswer(http.server.BaseHTTPRequestHandler):
    """Answer every request with the JSON body in the server's `body`, with HTTP 200."""

    def do_POST(self):  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers["Content-Length"]))
        action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        data = getattr(self.server, "bodies", {}).get(action, getattr(self.server, "body", "")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        """Keep the test's output quiet."""


@pytest.mark.parametrize(
    "body",
    [
        "[]",  # a JSON array: some other JSON API
        '{"Accounts": "x"}',
        '{"Accounts": [{"State": "ACTIVE", "Name": "no ID"}]}',
        '{"Accounts": [{"Id": "not-an-account", "State": "ACTIVE"}]}',
    ],
)
def test_an_answer_with_json_that_is_not_organizations_is_one_line_naming_the_endpoint(body):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FixedAnswer)
    server.body = body
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    client = botocore.session.get_session().create_client(
        "organizations",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="AKIAEXAMPLE000000000",
        aws_secret_access_key="x",
    )
    try:
        with pytest.raises(KeyguardError) as err:
            _organizations.select_accounts(_organizations.list_accounts(client), {})
        with pytest.raises(KeyguardError) as walked:
            _organizations.walk_units(client, ["r-ab12"])
    finally:
        server.shutdown()

    assert err.value.code == walked.value.code == "NotOrganizations"
    assert str(err.value).startswith(f"organizations:ListAccounts: {endpoint} answered with something that is not")
    assert str(walked.value).startswith(f"organizations:ListAccountsForParent: {endpoint} answered with something")


def test_host_vars_of_an_account_with_an_odd_arn_default_to_the_aws_partition():
    listed = dict(account("111111111111", "odd"), Arn="bogus", OuPath=None, OuId=None)

    assert _organizations.host_vars(listed, _organizations.DEFAULT_ROLE_ARN_TEMPLATE)["account_role_arn"] == (
        "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
    )


def test_a_describe_organizational_unit_answer_that_is_not_organizations_is_one_line():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FixedAnswer)
    server.bodies = {
        "ListAccountsForParent": '{"Accounts": []}',
        "ListOrganizationalUnitsForParent": '{"OrganizationalUnits": []}',
        "DescribeOrganizationalUnit": "[]",
    }
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    client = botocore.session.get_session().create_client(
        "organizations",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="AKIAEXAMPLE000000000",
        aws_secret_access_key="x",
    )
    try:
        with pytest.raises(KeyguardError) as err:
            _organizations.walk_units(client, ["ou-ab12-11111111"])
    finally:
        server.shutdown()

    assert err.value.code == "NotOrganizations"
    assert str(err.value).startswith(f"organizations:DescribeOrganizationalUnit: {endpoint} answered with something")
