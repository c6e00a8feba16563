"""The `k8snet` command's dispatch: unknown commands and missing modules."""

import pytest

from k8snet import cli


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_every_command_has_a_module_path():
    for name, (module, help_text) in cli.COMMANDS.items():
        assert module.startswith("k8snet."), name
        assert help_text


def test_probe_timeout_must_be_positive(capsys):
    # checked before root and before any cluster is looked up
    assert cli.main(["probe", "--timeout", "0"]) == 2
    assert "--timeout 0: give a number of seconds above 0" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "inf", "nan"])
def test_probe_timeout_must_be_finite_and_positive(capsys, value):
    assert cli.main(["probe", "--timeout", value]) == 2
    assert f"--timeout {float(value):g}: give a number" in capsys.readouterr().err


def test_probe_timeout_is_checked_for_the_policy_probe_too(capsys):
    assert cli.main(["probe", "--policy", "--timeout", "0"]) == 2
    assert "--timeout 0: give a number of seconds above 0" in capsys.readouterr().err
