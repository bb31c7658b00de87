"""Fails when a public role's defaults/main.yml, meta/argument_specs.yml and README disagree.

Every variable in defaults must be documented in the `main` entry point of the
role's argument_specs with the same default, every documented option with a
default must be in defaults, and the role README must name every option.

Roles whose name starts with `_` are internal (roles/_common): the public roles
include their task files. So a public role's spec must also list every public
variable that its files or the internal roles' files name (`ansible-doc -t role`
is then the whole manual), and an option both public roles have must be
written the same in both, default included, except the ones in OWN_OPTIONS.
"""

import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Options each public role documents and defaults its own way.
OWN_OPTIONS = {"registry_topology"}
# The files of a role that can read variables.
READING_FOLDERS = ("tasks", "handlers", "templates", "vars", "defaults")
# A variable name, not part of a longer name, an attribute, a path or an nginx $variable.
NAME = re.compile(r"(?<![\w.$/-])([a-z][a-z0-9]*_[a-z0-9_]+)\b")


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


def load_options(role_dir):
    specs_file = role_dir / "meta" / "argument_specs.yml"
    if not specs_file.exists():
        return {}
    return yaml.safe_load(specs_file.read_text())["argument_specs"].get("main", {}).get("options", {})


def load_defaults(role_dir):
    defaults_file = role_dir / "defaults" / "main.yml"
    return (yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.exists() else {}


def names_read(role_dir):
    """Variable-like names in the role's task, handler, template, vars and defaults files (YAML comments left out)."""
    names = set()
    for folder in READING_FOLDERS:
        for path in sorted((role_dir / folder).rglob("*")):
            if not path.is_file():
                continue
            lines = path.read_text().splitlines()
            if path.suffix in (".yml", ".yaml"):
                lines = [line for line in lines if not line.lstrip().startswith("#")]
            names.update(NAME.findall("\n".join(lines)))
    return names


def check_public_roles(public, internal):
    """What one public role must share with the others and with the internal roles."""
    problems = []
    public_names = set().union(*(load_options(role) for role in public)) if public else set()
    internal_reads = set().union(*(names_read(role) for role in internal)) if internal else set()
    for role in public:
        options = load_options(role)
        for name in sorted((names_read(role) | internal_reads) & public_names - set(options)):
            problems.append(
                f"{role.name}: reads {name} (its own files or an internal role's) but argument_specs main does not list it"
            )
    for first, second in ((public[0], other) for other in public[1:]):
        first_options, second_options = load_options(first), load_options(second)
        first_defaults, second_defaults = load_defaults(first), load_defaults(second)
        for name in sorted(set(first_options) & set(second_options) - OWN_OPTIONS):
            if first_options[name] != second_options[name]:
                problems.append(f"{name} is documented differently in {first.name} and {second.name}")
            if first_defaults.get(name) != second_defaults.get(name):
                problems.append(f"{name} defaults differ between {first.name} and {second.name}")
    return problems


def main(roles_dir=ROOT / "roles"):
    roles = sorted(p for p in pathlib.Path(roles_dir).iterdir() if p.is_dir())
    public = [role for role in roles if not role.name.startswith("_")]
    internal = [role for role in roles if role.name.startswith("_")]
    problems = [problem for role in public for problem in check_role(role)]
    problems += check_public_roles(public, internal)
    for problem in problems:
        print(problem)
    print(
        f"argument specs: {len(public)} public roles checked against {len(internal)} internal, {len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
