"""CronJob schedules: the standard five-field syntax and the @descriptors (pure).

Public names:

    schedule_error(text) -> str | None   why a schedule does not parse, in the words of
                                         the cron library Kubernetes uses; None when valid
    parse(text) -> Schedule               ValueError when invalid
    Schedule.matches(struct_time-like (minute, hour, day, month, weekday 0=Sunday)) -> bool
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Schedule:
    """The set of allowed values of each field."""

    fields: tuple[frozenset[int], ...]  # "@every <duration>" intervals: all empty

    def matches(self, minute: int, hour: int, day: int, month: int, weekday: int) -> bool:
        m, h, dom, mon, dow = self.fields
        return minute in m and hour in h and day in dom and month in mon and weekday in dow


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
        return Schedule(tuple(frozenset() for _ in FIELDS))
    if spec.startswith("@"):
        if spec not in DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor: {spec}")
        spec = DESCRIPTORS[spec]
    parts = spec.split()
    if len(parts) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(parts)}: [{' '.join(parts)}]")
    return Schedule(tuple(_field(p, low, high, names)
                          for p, (_n, low, high, names) in zip(parts, FIELDS)))


def schedule_error(text: str) -> Optional[str]:
    """None when `text` is a valid schedule, else why not."""
    try:
        parse(text)
    except ValueError as e:
        return str(e)
    return None
