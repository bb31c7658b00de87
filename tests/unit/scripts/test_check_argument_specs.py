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


def make_role(tmp_path, defaults=GOOD_DEFAULTS, specs=GOOD_SPECS, readme=GOOD_README, name="demo", tasks=None):
    role = tmp_path / "roles" / name
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text(defaults)
    (role / "meta" / "argument_specs.yml").write_text(textwrap.dedent(specs))
    (role / "README.md").write_text(readme)
    if tasks is not None:
        (role / "tasks").mkdir()
        (role / "tasks" / "main.yml").write_text(tasks)
    return role


def make_internal(tmp_path, tasks):
    role = tmp_path / "roles" / "_common"
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text(tasks)
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


# Two public roles and the internal one: what each reads must be in its spec,
# and what both have must be written the same.
READS_PORT = "- ansible.builtin.debug:\n    msg: '{{ demo_port }} {{ _demo_internal }}'\n"


@pytest.mark.parametrize(
    "other_specs, other_defaults, internal_tasks, expected",
    [
        (GOOD_SPECS, GOOD_DEFAULTS, READS_PORT, []),
        # a comment, an attribute, an nginx $variable or a path is not a read
        (
            GOOD_SPECS.replace("demo_name", "demo_other"),
            "demo_port: 443\ndemo_other: registry\n",
            "# demo_name\n- x: '$demo_name x.demo_name /demo_name'\n",
            [],
        ),
        (
            GOOD_SPECS.replace("      demo_port: {type: int, default: 443, description: The port.}\n", ""),
            "demo_name: registry\n",
            READS_PORT,
            ["other: reads demo_port (its own files or an internal role's) but argument_specs main does not list it"],
        ),
        (
            GOOD_SPECS.replace("description: The port.", "description: Another port."),
            GOOD_DEFAULTS,
            READS_PORT,
            ["demo_port is documented differently in demo and other"],
        ),
        (
            GOOD_SPECS.replace("default: registry", "default: store"),
            "demo_port: 443\ndemo_name: store\n",
            READS_PORT,
            [
                "demo_name is documented differently in demo and other",
                "demo_name defaults differ between demo and other",
            ],
        ),
        # registry_topology-like options may differ (OWN_OPTIONS)
        (
            GOOD_SPECS + "      registry_topology: {type: str, default: b, description: Mine.}\n",
            GOOD_DEFAULTS + "registry_topology: b\n",
            READS_PORT,
            [],
        ),
    ],
)
def test_public_roles_against_each_other_and_the_internal_one(
    tmp_path, other_specs, other_defaults, internal_tasks, expected
):
    first_specs = GOOD_SPECS
    if "registry_topology" in other_specs:
        first_specs = GOOD_SPECS + "      registry_topology: {type: str, default: a, description: Yours.}\n"
    first = make_role(tmp_path, specs=first_specs, name="demo")
    other = make_role(tmp_path, specs=other_specs, defaults=other_defaults, name="other")
    internal = make_internal(tmp_path, internal_tasks)
    assert check_argument_specs.check_public_roles([first, other], [internal]) == expected


def test_a_public_role_names_a_variable_its_spec_lacks(tmp_path):
    role = make_role(tmp_path, name="demo", tasks="- ansible.builtin.debug:\n    msg: '{{ demo_users }}'\n")
    other = make_role(
        tmp_path,
        name="other",
        specs=GOOD_SPECS.replace("      demo_users: {type: list, elements: dict, description: Accounts.}\n", ""),
        tasks="- ansible.builtin.debug:\n    msg: '{{ demo_users }}'\n",
    )
    assert check_argument_specs.check_public_roles([role, other], []) == [
        "other: reads demo_users (its own files or an internal role's) but argument_specs main does not list it"
    ]


def test_internal_roles_are_not_checked_as_public_ones(tmp_path, capsys):
    make_role(tmp_path)
    make_internal(tmp_path, READS_PORT)
    assert check_argument_specs.main(tmp_path / "roles") == 0
    assert "1 public roles checked against 1 internal, 0 problems" in capsys.readouterr().out
