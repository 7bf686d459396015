"""Meeting occurrences: expand an RFC 5545 RRULE in the meeting's own time zone, so a weekly
09:00 Europe/Berlin call stays at 09:00 local time across daylight-saving changes (and moves
in UTC), exactly as calendar clients do."""

import datetime as dt
import zoneinfo

from dateutil.rrule import rrulestr

MAX_OCCURRENCES = 500


def validate_rrule(rule: str, start: dt.datetime) -> str:
    """Normalise and check a rule; raises ValueError with a readable message."""
    rule = rule.strip().upper().removeprefix("RRULE:")
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
    try:
        rrulestr(rule, dtstart=start.replace(tzinfo=None))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Not a valid recurrence rule: {exc}") from None
    return rule


def occurrences(
    meeting, window_start: dt.datetime | None = None, window_end: dt.datetime | None = None
):
    """(start, end) of every occurrence in [window_start, window_end), aware UTC datetimes,
    without the cancelled ones (EXDATE) and without those that have their own override."""
    tz = zoneinfo.ZoneInfo(meeting.time_zone)
    duration = meeting.end - meeting.start
    if not meeting.rrule:
        starts = [meeting.start]
    else:
        local_start = meeting.start.astimezone(tz).replace(tzinfo=None)
        # A floating UNTIL compares with local wall-clock times, as RFC 5545 allows.
        naive = _iterate(rrulestr(meeting.rrule, dtstart=local_start))
        starts = [_localise(n, tz) for n in naive]
    skipped = {dt.datetime.fromisoformat(x) for x in meeting.exdates}
    overridden = (
        set(meeting.overrides.values_list("recurrence_id", flat=True))
        if meeting.pk and meeting.rrule
        else set()
    )
    out = []
    for s in starts:
        s = s.astimezone(dt.UTC)
        if s in skipped or s in overridden:
            continue
        if window_start and s + duration <= window_start:
            continue
        if window_end and s >= window_end:
            continue
        out.append((s, s + duration))
    return out


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
