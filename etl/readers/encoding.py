"""Decode dump bytes without ever failing.

News dumps are mostly UTF-8, but older wire files and hand-edited ones carry
Windows-1252 or Latin-1 bytes (a curly apostrophe as ``0x92``, ``ü`` as
``0xFC``). Readers decode with :func:`decode_bytes` so a stray byte costs at worst
one odd character instead of the whole record, and they can record which
encoding was used.
"""

from __future__ import annotations

import codecs


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode ``data`` and name the encoding that worked.

    Tried in order: UTF-8 (a leading BOM is removed), then cp1252 (the usual
    culprit for "smart quotes" in otherwise ASCII text), then Latin-1, which maps
    every byte and therefore never fails.

    >>> decode_bytes("Russia\u2019s".encode())
    ('Russia’s', 'utf-8')
    >>> decode_bytes(b"Russia\\x92s")
    ('Russia’s', 'cp1252')
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"
