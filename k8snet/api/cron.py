"""CronJob schedules: the standard five-field syntax and the @descriptors (pure).

Public names:

    schedule_error(text) -> str | None   why a schedule does not parse, in the words of
                                         the cron library Kubernetes uses; None when valid
    parse(text) -> Schedule               ValueError when invalid
    Schedule.matches(minute, hour, day, month, weekday 0=Sunday) -> bool
    Schedule.next_after(t) -> datetime | None   the first activation after the aware
                                         datetime t, in t's time zone

Semantics are those of the library Kubernetes uses (robfig/cron v3, standard parser):
when both day of month and day of week are restricted (neither starts with `*` or
`?`) a day matching either one matches; `@every <duration>` fires every duration
from `t`. Activations are searched on the real time line and matched against the
wall clock of the zone, so on a spring-forward day a time inside the gap does not
fire, and on a fall-back day a time in the repeated hour fires twice.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Optional

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec"))}
DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, low, high, names)
FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
          ("month", 1, 12, MONTHS), ("day of week", 0, 6, DAYS))
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


SEARCH_YEARS = 5  # no activation within this many years: there is none (e.g. Feb 30)
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Schedule:
    """The set of allowed values of each field; whether day of month and day of week
    were `*`; for `@every <duration>` the interval in seconds (fields all empty)."""

    fields: tuple[frozenset[int], ...]
    dom_star: bool = True
    dow_star: bool = True
    every: Optional[float] = None

    def matches(self, minute: int, hour: int, day: int, month: int, weekday: int) -> bool:
        m, h, dom, mon, dow = self.fields
        if minute not in m or hour not in h or month not in mon:
            return False
        return self._day(day, weekday)

    def _day(self, day: int, weekday: int) -> bool:
        _m, _h, dom, _mon, dow = self.fields
        if self.dom_star or self.dow_star:
            return day in dom and weekday in dow
        return day in dom or weekday in dow

    def next_after(self, t: dt.datetime) -> Optional[dt.datetime]:
        """The first activation strictly after `t` (aware), expressed in t's zone."""
        if t.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        zone = t.tzinfo
        if self.every is not None:
            step = max(1.0, float(int(self.every)))  # whole seconds, at least one
            return (t + dt.timedelta(seconds=step)).replace(microsecond=0)
        utc = (t.astimezone(dt.timezone.utc).replace(second=0, microsecond=0)
               + dt.timedelta(minutes=1))
        end = utc + dt.timedelta(days=366 * SEARCH_YEARS)
        m, h, _dom, mon, _dow = self.fields
        while utc < end:
            local = utc.astimezone(zone)
            if local.month not in mon:
                utc = max(utc + dt.timedelta(minutes=1), _local_start(
                    zone, local.year + (local.month == 12), local.month % 12 + 1, 1))
            elif not self._day(local.day, (local.weekday() + 1) % 7):
                nxt = local.date() + dt.timedelta(days=1)
                utc = max(utc + dt.timedelta(minutes=1),
                          _local_start(zone, nxt.year, nxt.month, nxt.day))
            elif local.hour not in h:
                utc += dt.timedelta(minutes=60 - local.minute)
            elif local.minute not in m:
                utc += dt.timedelta(minutes=1)
            else:
                return local
        return None


def _local_start(zone: dt.tzinfo, year: int, month: int, day: int) -> dt.datetime:
    """The first instant of a local day (as UTC; a midnight in a gap gives the gap's end)."""
    return dt.datetime(year, month, day, tzinfo=zone).astimezone(dt.timezone.utc)


def _seconds(duration: str) -> float:
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)",
                                                          duration))


def _value(text: str, low: int, high: int, names: dict) -> int:
    if text.lower() in names:
        return names[text.lower()]
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"failed to parse int from {text}: strconv.Atoi: parsing "
                         f'"{text}": invalid syntax') from None
    if value < 0:
        raise ValueError(f"negative number ({value}) not allowed: {text}")
    return value


def _field(text: str, low: int, high: int, names: dict) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        rng = part
        if "/" in part:
            rng, step_text = part.split("/", 1)
            step = _value(step_text, low, high, {})
            if step == 0:
                raise ValueError(f"step of range should be a positive number: {part}")
        if rng in ("*", "?"):
            start, end = low, high
        elif "-" in rng:
            a, b = rng.split("-", 1)
            start, end = _value(a, low, high, names), _value(b, low, high, names)
        else:
            start = _value(rng, low, high, names)
            end = high if "/" in part else start
        if start < low:
            raise ValueError(f"beginning of range ({start}) below minimum ({low}): {part}")
        if end > high:
            raise ValueError(f"end of range ({end}) above maximum ({high}): {part}")
        if start > end:
            raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): "
                             f"{part}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def parse(text: str) -> Schedule:
    """The schedule described by `text` (ValueError with the reason when invalid)."""
    spec = text.strip()
    if not spec:
        raise ValueError("empty spec string")
    if spec.startswith("@every "):
        dur = spec[len("@every "):].strip()
        if not _DURATION.match(dur):
            raise ValueError(f"failed to parse duration {spec}: time: invalid duration "
                             f'"{dur}"')
        return Schedule(tuple(frozenset() for _ in FIELDS), every=_seconds(dur))
    if spec.startswith("@"):
        if spec not in DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor: {spec}")
        spec = DESCRIPTORS[spec]
    parts = spec.split()
    if len(parts) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(parts)}: [{' '.join(parts)}]")
    return Schedule(tuple(_field(p, low, high, names)
                          for p, (_n, low, high, names) in zip(parts, FIELDS)),
                    dom_star=parts[2][0] in "*?", dow_star=parts[4][0] in "*?")


def schedule_error(text: str) -> Optional[str]:
    """None when `text` is a valid schedule, else why not."""
    try:
        parse(text)
    except ValueError as e:
        return str(e)
    return None
