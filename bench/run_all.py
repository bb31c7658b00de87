"""Runs the benchmarks one after the other and, with --write-guide, writes what each printed
into the Benchmarks guide (docs/docsite/rst/benchmarks.rst), between its markers:

    .. bench:begin NAME  ...  .. bench:end NAME

so the figures there are exactly the ones a run printed, with their commands,
the machine's cores and its load before and after. A bench that fails leaves its
block as it was (and the exit status says so).

    source scripts/env.sh && python bench/run_all.py [--write-guide] [NAME ...]

NAME: htpasswd_bench, rerun_bench, auth_bench, auth_flood_bench, access_bench, blob_bench, availability_bench,
replica_bench (default: all;
replica_bench needs the SSH test bed up: scripts/testbed.sh build && scripts/testbed.sh up).
"""

import argparse
import os
import re
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
GUIDE = os.path.join(os.path.dirname(BENCH_DIR), "docs", "docsite", "rst", "benchmarks.rst")
# Quickest first: a broken setup shows early.
BENCHES = (
    "htpasswd_bench",
    "rerun_bench",
    "auth_bench",
    "auth_flood_bench",
    "access_bench",
    "blob_bench",
    "availability_bench",
    "replica_bench",
)


def run(name):
    """The bench's output as it prints it, shown as it comes and kept; None if it failed."""
    print(f"== python bench/{name}.py", flush=True)
    lines = []
    with subprocess.Popen(
        [sys.executable, os.path.join(BENCH_DIR, f"{name}.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as bench:
        for line in bench.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    return "".join(lines) if bench.returncode == 0 else None


def guide_block(name, output):
    body = "\n".join("   " + line if line else "" for line in output.rstrip().splitlines())
    return f"``python bench/{name}.py``:\n\n.. code:: text\n\n{body}\n\n"


def rewrite_guide(outputs):
    with open(GUIDE) as f:
        text = f.read()
    for name, output in outputs.items():
        begin, end = f".. bench:begin {name}", f".. bench:end {name}"
        found = re.search(re.escape(begin) + r".*?" + re.escape(end), text, re.DOTALL)
        if not found:
            sys.exit(f"run_all: {GUIDE} has no {begin} ... {end}")
        text = text[: found.start()] + f"{begin}\n\n{guide_block(name, output)}{end}" + text[found.end() :]
    with open(GUIDE, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHES))
    parser.add_argument(
        "--write-guide", action="store_true", help="write the outputs into docs/docsite/rst/benchmarks.rst"
    )
    options = parser.parse_args()
    unknown = sorted(set(options.names) - set(BENCHES))
    if unknown:
        parser.error(f"no bench {', '.join(unknown)}: one of {', '.join(BENCHES)}")
    outputs, failed = {}, []
    for name in options.names or BENCHES:
        output = run(name)
        if output is None:
            failed.append(name)
        else:
            outputs[name] = output
    if options.write_guide and outputs:
        rewrite_guide(outputs)
        print(f"{GUIDE}: Benchmarks of {', '.join(outputs)} rewritten")
    if failed:
        sys.exit(f"run_all: failed: {', '.join(failed)} (their blocks are unchanged)")


if __name__ == "__main__":
    main()
