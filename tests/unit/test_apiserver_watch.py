"""Watch options and schedules as upstream: which requests are invalid (and the 422
wording), where a watch starts, when BOOKMARKs are due, the ERROR Statuses."""

from __future__ import annotations

import json

import pytest

from k8snet.apiserver import watch as w
from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery import resources as kinds
from k8snet.store.base import WatchEvent


def opts(**params):
    return w.watch_options({k: str(v) for k, v in params.items()}, 1800.0)


def test_initial_events_by_resource_version_and_send_initial_events():
    assert opts().initial_events and opts(resourceVersion="0").initial_events
    assert not opts(resourceVersion="12").initial_events
    assert opts(resourceVersion="12", sendInitialEvents="true",
                resourceVersionMatch="NotOlderThan").initial_events
    assert not opts(sendInitialEvents="false",
                    resourceVersionMatch="NotOlderThan").initial_events
    assert opts(allowWatchBookmarks="true").bookmarks and not opts().bookmarks
    assert opts(timeoutSeconds=0).timeout == 1800.0 and opts(timeoutSeconds=5).timeout == 5


@pytest.mark.parametrize("params,message", [
    ({"sendInitialEvents": "true"},
     'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
     "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ({"resourceVersionMatch": "NotOlderThan", "resourceVersion": "5"},
     'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
     "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"),
    ({"resourceVersionMatch": "Exact", "sendInitialEvents": "true"},
     'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: '
     "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, "
     'resourceVersionMatch: Unsupported value: "Exact": supported values: "NotOlderThan"]'),
])
def test_invalid_watch_list_options(params, message):
    with pytest.raises(ApiStatusError) as e:
        opts(**params)
    assert e.value.code == 422 and e.value.message == message
    assert e.value.details["kind"] == "ListOptions.meta.k8s.io"


def test_bad_values_are_400():
    for params in ({"resourceVersion": "abc"}, {"sendInitialEvents": "maybe"},
                   {"timeoutSeconds": "soon"}):
        with pytest.raises(ApiStatusError) as e:
            opts(**params)
        assert e.value.code == 400


def test_bookmark_schedule_every_minute_and_before_the_timeout():
    assert w.next_bookmark(100.0, None) == 160.0
    assert w.next_bookmark(100.0, 1000.0) == 160.0
    assert w.next_bookmark(100.0, 130.0) == 128.0          # 2 s before the deadline
    assert w.next_bookmark(128.0, 130.0) is None            # that one was the last
    assert w.next_bookmark(100.0, 101.0) is None            # too short for any
    assert w.next_bookmark(100.0, None, interval=1.0) == 101.0


def test_bookmark_and_error_objects():
    pods = kinds.RESOURCES["pods"]
    assert w.bookmark(pods, 42) == {"kind": "Pod", "apiVersion": "v1", "metadata": {
        "resourceVersion": "42", "creationTimestamp": None}}
    end = w.bookmark(pods, 42, initial_end=True)
    assert end["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    gone = w.expired(1, 57)
    assert (gone["code"], gone["reason"], gone["message"]) == (
        410, "Expired", "too old resource version: 1 (57)")
    big = w.too_large(900, 57)
    assert (big["code"], big["reason"], big["message"]) == (
        504, "Timeout", "Too large resource version: 900, current: 57")
    assert big["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


def test_progress_events_are_not_sent_as_watch_events():
    ev = WatchEvent("PROGRESS", "", None, None, 9, False)
    assert w.translate(kinds.RESOURCES["pods"], ev, lambda _o: True) is None


def test_compaction_keeps_one_to_two_intervals_of_history():
    from k8snet.apiserver.main import compaction_target
    assert compaction_target(0, 500, 0) == 0          # first round: nothing yet
    assert compaction_target(500, 900, 0) == 500      # the previous round's revision
    assert compaction_target(500, 900, 100) == 800    # a revision cap keeps less
    assert compaction_target(500, 550, 100) == 500


def test_watches_share_one_decoding_and_one_encoding_of_an_event():
    pods = kinds.RESOURCES["pods"]
    old = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"app":"x"}}}'
    new = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"app":"y"}}}'
    ev = WatchEvent("PUT", "/registry/pods/default/a", new, old, 12, False)
    cache = w.EventCache()
    everyone = w.translate(pods, ev, lambda _o: True, cache)
    again = w.translate(pods, ev, lambda _o: True, cache)
    assert tuple(everyone) == ("MODIFIED", again[1]) and everyone[1] is again[1]
    assert everyone[1]["metadata"]["resourceVersion"] == "12"
    line = w.cached_line(cache, everyone)
    assert w.cached_line(cache, again) is line
    assert json.loads(line) == {"type": "MODIFIED", "object": everyone[1]}
    # a selector watch sees the same bytes as its own event: app=x stops matching
    left = w.translate(pods, ev, lambda o: o["metadata"]["labels"]["app"] == "x", cache)
    assert left[0] == "DELETED" and left[1] is everyone[1]
    assert json.loads(w.cached_line(cache, left))["type"] == "DELETED"
    assert w.cached_line(None, left) == w.cached_line(cache, left)


def test_the_event_cache_forgets_the_least_recently_used():
    cache = w.EventCache(size=2)
    made = []
    for key in ("a", "b", "a", "c", "b"):
        cache.get((key,), lambda k=key: made.append(k) or k)
    assert made == ["a", "b", "c", "b"]        # "a" was used again, so "b" went first
    assert (cache.hits, cache.misses) == (1, 4)


def test_a_watch_without_selector_never_decodes_the_old_object():
    pods = kinds.RESOURCES["pods"]
    new = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}'
    ev = WatchEvent("PUT", "/registry/pods/default/a", new, b"not json", 13, False)
    assert w.translate(pods, ev, None)[0] == "MODIFIED"
    gone = WatchEvent("DELETE", "/registry/pods/default/a", None, new, 14, False)
    assert tuple(w.translate(pods, gone, None))[0] == "DELETED"
