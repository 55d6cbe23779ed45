import gzip
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.response_text import KEEP_BYTES, NUL_SYMBOL, REPLACEMENT, response_text, storable_text


def _storable(text: str) -> bool:
    """What PostgreSQL text accepts: valid UTF-8 without NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@given(st.binary(max_size=KEEP_BYTES))
def test_any_bytes_become_storable_text(body):
    text = response_text(body)
    assert _storable(text)
    assert len(text) <= max(len(body), 64)  # never more than the body, or a short marker


@given(st.text(max_size=1000).filter(lambda t: "\x00" not in t and t.isprintable()))
def test_printable_utf8_is_kept_as_it_is(text):
    assert response_text(text.encode()) == text


@given(st.text(max_size=500))
def test_storable_text_accepts_any_python_text(text):
    assert _storable(storable_text(text))


def test_nul_bytes_are_shown_as_the_nul_symbol():
    assert response_text(b'{"ok":\x00true}') == '{"ok":' + NUL_SYMBOL + "true}"


def test_invalid_utf8_bytes_become_replacement_characters():
    assert (
        response_text(b"caf\xe9 ok, na\xefve but readable")
        == f"caf{REPLACEMENT} ok, na{REPLACEMENT}ve but readable"
    )


def test_latin1_text_stays_readable():
    assert response_text("Erreur: accès refusé".encode("latin-1")).startswith("Erreur: acc")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (gzip.compress(b'{"ok": true}'), "gzip"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "png"),
        (b"\xff\xd8\xff\xe0" + bytes(50), "jpeg"),
        (b"PK\x03\x04rest", "zip"),
    ],
)
def test_known_binary_formats_are_named_not_shown(body, kind):
    assert response_text(body) == f"[binary response: {len(body)} bytes kept, {kind}, not shown]"


def test_other_binary_is_not_shown():
    body = zlib.compress(bytes(range(256)) * 8)  # no signature of its own
    assert response_text(body) == f"[binary response: {len(body)} bytes kept, not shown]"


def test_a_character_cut_at_the_keep_limit_is_dropped():
    body = ("a" * (KEEP_BYTES - 1) + "é").encode()[:KEEP_BYTES]  # é cut after its first byte
    assert response_text(body) == "a" * (KEEP_BYTES - 1)


def test_a_short_body_ending_in_half_a_character_shows_it_replaced():
    assert response_text(b"ok \xc3") == "ok " + REPLACEMENT


def test_storable_text_replaces_nul_and_lone_surrogates():
    assert storable_text("bad header \x00 \udcb2") == f"bad header {NUL_SYMBOL} {REPLACEMENT}"


def test_empty_body_is_empty_text():
    assert response_text(b"") == ""
