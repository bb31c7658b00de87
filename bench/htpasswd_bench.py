"""How long registry_htpasswd takes to re-run over unchanged users.

For N users at cost C (default 200 at 10, the module's default cost) it prints
the single-threaded sum of the bcrypt checks, the module's re-run time (the
module process alone, and through ansible-playbook), and their ratio.
Target on 2 cores: module re-run <= 0.6 of the single-threaded sum.
A benchmark: it prints numbers and asserts nothing.

    source scripts/env.sh && python bench/htpasswd_bench.py [--users 200] [--cost 10]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from deployment import load_average, print_load_after

from ansible_collections.privreg.registry.plugins.module_utils._htpasswd import (
    check_password,
    cores,
    hash_password,
    parallel,
)

MODULE = "ansible_collections.privreg.registry.plugins.modules.registry_htpasswd"


def timed(function, *args):
    start = time.monotonic()
    value = function(*args)
    return time.monotonic() - start, value


def run_module(args_file):
    """The module as ansible runs it on the target: one Python process reading its arguments."""
    done = subprocess.run([sys.executable, "-m", MODULE, args_file], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def run_playbook(playbook):
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    subprocess.run(["ansible-playbook", playbook], env=env, capture_output=True, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--cost", type=int, default=10)
    options = parser.parse_args()

    print(
        f"# {time.strftime('%Y-%m-%d %H:%M %Z')}, {cores()} cores, {load_average()} (1/5/15 min) before;"
        f" python bench/htpasswd_bench.py --users {options.users} --cost {options.cost}"
    )
    users = [{"name": "user%03d" % n, "password": "password %03d" % n} for n in range(options.users)]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "htpasswd")
        hashes = parallel(hash_password, [(u["password"], options.cost) for u in users])
        with open(path, "w") as f:
            f.writelines("%s:%s\n" % (u["name"], hashed) for u, hashed in zip(users, hashes, strict=True))

        single = timed(lambda: [check_password(u["password"], h) for u, h in zip(users, hashes, strict=True)])[0]

        request = {"path": path, "users": users, "cost": options.cost}
        args_file = os.path.join(folder, "args.json")
        with open(args_file, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": request}, f)
        module, result = timed(run_module, args_file)

        playbook = os.path.join(folder, "playbook.yml")
        with open(playbook, "w") as f:
            json.dump(
                [
                    {
                        "hosts": "localhost",
                        "gather_facts": False,
                        "tasks": [
                            {"name": "users are present", "no_log": True, "privreg.registry.registry_htpasswd": request}
                        ],
                    }
                ],
                f,
            )
        ansible = timed(run_playbook, playbook)[0]

    print("users: %d at cost %d" % (options.users, options.cost))
    print("single-threaded sum of checks: %7.2f s" % single)
    print("module re-run (process):       %7.2f s  changed=%s" % (module, result["changed"]))
    print("module re-run (ansible-playbook): %4.2f s" % ansible)
    print("ratio module/single-threaded:  %7.2f  (target <= 0.6 on 2 cores)" % (module / single))
    print("ratio ansible-playbook/single: %7.2f" % (ansible / single))
    print_load_after()


if __name__ == "__main__":
    main()
