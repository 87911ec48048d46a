"""Keeping URL credentials (``user:password@``) out of everything stored, logged or shown.

A source URL may carry basic-auth userinfo; the fetch needs it, nothing else
does. ``redact_url`` is what the ledger, ``runs.parameters``, locators, log lines,
error messages and Prefect parameters see; ``redact_text`` scrubs URLs embedded
in free text (exception messages from the HTTP stack, say).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# scheme://userinfo@ : userinfo runs up to the last '@' before the path starts.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s'\"]*@)")


def redact_url(url: str) -> str:
    """``url`` without its userinfo: ``http://alice:pw@host/x`` -> ``http://host/x``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if "@" not in parts.netloc:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=netloc))


def redact_text(text: str) -> str:
    """``text`` with the userinfo of every URL in it removed."""
    return _USERINFO.sub(lambda m: m.group("scheme"), text)


def has_userinfo(url: str) -> bool:
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False
