"""Parsing /proc/PID/stat lines (k8snet.cri.host.stat_fields)."""

from k8snet.cri.host import stat_fields

LINE = ("4242 (a (weird) name) S 1 4240 4240 0 -1 4194560 150 0 0 0 3 1 0 0 20 0 1 0 "
        "987654 1000 100 18446744073709551615")


def test_fields_start_after_a_command_name_with_spaces_and_parentheses():
    fields = stat_fields(LINE)
    assert fields[0] == "S"            # state
    assert fields[2] == "4240"         # process group
    assert fields[19] == "987654"      # start time


def test_a_line_without_a_command_name_has_no_fields():
    assert stat_fields("") == []
