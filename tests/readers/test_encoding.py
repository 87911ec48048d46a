"""decode_bytes and detect_stream_encoding: BOMs, UTF-8, Western fallbacks, detected code pages."""

from __future__ import annotations

import codecs
import doctest
import io

import pytest

from etl.readers import encoding
from etl.readers.encoding import decode_bytes, detect_stream_encoding

RUSSIAN = (
    "Министр иностранных дел России Сергей Лавров заявил в среду, что переговоры "
    "по Сирии продолжатся в Астане на следующей неделе."
)
FRENCH = "Le ministre a déclaré à la presse que l'été serait chaud. Ça va être très difficile."


def test_doctests():
    assert doctest.testmod(encoding).failed == 0


def test_utf8_with_and_without_bom():
    assert decode_bytes("Caf\u00e9".encode()) == ("Caf\u00e9", "utf-8")
    assert decode_bytes(codecs.BOM_UTF8 + "Caf\u00e9".encode()) == ("Caf\u00e9", "utf-8")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_bom(codec: str):
    text = RUSSIAN + "\n" + FRENCH
    data = text.encode(codec)
    if codec.endswith(("-le", "-be")):  # these codecs write no BOM: add the right one
        data = (codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE) + data
    decoded, name = decode_bytes(data)
    assert decoded == text
    assert name == codec.split("-l")[0].split("-b")[0]


def test_utf16_without_bom_goes_to_the_detector():
    decoded, name = decode_bytes("Hello world, this is a test of the detector".encode("utf-16-le"))
    assert decoded == "Hello world, this is a test of the detector"
    assert name == "utf_16_le"


def test_cp1251_cyrillic():
    assert decode_bytes(RUSSIAN.encode("cp1251")) == (RUSSIAN, "cp1251")


def test_koi8r_cyrillic():
    assert decode_bytes(RUSSIAN.encode("koi8_r")) == (RUSSIAN, "koi8_r")


def test_latin1_text_is_read_as_western():
    """Latin-1 text without 0x80-0x9F bytes is also valid cp1252 and reads the same."""
    decoded, name = decode_bytes(FRENCH.encode("latin-1"))
    assert decoded == FRENCH
    assert name == "cp1252"


def test_latin1_with_a_byte_cp1252_lacks():
    decoded, name = decode_bytes(b"Die B\xfcrger in M\xfcnchen \x81 und K\xf6ln")
    assert (decoded, name) == ("Die B\u00fcrger in M\u00fcnchen \x81 und K\u00f6ln", "latin-1")


def test_smart_quotes_stay_cp1252_whatever_the_detector_says():
    data = b"The minister\x92s plan \x93works\x94 \x96 officials said"
    assert decode_bytes(data) == (
        "The minister\u2019s plan \u201cworks\u201d \u2013 officials said",
        "cp1252",
    )


def test_never_fails():
    for data in (b"", bytes(range(256)), b"\xff" * 10, b"\x00\x81\x8d"):
        text, name = decode_bytes(data)
        assert isinstance(text, str) and name


def test_detect_stream_encoding():
    assert detect_stream_encoding(codecs.BOM_UTF8 + b'{"a": 1}') == "utf-8-sig"
    assert detect_stream_encoding("N\u00e9ws".encode("utf-16")) == "utf-16"
    cut = ("x" * 10 + RUSSIAN).encode()[:15]  # ends inside a two-byte character
    assert detect_stream_encoding(cut) == "utf-8"
    assert detect_stream_encoding(RUSSIAN.encode("cp1251")) == "cp1251"
    assert detect_stream_encoding(FRENCH.encode("latin-1")) == "cp1252"


def test_stream_encoding_reads_the_whole_stream():
    data = (RUSSIAN + "\n") * 50
    raw = data.encode("cp1251")
    name = detect_stream_encoding(raw[:4096])
    assert io.TextIOWrapper(io.BytesIO(raw), encoding=name, errors="replace").read() == data
