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


def test_json_files_are_parsed_again_only_when_they_change(tmp_path, monkeypatch):
    import json
    import os

    from k8snet.cri import host

    path = str(tmp_path / "c.json")
    host.write_json(path, {"state": "created"})
    old = os.stat(path).st_mtime - 10
    os.utime(path, (old, old))
    files = host.JsonFiles()
    loads = []
    real = json.load
    monkeypatch.setattr(host.json, "load", lambda fh: loads.append(1) or real(fh))
    assert files.read(path) == {"state": "created"}
    assert files.read(path) == {"state": "created"} and len(loads) == 1   # cached
    host.write_json(path, {"state": "running"})        # a new file: read again
    assert files.read(path) == {"state": "running"}
    assert files.read(path) == {"state": "running"} and len(loads) == 3   # just written:
    os.unlink(path)                                    # not trusted to its stat yet
    assert files.read(path) is None


def test_json_files_forget_a_removed_directory(tmp_path):
    import os

    from k8snet.cri import host

    files = host.JsonFiles(settle=-1.0)
    for name in ("a", "b"):
        os.makedirs(tmp_path / name)
        host.write_json(str(tmp_path / name / "r.json"), {"n": name})
        files.read(str(tmp_path / name / "r.json"))
    files.forget(str(tmp_path / "a") + os.sep)
    assert list(files._cache) == [str(tmp_path / "b" / "r.json")]
