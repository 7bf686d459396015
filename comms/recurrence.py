"""Meeting occurrences: expand an RFC 5545 RRULE in the meeting's own time zone, so a weekly
09:00 Europe/Berlin call stays at 09:00 local time across daylight-saving changes (and moves
in UTC), exactly as calendar clients do."""

import bisect
import contextlib
import datetime as dt
import functools
import itertools
import re
import zoneinfo

from dateutil.rrule import rrulestr

MAX_OCCURRENCES = 500


def normalise_rrule(rule: str | None) -> str:
    """A rule as it is stored: upper case, without the ``RRULE:`` prefix."""
    return (rule or "").strip().upper().removeprefix("RRULE:")


def validate_rrule(rule: str, start: dt.datetime, time_zone: str | None = None) -> str:
    """Normalise and check a rule; raises ValueError with a readable message."""
    rule = normalise_rrule(rule)
    if not rule:
        return ""
    parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
    if "FREQ" not in parts or parts["FREQ"] not in {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}:
        raise ValueError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY.")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise ValueError("Give an end: COUNT=n or UNTIL=YYYYMMDD.")
    if "COUNT" in parts and not (
        parts["COUNT"].isdigit() and 1 <= int(parts["COUNT"]) <= MAX_OCCURRENCES
    ):
        raise ValueError(f"COUNT must be between 1 and {MAX_OCCURRENCES}.")
    if "INTERVAL" in parts and not (parts["INTERVAL"].isdigit() and int(parts["INTERVAL"]) >= 1):
        # INTERVAL=0 never advances: the same start again and again, or an endless expansion.
        raise ValueError("INTERVAL must be a whole number, at least 1.")
    # Expand from the local start, as occurrences() does (an unknown zone is reported later).
    with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
        start = start.astimezone(zoneinfo.ZoneInfo(time_zone)) if time_zone else start
    try:
        expanded = rrulestr(_expandable(rule), dtstart=start.replace(tzinfo=None))
        n = sum(1 for _ in itertools.islice(expanded, MAX_OCCURRENCES + 1))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Not a valid recurrence rule: {exc}") from None
    # The portal expands at most MAX_OCCURRENCES; calendar clients would show all of them.
    if n > MAX_OCCURRENCES:
        raise ValueError(f"At most {MAX_OCCURRENCES} occurrences: choose an earlier UNTIL.")
    if n == 0:
        raise ValueError("This rule gives no occurrence at all.")
    return rule


def _expandable(rule: str) -> str:
    """A date-only UNTIL includes that whole local day, as in the invitation (ics._utc_until
    sends 23:59:59 local time), so an occurrence on the UNTIL date is the last one."""
    return re.sub(r"UNTIL=(\d{8})(?=;|$)", r"UNTIL=\1T235959", rule)


def occurrences(
    meeting,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
    overrides=None,
):
    """(start, end) of every occurrence in [window_start, window_end), aware UTC datetimes,
    without the cancelled ones (EXDATE) and without those that have their own override.
    ``overrides``: the series' overrides when the caller read them already (else queried)."""
    duration = meeting.end - meeting.start
    if not meeting.rrule:
        starts = [meeting.start.astimezone(dt.UTC)]
    else:
        starts = series_starts(meeting.rrule, meeting.start, meeting.time_zone)
        if window_start:
            # The expansion is sorted: jump to the first occurrence not over by then.
            starts = starts[bisect.bisect_right(starts, window_start - duration) :]
    skipped = {dt.datetime.fromisoformat(x) for x in meeting.exdates}
    if not (meeting.pk and meeting.rrule):
        overridden = set()
    else:
        # .all(), not .values_list(): it uses a prefetch when the caller made one (lists).
        if overrides is None:
            overrides = meeting.overrides.all()
        overridden = {o.recurrence_id for o in overrides}
    out = []
    for s in starts:
        if s in skipped or s in overridden:
            continue
        if window_start and s + duration <= window_start:
            continue
        if window_end and s >= window_end:
            break  # occurrences come in order: none of the later ones is in the window
        out.append((s, s + duration))
    return out


@functools.lru_cache(maxsize=2048)
def series_starts(rule: str, start: dt.datetime, time_zone: str) -> tuple[dt.datetime, ...]:
    """Every start of a series, in UTC and in order (at most MAX_OCCURRENCES, which
    validate_rrule enforces). A pure function of its arguments, so memoised: the meetings
    page and the reminder scan expand the same series again and again (#9)."""
    tz = zoneinfo.ZoneInfo(time_zone)
    local_start = start.astimezone(tz).replace(tzinfo=None)
    # A floating UNTIL compares with local wall-clock times, as RFC 5545 allows.
    naive = _iterate(rrulestr(_expandable(rule), dtstart=local_start))
    # sorted: a daylight-saving shift could swap sub-hourly occurrences
    return tuple(sorted(_localise(n, tz).astimezone(dt.UTC) for n in naive))


def _iterate(rule):
    for n, value in enumerate(rule):
        if n >= MAX_OCCURRENCES:
            break
        yield value


def _localise(naive: dt.datetime, tz) -> dt.datetime:
    """Wall-clock time in tz. A time that does not exist (spring forward) moves forward an hour;
    an ambiguous one (fall back) takes the first, as calendar clients do."""
    aware = naive.replace(tzinfo=tz, fold=0)
    roundtrip = aware.astimezone(dt.UTC).astimezone(tz)
    if roundtrip.replace(tzinfo=None) != naive:  # in the gap
        aware = (naive + dt.timedelta(hours=1)).replace(tzinfo=tz)
    return aware
