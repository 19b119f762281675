# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS Organizations accounts for the accounts inventory: one function per listing, pure filters and host vars."""

from __future__ import annotations

import json
import re
import string

try:
    from botocore import __version__ as BOTOCORE_VERSION
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - the inventory plugin reports botocore missing before any of this runs
    BotoCoreError = ClientError = None
    BOTOCORE_VERSION = None

from ansible_collections.keyguard.aws.plugins.module_utils._aws import ROLE_ARN_PATTERN, KeyguardError, safe_url

try:
    from botocore.parsers import ResponseParserError
except ImportError:  # pragma: no cover
    ResponseParserError = None

ACCOUNT_ID_PATTERN = re.compile(r"\d{12}")
# Organizations' own ID shapes: a root r-xxxx, an OU ou-xxxx-yyyyyyyy.
UNIT_ID_PATTERN = re.compile(r"r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}")
DEFAULT_ROLE_ARN_TEMPLATE = "arn:{partition}:iam::{account_id}:role/OrganizationAccountAccessRole"
TEMPLATE_FIELDS = ("partition", "account_id", "account_name")
# The account's lifecycle as Organizations' Account.State gives it; Account.Status was retired on 2026-09-09.
STATES = ("PENDING_ACTIVATION", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "CLOSED")
# The retired Status values, and the States each one covers: a closed account was SUSPENDED under Status.
STATUSES = {"ACTIVE": ("ACTIVE",), "SUSPENDED": ("SUSPENDED", "CLOSED"), "PENDING_CLOSURE": ("PENDING_CLOSURE",)}
DEFAULT_STATES = ("ACTIVE",)


def validate_options(options):
    """Raise KeyguardError naming the first inventory option whose value cannot work."""
    for unit_id in options.get("organizational_units") or []:
        if not isinstance(unit_id, str) or not UNIT_ID_PATTERN.fullmatch(unit_id):
            raise KeyguardError(
                f"organizational_units: {unit_id!r} is not a root ID (r-xxxx) or an OU ID (ou-xxxx-xxxxxxxx)."
            )
    for name in ("include_accounts", "exclude_accounts"):
        for account_id in options.get(name) or []:
            if not isinstance(account_id, str) or not ACCOUNT_ID_PATTERN.fullmatch(account_id):
                raise KeyguardError(
                    f"{name}: {account_id!r} is not an AWS account ID (12 digits; quote it in YAML to keep "
                    "leading zeros)."
                )
    for state in options.get("account_states") or []:
        if state not in STATES:
            raise KeyguardError(f"account_states: {state!r} is not one of {', '.join(STATES)}.")
    for status in options.get("account_statuses") or []:
        if status not in STATUSES:
            raise KeyguardError(
                f"account_statuses: {status!r} is not one of {', '.join(STATUSES)}; account_statuses is deprecated, "
                f"use account_states ({', '.join(STATES)})."
            )
    if options.get("account_name_pattern") is not None:
        try:
            re.compile(options["account_name_pattern"])
        except re.error as exc:
            raise KeyguardError(f"account_name_pattern is not a valid regular expression: {exc}.") from None
    validate_template(options.get("role_arn_template") or DEFAULT_ROLE_ARN_TEMPLATE)


def validate_template(template):
    """Raise KeyguardError unless the template only uses known fields and yields an IAM role ARN."""
    try:
        fields = {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise KeyguardError(f"role_arn_template cannot be formatted: {exc}.") from None
    unknown = sorted(fields - set(TEMPLATE_FIELDS))
    if unknown:
        raise KeyguardError(
            f"role_arn_template uses {{{unknown[0]}}}; it may use only {{partition}}, {{account_id}} and "
            "{account_name}."
        )
    sample = template.format(partition="aws", account_id="123456789012", account_name="example")
    match = ROLE_ARN_PATTERN.fullmatch(sample)
    if not match:
        raise KeyguardError(
            f"role_arn_template must give an IAM role ARN such as {DEFAULT_ROLE_ARN_TEMPLATE} (got {template!r})."
        )
    other = ROLE_ARN_PATTERN.fullmatch(template.format(partition="aws", account_id="210987654321", account_name="x"))
    if (match.group(2), other and other.group(2)) != ("123456789012", "210987654321"):
        # Otherwise every host would assume the same role, sweep one account, and report each as done.
        raise KeyguardError(
            "role_arn_template must have {account_id} as the ARN's account, as in "
            f"{DEFAULT_ROLE_ARN_TEMPLATE}, so that each host works in its own account (got {template!r})."
        )


def read_state_from_the_wire(client):
    """Make an older botocore keep Account.State, which its model lacks, in every listing of accounts.

    botocore parses only the members its model knows and models State from 1.40.27 on; an older one would hand back
    accounts with neither State nor the retired Status. AWS still sends State in the JSON, so take it from there.
    """
    if "State" in client.meta.service_model.shape_for("Account").members:
        return
    for operation in ("ListAccounts", "ListAccountsForParent"):
        client.meta.events.register(
            f"after-call.organizations.{operation}", _add_states, unique_id=f"keyguard-account-state-{operation}"
        )


def _add_states(http_response, parsed, **kwargs):
    """Copy each account's State from the raw JSON answer into botocore's parsed one, matched by account ID."""
    try:
        raw = json.loads(http_response.content or b"{}")
        states = {item["Id"]: item["State"] for item in raw.get("Accounts") or [] if "State" in item}
    except (ValueError, TypeError, KeyError, AttributeError):
        return  # not an Organizations answer: paginate() names it
    for account in parsed.get("Accounts") or []:
        if "State" not in account and account.get("Id") in states:
            account["State"] = states[account["Id"]]


def paginate(client, operation, key, **params):
    """Return every item under `key` of all pages of one Organizations listing; raise KeyguardError."""
    read_state_from_the_wire(client)
    try:
        items = []
        for page in client.get_paginator(operation).paginate(**params):
            items.extend(page[key])
    except (ResponseParserError, KeyError, TypeError, AttributeError):
        # botocore's JSON parser meets a body it cannot map onto the model (a JSON array, a string where a list
        # belongs) with AttributeError or TypeError rather than its own ResponseParserError.
        raise not_organizations(client, operation) from None
    except (BotoCoreError, ClientError) as exc:
        raise describe_error(exc, operation, client) from None
    # Organizations names every account and OU by an ID of its own shape; an item without one is not its answer.
    shape = ACCOUNT_ID_PATTERN if key == "Accounts" else UNIT_ID_PATTERN
    for item in items:
        named = key == "Accounts" or isinstance(item.get("Name") if isinstance(item, dict) else None, str)
        if not (isinstance(item, dict) and isinstance(item.get("Id"), str) and shape.fullmatch(item["Id"]) and named):
            raise not_organizations(client, operation)
    return items


def list_accounts(client):
    """Return every account of the organization (ListAccounts, paged), with no OU path."""
    return [
        dict(account, OuPath=None, OuIds=None, OuId=None) for account in paginate(client, "list_accounts", "Accounts")
    ]


def unit_name(client, unit_id):
    """Return the display name of a root or OU."""
    if unit_id.startswith("r-"):
        return "Root"
    try:
        return client.describe_organizational_unit(OrganizationalUnitId=unit_id)["OrganizationalUnit"]["Name"]
    except (ResponseParserError, KeyError, TypeError, AttributeError):
        raise not_organizations(client, "describe_organizational_unit") from None
    except (BotoCoreError, ClientError) as exc:
        raise describe_error(exc, "describe_organizational_unit", client) from None


def walk_units(client, unit_ids):
    """Return (accounts, units): the accounts under these roots or OUs and every OU below them, and every OU walked.

    Each OU is listed once, whatever the order of unit_ids and even when one of them lies under another: an
    account's path (OuPath, names; OuIds, IDs) then starts at the outermost given root or OU above it. units maps
    every root and OU walked, with accounts or without, to its path of names, so that group names can depend on
    the OUs alone.
    """
    names, parents, members, order = {}, {}, {}, []
    pending = list(dict.fromkeys(unit_ids))
    while pending:
        unit_id = pending.pop(0)
        if unit_id in members:  # a given OU already reached under another given one
            continue
        order.append(unit_id)
        members[unit_id] = paginate(client, "list_accounts_for_parent", "Accounts", ParentId=unit_id)
        children = paginate(client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=unit_id)
        for child in children:
            names[child["Id"]], parents[child["Id"]] = child["Name"], unit_id
        pending.extend(child["Id"] for child in children if child["Id"] not in members)
    for unit_id in unit_ids:
        if unit_id not in names:  # outermost: no listing named it, so ask (a root needs no call)
            names[unit_id] = unit_name(client, unit_id)
    accounts, seen, units = [], set(), {}
    for unit_id in order:
        ids = [unit_id]
        while ids[0] in parents:
            ids.insert(0, parents[ids[0]])
        units[unit_id] = [names[i] for i in ids]
        for account in members[unit_id]:
            if account["Id"] not in seen:
                seen.add(account["Id"])
                accounts.append(dict(account, OuPath=[names[i] for i in ids], OuIds=ids, OuId=unit_id))
    return accounts, units


def account_state(account):
    """Return the account's State, or where AWS sends none, the State its retired Status stands for."""
    # Status (ACTIVE, SUSPENDED, PENDING_CLOSURE) names the same phases as State, which adds PENDING_ACTIVATION and
    # tells CLOSED from SUSPENDED; an answer with Status alone comes from an older API or a stand-in such as moto.
    return account.get("State") or account.get("Status")


def wanted_states(options):
    """Return the set of States to keep: account_statuses (deprecated) mapped to States if given, else account_states.

    An empty list of either means the default, [ACTIVE], as account_statuses always did: never an empty inventory.
    """
    if options.get("account_statuses"):
        return {state for status in options["account_statuses"] for state in STATUSES[status]}
    return set(options.get("account_states") or DEFAULT_STATES)


def select_accounts(accounts, options):
    """Return the accounts that pass the state, ID and name filters, in listing order."""
    states = wanted_states(options)
    for account in accounts:
        if account_state(account) is None:
            # read_state_from_the_wire() covers a botocore too old to model State; an answer without either field
            # cannot say whether the account is active. Never an empty inventory in silence.
            raise KeyguardError(
                f"Organizations listed account {account.get('Id')} without a State (or the retired Status), so "
                "its state is unknown; check that the endpoint is AWS Organizations'.",
                "NoAccountState",
            )
    include = set(options.get("include_accounts") or [])
    exclude = set(options.get("exclude_accounts") or [])
    pattern = options.get("account_name_pattern")
    return [
        account
        for account in accounts
        if account_state(account) in states
        and (not include or account["Id"] in include)
        and account["Id"] not in exclude
        and (pattern is None or re.search(pattern, account.get("Name", "")))
    ]


def host_vars(account, template):
    """Return the host vars of one account; the role ARN follows the template in the account's partition."""
    arn = (account.get("Arn") or "").split(":")
    partition = arn[1] if len(arn) > 1 and arn[0] == "arn" and arn[1] else "aws"
    fields = dict(partition=partition, account_id=account["Id"], account_name=account.get("Name", ""))
    return dict(
        account_id=account["Id"],
        account_name=account.get("Name"),
        account_email=account.get("Email"),
        account_state=account_state(account),
        account_status=account_state(account),  # deprecated: the name of the retired field, with State's value
        account_arn=account.get("Arn"),
        account_ou_id=account["OuId"],
        account_ou_path="/".join(account["OuPath"]) if account["OuPath"] else None,
        account_role_arn=template.format(**fields),
    )


def action_name(operation):
    """Return the IAM action of a botocore operation name, e.g. organizations:ListAccounts."""
    return "organizations:" + "".join(part.capitalize() for part in operation.split("_"))


def not_organizations(client, operation, status=None):
    """Return the KeyguardError for an answer that is not Organizations' own: a proxy's page, another service."""
    endpoint = safe_url(client.meta.endpoint_url) if client is not None else "the Organizations endpoint"
    answered = f"answered HTTP {status} with" if status else "answered with"
    return KeyguardError(
        f"{action_name(operation)}: {endpoint} {answered} something that is not an Organizations response, perhaps "
        "a proxy's login page or a wrong endpoint. Check endpoint_url, AWS_ENDPOINT_URL_ORGANIZATIONS or "
        "AWS_ENDPOINT_URL, HTTPS_PROXY and NO_PROXY.",
        "NotOrganizations",
    )


def describe_error(exc, operation, client=None):
    """Return a KeyguardError with one line for a botocore exception raised by an Organizations listing."""
    action = action_name(operation)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Unknown"), error.get("Message") or str(exc)
        metadata = exc.response.get("ResponseMetadata", {})
        if (code == "Unknown" or code.isdigit()) and not metadata.get("RequestId"):
            # AWS names every error and gives it a request ID; a bare HTTP status is a proxy's or a gateway's page.
            return not_organizations(client, operation, metadata.get("HTTPStatusCode", code))
        if code == "AWSOrganizationsNotInUseException":
            return KeyguardError(
                f"{action}: the account of these credentials is not in an AWS Organization ({message}).", code
            )
        if code.startswith("AccessDenied"):
            return KeyguardError(
                f"Access denied: these credentials may not call {action}; use the management account or a "
                f"delegated administrator, and grant {action}. AWS said: {message}",
                code,
            )
        return KeyguardError(f"{action} failed ({code}): {message}", code)
    return KeyguardError(f"{action}: {exc}", type(exc).__name__)
