"""An AWS Organization on a moto server: OUs, member accounts, and IAM users with keys made inside each account.

moto keeps accounts apart and maps the credentials of sts:AssumeRole to the role's account, so a client made from
credentials assumed into a member account creates users and keys in that account only. Used by the tests, the
organization demo and the benchmark.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3

ROLE_NAME = "OrganizationAccountAccessRole"
# Fields AWS no longer sends, by JSON-protocol service (X-Amz-Target prefix) and the answer keys that hold them.
# Organizations' Account.Status was retired on 2026-09-09 (State replaces it); moto still sends it.
RETIRED = {"AWSOrganizationsV20161128": {"Account": "Status", "Accounts": "Status"}}


def drop_retired(target, payload):
    """Return a JSON answer of the X-Amz-Target `target` without the fields that AWS has retired."""
    retired = RETIRED.get(target.partition(".")[0])
    if not retired or not payload:
        return payload
    try:
        answer = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(answer, dict):
        return payload
    for key, field in retired.items():
        value = answer.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                item.pop(field, None)
    return json.dumps(answer).encode()


class OrganizationsToday:
    """A proxy on 127.0.0.1 in front of moto that answers Organizations as AWS does today (no Account.Status)."""

    def __init__(self, target):
        """Start serving on a free loopback port, forwarding to `target` (moto's URL)."""
        upstream = urlsplit(target)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                connection.request("POST", self.path, body, dict(self.headers))
                response = connection.getresponse()
                payload = drop_retired(self.headers.get("X-Amz-Target", ""), response.read())
                connection.close()
                self.send_response(response.status)
                self.send_header("Content-Type", response.getheader("Content-Type", "application/x-amz-json-1.1"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class MotoOrganization:
    """An organization on moto, made and read back with the management account's credentials."""

    def __init__(self, url, key, secret):
        self.url = url
        self.credentials = dict(aws_access_key_id=key, aws_secret_access_key=secret)
        self.organizations = self.client("organizations")
        self.organizations.create_organization(FeatureSet="ALL")
        self.root_id = self.organizations.list_roots()["Roots"][0]["Id"]
        self.management_id = self.organizations.describe_organization()["Organization"]["MasterAccountId"]

    def client(self, service, **credentials):
        """Return a boto3 client of `service` on moto, with these credentials or the management account's."""
        return boto3.client(
            service, endpoint_url=self.url, region_name="us-east-1", **(credentials or self.credentials)
        )

    def unit(self, name, parent_id=None):
        """Create an OU under `parent_id` (the root by default); return its ID."""
        unit = self.organizations.create_organizational_unit(ParentId=parent_id or self.root_id, Name=name)
        return unit["OrganizationalUnit"]["Id"]

    def account(self, name, unit_id=None):
        """Create a member account, in the OU `unit_id` if given; return its ID."""
        email = f"{name}@example.com"
        status = self.organizations.create_account(AccountName=name, Email=email)["CreateAccountStatus"]
        account_id = status["AccountId"]
        if unit_id:
            self.organizations.move_account(
                AccountId=account_id, SourceParentId=self.root_id, DestinationParentId=unit_id
            )
        return account_id

    def close(self, account_id):
        """Close a member account: Organizations reports it SUSPENDED from then on."""
        self.organizations.close_account(AccountId=account_id)

    def role_arn(self, account_id, role=ROLE_NAME):
        """Return the ARN of the role the sweep assumes in this account."""
        return f"arn:aws:iam::{account_id}:role/{role}"

    def member(self, account_id, service="iam"):
        """Return a client of `service` acting inside the account, through credentials assumed into its role."""
        sts = self.client("sts")
        assumed = sts.assume_role(RoleArn=self.role_arn(account_id), RoleSessionName="seed")["Credentials"]
        return self.client(
            service,
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
        )

    def keys(self, account_id):
        """Return {access_key_id: (user_name, status)} of every key in the account, read from its IAM."""
        iam = self.member(account_id)
        found = {}
        for page in iam.get_paginator("list_users").paginate():
            for user in page["Users"]:
                for key in iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]:
                    found[key["AccessKeyId"]] = (user["UserName"], key["Status"])
        return found
