"""MinHash signatures (datasketch, computed in bulk) and the LSH band keys derived from them.

Band keys are 64-bit integers: band ``i`` of a signature hashed together with
``i``, so equal keys mean "equal rows in the same band". The same keys serve
the in-batch index and the persistent one in the warehouse.

Two signatures give keys. The body's (``bands`` x ``rows``) finds texts that
resemble each other. The lead's (``lead_bands`` x ``lead_rows``, over the first
``lead_words`` words) finds a truncated or updated version of a story: its
5-gram Jaccard with the full text can be as low as 0.3 when a 40-word brief
meets a 150-word story, far below what banding can catch, but news is written
lead first, so both versions open with the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import xxhash
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32

from etl.config import DedupConfig
from etl.dedup.shingles import shingles_of
from etl.text import words

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_BAND_SALT = np.uint64(0x9E3779B97F4A7C15)


# xxh32 hashes a shingle ~13x faster than datasketch's default sha1_hash32, with
# the 32-bit output the affine32 scheme expects.
HASHFUNCS = {"xxh32": xxhash.xxh32_intdigest, "sha1": sha1_hash32}


def sign(texts: Sequence[str], cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Body signatures ``(n, num_perm)`` and every LSH key ``(n, key_count)`` of dedup texts."""
    token_lists = [words(t) for t in texts]
    signatures = compute_signatures((shingles_of(t, cfg.shingle_size) for t in token_lists), cfg)
    keys = band_keys(signatures, cfg)
    if cfg.lead_bands:
        leads = (shingles_of(t[: cfg.lead_words], cfg.shingle_size) for t in token_lists)
        lead_sigs = compute_signatures(leads, cfg, num_perm=cfg.lead_bands * cfg.lead_rows)
        lead_keys = _keys(lead_sigs, cfg.lead_bands, cfg.lead_rows, first_band=cfg.bands)
        keys = np.hstack([keys, lead_keys])
    return signatures, keys


def compute_signatures(
    shingle_sets: Iterable[Iterable[bytes]], cfg: DedupConfig, num_perm: int | None = None
) -> np.ndarray:
    """One row of ``num_perm`` (default ``cfg.num_perm``) hash values per set, via ``MinHash.bulk``."""
    num_perm = num_perm or cfg.num_perm
    rows = [
        m.hashvalues
        for m in MinHash.generator(
            (list(s) for s in shingle_sets),
            num_perm=num_perm,
            seed=cfg.seed,
            scheme=cfg.scheme,
            hashfunc=HASHFUNCS[cfg.hashfunc],
        )
    ]
    if not rows:
        return np.zeros((0, num_perm), dtype=np.uint64)
    return np.vstack(rows).astype(np.uint64, copy=False)


def band_keys(signatures: np.ndarray, cfg: DedupConfig) -> np.ndarray:
    """``(n, bands)`` int64 keys of body signatures."""
    return _keys(signatures, cfg.bands, cfg.rows, first_band=0)


def _keys(signatures: np.ndarray, bands: int, rows: int, first_band: int) -> np.ndarray:
    """Keys of bands ``first_band + 1 ...``; wraparound arithmetic on uint64 is intended."""
    n = signatures.shape[0]
    used = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    band_ids = np.arange(first_band, first_band + bands, dtype=np.uint64) + np.uint64(1)
    acc = np.broadcast_to(_FNV_OFFSET ^ (band_ids * _BAND_SALT), (n, bands)).copy()
    with np.errstate(over="ignore"):
        for j in range(rows):
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
