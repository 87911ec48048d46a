"""MinHash signatures (datasketch, computed in bulk) and the LSH band keys derived from them.

Band keys are 64-bit integers: band ``i`` of a signature hashed together with
``i``, so equal keys mean "equal rows in the same band". The same keys serve
the in-batch index and the persistent one in the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xxhash
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32

from etl.config import DedupConfig

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_BAND_SALT = np.uint64(0x9E3779B97F4A7C15)


# xxh32 hashes a shingle ~13x faster than datasketch's default sha1_hash32, with
# the 32-bit output the affine32 scheme expects.
HASHFUNCS = {"xxh32": xxhash.xxh32_intdigest, "sha1": sha1_hash32}


def compute_signatures(shingle_sets: Iterable[Iterable[bytes]], cfg: DedupConfig) -> np.ndarray:
    """One row of ``cfg.num_perm`` hash values per input set, via ``MinHash.bulk``."""
    rows = [
        m.hashvalues
        for m in MinHash.generator(
            (list(s) for s in shingle_sets),
            num_perm=cfg.num_perm,
            seed=cfg.seed,
            scheme=cfg.scheme,
            hashfunc=HASHFUNCS[cfg.hashfunc],
        )
    ]
    if not rows:
        return np.zeros((0, cfg.num_perm), dtype=np.uint64)
    return np.vstack(rows).astype(np.uint64, copy=False)


def band_keys(signatures: np.ndarray, cfg: DedupConfig) -> np.ndarray:
    """``(n, bands)`` int64 keys; wraparound arithmetic on uint64 is intended."""
    n = signatures.shape[0]
    used = signatures[:, : cfg.bands * cfg.rows].astype(np.uint64).reshape(n, cfg.bands, cfg.rows)
    band_ids = np.arange(cfg.bands, dtype=np.uint64) + np.uint64(1)
    acc = np.broadcast_to(_FNV_OFFSET ^ (band_ids * _BAND_SALT), (n, cfg.bands)).copy()
    with np.errstate(over="ignore"):
        for j in range(cfg.rows):
            acc = (acc ^ used[:, :, j]) * _FNV_PRIME
            acc ^= acc >> np.uint64(29)
    return acc.view(np.int64)


def _storage_dtype(cfg: DedupConfig) -> str:
    """32-bit schemes store 4 bytes per value: half the index size of uint64."""
    return "<u8" if cfg.scheme == "affine64" else "<u4"


def signature_to_bytes(signature: np.ndarray, cfg: DedupConfig) -> bytes:
    return signature.astype(_storage_dtype(cfg)).tobytes()


def signature_from_bytes(data: bytes, cfg: DedupConfig) -> np.ndarray:
    return np.frombuffer(data, dtype=_storage_dtype(cfg)).astype(np.uint64)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)
