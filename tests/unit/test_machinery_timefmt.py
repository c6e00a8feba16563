"""The one set of time helpers (k8snet.machinery.timefmt) and the condition helpers."""

import datetime as dt

import pytest

from k8snet.machinery import conditions, timefmt

T = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone.utc)
EPOCH = T.timestamp()


def test_formats_from_datetimes_and_epoch_seconds_agree():
    assert timefmt.format_time(T) == timefmt.format_time(EPOCH) == "2024-01-02T03:04:05Z"
    assert timefmt.format_micro_time(T) == timefmt.format_micro_time(EPOCH) == \
        "2024-01-02T03:04:05.123456Z"
    # naive datetimes are UTC; other zones are converted
    assert timefmt.format_time(T.replace(tzinfo=None)) == "2024-01-02T03:04:05Z"
    plus2 = T.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert timefmt.format_time(plus2) == "2024-01-02T03:04:05Z"


def test_rfc3339nano_trims_trailing_zeros_like_go():
    assert timefmt.format_nano_time(1_600_000_000_123_456_789) == "2020-09-13T12:26:40.123456789Z"
    assert timefmt.format_nano_time(1_600_000_000_120_000_000) == "2020-09-13T12:26:40.12Z"
    assert timefmt.format_nano_time(1_600_000_000_000_000_000) == "2020-09-13T12:26:40Z"


@pytest.mark.parametrize("text", ["2024-01-02T03:04:05.123456Z", "2024-01-02T03:04:05.123456789Z",
                                  "2024-01-02T05:04:05.123456+02:00",
                                  "2024-01-02t03:04:05.123456z"])
def test_parse_time_reads_every_rfc3339_shape(text):
    assert timefmt.parse_time(text) == T


def test_round_trips_and_bad_input():
    assert timefmt.parse_time(timefmt.format_micro_time(T)) == T
    assert timefmt.parse_time(timefmt.format_time(T)) == T.replace(microsecond=0)
    assert timefmt.parse_time("2024-01-02T03:04:05") == T.replace(microsecond=0)  # no zone: UTC
    for bad in (None, "", "yesterday", "2024-13-02T03:04:05Z", "2024-01-02", 5):
        assert timefmt.parse_time(bad) is None
    with pytest.raises(ValueError):
        timefmt.parse_epoch("nonsense")


def test_parse_epoch_keeps_nanoseconds():
    assert timefmt.parse_epoch("2020-09-13T12:26:40.123456789Z") == \
        pytest.approx(1_600_000_000.123456789, abs=1e-6)
    assert timefmt.parse_epoch("2020-09-13T12:26:40Z") == 1_600_000_000.0
    assert timefmt.from_nanos(0) is None and timefmt.from_nanos(1_500_000_000) == 1.5


def test_condition_helpers():
    node = {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": "Unknown"}]}}
    assert conditions.status_of(node, "Ready") == "Unknown" and not conditions.is_ready(node)
    assert conditions.condition(node, "DiskPressure") is None
    assert conditions.is_ready({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert not conditions.is_ready(None) and not conditions.is_ready({"status": None})
