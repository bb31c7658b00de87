"""scripts/check_argument_specs.py must fail on every kind of disagreement."""

from __future__ import annotations

import importlib.util
import pathlib
import textwrap

import pytest

_SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "scripts" / "check_argument_specs.py"
_spec = importlib.util.spec_from_file_location("check_argument_specs", _SCRIPT)
check_argument_specs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_argument_specs)

GOOD_DEFAULTS = "demo_port: 443\ndemo_name: registry\n"
GOOD_SPECS = """
argument_specs:
  main:
    options:
      demo_port: {type: int, default: 443, description: The port.}
      demo_name: {type: str, default: registry, description: The name.}
      demo_users: {type: list, elements: dict, description: Accounts.}
"""
GOOD_README = "`demo_port` `demo_name` `demo_users`"


def make_role(tmp_path, defaults=GOOD_DEFAULTS, specs=GOOD_SPECS, readme=GOOD_README):
    role = tmp_path / "roles" / "demo"
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text(defaults)
    (role / "meta" / "argument_specs.yml").write_text(textwrap.dedent(specs))
    (role / "README.md").write_text(readme)
    return role


def test_consistent_role_has_no_problems(tmp_path):
    assert check_argument_specs.check_role(make_role(tmp_path)) == []


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (
            {"defaults": GOOD_DEFAULTS + "demo_extra: 1\n"},
            "demo: demo_extra is in defaults/main.yml but not in argument_specs main",
        ),
        (
            {"defaults": "demo_port: 5000\ndemo_name: registry\n"},
            "demo: demo_port defaults to 5000 in defaults/main.yml but to 443 in argument_specs",
        ),
        (
            {"defaults": "demo_port: 443\n"},
            "demo: demo_name has a default in argument_specs but none in defaults/main.yml",
        ),
        (
            {"readme": "`demo_port` `demo_name`"},
            "demo: README.md does not list `demo_users`",
        ),
        (
            {"specs": GOOD_SPECS.replace(" description: Accounts.", "")},
            "demo: demo_users has no description in argument_specs",
        ),
    ],
)
def test_each_disagreement_is_reported(tmp_path, kwargs, expected):
    assert check_argument_specs.check_role(make_role(tmp_path, **kwargs)) == [expected]


def test_main_exits_non_zero_on_problems(tmp_path, capsys):
    make_role(tmp_path, readme="")
    assert check_argument_specs.main(tmp_path / "roles") == 1
    assert "README.md is missing" in capsys.readouterr().out
