"""Evidence format v2 against peers' test data (tests/vectors/tlog-v2-peer.json): RFC 6962 consistency proofs from
transparency-dev/merkle, and signed notes from the C2SP spec and golang.org/x/mod/sumdb/note's own tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xase import note, tlog, tlogproof

PEER = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "tlog-v2-peer.json").read_text())


def _hashes(values: Any) -> list[bytes]:
    return [base64.b64decode(value) for value in values or []]


# Where we judge on purpose unlike transparency-dev/merkle (True: we accept, False: we refuse): a root that is not 32
# bytes is never a root, even between equal sizes.
OURS = {"additional/sizes-are-equal-one-and-proof-is-empty.json": False}  # roots "don't care 2"


@pytest.mark.parametrize("case", PEER["consistency"], ids=lambda case: case["file"].removeprefix("testdata/consistency/"))
def test_consistency_proofs_as_the_peers_judge_them(case: dict[str, Any]) -> None:
    name = case["file"].removeprefix("testdata/consistency/")
    roots = [base64.b64decode(case["root1"]), base64.b64decode(case["root2"])]
    accepted = OURS.get(name, not case["wantErr"])
    if accepted:
        tlog.verify_consistency(case["size1"], case["size2"], *roots, _hashes(case["proof"]))
    else:
        with pytest.raises(tlog.MerkleError):
            tlog.verify_consistency(case["size1"], case["size2"], *roots, _hashes(case["proof"]))


def test_the_peers_happy_proofs_are_the_ones_we_make() -> None:
    leaves = [
        tlog.leaf_hash(bytes.fromhex(value))
        for value in json.loads((Path(__file__).resolve().parents[1] / "vectors" / "rfc6962-peer.json").read_text())["tree_roots"]["leaf_inputs_hex"]
    ]
    source = tlog.ListSource(leaves)
    happy = [case for case in PEER["consistency"] if not case["wantErr"] and "additional" not in case["file"]]
    assert happy
    for case in happy:
        assert tlog.tree_hash(source, case["size2"]) == base64.b64decode(case["root2"])
        assert tlog.consistency_proof(source, case["size1"], case["size2"]) == _hashes(case["proof"]), case["file"]


def test_the_spec_vkey_parses_with_its_key_hash() -> None:
    verifier = note.parse_vkey(PEER["signed_note"]["spec_vkey"]["vkey"])
    assert (verifier.name, verifier.key_id.hex(), verifier.key_type) == ("example.com/foo", "530d903a", note.ED25519)
    assert verifier.vkey == PEER["signed_note"]["spec_vkey"]["vkey"]


def test_the_go_reference_note_opens_and_tampering_does_not() -> None:
    reference = PEER["signed_note"]["go_reference"]
    verifier = note.parse_vkey(reference["vkey"])
    text, signed = note.open_note(reference["note"], [verifier])
    assert text.startswith("If you think cryptography") and signed == [verifier]
    with pytest.raises(note.NoteError):
        note.open_note(reference["note"].replace("problem,", "problem;"), [verifier])
    with pytest.raises(note.NoteError):  # signed by nobody we know
        note.open_note(reference["note"], [note.parse_vkey(PEER["signed_note"]["spec_vkey"]["vkey"])])
    for bad in reference["bad_vkeys"]:
        with pytest.raises(note.NoteError):
            note.parse_vkey(bad)


@pytest.mark.parametrize(
    "malformed",
    [
        "text\n\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",  # no final newline
        "text\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",  # no blank line
        "te\x01xt\n\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        "text\n\n-- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",  # not an em dash
        "text\n\n\u2014 Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        "text\n\n\u2014 PeterNeumann AAAA\n",  # too short for a key hash and a signature
        "text\n\n" + "\u2014 a AAAAAAAA\n" * 101,  # more signatures than the Go reference accepts
    ],
)
def test_malformed_notes_are_refused_by_form(malformed: str) -> None:
    with pytest.raises(note.NoteError):
        note.split_note(malformed)


@pytest.mark.parametrize(
    "text", ["o\n5\nAAAA\n", "o\n05\n" + base64.b64encode(bytes(32)).decode() + "\n", "o\n\u0665\n" + base64.b64encode(bytes(32)).decode() + "\n", "\n5\nx\n"]
)
def test_checkpoints_not_as_the_spec_says_are_refused(text: str) -> None:
    with pytest.raises(note.NoteError):
        note.parse_checkpoint(text)


@pytest.mark.parametrize(("path", "parsed"), [("0/000", (0, 0, 256)), ("0/x001/x234/067", (0, 1234067, 256)), ("2/001.p/5", (2, 1, 5))])
def test_tile_paths_round_trip(path: str, parsed: tuple[int, int, int]) -> None:
    assert tlog.parse_tile_path(path) == parsed and tlog.tile_path(*parsed) == path


# The example of C2SP tlog-proof@v1, as the specification prints it (its signatures shortened with "[...]").
SPEC_TLOG_PROOF = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u2014 example.com/fancylog hI2DJw[...]1roloI=
\u2014 witness1.example mJirIklj[...]qY9v2B/5bg==
"""


def test_the_spec_tlog_proof_parses_and_formats_back() -> None:
    proof = tlogproof.parse_tlog_proof(SPEC_TLOG_PROOF)
    assert proof.index == 73894 and len(proof.proof) == 5 and proof.extra is not None and proof.extra.startswith(b"age-v1.2.1-darwin")
    assert proof.checkpoint.startswith("example.com/fancylog\n109482\n")
    assert tlogproof.format_tlog_proof(proof) == SPEC_TLOG_PROOF


@pytest.mark.parametrize(
    "text",
    [
        SPEC_TLOG_PROOF.replace("@v1", "@v2"),
        SPEC_TLOG_PROOF.replace("index 73894", "index 073894"),
        SPEC_TLOG_PROOF.replace("index 73894", "index \u0667"),
        SPEC_TLOG_PROOF.replace("index 73894\n", ""),
        SPEC_TLOG_PROOF.replace("extra YWdl", "extra !!!"),
        SPEC_TLOG_PROOF.replace("gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=", "gSKy"),  # not a hash
        SPEC_TLOG_PROOF.replace("\n\nexample.com", "\nexample.com"),  # no blank line before the checkpoint
    ],
)
def test_tlog_proofs_not_as_the_spec_says_are_refused(text: str) -> None:
    with pytest.raises(tlogproof.TlogProofError):
        tlogproof.parse_tlog_proof(text)


@given(st.text(max_size=400) | st.sampled_from([SPEC_TLOG_PROOF[:cut] for cut in range(0, 400, 7)]))
def test_any_text_is_a_tlog_proof_or_a_tlog_proof_error(text: str) -> None:
    try:
        tlogproof.parse_tlog_proof(text)
    except tlogproof.TlogProofError:
        pass
