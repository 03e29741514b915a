"""KmsSigner against moto's KMS: in-process for the signer, moto_server on loopback for a real ledger."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3", reason="the [kms] extra (boto3) is not installed")
moto = pytest.importorskip("moto", reason="moto is not installed")

from botocore.exceptions import ClientError  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from ledger_service.errors import SigningUnavailable  # noqa: E402
from ledger_service.evidence.kms import KmsKeyError, KmsSigner  # noqa: E402
from tests.conftest import AWS_ENV, Api, LedgerProcess, decision  # noqa: E402
from xase import evidence  # noqa: E402


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        yield boto3.client("kms")


def _key(kms: Any, spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY") -> str:
    return str(kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"])


def test_kms_signature_verifies_independently_over_the_canonical_block_body(kms: Any) -> None:
    key_id = _key(kms)
    signer = KmsSigner(key_id)
    body = {"v": 1, "tenant_id": "ten_1", "block_seq": 0, "merkle_root": "a" * 64}
    canonical = evidence.canonicalize(body)
    signature = signer.sign(canonical, hashlib.sha256(canonical).digest())
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    public = serialization.load_der_public_key(der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(signature), canonical, ec.ECDSA(hashes.SHA256()))  # raises if wrong
    assert signer.key_id == evidence.key_fingerprint(public) and signer.kms_key_arn and signer.kms_key_arn.startswith("arn:aws:kms:")


@pytest.mark.parametrize("spec, usage", [("RSA_2048", "SIGN_VERIFY"), ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")])
def test_unsuitable_keys_are_refused_at_start(kms: Any, spec: str, usage: str) -> None:
    with pytest.raises(KmsKeyError, match="ECC_NIST_P256"):
        KmsSigner(_key(kms, spec, usage))


def test_unknown_key_is_refused_at_start(kms: Any) -> None:
    with pytest.raises(KmsKeyError, match="cannot use KMS key"):
        KmsSigner("alias/does-not-exist")


def test_throttling_becomes_signing_unavailable(kms: Any) -> None:
    signer = KmsSigner(_key(kms))

    def throttle(**_kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Sign")

    signer._client.meta.events.register("before-call.kms.Sign", throttle)
    with pytest.raises(SigningUnavailable) as caught:
        signer.sign(b"{}", hashlib.sha256(b"{}").digest())
    assert caught.value.status == 503 and caught.value.details == {"kms_error": "ThrottlingException"}


def _remote_key(endpoint: str) -> str:
    client = boto3.client("kms", endpoint_url=endpoint, region_name=AWS_ENV["AWS_DEFAULT_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    return str(client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"])


def test_a_ledger_signing_with_kms_and_rotating_keys(tmp_path: Path, moto_endpoint: str) -> None:
    first_key = _remote_key(moto_endpoint)
    ledger = LedgerProcess(tmp_path, env={**AWS_ENV, "AWS_ENDPOINT_URL": moto_endpoint, "XASE_KMS_KEY_ID": first_key})
    ledger.start()
    try:
        api = Api(ledger, ledger.new_api_key("acme"))
        api.post("/records/batch", json={"records": [decision(n, transaction_id=f"old_{n}") for n in range(3)]})
        old_receipt = api.get("/receipts/old_1").json()
        keys = api.get("/keys").json()["keys"]
        assert [key["kms_key_arn"] for key in keys] == [first_key]
        evidence.verify_receipt(old_receipt, trusted_keys=[keys[0]["pem"]])

        ledger.stop()  # rotate: a new key signs new blocks
        ledger.env["XASE_KMS_KEY_ID"] = _remote_key(moto_endpoint)
        ledger.start()
        api.post("/records/batch", json={"records": [decision(n, transaction_id=f"new_{n}") for n in range(3)]})
        keys = api.get("/keys").json()["keys"]
        assert len(keys) == 2 and all(key["first_signed_at"] and key["last_signed_at"] for key in keys)
        new_receipt = api.get("/receipts/new_1").json()
        assert new_receipt["block"]["key_id"] != old_receipt["block"]["key_id"]
        evidence.verify_receipt(api.get("/receipts/old_1").json(), trusted_keys=[key["pem"] for key in keys])
        evidence.verify_receipt(new_receipt, trusted_keys=[key["pem"] for key in keys])
        assert api.get("/verify").json()["ok"] is True
    finally:
        ledger.stop()


def stubbed_ed25519_kms(alias: str) -> tuple[Any, Any, Any, str]:
    """moto (5.2.6, the newest) has no ECC_NIST_EDWARDS25519 keys, so botocore's Stubber stands in for KMS: it checks
    each call against the KMS service model. Answers DescribeKey and GetPublicKey for `alias`, a key of spec
    ECC_NIST_EDWARDS25519 whose private half is returned: (client, stubber, private key, ARN)."""
    import botocore.session
    from botocore.stub import Stubber
    from cryptography.hazmat.primitives.asymmetric import ed25519

    client = botocore.session.get_session().create_client("kms", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    private = ed25519.Ed25519PrivateKey.generate()
    spki = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    stub = Stubber(client)
    metadata = {"KeyId": arn, "Arn": arn, "KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY"}
    stub.add_response("describe_key", {"KeyMetadata": metadata}, {"KeyId": alias})
    stub.add_response("get_public_key", {"KeyId": arn, "PublicKey": spki, "SigningAlgorithms": ["ED25519_SHA_512"]}, {"KeyId": alias})
    return client, stub, private, arn


def kms_signs(stub: Any, private: Any, arn: str, message: bytes, signed: bytes | None = None) -> None:
    """The next Sign call must be for `message`, and KMS answers with the signature of `signed` (default: `message`)."""
    call = {"KeyId": arn, "Message": message, "MessageType": "RAW", "SigningAlgorithm": "ED25519_SHA_512"}
    stub.add_response("sign", {"KeyId": arn, "Signature": private.sign(message if signed is None else signed), "SigningAlgorithm": "ED25519_SHA_512"}, call)


def test_checkpoints_signed_by_a_kms_ed25519_key_open_as_notes(tmp_path: Path) -> None:
    from ledger_service.evidence.checkpoints import LogKeys
    from ledger_service.evidence.kms import KmsEd25519Key
    from ledger_service.evidence.signing import LocalSigner
    from xase import note

    client, stub, private, arn = stubbed_ed25519_kms("alias/xase-log")
    origin, text = "ledger.example.com/log/ten_1", "ledger.example.com/log/ten_1\n5\n" + base64.b64encode(bytes(32)).decode() + "\n"
    kms_signs(stub, private, arn, text.encode())
    kms_signs(stub, private, arn, text.encode(), signed=b"something else")
    stub.add_client_error(
        "sign",
        service_error_code="ThrottlingException",
        expected_params={"KeyId": arn, "Message": text.encode(), "MessageType": "RAW", "SigningAlgorithm": "ED25519_SHA_512"},
    )
    with stub:
        keys = LogKeys(KmsEd25519Key("alias/xase-log", client), LocalSigner.from_path(tmp_path / "block-key.pem"))
        signed = keys.sign(text, origin)
        with pytest.raises(SigningUnavailable, match="does not verify"):
            keys.sign(text, origin)
        with pytest.raises(SigningUnavailable) as throttled:
            keys.sign(text, origin)
        assert throttled.value.status == 503 and throttled.value.details == {"kms_error": "ThrottlingException"}
    opened, signers = note.open_note(signed, keys.verifiers(origin))
    assert opened == text and [verifier.key_type for verifier in signers] == [note.ED25519, note.ECDSA]
    assert note.Verifier(origin, note.ED25519, private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)) == signers[0]


def test_a_kms_key_of_another_spec_cannot_sign_checkpoints(kms: Any) -> None:
    from ledger_service.evidence.kms import KmsEd25519Key

    with pytest.raises(KmsKeyError, match="ECC_NIST_EDWARDS25519"):
        KmsEd25519Key(_key(kms))
