"""CRI log parsing, selection and query parsing."""

import pytest

from k8snet.kubelet import logs
from k8snet.machinery.timefmt import parse_nanos

LINES = [
    "2026-01-01T00:00:00.100000000Z stdout F first\n",
    "2026-01-01T00:00:01.000000000Z stderr P half \n",
    "2026-01-01T00:00:01.500000000Z stdout F second\n",
    "2026-01-01T00:00:02.000000000Z stderr F and half\n",
    "garbage\n",
    "2026-01-01T00:00:03Z stdout F \n",
]


def test_parse_joins_partials_and_skips_garbage():
    entries = list(logs.parse(LINES))
    assert [e.content for e in entries] == ["first", "second", "half and half", ""]
    assert entries[2].stream == "stderr" and entries[2].time.startswith("2026-01-01T00:00:01.")


def test_tail_since_and_timestamps():
    entries = list(logs.parse(LINES))
    t0 = entries[0].ts
    q = logs.LogQuery(tail_lines=2)
    assert [e.content for e in logs.select(entries, q)] == ["half and half", ""]
    q = logs.LogQuery(since_time=t0 + 1.2)
    assert [e.content for e in logs.select(entries, q)] == ["second", ""]
    assert logs.select(entries, logs.LogQuery(tail_lines=0)) == []
    assert logs.render(entries[0], True) == "2026-01-01T00:00:00.100000000Z first\n"
    assert logs.render(entries[0], False) == "first\n"


def test_query_parameters():
    q = logs.parse_query({"tailLines": "5", "timestamps": "true", "sinceSeconds": "10",
                          "follow": "1"}, now=100.0)
    assert (q.tail_lines, q.timestamps, q.since_time, q.follow) == (5, True, 90.0, True)
    with pytest.raises(ValueError, match="tailLines must be an integer"):
        logs.parse_query({"tailLines": "x"}, 0)
    with pytest.raises(ValueError, match="negative"):
        logs.parse_query({"sinceSeconds": "-1"}, 0)


def test_pick_log_file():
    files = ["0.log", "2.log", "1.log", "junk"]
    assert logs.pick_log_file("/d", files, previous=False) == "/d/2.log"
    assert logs.pick_log_file("/d", files, previous=True) == "/d/1.log"
    assert logs.pick_log_file("/d", ["0.log"], previous=True) is None
    assert logs.pod_log_dir("/r", "ns", "p", "u") == "/r/pods/ns_p_u"


def test_a_zone_offset_is_shown_as_utc_with_z_as_the_kubelet_does():
    # conmon writes the machine's local offset; kubectl logs --timestamps shows UTC
    entries = list(logs.parse(["2026-12-03T09:37:47.514794690+02:00 stdout F run\n",
                               "2026-12-03T07:37:48.5+00:00 stdout F again\n"]))
    assert [e.time for e in entries] == ["2026-12-03T07:37:47.514794690Z",
                                         "2026-12-03T07:37:48.500000000Z"]
    assert entries[1].ts - entries[0].ts == pytest.approx(0.98520531)


def test_parse_nanos_is_exact():
    assert parse_nanos("1970-01-01T00:00:01.000000001Z") == 1_000_000_001
    assert parse_nanos("1970-01-01T02:00:01.5+02:00") == 1_500_000_000
