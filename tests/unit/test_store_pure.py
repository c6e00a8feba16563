"""Pure parts of the store: URL parsing, key ranges, etcd event decoding, the
etcd command line."""

from __future__ import annotations

import base64

import pytest

from k8snet.errors import UsageError
from k8snet.store import StoreUrl, open_store, parse_store_url, prefix_end
from k8snet.store.etcd import range_bounds, watch_event
from k8snet.store.etcd_process import (
    EtcdMember,
    initial_cluster,
    render_etcd_command,
    store_url,
)
from k8snet.store.sqlite import SqliteStore


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_parse_sqlite_url():
    assert parse_store_url("sqlite:///var/lib/k8snet/store.db") == StoreUrl(
        "sqlite", path="/var/lib/k8snet/store.db"
    )
    parsed = parse_store_url("sqlite:///tmp/s.db?history_revisions=50&poll_interval=0.5")
    assert parsed.options == {"history_revisions": 50, "poll_interval": 0.5}
    assert parse_store_url("sqlite:///tmp/s.db?synchronous=NORMAL").options == {
        "synchronous": "normal"}


def test_parse_etcd_url():
    parsed = parse_store_url("etcd://10.0.0.1:2379,10.0.0.2:2379?timeout=3")
    assert parsed.endpoints == (("10.0.0.1", 2379), ("10.0.0.2", 2379))
    assert parsed.options == {"timeout": 3.0}


@pytest.mark.parametrize(
    "url, words",
    [
        ("sqlite://relative.db", "absolute path"),
        ("sqlite:///tmp/x.db?color=red", "unknown option 'color'"),
        ("sqlite:///tmp/x.db?poll_interval=soon", "not a number"),
        ("sqlite:///tmp/x.db?synchronous=off", 'not "full" or "normal"'),
        ("etcd://127.0.0.1", "bad endpoint"),
        ("etcd://127.0.0.1:99999", "bad endpoint"),
        ("etcd://127.0.0.1:2379/prefix", "takes none"),
        ("redis://127.0.0.1:6379", "unknown store URL"),
        ("/tmp/store.db", "unknown store URL"),
    ],
)
def test_bad_urls_say_what_is_wrong(url, words):
    with pytest.raises(UsageError) as info:
        parse_store_url(url)
    assert words in str(info.value) and "sqlite:///" in str(info.value)


def test_open_store_connects_nothing(tmp_path):
    store = open_store(f"sqlite://{tmp_path}/never.db")
    assert isinstance(store, SqliteStore)
    assert not (tmp_path / "never.db").exists()


def test_prefix_end():
    assert prefix_end(b"/registry/pods/") == b"/registry/pods0"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff") is None
    assert prefix_end(b"") is None


def test_range_bounds():
    assert range_bounds("/registry/pods/") == {
        "key": b64(b"/registry/pods/"), "range_end": b64(b"/registry/pods0")
    }
    after = range_bounds("/registry/pods/", start_after="/registry/pods/ns/b")
    assert after["key"] == b64(b"/registry/pods/ns/b\0")
    # An empty prefix is every key: from "\0" to the end ("\0" as range_end).
    assert range_bounds("") == {"key": b64(b"\0"), "range_end": b64(b"\0")}


def test_watch_event_decoding():
    put = watch_event({
        "kv": {"key": b64(b"/k"), "create_revision": "7", "mod_revision": "9",
               "version": "2", "value": b64(b"new")},
        "prev_kv": {"key": b64(b"/k"), "mod_revision": "7", "version": "1",
                    "value": b64(b"old")},
    })
    assert (put.type, put.key, put.value, put.prev_value, put.revision, put.created) == (
        "PUT", "/k", b"new", b"old", 9, False
    )
    created = watch_event({"kv": {"key": b64(b"/k"), "create_revision": "7",
                                  "mod_revision": "7", "version": "1", "value": b64(b"v")}})
    assert created.created and created.prev_value is None
    deleted = watch_event({
        "type": "DELETE", "kv": {"key": b64(b"/k"), "mod_revision": "10"},
        "prev_kv": {"key": b64(b"/k"), "value": b64(b"new"), "mod_revision": "9"},
    })
    assert (deleted.type, deleted.value, deleted.prev_value, deleted.revision) == (
        "DELETE", None, b"new", 10
    )
    assert not deleted.created


def test_etcd_command_for_a_three_member_cluster():
    members = [EtcdMember(f"master{i}", f"10.0.0.{i}") for i in (1, 2, 3)]
    argv = render_etcd_command(members[1], members, "/run/k8snet/c1/master2/etcd")
    assert argv[0] == "/usr/bin/etcd"
    flags = dict(a[2:].split("=", 1) for a in argv[1:])
    assert flags["name"] == "master2"
    assert flags["data-dir"] == "/run/k8snet/c1/master2/etcd"
    assert flags["listen-client-urls"] == flags["advertise-client-urls"] == "http://10.0.0.2:2379"
    assert flags["listen-peer-urls"] == flags["initial-advertise-peer-urls"] == (
        "http://10.0.0.2:2380"
    )
    assert flags["initial-cluster"] == initial_cluster(members) == (
        "master1=http://10.0.0.1:2380,master2=http://10.0.0.2:2380,master3=http://10.0.0.3:2380"
    )
    assert flags["initial-cluster-state"] == "new"
    assert store_url(members) == "etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379"


def test_etcd_command_rejects_inconsistent_members():
    a, b = EtcdMember("a", "10.0.0.1"), EtcdMember("a", "10.0.0.2")
    with pytest.raises(ValueError, match="not in the member set"):
        render_etcd_command(EtcdMember("z", "10.0.0.9"), [a], "/d")
    with pytest.raises(ValueError, match="unique"):
        render_etcd_command(a, [a, b], "/d")


def test_etcd_down_is_reported_as_unavailable():
    import socket

    from k8snet.store import StoreUnavailable

    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        store = open_store(f"etcd://127.0.0.1:{port}?timeout=2")
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
            store.get("/registry/pods/ns/a")
        store.close()


def test_the_sqlite_commit_durability_asked_for_is_the_one_in_force(tmp_path):
    for asked, code in (("full", 2), ("normal", 1)):
        store = open_store(f"sqlite://{tmp_path}/{asked}.db?synchronous={asked}")
        store.create("/registry/x", b"1")
        got = store._read(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0])
        store.close()
        assert got == code, (asked, got)
    with pytest.raises(ValueError):
        from k8snet.store.sqlite import SqliteStore
        SqliteStore(str(tmp_path / "x.db"), synchronous="off")
