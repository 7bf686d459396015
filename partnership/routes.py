"""``reverse_ids()``: ``reverse()`` for URLs whose arguments are integer ids, from a pattern
built once per URL name.

Object links are reversed once per row of every list (``get_absolute_url``); Django's
``reverse()`` matches the pattern's candidates each time, ~25 µs on a small server — a page
of 50 rows with two links paid 2–3 ms (#9). Here the URL is reversed once with placeholder
ids, then the ids are put in their place. Same result as ``reverse()``
(tests/partnership/test_fast_paths.py), for the active URLconf and script prefix.
"""

import functools

from django.urls import get_script_prefix, get_urlconf, reverse

#: Placeholders: ids no table reaches, unlike any other digits of a path.
_MARK = 987_654_321_000


@functools.lru_cache(maxsize=512)
def _pattern(viewname: str, count: int, urlconf, prefix: str) -> tuple[str, tuple[str, ...]]:
    marks = tuple(str(_MARK + i) for i in range(count))
    return reverse(viewname, args=marks, urlconf=urlconf), marks


def reverse_ids(viewname: str, *ids: int) -> str:
    path, marks = _pattern(viewname, len(ids), get_urlconf(), get_script_prefix())
    for mark, value in zip(marks, ids, strict=True):
        path = path.replace(mark, str(int(value)), 1)
    return path
