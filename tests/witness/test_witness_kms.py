"""A witness whose key is in AWS KMS (`xase-witness --kms-key-id`): its cosignatures verify under the vkey `init`
prints, and a KMS that cannot sign is a 503 after which the log's ordinary retry is cosigned."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

pytest.importorskip("boto3", reason="the [kms] extra (boto3) is not installed")

from tests.conftest import AWS_ENV
from tests.evidence.test_kms import kms_signs, stubbed_ed25519_kms
from tests.witness.test_witness_protocol import LOG, ORIGIN, TREE, _signed
from xase import note, tlog
from xase.keys import KmsEd25519Key
from xase.witness import cli
from xase.witness.protocol import Witness
from xase.witness.state import WitnessState

NAME = "witness.test/kms"


def _request(old: int, proof: list[bytes], size: int) -> bytes:
    return (f"old {old}\n" + "".join(base64.b64encode(node).decode() + "\n" for node in proof) + "\n" + _signed(size)).encode()


def test_a_kms_witness_cosigns_and_a_kms_outage_is_a_503_the_retry_mends(tmp_path: Path) -> None:
    client, stub, private, arn = stubbed_ed25519_kms("alias/xase-witness")
    now = 1_800_000_000
    text = note.split_note(_signed(100))[0]
    stub.add_client_error("sign", service_error_code="ThrottlingException")
    kms_signs(stub, private, arn, note.cosignature_message(text, now))
    with stub:
        key = KmsEd25519Key("alias/xase-witness", client, what="cosignature")
        witness = Witness(NAME, key, {ORIGIN: [LOG]}, WitnessState(tmp_path / "state.db"), clock=lambda: now)
        try:
            throttled = witness.add_checkpoint(_request(0, [], 100))
            assert throttled.status == 503 and "ThrottlingException" in throttled.body
            assert witness.add_checkpoint(_request(0, [], 100)).body == "100\n"  # the size was stored before signing
            cosigned = witness.add_checkpoint(_request(100, tlog.consistency_proof(TREE, 100, 100), 100))
        finally:
            witness.state.close()
    assert cosigned.status == 200
    cosigner = note.cosigner_verifier(NAME, private.public_key())
    assert note.open_note(_signed(100) + cosigned.body, [cosigner])[1] == [cosigner]


def test_init_prints_the_kms_key_s_vkey_and_refuses_a_key_of_another_spec(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    p256 = boto3.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    assert cli.main(["init", "--kms-key-id", p256, "--name", NAME]) == 2
    assert "must be ECC_NIST_EDWARDS25519 / SIGN_VERIFY" in capsys.readouterr().err
    with pytest.raises(SystemExit) as both:
        cli.main(["init", "--kms-key-id", p256, "--key", "w.pem", "--name", NAME])
    assert both.value.code == 2 and "not allowed with argument" in capsys.readouterr().err

    client, stub, private, _arn = stubbed_ed25519_kms("alias/xase-witness")
    monkeypatch.setattr("xase.keys.kms_client", lambda client_=None: client)
    with stub:
        assert cli.main(["init", "--kms-key-id", "alias/xase-witness", "--name", NAME]) == 0
    assert capsys.readouterr().out.strip() == note.cosigner_verifier(NAME, private.public_key()).vkey
