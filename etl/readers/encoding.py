"""Decode dump bytes without ever failing.

News dumps are mostly UTF-8, but older wire files and hand-edited ones carry
Windows-1252 or Latin-1 bytes (a curly apostrophe as ``0x92``, ``ü`` as
``0xFC``), and regional archives come in Cyrillic or Greek code pages
(cp1251, KOI8-R, cp1253) or in UTF-16. Readers decode with :func:`decode_bytes`
so a stray byte costs at worst one odd character instead of the whole record,
and they can record which encoding was used.

How the encoding is chosen, in order:

1. A byte-order mark decides (UTF-8, UTF-16, UTF-32).
2. Valid UTF-8 is UTF-8, unless a quarter of the bytes are NUL (then it is
   UTF-16 or UTF-32 without a BOM, see 4).
3. *Western text with a few special bytes* is cp1252, or Latin-1 when a byte
   undefined in cp1252 (``0x81``, ``0x8D``, ``0x8F``, ``0x90``, ``0x9D``) occurs.
   "A few" means that bytes above ``0x7F`` make up less than
   :data:`WESTERN_MAX_SHARE` of the letters and there is no NUL byte. For such
   text the statistical detector has almost no evidence and guesses among
   single-byte code pages nearly at random: charset-normalizer names cp1250 for
   ``b"Russia\\x92s"`` and cp775 for a German text with one stray ``0x81``
   (turning ``ü`` into ``³``). The rule costs a Central European text that is
   mostly ASCII its few accented letters (cp1250 ``ř`` read as ``ø``); that is
   the trade-off taken, because English dumps with smart quotes are far more
   common here.
4. Anything else (dense non-ASCII bytes, or NUL bytes as in BOM-less UTF-16) goes
   to charset-normalizer, whose best match names the encoding (a Python codec
   name such as ``cp1251``, ``koi8_r`` or ``utf_16_le``).
5. If it finds nothing: cp1252, else Latin-1, which maps every byte and never fails.

Very short non-Western texts (a few words) are guesses whatever is done: the
detector may pick a related code page.
"""

from __future__ import annotations

import codecs

import charset_normalizer

# Bytes above 0x7F per letter (ASCII letters + high bytes) below which text is
# taken as Western (cp1252/Latin-1). German or French prose has 2-10 %, a
# Cyrillic or Greek single-byte text 80 % or more.
WESTERN_MAX_SHARE = 0.3

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ASCII_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode ``data`` and name the encoding that worked (see the module docstring).

    >>> decode_bytes("Russia\u2019s".encode())
    ('Russia’s', 'utf-8')
    >>> decode_bytes(b"Russia\\x92s")
    ('Russia’s', 'cp1252')
    >>> decode_bytes(b"M\\xfcnchen \\x81")
    ('München \\x81', 'latin-1')
    >>> decode_bytes("Министр иностранных дел России заявил в среду".encode("cp1251"))
    ('Министр иностранных дел России заявил в среду', 'cp1251')
    >>> decode_bytes("N\u00e9ws".encode("utf-16"))  # Python writes the BOM
    ('Néws', 'utf-16')
    """
    bom = _bom_encoding(data)
    if bom == "utf-8":
        data = data[len(codecs.BOM_UTF8) :]
    elif bom is not None:  # the codec consumes its own BOM
        return data.decode(bom, errors="replace"), bom
    if not _mostly_nul(data):
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    if not _looks_western(data):
        match = charset_normalizer.from_bytes(data).best()
        if match is not None:
            return str(match), match.encoding
    return _western(data)


def detect_stream_encoding(head: bytes) -> str:
    """The encoding to read a whole stream with, judged from its first bytes.

    Meant for ``io.TextIOWrapper(stream, encoding=..., errors="replace")`` in
    streaming readers: ``head`` may end in the middle of a character, which is
    not held against UTF-8. A UTF-8 BOM gives ``utf-8-sig`` so the wrapper drops
    it; UTF-16/32 BOMs give codecs that consume theirs. Otherwise the same
    choice as :func:`decode_bytes`. Later bytes may still disagree with a
    single-byte guess, hence ``errors="replace"``.

    >>> detect_stream_encoding(b"\\xef\\xbb\\xbf{}")
    'utf-8-sig'
    >>> detect_stream_encoding("Caf\u00e9".encode()[:-1])
    'utf-8'
    >>> detect_stream_encoding(b"Caf\\xe9 au lait")
    'cp1252'
    """
    bom = _bom_encoding(head)
    if bom == "utf-8":
        return "utf-8-sig"
    if bom is not None:
        return bom
    if not _mostly_nul(head):
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    if not _looks_western(head):
        match = charset_normalizer.from_bytes(head).best()
        if match is not None:
            return match.encoding
    return _western(head)[1]


def _bom_encoding(data: bytes) -> str | None:
    return next((name for bom, name in _BOMS if data.startswith(bom)), None)


def _mostly_nul(data: bytes) -> bool:
    """A quarter or more NUL bytes: UTF-16/32 without a BOM, though valid UTF-8 when ASCII."""
    return data.count(0) * 4 >= len(data) > 0


def _looks_western(data: bytes) -> bool:
    """Mostly ASCII letters with a few high bytes, and no NUL (see WESTERN_MAX_SHARE)."""
    if b"\x00" in data:
        return False
    high = sum(1 for byte in data if byte > 0x7F)
    letters = high + sum(1 for byte in data if byte in _ASCII_LETTERS)
    return letters > 0 and high / letters < WESTERN_MAX_SHARE


def _western(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"
