"""The page a person opens at ``GET /``: drop or pick a photo, or paste a URL, and see the scores.

One self-contained file, ``page.html``, read on the first request for it
rather than at cold start. Its Content-Security-Policy allows only its own
inline script and style (by their hashes), requests to this API, and
pictures from anywhere, so nothing else can run in it.
"""

import base64
import functools
import hashlib
import re
from pathlib import Path

PAGE = Path(__file__).with_name("page.html")


def _hash_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.cache
def page() -> tuple[dict[str, str], str]:
    """The page's HTTP headers and its HTML."""
    html = PAGE.read_text(encoding="utf-8")
    [script] = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    [style] = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    policy = (f"default-src 'none'; script-src {_hash_source(script)}; style-src {_hash_source(style)}; "
              "img-src http: https: blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "max-age=300",
    }
    return headers, html
