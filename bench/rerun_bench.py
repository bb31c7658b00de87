"""What a re-run of each public role costs on a host where nothing changed.

Deploys registry_native and registry_nginx_proxy on this host (deployment.py: names
privreg-molecule-bench-rerun-*, ports on 127.0.0.1 only), then re-runs each role --rounds
times and prints, per topology, medians with min..max of:
- the wall time of ansible-playbook;
- the CPU seconds of ansible-playbook and every process it started (the modules);
- the seconds the whole machine's cores were busy meanwhile (/proc/stat: the Docker engine
  and the containers it starts for the role included; other load on the machine counts too);
- the tasks that ran (ok + changed of the recap; a skipped task runs no module).
With --against PATH (another checkout of the collection, e.g. `git worktree add /tmp/before
<ref>`), each round re-runs that checkout's role too, on deployments of its own, alternating
with this one, and prints the ratio this / against of each median: the machine's noise hits
both sides alike. Target: re-runs in seconds (issue 29); the ratio says what a change did.
A benchmark: it prints numbers and asserts nothing.

    source scripts/env.sh && python bench/rerun_bench.py [--rounds 5] [--against PATH] [--keep]
"""

import argparse
import os
import re
import resource
import statistics
import sys
import tempfile
import time

from deployment import (
    TOPOLOGIES,
    Deployment,
    add_deployment_arguments,
    load_average,
    print_load_after,
    report,
    spread,
)

LABELS = {"wall": "wall", "cpu": "CPU", "busy": "cores busy", "tasks": "tasks run"}
RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0")


def machine_busy():
    """Seconds every core has been busy since boot (not idle, not waiting on disk)."""
    with open("/proc/stat") as stream:
        fields = [int(value) for value in stream.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Side:
    """The roles of one checkout of the collection, on deployments of its own."""

    def __init__(self, label, checkout, port, folder):
        self.label = label
        self.folder = os.path.join(folder, label)
        os.makedirs(self.folder)
        collections = os.path.join(self.folder, "collections")
        os.makedirs(os.path.join(collections, "ansible_collections", "privreg"))
        os.symlink(checkout, os.path.join(collections, "ansible_collections", "privreg", "registry"))
        self.env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=collections,
            ANSIBLE_ROLES_PATH=os.path.join(checkout, "roles"),
            ANSIBLE_PIPELINING="True",
        )
        self.deployments = {
            topology: Deployment(f"rerun-{label}-{topology.replace('_', '-')}", port + n * 10, topology)
            for n, topology in enumerate(TOPOLOGIES)
        }
        self.figures = {topology: {"wall": [], "cpu": [], "busy": [], "tasks": []} for topology in TOPOLOGIES}

    def run(self, topology, variables):
        """One run of the topology's role; its figures."""
        deployment = self.deployments[topology]
        before_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        before_busy, start = machine_busy(), time.monotonic()
        output = deployment.converge(self.folder, variables, env=self.env)
        wall, busy = time.monotonic() - start, machine_busy() - before_busy
        after_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after_cpu.ru_utime + after_cpu.ru_stime - before_cpu.ru_utime - before_cpu.ru_stime
        ok, changed = (int(n) for n in RECAP.search(output).groups())
        return {"wall": wall, "cpu": cpu, "busy": busy, "tasks": ok + changed, "changed": changed}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_deployment_arguments(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=17400)
    parser.add_argument("--against", help="another checkout of the collection, measured alternately")
    options = parser.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    print(
        f"# {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, {load_average()} (1/5/15 min) before;"
        f" images {options.registry_image}, {options.nginx_image}"
    )
    with tempfile.TemporaryDirectory() as folder:
        sides = [Side("this", here, options.port, folder)]
        if options.against:
            sides.append(Side("against", os.path.abspath(options.against), options.port + 100, folder))
        try:
            variables = {
                (side.label, topology): deployment.variables(options.nginx_image, options.registry_image)
                for side in sides
                for topology, deployment in side.deployments.items()
            }
            for side in sides:
                for topology in TOPOLOGIES:
                    side.deployments[topology].remove()
                    side.run(topology, variables[side.label, topology])  # the deployment itself
            for _round in range(options.rounds):
                for topology in TOPOLOGIES:
                    for side in sides:
                        figures = side.run(topology, variables[side.label, topology])
                        if figures["changed"]:
                            sys.exit(f"{side.label} {topology}: a re-run changed {figures['changed']} tasks")
                        for key, values in side.figures[topology].items():
                            values.append(figures[key])
            command = f"python bench/rerun_bench.py --rounds {options.rounds}"
            for topology in TOPOLOGIES:
                for side in sides:
                    shown = side.figures[topology]
                    for key, unit in (("wall", "s wall"), ("cpu", "s CPU"), ("busy", "s cores busy")):
                        report(f"{topology} re-run, {side.label}: {unit}", spread(shown[key]), command)
                    report(f"{topology} re-run, {side.label}: tasks run", spread(shown["tasks"], "{:.0f}"), command)
                if len(sides) == 2:
                    this, against = (side.figures[topology] for side in sides)
                    for key in ("wall", "cpu", "busy", "tasks"):
                        ratio = statistics.median(this[key]) / statistics.median(against[key])
                        report(
                            f"{topology} re-run: {LABELS[key]} this / against",
                            f"{ratio:.2f}",
                            command + " --against ...",
                        )
        finally:
            if not options.keep:
                for side in sides:
                    for deployment in side.deployments.values():
                        deployment.remove()
    print_load_after()


if __name__ == "__main__":
    main()
