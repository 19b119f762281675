"""CA bundles end to end: a TLS front on 127.0.0.1 with its own CA, before moto, and real ansible-playbook runs."""

from __future__ import annotations

import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fault_proxy import FaultProxy
from harness import ADMIN_KEY, ADMIN_SECRET, assert_clean_failure

INFO = "keyguard.aws.iam_access_key_info"


def make_ca(name):
    """Return (private key, certificate) of a self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(*[False] * 5, True, True, False, False), critical=True)  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(ca_key, ca_cert):
    """Return (private key, certificate) for 127.0.0.1, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem(cert):
    """Return a certificate as PEM bytes."""
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_front(moto, tmp_path):
    """Yield (URL of an HTTPS front before moto, path of its CA bundle, path of an unrelated CA bundle)."""
    ca_key, ca_cert = make_ca("keyguard test CA")
    key, cert = make_server_cert(ca_key, ca_cert)
    (tmp_path / "server.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + pem(cert)
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    bundle, other = tmp_path / "ca.pem", tmp_path / "other-ca.pem"
    bundle.write_bytes(pem(ca_cert))
    other.write_bytes(pem(make_ca("some other CA")[1]))
    front = FaultProxy(moto.url, tls=context)
    yield front.url, str(bundle), str(other)
    front.close()


@pytest.fixture
def bob(moto):
    """Return bob's one key, created on moto."""
    return moto.user_with_key("bob")


def keys_seen(run):
    """Return the key IDs the task reported, failing with its output if it failed."""
    assert run.result.get("failed") is not True, run.stdout
    return [key["access_key_id"] for key in run.result["access_keys"]]


SIGNING = dict(access_key=ADMIN_KEY, secret_key=ADMIN_SECRET)


def test_aws_ca_bundle_environment_variable(ansible, tls_front, bob):
    url, bundle, _other = tls_front
    run = ansible.run(
        dict(user_name="bob", include_last_used=False, endpoint_url=url, **SIGNING),
        module=INFO,
        env={"AWS_CA_BUNDLE": bundle},
    )
    assert keys_seen(run) == [bob["AccessKeyId"]]
    assert run.calls == {"ListAccessKeys": 1}


def test_profile_ca_bundle(ansible, tls_front, bob, tmp_path):
    url, bundle, _other = tls_front
    (tmp_path / "aws-config").write_text(f"[profile proxied]\nca_bundle = {bundle}\n")
    (tmp_path / "aws-credentials").write_text(
        f"[proxied]\naws_access_key_id = {ADMIN_KEY}\naws_secret_access_key = {ADMIN_SECRET}\n"
    )
    run = ansible.run(dict(user_name="bob", include_last_used=False, endpoint_url=url, profile="proxied"), module=INFO)
    assert keys_seen(run) == [bob["AccessKeyId"]]


def test_aws_ca_bundle_option_wins_over_the_environment(ansible, tls_front, bob):
    url, bundle, other = tls_front
    args = dict(user_name="bob", include_last_used=False, endpoint_url=url, aws_ca_bundle=bundle, **SIGNING)
    run = ansible.run(args, module=INFO, env={"AWS_CA_BUNDLE": other})
    assert keys_seen(run) == [bob["AccessKeyId"]]


def test_validate_certs_false_skips_verification_even_with_a_wrong_bundle(ansible, tls_front, bob):
    url, _bundle, other = tls_front
    args = dict(user_name="bob", include_last_used=False, endpoint_url=url, aws_ca_bundle=other, **SIGNING)
    run = ansible.run(dict(args, validate_certs=False), module=INFO)
    assert keys_seen(run) == [bob["AccessKeyId"]]


@pytest.mark.parametrize("bundle", ["none", "wrong"])
def test_unverifiable_certificate_is_one_line_naming_the_fix(ansible, tls_front, bob, bundle):
    url, _bundle, other = tls_front
    args = dict(user_name="bob", include_last_used=False, endpoint_url=url, **SIGNING)
    run = ansible.run(dict(args, aws_ca_bundle=other) if bundle == "wrong" else args, module=INFO)
    assert_clean_failure(
        run,
        f"iam:ListAccessKeys: the TLS certificate of the IAM endpoint {url} could not be verified",
        "CERTIFICATE_VERIFY_FAILED",
        "aws_ca_bundle or AWS_CA_BUNDLE",
        "validate_certs: false",
    )
    assert run.calls == {}


# --- the STS call botocore makes to assume a profile's role -----------------------------------------------


def role_profile(tmp_path):
    """Write a profile `deploy` that assumes a role with the static keys of profile `base`."""
    (tmp_path / "aws-config").write_text(
        "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\nsource_profile = base\n"
    )
    (tmp_path / "aws-credentials").write_text(
        f"[base]\naws_access_key_id = {ADMIN_KEY}\naws_secret_access_key = {ADMIN_SECRET}\n"
    )


@pytest.mark.parametrize("verify", ["aws_ca_bundle", "validate_certs"])
def test_verify_options_reach_the_sts_call_that_assumes_the_profiles_role(ansible, moto, tls_front, bob, verify):
    """IAM is plain HTTP here; only STS sits behind the TLS front, so only the assume-role call can fail TLS."""
    url, bundle, other = tls_front
    role_profile(ansible.workdir)
    args = dict(user_name="bob", include_last_used=False, endpoint_url=moto.url, profile="deploy", region="us-east-1")
    args.update(aws_ca_bundle=bundle) if verify == "aws_ca_bundle" else args.update(validate_certs=False)
    # An unrelated bundle in every variable botocore would otherwise fall back on.
    env = {"AWS_ENDPOINT_URL_STS": url, "AWS_CA_BUNDLE": other, "REQUESTS_CA_BUNDLE": other}
    run = ansible.run(args, module=INFO, env=env)
    assert keys_seen(run) == [bob["AccessKeyId"]]
    assert run.calls["AssumeRole"] == 1


def test_unverifiable_sts_certificate_names_the_sts_endpoint(ansible, moto, tls_front, bob):
    url, _bundle, other = tls_front
    role_profile(ansible.workdir)
    args = dict(user_name="bob", include_last_used=False, endpoint_url=moto.url, profile="deploy", region="us-east-1")
    run = ansible.run(args, module=INFO, env={"AWS_ENDPOINT_URL_STS": url, "REQUESTS_CA_BUNDLE": other})
    assert_clean_failure(
        run, f"Connecting to STS: the TLS certificate of the STS endpoint {url}/ could not be verified", "aws_ca_bundle"
    )
    assert "ListAccessKeys" not in run.calls
