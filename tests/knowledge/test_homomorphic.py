"""The server's own Hamming arithmetic, without the client: a textbook Paillier key in the test checks it."""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ledger_service.errors import ValidationFailed
from ledger_service.knowledge import distances, homomorphic

# A small textbook Paillier key (g = n + 1): the test's own, to decrypt what the server combines.
P, Q = 1_000_000_007, 998_244_353
N = P * Q
N2 = N * N
LAMBDA = math.lcm(P - 1, Q - 1)
MU = pow(LAMBDA, -1, N)
SLOTS = 16  # 2-bit slots: 32 bits of plaintext, far below n


def _encrypt(message: int, rng: random.Random) -> int:
    r = rng.randrange(1, N)
    return (pow(N + 1, message, N2) * pow(r, N, N2)) % N2


def _decrypt(cipher: int) -> int:
    return ((pow(cipher, LAMBDA, N2) - 1) // N * MU) % N


def _pack(bits: list[int]) -> int:
    """Each bit b in a 2-bit slot "0b", as the client packs an embedding."""
    return int("".join("0" + str(bit) for bit in bits), 2)


def _context_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {"type": "PaillierClient", "sk": "gAAAAB-aes-ciphertext", "pk": json.dumps({"g": str(N + 1), "n": str(N), "n_squared": str(N2)}),
                               "config": json.dumps({"embed_len": SLOTS, "key_len": 64}), "key_provider": "passphrase", "wrapped_key": "eA=="}  # fmt: skip
    data.update(changes)
    return data


def _b64(number: int) -> str:
    return base64.b64encode(number.to_bytes((number.bit_length() + 7) // 8, "little")).decode()


def _slots(cipher: bytes) -> list[int]:
    plain = _decrypt(int.from_bytes(cipher, "little"))
    return [(plain >> (2 * (SLOTS - 1 - i))) & 0b11 for i in range(SLOTS)]


@pytest.mark.parametrize("chunks_per_vector", [1, 3])
def test_distances_decrypt_to_slots_whose_low_bits_are_the_xor(chunks_per_vector: int) -> None:
    rng = random.Random(chunks_per_vector)
    context = homomorphic.parse_context(_context_data())
    rows, bits = [], []
    query_bits = [[rng.randint(0, 1) for _ in range(SLOTS)] for _ in range(chunks_per_vector)]
    query = homomorphic.decode_vector([_b64(_encrypt(_pack(b), rng)) for b in query_bits], context, "query")
    for chunk_id in range(1, 21):
        stored_bits = [[rng.randint(0, 1) for _ in range(SLOTS)] for _ in range(chunks_per_vector)]
        stored = homomorphic.decode_vector([_b64(_encrypt(_pack(b), rng)) for b in stored_bits], context, "index")
        rows.append((chunk_id, homomorphic.pack_vector(stored)))
        bits.append(stored_bits)
    answers = list(homomorphic.distances(homomorphic.query_numbers(query), rows, context))
    assert [chunk_id for _, chunk_id in answers] == list(range(1, 21))
    for (ciphertexts, _), stored_bits in zip(answers, bits):
        assert all(len(c) == context.width for c in ciphertexts)
        for cipher, a, b in zip(ciphertexts, query_bits, stored_bits):
            slots = _slots(cipher)
            assert slots == [x + y for x, y in zip(a, b)]
            assert sum(slot & 1 for slot in slots) == sum(x != y for x, y in zip(a, b))


def test_a_query_of_another_length_than_a_stored_vector_is_a_400() -> None:
    context = homomorphic.parse_context(_context_data())
    stored = homomorphic.decode_vector([_b64(5), _b64(7)], context, "index")
    with pytest.raises(ValidationFailed, match="chunk 9 holds 2"):
        list(homomorphic.distances(homomorphic.query_numbers(stored[:1]), [(9, homomorphic.pack_vector(stored))], context))


def test_stored_vectors_round_trip_as_the_client_encodes_them() -> None:
    context = homomorphic.parse_context(_context_data())
    item = _b64(_encrypt(12345, random.Random(1)))
    (raw,) = homomorphic.decode_vector([item], context, "index")
    assert homomorphic.unpack_vector(homomorphic.pack_vector([raw])) == [raw]
    assert homomorphic.encode_ciphertext(raw) == item


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"sk": json.dumps({"phi": "1", "inv": "2"})}, "plaintext"),
        ({"sk": None}, "plaintext"),
        ({"type": "GoldwasserMicaliClient"}, "data.type"),
        ({"type": {"name": "PaillierClient"}}, "data.type"),  # not hashable: was a TypeError, a 500 (the fuzzer found it)
        ({"type": ["PaillierClient"]}, "data.type"),
        ({"pk": "not json"}, "data.pk"),
        ({"pk": json.dumps({"n_squared": "-5"})}, "data.pk"),
        ({"pk": json.dumps({"n_squared": True})}, "data.pk"),
        ({"pk": json.dumps({"n_squared": "1" * 6000})}, "data.pk"),
        ({"pk": json.dumps({"n_squared": "9" * 5000})}, "data.pk"),
        ({"pk": '{"n_squared": ' + "9" * 5000 + "}"}, "data.pk"),
        ({"config": json.dumps({"embed_len": "x"})}, "data.config"),
    ],
)
def test_a_context_the_server_cannot_use_safely_is_refused(changes: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationFailed, match=named):
        homomorphic.parse_context(_context_data(**changes))


@pytest.mark.parametrize("items", [[], "x", [_b64(N2)], [_b64(N2 + 5)], ["!!!"], [7], [_b64(5)] * (homomorphic.MAX_CIPHERTEXTS + 1)])
def test_vectors_outside_the_key_are_refused(items: object) -> None:
    context = homomorphic.parse_context(_context_data())
    with pytest.raises(ValidationFailed, match="query"):
        homomorphic.decode_vector(items, context, "query")


@contextmanager
def _inline_below(rows: int) -> Iterator[None]:
    saved, distances.INLINE_ROWS = distances.INLINE_ROWS, rows
    try:
        yield
    finally:
        distances.INLINE_ROWS = saved


def test_the_streamed_answer_is_the_distances_and_widths_are_checked_before_it_starts() -> None:
    import msgpack

    context = homomorphic.parse_context(_context_data())
    rng = random.Random(3)
    rows = [(n, homomorphic.pack_vector(homomorphic.decode_vector([_b64(_encrypt(n, rng))], context, "index"))) for n in range(1, 4500)]
    numbers = homomorphic.query_numbers(homomorphic.decode_vector([_b64(_encrypt(7, rng))], context, "query"))
    expected = [[ciphertexts, chunk_id] for ciphertexts, chunk_id in homomorphic.distances(numbers, rows, context)]
    for inline in (True, False):  # on the request thread, and by the pool of low-priority processes
        with _inline_below(10_000 if inline else 0):
            streamed = msgpack.unpackb(b"".join(distances.answer("msgpack", numbers, iter(rows), len(rows), context)), raw=False)
            as_json = json.loads(b"".join(distances.answer("json", numbers, iter(rows), len(rows), context)))
        assert streamed == expected
        assert as_json == [[[int.from_bytes(c, "little") for c in ciphertexts], chunk_id] for ciphertexts, chunk_id in expected]
    homomorphic.check_widths(numbers, rows, context)
    with pytest.raises(ValidationFailed, match="chunk 9 holds 2"):
        homomorphic.check_widths(numbers, [*rows, (9, homomorphic.pack_vector([rows[0][1][2:], rows[1][1][2:]]))], context)
