"""MinHash signatures (datasketch's, computed in bulk with numpy) and the LSH band keys derived from them.

A signature is exactly what ``datasketch.MinHash(num_perm, seed, scheme,
hashfunc).update_batch(shingles)`` gives (tests check it on random texts), so
stored signatures compare with any datasketch MinHash built with the same
settings. Only the computation differs: the shingles of a whole batch are
hashed once, then permuted and min-reduced per text in a few numpy calls
instead of one ``MinHash`` object (and one array round trip) per text.

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
from functools import lru_cache
from itertools import chain

import numpy as np
import xxhash
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32
from datasketch.minhash import _fmix

from etl.config import DedupConfig
from etl.dedup.features import TextFeatures, features_of_batch, lead_ids, shingle_id
from etl.text import words

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_BAND_SALT = np.uint64(0x9E3779B97F4A7C15)


_LOW32 = (1 << 32) - 1
_LOW32_U64 = np.uint64(_LOW32)


def shingle_id_hash32(shingle: bytes) -> int:
    """The low 32 bits of the shingle's id (etl.dedup.features.shingle_id): the ``"words"`` hashfunc."""
    return shingle_id(shingle) & _LOW32


# Each maps a shingle's bytes to the 32-bit value the permutations take. "words" is the
# shingle id verification uses anyway (xxh3-64 of each word, combined): the prepare stage
# has it for every shingle of a batch from a few numpy passes, so signing costs no call
# per shingle. "xxh32" hashes the bytes (one C call per shingle), "sha1" is datasketch's default.
WORDS = "words"
HASHFUNCS = {WORDS: shingle_id_hash32, "xxh32": xxhash.xxh32_intdigest, "sha1": sha1_hash32}


def sign(texts: Sequence[str], cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Body signatures ``(n, num_perm)`` and every LSH key ``(n, key_count)`` of dedup texts."""
    return sign_tokens([words(t) for t in texts], cfg)


def sign_tokens(
    token_lists: Sequence[list[str]], cfg: DedupConfig, features: Sequence[TextFeatures] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sign` of texts already split into normalised words (``etl.text.words``).

    ``features`` (their etl.dedup.features, when the caller has them) spare the
    ``"words"`` hashfunc from windowing the texts again.
    """
    if cfg.hashfunc == WORDS:
        return _sign_from_ids(features or features_of_batch(token_lists, cfg.shingle_size), cfg)
    hashfunc = HASHFUNCS[cfg.hashfunc]
    hashes = [shingle_hashes(t, cfg.shingle_size, hashfunc) for t in token_lists]
    signatures = minhash_rows(hashes, cfg, cfg.num_perm)
    keys = band_keys(signatures, cfg)
    if cfg.lead_bands:
        lead = [_lead_hashes(h, t, cfg, hashfunc) for h, t in zip(hashes, token_lists, strict=True)]
        lead_sigs = minhash_rows(lead, cfg, cfg.lead_bands * cfg.lead_rows)
        lead_keys = _keys(lead_sigs, cfg.lead_bands, cfg.lead_rows, first_band=cfg.bands)
        keys = np.hstack([keys, lead_keys])
    return signatures, keys


def _sign_from_ids(features: Sequence[TextFeatures], cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Signatures and keys from the shingle ids of the features: their low 32 bits are the hashes.

    A set's minimum does not depend on order or repeats, so the sorted unique ids
    serve as they are.
    """
    signatures = _minhash_flat(*_flat_low32([f.shingles for f in features]), cfg, cfg.num_perm)
    keys = band_keys(signatures, cfg)
    if cfg.lead_bands:
        leads = lead_ids(features, cfg.lead_words, cfg.shingle_size)
        lead_sigs = _minhash_flat(*_flat_low32(leads), cfg, cfg.lead_bands * cfg.lead_rows)
        keys = np.hstack([keys, _keys(lead_sigs, cfg.lead_bands, cfg.lead_rows, first_band=cfg.bands)])
    return signatures, keys


def _flat_low32(id_arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.fromiter((a.shape[0] for a in id_arrays), dtype=np.int64, count=len(id_arrays))
    flat = np.concatenate(id_arrays) if id_arrays else np.zeros(0, dtype=np.uint64)
    return flat & _LOW32_U64, counts


def _lead_hashes(body: list[int], tokens: list[str], cfg: DedupConfig, hashfunc) -> list[int]:
    """Shingle hashes of the first ``lead_words`` words: mostly the body's first ones, not rehashed."""
    if len(tokens) <= cfg.lead_words:
        return body
    if cfg.lead_words > cfg.shingle_size:
        return body[: cfg.lead_words - cfg.shingle_size + 1]
    return shingle_hashes(tokens[: cfg.lead_words], cfg.shingle_size, hashfunc)


def shingle_hashes(tokens: list[str], size: int, hashfunc) -> list[int]:
    """``hashfunc`` of each word ``size``-gram's bytes, in text order (repeats included).

    The bytes are those of ``etl.dedup.shingles.shingles_of``: the words joined by
    one space, UTF-8. They are sliced out of the text encoded once, which is
    cheaper than joining and encoding every shingle.
    """
    n = len(tokens)
    if n == 0:
        return []
    joined = " ".join(tokens)
    data = joined.encode("utf-8")
    if n <= size:
        return [hashfunc(data)]
    if len(data) == len(joined):  # ASCII: a word's bytes are its characters
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=n)
    else:
        lengths = np.fromiter((len(t.encode("utf-8")) for t in tokens), dtype=np.int64, count=n)
    ends = np.cumsum(lengths + 1) - 1  # one past each word
    starts = ends - lengths
    span = size - 1
    windows = zip(starts[: n - span].tolist(), ends[span:].tolist(), strict=True)
    return [hashfunc(data[a:b]) for a, b in windows]


def compute_signatures(
    shingle_sets: Iterable[Iterable[bytes]], cfg: DedupConfig, num_perm: int | None = None
) -> np.ndarray:
    """One row of ``num_perm`` (default ``cfg.num_perm``) hash values per set of shingle bytes."""
    hashfunc = HASHFUNCS[cfg.hashfunc]
    return minhash_rows([[hashfunc(s) for s in shingles] for shingles in shingle_sets], cfg, num_perm)


@lru_cache(maxsize=16)
def _datasketch_state(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """datasketch's own permutation parameters ``a``, ``b`` and empty sketch for these settings."""
    m = MinHash(num_perm=num_perm, seed=seed, scheme=scheme)
    a, b = m.permutations
    return a, b, m.hashvalues


# Shingle hashes permuted at once: bounds the temporary (chunk x num_perm) array to a few MiB.
_CHUNK = 1 << 14


def minhash_rows(
    hash_lists: Sequence[Sequence[int]], cfg: DedupConfig, num_perm: int | None = None
) -> np.ndarray:
    """``(n, num_perm)`` uint64 MinHash values, one row per list of shingle hashes.

    Row ``i`` equals ``MinHash(num_perm, seed=cfg.seed, scheme=cfg.scheme)``
    updated with shingles hashing to ``hash_lists[i]``: the same permutations
    and arithmetic (``affine32``/``affine64``: MurmurHash3 fmix, then ``a*h + b``
    wrapping; ``legacy``: ``(a*h + b) mod (2^61 - 1)``, low 32 bits), and an
    empty list gives datasketch's empty sketch (every value the maximum).
    """
    counts = np.fromiter((len(h) for h in hash_lists), dtype=np.int64, count=len(hash_lists))
    flat = np.fromiter(chain.from_iterable(hash_lists), dtype=np.uint64, count=int(counts.sum()))
    return _minhash_flat(flat, counts, cfg, num_perm or cfg.num_perm)


def _minhash_flat(flat: np.ndarray, counts: np.ndarray, cfg: DedupConfig, num_perm: int) -> np.ndarray:
    """:func:`minhash_rows` of hash lists given as one ``uint64`` array and each list's length."""
    a, b, empty = _datasketch_state(num_perm, cfg.seed, cfg.scheme)
    n = counts.shape[0]
    out = np.empty((n, num_perm), dtype=empty.dtype)
    out[:] = empty
    if flat.shape[0] == 0:
        return out.astype(np.uint64)
    if cfg.scheme == "legacy":
        values = flat
    else:
        values = _fmix(flat.astype(empty.dtype), 64 if cfg.scheme == "affine64" else 32)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    present = counts > 0
    a_col, b_col = a.reshape(-1, 1), b.reshape(-1, 1)
    # A chunk holds whole texts (at least one), so each minimum covers exactly one text. Permuted
    # values are laid out (num_perm, shingles): the per-text minimum runs along contiguous memory.
    text = 0
    while text < n:
        last = max(int(np.searchsorted(starts, starts[text] + _CHUNK, side="right")), text + 1)
        first, stop = starts[text], starts[last - 1] + counts[last - 1]
        chunk = values[first:stop]
        with np.errstate(over="ignore"):
            if cfg.scheme == "legacy":
                phv = np.bitwise_and((a_col * chunk + b_col) % _MERSENNE, _MAX32)
            else:
                phv = np.multiply.outer(a, chunk)
                phv += b_col
        rows = np.flatnonzero(present[text:last]) + text
        if rows.size:
            out[rows] = np.minimum.reduceat(phv, starts[rows] - first, axis=1).T
        text = last
    return out.astype(np.uint64, copy=False)


_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)


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
