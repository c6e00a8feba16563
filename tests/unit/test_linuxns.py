"""The byte layouts linuxns hands the kernel (no root needed)."""

import struct

import pytest

from k8snet import linuxns


def test_ifreq_is_the_name_padded_to_16_then_a_24_byte_union():
    req = linuxns.ifreq("eth0", struct.pack("H", 0x1043))
    assert len(req) == 40
    assert req[:16] == b"eth0" + b"\0" * 12
    assert struct.unpack_from("H", req, 16)[0] == 0x1043 and req[18:] == b"\0" * 22
    assert linuxns.ifreq_flags(req) == 0x1043


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a\0b"])
def test_ifreq_refuses_what_is_not_an_interface_name(name):
    with pytest.raises(ValueError, match="not an interface name"):
        linuxns.ifreq(name)


def test_ifreq_refuses_a_union_that_does_not_fit():
    linuxns.ifreq("lo", b"x" * 24)
    with pytest.raises(ValueError, match="24 bytes"):
        linuxns.ifreq("lo", b"x" * 25)


def test_ethtool_value_is_two_native_32_bit_words():
    assert linuxns.ethtool_value(linuxns.ETHTOOL_STXCSUM, 0) == struct.pack("II", 0x17, 0)
    assert len(linuxns.ethtool_value(linuxns.ETHTOOL_GTXCSUM)) == 8


def test_run_in_without_a_namespace_runs_on_the_calling_thread_and_raises_its_error():
    import threading
    assert linuxns.run_in(threading.get_ident) == threading.get_ident()
    with pytest.raises(KeyError):
        linuxns.run_in(lambda: {}["x"])
