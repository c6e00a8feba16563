"""The records between a container's shim and an attach session (k8snet.cri.shimio)."""

import pytest

from k8snet.cri import shimio


def test_records_survive_any_split():
    stream = shimio.pack(shimio.STDIN, b"hello\n") + shimio.pack(shimio.CLOSE_STDIN) + \
        shimio.pack(shimio.RESIZE, b'{"Width":80,"Height":24}')
    for cut in range(1, len(stream)):
        u = shimio.Unpacker()
        got = u.feed(stream[:cut]) + u.feed(stream[cut:])
        assert got == [(0, b"hello\n"), (255, b""), (4, b'{"Width":80,"Height":24}')]


def test_a_record_too_large_is_not_ours():
    with pytest.raises(ValueError):
        shimio.Unpacker().feed(b"\x00\xff\xff\xff\xff")


def test_socket_name_is_abstract_and_per_container():
    assert shimio.socket_name("abc").startswith("\0")
    assert shimio.socket_name("abc") != shimio.socket_name("abd")
