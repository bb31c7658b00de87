"""What the benchmarks of registry_nginx_proxy share: a deployment of their own
on this host (names privreg-molecule-bench-<name>-*, a port on 127.0.0.1 only,
bcrypt cost 10, one throwaway account), made through ansible-playbook as a
sysadmin runs the role and removed afterwards, and the header each prints.
"""

import base64
import json
import os
import re
import subprocess
import sys
import time

USER = "bench"
# A throwaway account of a deployment that listens on 127.0.0.1 only.
PASSWORD = "bench-password-not-a-secret"
BENCH_AUTH = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PLAYBOOK = [{"hosts": "localhost", "gather_facts": True, "roles": [{"role": "privreg.registry.registry_nginx_proxy"}]}]


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


class Deployment:
    """registry_nginx_proxy on this host under names of the benchmark's own."""

    def __init__(self, name, port):
        self.prefix = f"privreg-molecule-bench-{name}"
        self.base_dir = f"/tmp/{self.prefix}"
        self.network = f"{self.prefix}-net"
        self.nginx = f"{self.prefix}-nginx"
        self.registry = f"{self.prefix}-registry"
        self.socket_volume = f"{self.registry}-socket"
        self.port = port
        self.ca_file = f"{self.base_dir}/certs/ca.crt"

    def variables(self, nginx_image, registry_image, **role_vars):
        return {
            "ansible_python_interpreter": sys.executable,
            "registry_host": "localhost",
            "registry_port": self.port,
            "registry_bind_address": "127.0.0.1",
            "registry_base_dir": self.base_dir,
            "registry_container_name": self.registry,
            "registry_nginx_container_name": self.nginx,
            "registry_network_name": self.network,
            "registry_image": registry_image,
            "registry_nginx_image": nginx_image,
            "registry_bcrypt_cost": 10,
            "registry_users": [{"name": USER, "password": PASSWORD}],
            **role_vars,
        }

    def converge(self, folder, variables):
        """The role through ansible-playbook; the bench stops with the play's output if it fails."""
        playbook = os.path.join(folder, "bench.yml")
        extra = os.path.join(folder, "vars.json")
        with open(playbook, "w") as f:
            json.dump(PLAYBOOK, f)
        with open(os.open(extra, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(variables, f)
        env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
        done = subprocess.run(
            ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"@{extra}", playbook],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"{self.prefix}: the role failed:\n" + done.stdout[-3000:] + done.stderr[-2000:])

    def remove(self, *more_containers):
        docker("rm", "-f", *more_containers, self.nginx, self.registry, check=False)
        docker("volume", "rm", self.socket_volume, check=False)
        docker("network", "rm", self.network, check=False)
        subprocess.run(["rm", "-rf", self.base_dir, f"/etc/docker/certs.d/localhost:{self.port}"], check=False)


def print_header(script, nginx_image):
    """When, on what and how loaded the figures were measured, and how to re-run their commands."""
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}, nginx image {nginx_image}, bcrypt cost 10"
    )
    print(f"# export BENCH_AUTH={BENCH_AUTH}  (user {USER}, a throwaway password; 127.0.0.1 only)")
    print(f"# to re-run a command below: python bench/{script} --keep (the deployment stays)")


AB_FIGURES = (
    ("rps", r"Requests per second:\s+([\d.]+)"),
    ("complete", r"Complete requests:\s+(\d+)"),
    ("failed", r"Failed requests:\s+(\d+)"),
    ("non2xx", r"Non-2xx responses:\s+(\d+)"),
    ("p50", r"\n\s+50%\s+(\d+)"),
    ("p99", r"\n\s+99%\s+(\d+)"),
    ("max", r"\n\s+100%\s+(\d+)"),
)


def ab(args, url, authorization=None):
    """ab's figures and its command line, which shows $BENCH_AUTH, never the credentials."""
    shown = ["ab", *args]
    if authorization:
        args = [*args, "-H", f"Authorization: {authorization}"]
        shown += ["-H", '"Authorization: Basic $BENCH_AUTH"']
    done = subprocess.run(["ab", *args, url], capture_output=True, text=True, check=False)
    if "Requests per second" not in done.stdout:
        sys.exit(f"ab failed on {url}: {(done.stderr or done.stdout).strip()[-500:]}")
    figures = {}
    for name, pattern in AB_FIGURES:
        found = re.search(pattern, done.stdout)
        figures[name] = float(found.group(1)) if found else 0.0
    return figures, " ".join([*shown, url])
