"""Writes each public role's meta/argument_specs.yml and defaults/main.yml from one source per variable.

Sources, both in the argument-spec format with `default` included:
- roles/_common/meta/shared_interface.yml: the interface both public roles share, every variable
  written once. `comment` on an option is the text written above its default in defaults/main.yml.
- roles/<role>/meta/own_interface.yml: the role's description and its own options. An option both
  files name is completed by the role's file with keys the shared file leaves out (registry_topology:
  each role its own default); a key both files set is an error.

A role's options are the shared ones, in their order, then its own.

`--check` writes nothing and fails (exit 1) when a written file is out of date, or when the roles
break the interface's rules:
- every option has a description;
- a public role's spec lists every public variable its own files or the internal roles' files read;
- the public variables an internal role (roles/_common) reads are shared ones: it reads the shared
  interface directly, never one role's own option;
- no `_common_*` input is a copy of a shared variable, that is the same `"{{ registry_x }}"` in every
  include_role of every public role: _common reads registry_x itself. An input that differs per
  topology or per call (which image) is what inputs are for.
"""

from __future__ import annotations

import argparse
import difflib
import json
import pathlib
import re
import sys
import textwrap

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMAND = "python3 scripts/generate_role_interface.py"
SHARED_SOURCE = "roles/_common/meta/shared_interface.yml"
OWN_SOURCE = "meta/own_interface.yml"
SPECS_FILE = "meta/argument_specs.yml"
DEFAULTS_FILE = "defaults/main.yml"
# Source-only keys of an option, never written to the argument spec.
SOURCE_KEYS = ("comment",)
# Lines of the written argument specs, and of the comments in defaults/main.yml.
WIDTH = 120
COMMENT_WIDTH = 79
# The files of a role that can read variables.
READING_FOLDERS = ("tasks", "handlers", "templates", "vars", "defaults")
# A variable name, not part of a longer name, an attribute, a path or an nginx $variable.
NAME = re.compile(r"(?<![\w.$/-])([a-z][a-z0-9]*_[a-z0-9_]+)\b")
# An include_role input that only copies a variable.
COPY = re.compile(r"^\{\{\s*([a-z][a-z0-9_]*)\s*\}\}$")
INCLUDES = ("ansible.builtin.include_role", "include_role", "ansible.builtin.import_role", "import_role")


class InterfaceError(Exception):
    """A source the generator cannot write from."""


def load_specs(path):
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InterfaceError(f"{path}: missing") from None
    if not isinstance(data, dict) or not isinstance(data.get("argument_specs"), dict):
        raise InterfaceError(f"{path}: has no argument_specs mapping")
    return data["argument_specs"]


def merge_option(name, shared, own, where):
    both = sorted(set(shared) & set(own))
    if both:
        raise InterfaceError(f"{where}: {name} sets {', '.join(both)}, which the shared interface sets already")
    return {**shared, **own}


def merge(shared, own, where):
    """The entry points of a role: the shared ones completed by the role's own (a key set twice is an error)."""
    entry_points = {}
    for entry in list(shared) + [entry for entry in own if entry not in shared]:
        shared_entry, own_entry = shared.get(entry) or {}, own.get(entry) or {}
        merged = {}
        for key in list(shared_entry) + [key for key in own_entry if key not in shared_entry]:
            if key == "options":
                continue
            if key in shared_entry and key in own_entry:
                raise InterfaceError(f"{where}: {entry} sets {key}, which the shared interface sets already")
            merged[key] = own_entry[key] if key in own_entry else shared_entry[key]
        shared_options, own_options = shared_entry.get("options") or {}, own_entry.get("options") or {}
        options = {}
        for name in list(shared_options) + [name for name in own_options if name not in shared_options]:
            options[name] = merge_option(name, shared_options.get(name, {}), own_options.get(name, {}), where)
        merged["options"] = options
        entry_points[entry] = merged
    return entry_points


def spec_of(option):
    return {key: value for key, value in option.items() if key not in SOURCE_KEYS}


# A small YAML writer: the layout of hand-written specs (block mappings, indented sequences, flow lists
# of scalars, long text folded), which yamllint --strict accepts. What it writes is read back and
# compared with what it was given before any file is written.


def _plain(text, flow):
    if not text or text != text.strip() or "\n" in text or (flow and any(c in text for c in ",[]{}")):
        return False
    try:
        loaded = yaml.safe_load(f"k: [{text}]" if flow else f"k: {text}")
    except yaml.YAMLError:
        return False
    return loaded == {"k": [text] if flow else text}


def _scalar(value, flow=False):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if _plain(value, flow) else json.dumps(value, ensure_ascii=False)
    raise InterfaceError(f"cannot write {value!r} ({type(value).__name__})")


def _flow(items):
    """A list as one flow sequence, or None when it holds a mapping."""
    parts = []
    for item in items:
        if isinstance(item, dict):
            return None
        part = _flow(item) if isinstance(item, list) else _scalar(item, flow=True)
        if part is None:
            return None
        parts.append(part)
    return "[" + ", ".join(parts) + "]"


def _wrap(text, width):
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _folded(text, indent):
    lines = _wrap(text, WIDTH - indent)
    if " ".join(lines) != text:
        return None
    return [" " * indent + line for line in lines]


def _quoted(text, indent):
    """A double-quoted scalar over several lines, each but the last ending in an escaped line break (the spaces
    before it kept, those starting the next line cut: so lines break after spaces)."""
    lines = [""]
    for piece in re.findall(r"\S+\s*|\s+", json.dumps(text, ensure_ascii=False)):
        if lines[-1] and len(lines[-1]) + len(piece) >= WIDTH - indent:
            lines.append("")
        lines[-1] += piece
    return [line + "\\" for line in lines[:-1]] + [lines[-1]]


def _emit(head, value, indent):
    """Lines of `head value` at indent, where head is `key:` or `-`."""
    start = " " * indent + head
    if isinstance(value, dict):
        if not value:
            return [start + " {}"]
        lines = _mapping(value, indent + 2)
        if head == "-":
            return [start + " " + lines[0].lstrip()] + lines[1:]
        return [start] + lines
    if isinstance(value, list):
        flow = _flow(value)
        if flow is not None and len(start) + 1 + len(flow) <= WIDTH:
            return [f"{start} {flow}"]
        lines = [line for item in value for line in _emit("-", item, indent + 2)]
        if head == "-":
            return [start + " " + lines[0].lstrip()] + lines[1:]
        return [start] + lines
    text = _scalar(value)
    if len(start) + 1 + len(text) > WIDTH and isinstance(value, str):
        folded = _folded(value, indent + 2)
        if folded is not None:
            return [start + " >-"] + folded
        first, *rest = _quoted(value, indent + 2)
        return [f"{start} {first}"] + [" " * (indent + 2) + line for line in rest]
    return [f"{start} {text}"]


def _mapping(mapping, indent):
    return [line for key, value in mapping.items() for line in _emit(f"{key}:", value, indent)]


def to_yaml(mapping):
    text = "\n".join(_mapping(mapping, 0)) + "\n"
    if yaml.safe_load(text) != mapping:
        raise InterfaceError(f"the YAML written for {sorted(mapping)} does not read back the same")
    return text


def comment_lines(text):
    return ["# " + line for line in _wrap(" ".join(text.split()), COMMENT_WIDTH - 2)]


def header(role, what):
    return [
        "---",
        f"# GENERATED by scripts/generate_role_interface.py: {what}",
        f"# Sources: {SHARED_SOURCE} (the options both public roles share) and",
        f"# roles/{role}/{OWN_SOURCE} (this role's own). Edit those, then run",
        f"# `{COMMAND}`; scripts/lint.sh fails while this file is out of date.",
    ]


def render_specs(role, entry_points):
    specs = {}
    for entry, content in entry_points.items():
        specs[entry] = {key: value for key, value in content.items() if key != "options"}
        specs[entry]["options"] = {name: spec_of(option) for name, option in content["options"].items()}
    lines = header(role, "checked by Ansible before any task runs, shown by")
    lines[2:2] = [f"# `ansible-doc -t role privreg.registry.{role}`."]
    return "\n".join(lines) + "\n" + to_yaml({"argument_specs": specs})


def render_defaults(role, options, own_names):
    lines = header(role, "the default of every variable the role reads;")
    lines[2:2] = [f"# types and descriptions: `ansible-doc -t role privreg.registry.{role}`."]
    values = {}
    own_started = False
    for name, option in options.items():
        if "default" not in option:
            continue
        if name in own_names and not own_started:
            own_started = True
            lines += ["", f"# ---- {role}'s own options"]
        if option.get("comment"):
            lines += [""] + comment_lines(option["comment"])
        lines += to_yaml({name: option["default"]}).splitlines()
        values[name] = option["default"]
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != values:
        raise InterfaceError(f"roles/{role}/{DEFAULTS_FILE} as written does not read back the defaults")
    return text


def public_roles(root):
    return sorted(path for path in (root / "roles").iterdir() if path.is_dir() and not path.name.startswith("_"))


def internal_roles(root):
    return sorted(path for path in (root / "roles").iterdir() if path.is_dir() and path.name.startswith("_"))


def interfaces(root):
    """Per public role: its merged entry points; and the shared source's entry points."""
    shared = load_specs(root / SHARED_SOURCE)
    merged = {}
    for role in public_roles(root):
        source = role / OWN_SOURCE
        merged[role.name] = merge(shared, load_specs(source), source.relative_to(root))
    return shared, merged


def generate(root):
    """{path: text} of every file the generator writes."""
    shared, merged = interfaces(root)
    shared_names = set((shared.get("main") or {}).get("options") or {})
    files = {}
    for role, entry_points in merged.items():
        options = entry_points.get("main", {}).get("options", {})
        files[root / "roles" / role / SPECS_FILE] = render_specs(role, entry_points)
        files[root / "roles" / role / DEFAULTS_FILE] = render_defaults(role, options, set(options) - shared_names)
    return files


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


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key))


def internal_inputs(role_dir, internal_names):
    """(file, input, value) of every input an include_role or import_role of an internal role passes."""
    found = []
    for path in sorted((role_dir / "tasks").rglob("*.y*ml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            included = next((task[key] for key in INCLUDES if key in task), None)
            if not isinstance(included, dict):
                continue
            internal = str(included.get("name", "")).rsplit(".", 1)[-1]
            if internal not in internal_names:
                continue
            for name, value in (task.get("vars") or {}).items():
                if name.startswith(internal + "_"):
                    found.append((path, name, value))
    return found


def check_rules(root):
    """What the roles' files and the written specs must agree on, as problem lines."""
    problems = []
    shared, merged = interfaces(root)
    shared_names = set((shared.get("main") or {}).get("options") or {})
    options = {role: entry_points.get("main", {}).get("options", {}) for role, entry_points in merged.items()}
    public_names = set().union(*options.values()) if options else set()
    for role, role_options in options.items():
        for name, option in role_options.items():
            if not option.get("description"):
                problems.append(f"{role}: {name} has no description")
    internal = internal_roles(root)
    internal_reads = {role.name: names_read(role) & public_names for role in internal}
    for role_name, reads in internal_reads.items():
        for name in sorted(reads - shared_names):
            problems.append(
                f"{role_name} reads {name}, which is not in {SHARED_SOURCE}: {role_name} reads only the shared "
                f"interface; pass what one topology has as a {role_name}_* input"
            )
    every_internal_read = set().union(*internal_reads.values()) if internal_reads else set()
    passes = {}
    for role in public_roles(root):
        for name in sorted((names_read(role) | every_internal_read) & public_names - set(options.get(role.name, {}))):
            problems.append(
                f"{role.name}: reads {name} (its own files or an internal role's) but argument_specs main does not list it"
            )
        for path, name, value in internal_inputs(role, {r.name for r in internal}):
            passes.setdefault(name, []).append((path.relative_to(root), value))
    for name, seen in sorted(passes.items()):
        paths, values = zip(*seen, strict=True)
        copied = COPY.match(values[0]) if isinstance(values[0], str) else None
        if (
            len({json.dumps(value, sort_keys=True) for value in values}) == 1
            and copied
            and copied.group(1) in shared_names
        ):
            where = ", ".join(sorted({str(path) for path in paths}))
            problems.append(
                f"{name} is {values[0]} in every include ({where}): a copy of the shared variable "
                f"{copied.group(1)}, which the internal role reads itself; drop the input"
            )
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail when a file is out of date")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        files = generate(args.root)
        problems = check_rules(args.root) if args.check else []
    except InterfaceError as error:
        print(f"role interface: {error}")
        return 1
    stale = []
    for path, text in files.items():
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(args.root)}")
            continue
        name = str(path.relative_to(args.root))
        diff = list(
            difflib.unified_diff(current.splitlines(), text.splitlines(), name, name + " (generated)", lineterm="")
        )
        problems.append(f"{name} is out of date: run {COMMAND}")
        print("\n".join(diff[:40] + ([f"... ({len(diff) - 40} more diff lines)"] if len(diff) > 40 else [])))
    for problem in problems:
        print(problem)
    if args.check:
        roles = len(files) // 2
        print(f"role interface: {roles} public roles, {len(files)} generated files, {len(problems)} problems")
        return 1 if problems else 0
    print(f"role interface: {len(stale)} of {len(files)} files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
