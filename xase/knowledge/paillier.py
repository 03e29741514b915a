"""Paillier encryption of binary embeddings for encrypted Hamming distances, as xtrace-ai-sdk 0.1.1 does it.

Each bit b of an embedding becomes a 2-bit slot "0b"; the slots, read as one binary string, are cut
into chunks of 2 * key_len bits (one chunk when embed_len <= key_len) and each chunk is encrypted.
The server multiplies a query's ciphertext with a stored one, which adds the plaintexts: each slot
then holds q + d in {0, 1, 2}, whose low bit is q XOR d. Decrypting and counting those low bits
gives the Hamming distance.

Two schemes, with the published client's key formats (so either side loads the other's context):
"paillier" (g = n + 1, primes of key_len bits each) and "paillier_lookup" (a g of small order a
built from two DSA-style groups, so decryption exponentiates by a instead of phi).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Union

import gmpy2

__all__ = ["SCHEMES", "Keys", "generate", "load", "pack", "hamming", "chunk_count"]

SCHEMES = {"paillier": "PaillierClient", "paillier_lookup": "PaillierLookupClient"}
DEFAULT_ALPHA_LEN = 50  # bits of the lookup scheme's small order a
MSG_BITS = 8  # the lookup scheme's message window, which its config records as message_chunks


def chunk_count(embed_len: int, key_len: int) -> int:
    """Ciphertexts per embedding: 1 when embed_len <= key_len, else enough chunks of 2 * key_len bits."""
    chunk_len = 2 * key_len
    return 1 if embed_len <= key_len else -(-2 * embed_len // chunk_len)


def pack(bits: list[int], key_len: int) -> list[int]:
    """The plaintext chunks of a binary embedding: 2-bit slots "0b", cut into 2 * key_len-bit chunks."""
    if any(bit not in (0, 1) for bit in bits):
        raise ValueError("an embedding to encrypt must be binary (0 and 1)")
    slots = "".join("0" + str(bit) for bit in bits)
    chunk_len = 2 * key_len
    return [int(slots[i : i + chunk_len], 2) for i in range(0, len(slots), chunk_len)][: chunk_count(len(bits), key_len)]


_LOW_BITS = gmpy2.mpz(int("01" * 2 * 8192, 2))  # the low bit of every 2-bit slot, for keys up to 8192 bits


def hamming(plaintexts: list[int]) -> int:
    """The distance a decrypted sum encodes: the low bits of its 2-bit slots (each chunk is whole slots, so they
    sit at even bit positions)."""
    return sum(int(gmpy2.popcount(gmpy2.mpz(value) & _LOW_BITS)) for value in plaintexts)


@dataclass
class Keys:
    """A key pair of either scheme, with the published client's string forms."""

    scheme: str
    embed_len: int
    key_len: int
    n: Any
    g: Any
    secret: dict[str, Any]
    g_n: Any = None  # lookup scheme
    alpha_len: int = DEFAULT_ALPHA_LEN
    n_squared: Any = field(init=False)
    _tables: dict[int, list[list[Any]]] = field(default_factory=dict, init=False, repr=False)
    _crt: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.n_squared = self.n * self.n

    # ---------------------------------------------------------------- the published string forms

    def stringify_pk(self) -> str:
        """The public key as the published client writes it."""
        if self.scheme == "paillier":
            return json.dumps({"g": str(self.g), "n": str(self.n), "n_squared": str(self.n_squared)})
        return json.dumps({"g": int(self.g), "n": int(self.n), "n_squared": int(self.n_squared), "g_n": int(self.g_n)})

    def stringify_sk(self) -> str:
        """The secret key as the published client writes it (encrypt it before it leaves the process)."""
        if self.scheme == "paillier":
            return json.dumps({"phi": str(self.secret["phi"]), "inv": str(self.secret["inv"])})
        return json.dumps({name: int(self.secret[name]) for name in ("phi", "a", "g_a_inv")})

    def stringify_config(self) -> str:
        """The scheme's configuration as the published client writes it."""
        if self.scheme == "paillier":
            return json.dumps({"embed_len": self.embed_len, "key_len": self.key_len})
        return json.dumps({"message_chunks": self.message_chunks, "alpha_len": self.alpha_len, "embed_len": self.embed_len, "key_len": self.key_len})

    @property
    def message_chunks(self) -> int:
        """The lookup scheme's number of message windows."""
        return (2 * self.key_len + MSG_BITS - 1) // MSG_BITS

    # ---------------------------------------------------------------- encryption

    def _random_unit(self) -> Any:
        while True:
            r = gmpy2.mpz(secrets.randbelow(int(self.n) - 1) + 1)
            if gmpy2.gcd(r, self.n) == 1:
                return r

    def encrypt_number(self, message: int) -> Any:
        """E(message): a fresh randomized ciphertext below n^2."""
        if not 0 <= message < self.n:
            raise ValueError("plaintext must be within [0, n)")
        if self.scheme == "paillier":  # g = n + 1: g^m = 1 + m n (mod n^2)
            return (1 + message * self.n) * gmpy2.powmod(self._random_unit(), self.n, self.n_squared) % self.n_squared
        # g^m times noise g_n^r, both from tables of window powers (one product per MSG_BITS bits of the
        # exponent). g_n has order dividing a, which decryption raises to, so the noise vanishes there; r
        # only matters modulo that order, so alpha_len + 64 random bits make it uniform over the subgroup.
        noise_bits = self.alpha_len + 64
        value = self._power(self.g, message, self.message_chunks)
        return value * self._power(self.g_n, secrets.randbits(noise_bits), -(-noise_bits // MSG_BITS)) % self.n_squared

    def _power(self, base: Any, exponent: int, windows: int) -> Any:
        table, value, mask = self._window_table(base, windows), gmpy2.mpz(1), (1 << MSG_BITS) - 1
        for i in range(windows):
            digit = (exponent >> (MSG_BITS * i)) & mask
            if digit:
                value = value * table[i][digit] % self.n_squared
        return value

    def _window_table(self, base: Any, windows: int) -> list[list[Any]]:
        """base^(j * 2^(MSG_BITS * i)) for every window i and digit j: built once per key and base, by products only."""
        key = int(base)
        if key not in self._tables:
            table = []
            for _ in range(windows):
                row = [gmpy2.mpz(1)]
                for _ in range((1 << MSG_BITS) - 1):
                    row.append(row[-1] * base % self.n_squared)
                table.append(row)
                base = row[-1] * base % self.n_squared  # base^(2^MSG_BITS)
            self._tables[key] = table
        return self._tables[key]

    def decrypt_number(self, ciphertext: Union[int, bytes, Any]) -> Any:
        """The plaintext of a ciphertext (an int, or little-endian bytes as the server sends them)."""
        c = gmpy2.mpz(int.from_bytes(ciphertext, "little") if isinstance(ciphertext, bytes) else ciphertext)
        if not 0 <= c < self.n_squared:
            raise ValueError("ciphertext must be within [0, n^2)")
        exponent, factor = (self.secret["phi"], self.secret["inv"]) if self.scheme == "paillier" else (self.secret["a"], self.secret["g_a_inv"])
        return (self._powmod_n_squared(c, exponent) - 1) // self.n * factor % self.n

    def _powmod_n_squared(self, c: Any, exponent: Any) -> Any:
        """c^exponent mod n^2 by the Chinese remainder theorem: two exponentiations modulo p^2 and q^2 (half
        the size) cost about half of one modulo n^2. p and q come from n and phi (p + q = n - phi + 1)."""
        if self._crt is None:
            total = self.n - self.secret["phi"] + 1
            root = gmpy2.isqrt(total * total - 4 * self.n)
            p, q = (total + root) // 2, (total - root) // 2
            self._crt = (p * p, q * q, gmpy2.invert(p * p, q * q))
        p_squared, q_squared, p_squared_inverse = self._crt
        low, high = gmpy2.powmod(c, exponent, p_squared), gmpy2.powmod(c, exponent, q_squared)
        return low + p_squared * ((high - low) * p_squared_inverse % q_squared)

    def encrypt_vector(self, bits: list[int]) -> list[Any]:
        """The ciphertexts of a binary embedding of embed_len bits."""
        if len(bits) != self.embed_len:
            raise ValueError(f"embedding length {len(bits)} does not match embed_len {self.embed_len}")
        return [self.encrypt_number(chunk) for chunk in pack(bits, self.key_len)]

    def decode_hamming(self, ciphertexts: list[Union[int, bytes]]) -> int:
        """The Hamming distance a server's answer for one chunk encodes."""
        return hamming([int(self.decrypt_number(c)) for c in ciphertexts])


# ---------------------------------------------------------------- key generation


def _prime(bits: int) -> Any:
    while True:
        candidate = gmpy2.next_prime(gmpy2.mpz(secrets.randbits(bits)) | (gmpy2.mpz(1) << (bits - 1)))
        if candidate.bit_length() == bits:
            return candidate


def generate(scheme: str, embed_len: int, key_len: int, alpha_len: int = DEFAULT_ALPHA_LEN) -> Keys:
    """A fresh key pair of `scheme`: paillier or paillier_lookup."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}")
    if embed_len >= key_len:
        raise ValueError(f"embed_len ({embed_len}) must be below key_len ({key_len})")
    if scheme == "paillier":
        p, q = _prime(key_len), _prime(key_len)
        while q == p:
            q = _prime(key_len)
        n, phi = p * q, (p - 1) * (q - 1)
        return Keys(scheme, embed_len, key_len, n, n + 1, {"phi": phi, "inv": gmpy2.invert(phi, n)})
    return _generate_lookup(embed_len, key_len, alpha_len)


def _group(p_bits: int, q_bits: int) -> tuple[Any, Any, Any]:
    """A prime p of p_bits with a prime q of q_bits dividing p - 1, and g of order q mod p."""
    q = _prime(q_bits)
    while True:
        k = gmpy2.mpz(secrets.randbits(p_bits - q_bits)) | (gmpy2.mpz(1) << (p_bits - q_bits - 1))
        p = 2 * k * q + 1
        if p.bit_length() == p_bits and gmpy2.is_prime(p, 40):
            break
    while True:
        g = gmpy2.powmod(gmpy2.mpz(secrets.randbelow(int(p) - 3) + 2), (p - 1) // q, p)
        if g != 1:
            return p, q, g


def _generate_lookup(embed_len: int, key_len: int, alpha_len: int) -> Keys:
    bound = min(key_len, alpha_len)
    while True:
        p, q1, g1 = _group(key_len, bound // 2)
        q, q2, g2 = _group(key_len, bound - bound // 2)
        if p == q:
            continue
        n, n_squared = p * q, (p * q) ** 2
        lift_p, lift_q = g1 * (1 + p) % (p * p), g2 * (1 + q) % (q * q)  # orders q1 * p and q2 * q
        g = (lift_p + p * p * ((lift_q - lift_p) * gmpy2.invert(p * p, q * q) % (q * q))) % n_squared  # CRT
        a = gmpy2.lcm(q1, q2)
        if gmpy2.powmod(g, n * a, n_squared) != 1 or gmpy2.powmod(g, n, n_squared) == 1:
            continue
        g_a_inv = gmpy2.invert((gmpy2.powmod(g, a, n_squared) - 1) // n, n)
        secret = {"phi": (p - 1) * (q - 1), "a": a, "g_a_inv": g_a_inv}
        return Keys("paillier_lookup", embed_len, key_len, n, g, secret, g_n=gmpy2.powmod(g, n, n_squared), alpha_len=alpha_len)


def load(type_name: str, pk: str, sk: str, config: str) -> Keys:
    """Keys from the published string forms (either client's)."""
    scheme = {value: key for key, value in SCHEMES.items()}.get(type_name)
    if scheme is None:
        raise ValueError(f"unsupported homomorphic client type {type_name!r}")
    public, secret, settings = json.loads(pk), json.loads(sk), json.loads(config)
    names = ("phi", "inv") if scheme == "paillier" else ("phi", "a", "g_a_inv")
    keys = Keys(scheme, int(settings["embed_len"]), int(settings["key_len"]), gmpy2.mpz(public["n"]), gmpy2.mpz(public["g"]),
                {name: gmpy2.mpz(secret[name]) for name in names}, g_n=gmpy2.mpz(public["g_n"]) if "g_n" in public else None,
                alpha_len=int(settings.get("alpha_len", DEFAULT_ALPHA_LEN)))  # fmt: skip
    if keys.n_squared != gmpy2.mpz(public["n_squared"]):
        raise ValueError("public key: n_squared is not n * n")
    return keys
