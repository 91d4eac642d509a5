"""A page's choices as query parameters, so a reload or a copied link opens the same view.

Values travel as text: a string as itself (`?model=mnist-ema`), a number, switch or list
as JSON (`?sample-seed=3`, `?compare-models=["a","b"]`). A string that would read back as
something else (a model named "123") is JSON-quoted, so every value round-trips exactly.
A value read from a URL is untrusted: a page checks it against its options before use.
"""

from __future__ import annotations

import json

Scalar = str | int | float | bool


def encodable(value) -> bool:
    """Whether `value` can live in a URL: a string, number or switch, or a list of them."""
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, (str, int, float, bool)) for v in value)
    return isinstance(value, (str, int, float, bool))


def encode(value) -> str:
    """One query-parameter value (see the module's docstring)."""
    if not encodable(value):
        raise ValueError(f"{type(value).__name__} cannot live in a URL")
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value  # reads back as itself
        return json.dumps(value)
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def decode(text: str):
    """The value `encode` wrote; text that is not JSON is a plain string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if encodable(value) else text


# Widget keys whose values survive page changes (the settings on Train, Compare, Codebook, Sample)
KEPT = ("train-", "compare-", "codebook_", "sample", "invert", "set-")


def kept_keys(keys, in_url) -> list[str]:
    """The session-state keys a page writes back on every run so their widgets' values survive
    a page without those widgets: the KEPT ones and every choice bound to the URL (`in_url`)."""
    return [key for key in keys if isinstance(key, str) and (key.startswith(KEPT) or key in in_url)]


def shown_in_url(value, default) -> str | None:
    """The query-parameter text of a remembered choice, or None to leave it out of the URL: a
    default (short links), nothing, or a value no URL can hold."""
    if value == default or value is None or not encodable(value):
        return None
    return encode(value)


def accepts(allowed, value) -> bool:
    """Whether `allowed` (None: anything; a collection of values; or a test of a value) lets
    `value` be a choice's value; a test that cannot read the value refuses it."""
    if allowed is None:
        return True
    if callable(allowed):
        try:
            return bool(allowed(value))
        except (TypeError, ValueError):
            return False
    try:
        return value in allowed
    except TypeError:
        return False
