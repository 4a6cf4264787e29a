"""Sealing a batch: one random read for all nonces, every nonce distinct, each value
bound to its own context as a single encrypt binds it."""

from __future__ import annotations

import pytest

import ketacompanion.cipher as cipher_module
from ketacompanion.cipher import DataKeyError, FieldCipher

NONCE = slice(1, 13)


def test_batch_values_open_with_their_own_context_only() -> None:
    cipher = FieldCipher(b"\x03" * 32)
    items = [(f"reply {k}", f"outbox.payload_enc:{k}") for k in range(50)]
    sealed = cipher.encrypt_many(items)
    assert [cipher.decrypt(token, ctx) for token, (_, ctx) in zip(sealed, items, strict=True)] == [
        text for text, _ in items
    ]
    with pytest.raises(DataKeyError):
        cipher.decrypt(sealed[0], items[1][1])  # another person's row
    assert cipher.encrypt_many([]) == []


def test_nonces_are_distinct_within_and_across_batches() -> None:
    cipher = FieldCipher(b"\x04" * 32)
    nonces: set[bytes] = set()
    total = 0
    for _ in range(20):
        for token in cipher.encrypt_many([("same text", "same:1")] * 5000):
            nonces.add(token[NONCE])
            total += 1
    nonces.update(cipher.encrypt("same text", "same:1")[NONCE] for _ in range(1000))
    assert len(nonces) == total + 1000  # 101,000 values, no nonce twice


def test_one_random_read_per_batch_cut_without_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[bytes] = []
    real = cipher_module.secrets.token_bytes

    def counted(n: int) -> bytes:
        reads.append(real(n))
        return reads[-1]

    monkeypatch.setattr(cipher_module.secrets, "token_bytes", counted)
    cipher = FieldCipher(b"\x05" * 32)
    sealed = cipher.encrypt_many([("a", "c:1"), ("b", "c:2"), ("c", "c:3")])
    assert [len(r) for r in reads] == [36]
    assert b"".join(token[NONCE] for token in sealed) == reads[0]  # consecutive slices, none reused
