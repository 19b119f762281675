"""Run playbooks/demo.yml against a local moto server standing in for AWS: no credentials needed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
from moto_server import MotoServer

REPO = Path(__file__).resolve().parents[1]
# Made-up credentials: moto accepts any, and they keep the demo from ever reaching real AWS.
DEMO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIADEMOADMIN0000000", "AWS_SECRET_ACCESS_KEY": "demo-secret"}


def main():
    """Start moto, create the users and keys, run the playbook, print the keys as the server holds them."""
    with tempfile.TemporaryDirectory() as workdir, MotoServer(workdir) as moto:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
        env.update(DEMO_CREDENTIALS, AWS_ENDPOINT_URL_IAM=moto.url, AWS_CONFIG_FILE=os.devnull)
        env.update(AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
        env.update(ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_LOCALHOST_WARNING="false")
        env.update(ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_HOME=os.path.join(workdir, "ansible"))
        iam = boto3.client(
            "iam",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id=DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        for user in ("deploy-bot", "intern"):
            iam.create_user(UserName=user)
        old = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
        new = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
        leaked = iam.create_access_key(UserName="intern")["AccessKey"]["AccessKeyId"]
        print(
            f"moto IAM at {moto.url}: deploy-bot has old key {old} and new key {new}; intern has {leaked}\n", flush=True
        )

        command = [str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "playbooks" / "demo.yml")]
        command += ["-e", f"old_key_id={old}", "-e", f"leaked_key_id={leaked}"]
        rc = subprocess.call(command, env=env)

        print("Keys as the server now holds them:")
        for user in ("deploy-bot", "intern"):
            for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
                print(f"  {user:<11} {key['AccessKeyId']}  {key['Status']}")
        return rc


if __name__ == "__main__":
    sys.exit(main())
