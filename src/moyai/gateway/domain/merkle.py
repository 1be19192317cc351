"""Merkle tree hashes and inclusion proofs as in certificate-transparency logs (RFC 6962 §2.1).

::

    leaf hash  = SHA-256(0x00 || leaf data)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n]))   k = the largest power of two below n

The different prefixes of leaves and nodes keep a leaf from passing for a subtree (second
pre-image). :func:`verify_inclusion` is the algorithm of RFC 9162 §2.1.3.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "InclusionProof",
    "inclusion_proof",
    "inclusion_proof_from_hashes",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "root_from_hashes",
    "verify_inclusion",
    "verify_inclusion_hash",
]

HASH_SIZE = 32


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(root_from_hashes(hashes[:k]), root_from_hashes(hashes[k:]))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf data."""
    return root_from_hashes([leaf_hash(d) for d in leaves])


@dataclass(frozen=True)
class InclusionProof:
    """The audit path of leaf ``index`` in a tree of ``tree_size`` leaves (RFC 6962 PATH)."""

    index: int
    tree_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "tree_size": self.tree_size, "path": [h.hex() for h in self.path]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> InclusionProof:
        index, size, path = data["index"], data["tree_size"], data["path"]
        if not isinstance(index, int) or not isinstance(size, int) or not isinstance(path, list):
            raise ValueError("包含証明の形式が正しくありません")
        return cls(index, size, tuple(bytes.fromhex(str(h)) for h in path))


def _path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, hashes[:k]), root_from_hashes(hashes[k:])]
    return [*_path(m - k, hashes[k:]), root_from_hashes(hashes[:k])]


def inclusion_proof_from_hashes(hashes: Sequence[bytes], index: int) -> InclusionProof:
    if not 0 <= index < len(hashes):
        raise IndexError(f"葉 {index} は木（{len(hashes)} 葉）にありません")
    return InclusionProof(index, len(hashes), tuple(_path(index, hashes)))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> InclusionProof:
    """The proof that ``leaves[index]`` is in the tree of ``leaves``."""
    return inclusion_proof_from_hashes([leaf_hash(d) for d in leaves], index)


def verify_inclusion_hash(leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
    """Whether the leaf hash ``leaf`` is at ``proof.index`` of the tree whose root is ``root``."""
    if not 0 <= proof.index < proof.tree_size:
        return False
    if any(len(p) != HASH_SIZE for p in proof.path) or len(root) != HASH_SIZE:
        return False
    fn, sn, r = proof.index, proof.tree_size - 1, leaf
    for p in proof.path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
    """Whether the leaf data ``leaf`` is at ``proof.index`` of the tree whose root is ``root``."""
    return verify_inclusion_hash(leaf_hash(leaf), proof, root)
