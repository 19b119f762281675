# Copyright: keyguard.aws contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: accounts
short_description: The accounts of an AWS Organization as hosts, one per account
version_added: 0.2.0
description:
  - Lists the accounts of an AWS Organization and makes one host per account, so that C(forks) and AWX job slicing
    spread a playbook such as C(playbooks/org_cis_sweep.yml) over many accounts.
  - Without O(organizational_units) it pages through C(organizations:ListAccounts). With them it walks each given
    root or OU and every OU below it with C(ListAccountsForParent) and C(ListOrganizationalUnitsForParent)
    (and one C(DescribeOrganizationalUnit) per given OU, for its name), and the hosts get their OU path and a
    group per OU.
  - It makes no AWS call beyond that listing (and the C(sts:AssumeRole) of O(assume_role_arn), if set). Each host
    gets C(ansible_connection=local), since the work runs on the controller with the role in
    C(account_role_arn). Set C(ansible_python_interpreter) to V({{ ansible_playbook_python }}) in the play, as
    C(playbooks/org_cis_sweep.yml) does, so that no interpreter discovery runs for each account.
  - "Host vars: C(account_id), C(account_name), C(account_email), C(account_state), C(account_arn),
    C(account_ou_id) and C(account_ou_path) (V(null) without O(organizational_units)), and C(account_role_arn)
    built from O(role_arn_template). Every value from AWS is marked unsafe, so it is never templated."
  - "C(account_state) is the account's C(State) (see O(account_states)). C(account_status) is deprecated and will
    be removed in 1.0.0: it holds the same value as C(account_state), so an expression such as
    C(account_status == 'ACTIVE') keeps working; use C(account_state)."
  - The credentials must belong to the organization's management account or a delegated administrator for
    AWS Organizations; O(assume_role_arn) or O(profile) can reach it from elsewhere.
  - The source file's name must end with V(accounts.yml) or V(accounts.yaml).
author:
  - keyguard.aws contributors (@keyguard-aws)
requirements:
  - python >= 3.11
  - botocore >= 1.35.0
extends_documentation_fragment:
  - keyguard.aws.connection
  - keyguard.aws.connection.inventory
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; it marks the file as this plugin's source.
    type: str
    required: true
    choices: [keyguard.aws.accounts]
  organizational_units:
    description:
      - Only the accounts under these roots (V(r-xxxx)) or OUs (V(ou-xxxx-xxxxxxxx)), at any depth.
      - Give the root ID to list the whole organization with OU paths and groups.
      - Each root or OU is listed once, whatever the order given, and an account's path starts at the outermost
        given root or OU above it, so listing V(r-xxxx) with one of its OUs changes nothing.
      - Each OU becomes a group named C(ou_) followed by its path from the given root or OU, lowercase, with
        characters other than letters, digits and V(_) replaced by V(_), for example C(ou_root_workloads_prod).
        An OU's group is a child of its parent OU's group.
      - When different OUs would get the same group name (V(a_b) and V(a/b), V(Prod) and V(prod)), each gets its
        OU ID appended, for example C(ou_root_a_b_ou_ab12_11111111), with a warning.
    type: list
    elements: str
    default: []
  account_states:
    description:
      - Only accounts in these states, from the C(State) of Organizations' C(Account) object.
      - V(SUSPENDED) and V(CLOSED) accounts cannot be reached, so they are left out by default. V(CLOSED) is an
        account in its 90 days after closure; V(PENDING_ACTIVATION) one that AWS has not activated yet.
      - Where Organizations sends no C(State) (an older endpoint or a stand-in), the retired C(Status) is read
        instead; its values V(ACTIVE), V(SUSPENDED) and V(PENDING_CLOSURE) mean the same states.
    type: list
    elements: str
    choices: [PENDING_ACTIVATION, ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED]
    default: [ACTIVE]
    version_added: 0.2.0
  account_statuses:
    description:
      - Deprecated, use O(account_states). It filters on the same states, named as by the C(Status) field that AWS
        retired on 2026-09-09.
      - V(ACTIVE) and V(PENDING_CLOSURE) select the same states of O(account_states); V(SUSPENDED) selects
        V(SUSPENDED) and V(CLOSED), since C(Status) called a closed account V(SUSPENDED).
      - Cannot be combined with O(account_states).
    type: list
    elements: str
    choices: [ACTIVE, SUSPENDED, PENDING_CLOSURE]
    deprecated:
      why: AWS retired the Status field of the Organizations Account object on 2026-09-09; State replaces it.
      version: 1.0.0
      alternatives: account_states
  include_accounts:
    description: Only these account IDs (12 digits, quoted in YAML).
    type: list
    elements: str
    default: []
  exclude_accounts:
    description: Never these account IDs, for example the management account.
    type: list
    elements: str
    default: []
  account_name_pattern:
    description:
      - Only accounts whose name matches this Python regular expression anywhere; anchor it with V(^) and V($)
        to match the whole name, for example V(^prod-).
    type: str
  hostname:
    description:
      - What names the host. Account IDs are unique and never change; names are easier to read but may change,
        and two accounts with the same name make the inventory fail.
      - A name with characters that host patterns read as syntax (spaces, V(,), V(:), V(*), V(?), V(!), V(&),
        V([), V(])) draws a warning, since C(--limit) cannot select that host by name.
    type: str
    choices: [id, name]
    default: id
  role_arn_template:
    description:
      - The role to assume in each account, put in the host var C(account_role_arn). The fields V({partition}),
        V({account_id}) and V({account_name}) are filled in per account.
      - V({account_id}) must be the ARN's account, so that each host works in its own account.
      - Pass it to the modules with O(keyguard.aws.iam_access_key_status#module:assume_role_arn), for example in
        C(module_defaults) for C(group/keyguard.aws.aws).
    type: str
    default: "arn:{partition}:iam::{account_id}:role/OrganizationAccountAccessRole"
notes:
  - "Permissions: C(organizations:ListAccounts); with O(organizational_units), C(organizations:ListAccountsForParent),
    C(organizations:ListOrganizationalUnitsForParent) and C(organizations:DescribeOrganizationalUnit)."
  - With O(cache=true), a cached listing is used until O(cache_timeout) passes or C(--flush-cache) is given.
    There is one per source file, set of O(organizational_units), and identity (O(access_key), O(profile),
    O(region), O(endpoint_url), O(assume_role_arn), E(AWS_PROFILE), E(AWS_ACCESS_KEY_ID), E(AWS_ENDPOINT_URL),
    E(AWS_ENDPOINT_URL_ORGANIZATIONS)), hashed into the cache key; no secret goes in, not even a URL's password.
    The filters apply to the cached listing.
"""

EXAMPLES = r"""
# org.accounts.yml: every ACTIVE account, named by ID, reached from the management account's credentials
plugin: keyguard.aws.accounts

# prod.accounts.yml: the accounts under two OUs, named by account name, with a custom role and groups
plugin: keyguard.aws.accounts
organizational_units: [ou-ab12-11111111, ou-ab12-22222222]
exclude_accounts: ["111122223333"]
account_name_pattern: "^prod-"
hostname: name
role_arn_template: "arn:{partition}:iam::{account_id}:role/KeyguardAudit"
assume_role_arn: arn:aws:iam::999988887777:role/OrganizationsReadOnly
keyed_groups:
  - key: account_email.split('@')[1]
    prefix: domain
compose:
  ansible_host: account_id
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/keyguard-accounts
cache_timeout: 3600
"""

import hashlib
import json
import os
import re
from urllib.parse import urlsplit

from ansible import constants as C
from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.keyguard.aws.plugins.module_utils._aws import (
    CONNECTION_ARGS,
    HAS_BOTOCORE,
    KeyguardError,
    connect,
    redact,
    safe_url,
    validate_connection,
)
from ansible_collections.keyguard.aws.plugins.module_utils._organizations import (
    DEFAULT_ROLE_ARN_TEMPLATE,
    host_vars,
    list_accounts,
    select_accounts,
    validate_options,
    walk_units,
)

OPTIONS = (
    "organizational_units",
    "account_states",
    "account_statuses",
    "include_accounts",
    "exclude_accounts",
    "account_name_pattern",
    "hostname",
    "role_arn_template",
)
# Who lists and where: part of the cache key, so that another identity or endpoint never gets this one's listing.
IDENTITY_OPTIONS = ("access_key", "profile", "region", "endpoint_url", "assume_role_arn")
IDENTITY_ENV = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ORGANIZATIONS")
CACHE_FORMAT = 3  # bumped when the cached listing's shape changes (2: OuIds; 3: {accounts, units})
# Characters that a host pattern (--limit, hosts:) reads as syntax, not as part of a name.
PATTERN_CHARACTERS = re.compile(r"[\s,:!&*?\[\]~]|^[@^]")

display = Display()


def report_own_deprecations():
    """Show the deprecation of an option this source set, where ansible-core left it queued and unshown.

    ansible-core 2.19 and later report a plugin's deprecated options as it reads them. Before, the queue was shown
    once, when the command started, before any inventory source was read: a 2.16 user would never be told.
    """
    for entry in [entry for entry in C.config.DEPRECATED if entry[0] == "account_statuses"]:
        C.config.DEPRECATED.remove(entry)
        display.deprecated(
            "The account_statuses option of keyguard.aws.accounts: AWS retired the Status field of the "
            "Organizations Account object on 2026-09-09; State replaces it. Alternatives: account_states.",
            version="1.0.0",
            collection_name="keyguard.aws",
        )


def url_secrets(params):
    """Return the passwords (and user:password parts) of every URL the listing may go through, to scrub from messages."""
    urls = [params.get("endpoint_url"), *((params.get("aws_config") or {}).get("proxies") or {}).values()]
    urls += [
        os.environ.get(name) for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ORGANIZATIONS", "AWS_ENDPOINT_URL_STS")
    ]
    urls += [os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")]
    secrets = []
    for url in urls:
        if not isinstance(url, str) or "@" not in url:
            continue
        try:
            parts = urlsplit(url)
            secrets += [parts.netloc.rpartition("@")[0], parts.password]
        except ValueError:  # not a URL that urlsplit can read: scrub whatever precedes its last @
            secrets.append(url.rpartition("@")[0].rpartition("//")[2])
    # The longest first, so that user:password goes whole before its password alone.
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def check_rules(params):
    """Raise KeyguardError for connection options that do not go together, as the modules' argument spec does."""
    if bool(params.get("access_key")) != bool(params.get("secret_key")):
        raise KeyguardError("access_key and secret_key go together: set both, or neither.")
    if params.get("session_token") and not params.get("access_key"):
        raise KeyguardError("session_token needs access_key and secret_key.")
    if params.get("profile") and params.get("access_key"):
        raise KeyguardError("profile and access_key are mutually exclusive: set one of them.")
    if params.get("assume_role_external_id") and not params.get("assume_role_arn"):
        raise KeyguardError("assume_role_external_id needs assume_role_arn.")


def group_name(path):
    """Return the inventory group name of an OU path."""
    return "ou_" + re.sub(r"[^a-z0-9_]", "_", "_".join(path).lower())


def unit_groups(paths):
    """Return {OU ID: group name} for every OU listed ({OU ID: path of names}), each name unique.

    Different OUs can fold to one name (Prod and prod, a_b and a/b, accented letters): each of those gets its
    OU ID appended, so that a group never holds the accounts of another OU. The names depend on every OU listed,
    never on which accounts pass the filters, so a group keeps its name whatever the filters select.
    """
    owners = {}
    for unit_id, path in paths.items():
        owners.setdefault(group_name(path), []).append(unit_id)
    groups = {}
    for name, unit_ids in owners.items():
        for unit_id in unit_ids:
            groups[unit_id] = name if len(unit_ids) == 1 else f"{name}_{unit_id.replace('-', '_')}"
        if len(unit_ids) > 1:
            display.warning(
                f"keyguard.aws.accounts: OUs {', '.join(sorted(unit_ids))} would all be group {name}; each group "
                "is named with its OU ID appended instead."
            )
    return groups


def cache_suffix(params, options):
    """Return a digest of what the listing depends on: the OUs asked for and the identity and endpoint listing them.

    No secret goes in: access key IDs, profile names, role ARNs and URLs only, and only as a hash.
    """
    identity = {name: params.get(name) for name in IDENTITY_OPTIONS}
    identity.update({name: os.environ.get(name) for name in IDENTITY_ENV})
    # A URL's user:password@ says how to get through, not who lists or where: keep it out of the cache file's name.
    identity = {name: safe_url(value) if "url" in name.lower() and value else value for name, value in identity.items()}
    listing = {"units": sorted(set(options["organizational_units"] or [])), "format": CACHE_FORMAT}
    blob = json.dumps([identity, listing], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """One host per account of an AWS Organization."""

    NAME = "keyguard.aws.accounts"

    def verify_file(self, path):
        """Return whether the file is this plugin's: its name ends with accounts.yml or accounts.yaml."""
        return super().verify_file(path) and path.endswith(("accounts.yml", "accounts.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        """Read the source, list (or take from the cache) the accounts, and add their hosts and groups."""
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        report_own_deprecations()
        options = {name: self.get_option(name) for name in OPTIONS}
        params = {name: self.get_option(name) for name in CONNECTION_ARGS}
        try:
            # Read from the source itself: ansible-core 2.19.0's get_option_and_origin() calls every option that the
            # source sets "default", so the check never fired there.
            if options["account_statuses"] and "account_states" in (config or {}):
                raise KeyguardError("account_states and account_statuses (deprecated) both set; keep account_states.")
            validate_options(options)
            check_rules(params)
            validate_connection(params)
            listing = self._accounts(path, params, options, cache)
            self._populate(select_accounts(listing["accounts"], options), unit_groups(listing["units"]), options)
        except KeyguardError as err:
            secrets = [params.get("secret_key"), params.get("session_token"), *url_secrets(params)]
            message = redact(str(err), secrets)
            raise AnsibleParserError(f"keyguard.aws.accounts: {message}") from None

    def _accounts(self, path, params, options, cache):
        """Return the listing ({accounts, units}), from the inventory cache when it is on and fresh."""
        cache_key = f"{self.get_cache_key(path)}_{cache_suffix(params, options)}"
        use_cache = self.get_option("cache") and cache
        if use_cache:
            try:
                return self._cache[cache_key]
            except KeyError:
                pass  # not cached yet, or expired
        listing = self._list(params, options)
        if self.get_option("cache"):
            self._cache[cache_key] = listing
        return listing

    def _list(self, params, options):
        """Return {accounts, units}: the accounts as AWS lists them (all, or those under the given OUs), and the OUs."""
        if not HAS_BOTOCORE:
            raise KeyguardError("the botocore Python library is required on the controller; pip install botocore.")
        connection = connect(params, service="organizations")
        try:
            units = options["organizational_units"]
            accounts, paths = walk_units(connection.client, units) if units else (list_accounts(connection.client), {})
        except KeyguardError as err:
            raise KeyguardError(redact(str(err), connection.secrets), err.code) from None
        # JSON-safe for the cache: the listing's datetimes become text.
        accounts = [{k: to_native(v) if k == "JoinedTimestamp" else v for k, v in a.items()} for a in accounts]
        return {"accounts": accounts, "units": paths}

    def _populate(self, accounts, groups, options):
        """Add one host per account, its vars, its OU groups, and the constructed groups and vars."""
        template = options["role_arn_template"] or DEFAULT_ROLE_ARN_TEMPLATE
        strict = self.get_option("strict")
        names = {}
        for account in accounts:
            # Everything here comes from AWS (an account's name is anyone's choice): never a template.
            hostvars = wrap_var(host_vars(account, template))
            name = account["Id"] if options["hostname"] == "id" else account.get("Name") or account["Id"]
            if name in names:
                raise KeyguardError(
                    f"hostname: accounts {names[name]} and {account['Id']} are both named {name!r}; "
                    "set hostname: id, or filter one out."
                )
            if PATTERN_CHARACTERS.search(name):
                display.warning(
                    f"keyguard.aws.accounts: host {name!r} (account {account['Id']}) has characters that --limit "
                    "and hosts: read as a pattern, so they cannot select it by name; use a group, or hostname: id."
                )
            names[name] = account["Id"]
            self.inventory.add_host(name)
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            self.inventory.set_variable(name, "ansible_connection", "local")
            self._add_ou_groups(name, [groups[unit_id] for unit_id in account.get("OuIds") or []])
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)

    def _add_ou_groups(self, host, path):
        """Put the host in its OU's group, each OU's group being a child of its parent's."""
        parent = None
        for name in path:
            group = self.inventory.add_group(name)
            if parent is not None:
                self.inventory.add_child(parent, group)
            parent = group
        if parent is not None:
            self.inventory.add_host(host, group=parent)
