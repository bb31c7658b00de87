"""Fails when a role's defaults/main.yml, meta/argument_specs.yml and README disagree.

Every variable in defaults must be documented in the `main` entry point of the
role's argument_specs with the same default, every documented option with a
default must be in defaults, and the role README must name every option.
"""

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def check_role(role_dir):
    problems = []
    defaults_file = role_dir / "defaults" / "main.yml"
    specs_file = role_dir / "meta" / "argument_specs.yml"
    readme_file = role_dir / "README.md"
    defaults = {}
    if defaults_file.exists():
        defaults = yaml.safe_load(defaults_file.read_text()) or {}
    if not specs_file.exists():
        return [f"{role_dir.name}: meta/argument_specs.yml is missing"]
    specs = yaml.safe_load(specs_file.read_text())["argument_specs"]
    options = specs.get("main", {}).get("options", {})
    for name, value in defaults.items():
        if name not in options:
            problems.append(f"{role_dir.name}: {name} is in defaults/main.yml but not in argument_specs main")
        elif "default" in options[name] and options[name]["default"] != value:
            problems.append(
                f"{role_dir.name}: {name} defaults to {value!r} in defaults/main.yml "
                f"but to {options[name]['default']!r} in argument_specs"
            )
    for name, spec in options.items():
        if "default" in spec and name not in defaults:
            problems.append(f"{role_dir.name}: {name} has a default in argument_specs but none in defaults/main.yml")
        if not spec.get("description"):
            problems.append(f"{role_dir.name}: {name} has no description in argument_specs")
    readme = readme_file.read_text() if readme_file.exists() else ""
    if not readme:
        problems.append(f"{role_dir.name}: README.md is missing")
    for name in options:
        if readme and f"`{name}`" not in readme:
            problems.append(f"{role_dir.name}: README.md does not list `{name}`")
    return problems


def main(roles_dir=ROOT / "roles"):
    roles = sorted(p for p in pathlib.Path(roles_dir).iterdir() if p.is_dir())
    problems = [problem for role in roles for problem in check_role(role)]
    for problem in problems:
        print(problem)
    print(f"argument specs: {len(roles)} roles checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
