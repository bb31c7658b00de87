"""What the benchmarks share: a deployment of their own on this host through either
public role (names privreg-molecule-bench-<name>-*, a port on 127.0.0.1 only,
bcrypt cost 10, one throwaway account), made through ansible-playbook as a
sysadmin runs the role and removed afterwards; curl and ab runs whose printed
command shows $BENCH_AUTH, never the credentials; the header and load lines
each bench prints.
"""

import base64
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

USER = "bench"
# A throwaway account of a deployment that listens on 127.0.0.1 only.
PASSWORD = "bench-password-not-a-secret"
BENCH_AUTH = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
AUTH_HEADER = "Basic " + BENCH_AUTH
SHOWN_AUTH_HEADER = '"Authorization: Basic $BENCH_AUTH"'
TOPOLOGIES = ("native", "nginx_proxy")
NGINX_IMAGE = "privreg/nginx:1.22-debian"
REGISTRY_IMAGE = "privreg/registry:2.8.2-debian"


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


class Deployment:
    """One of the public roles on this host under names of the benchmark's own."""

    def __init__(self, name, port, topology="nginx_proxy"):
        if topology not in TOPOLOGIES:
            raise ValueError(f"topology {topology!r}: one of {TOPOLOGIES}")
        self.topology = topology
        self.role = f"privreg.registry.registry_{topology}"
        self.prefix = f"privreg-molecule-bench-{name}"
        self.base_dir = f"/tmp/{self.prefix}"
        # Where _common keeps the images: registry_base_dir/data.
        self.storage_dir = f"{self.base_dir}/data"
        self.network = f"{self.prefix}-net"
        self.nginx = f"{self.prefix}-nginx"
        self.registry = f"{self.prefix}-registry"
        self.socket_volume = f"{self.registry}-socket"
        self.port = port
        # The certificate names localhost, which is 127.0.0.1 on this host.
        self.url = f"https://localhost:{port}"
        self.ca_file = f"{self.base_dir}/certs/ca.crt"

    def variables(self, nginx_image, registry_image, **role_vars):
        variables = {
            "ansible_python_interpreter": sys.executable,
            "registry_host": "localhost",
            "registry_port": self.port,
            "registry_bind_address": "127.0.0.1",
            "registry_base_dir": self.base_dir,
            "registry_container_name": self.registry,
            "registry_nginx_container_name": self.nginx,
            # nginx shares the host's network: a health port of this deployment's own.
            "registry_nginx_health_port": self.port + 1000,
            "registry_network_name": self.network,
            "registry_image": registry_image,
            "registry_bcrypt_cost": 10,
            "registry_users": [{"name": USER, "password": PASSWORD}],
        }
        if self.topology == "nginx_proxy":
            variables["registry_nginx_image"] = nginx_image
        return {**variables, **role_vars}

    def converge(self, folder, variables, env=None, check=True):
        """The role through ansible-playbook (``env`` over this environment); the bench stops with the
        play's output if it fails, unless ``check`` is false. Returns the output."""
        playbook = os.path.join(folder, f"{self.prefix}.yml")
        extra = os.path.join(folder, f"{self.prefix}.json")
        with open(playbook, "w") as f:
            json.dump([{"hosts": "localhost", "gather_facts": True, "roles": [{"role": self.role}]}], f)
        with open(os.open(extra, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(variables, f)
        env = dict(env or os.environ, ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
        done = subprocess.run(
            ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"@{extra}", playbook],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            sys.exit(f"{self.prefix}: the role failed:\n" + done.stdout[-3000:] + done.stderr[-2000:])
        return done.stdout + done.stderr

    def wait_until_serving(self):
        """Until GET /v2/ with the bench login answers 200 (a cached login behind nginx's cache)."""
        for _attempt in range(120):
            if curl(self.url + "/v2/", self.ca_file, check=False)["code"] == 200:
                return
            time.sleep(0.5)
        sys.exit(f"{self.prefix}: {self.url}/v2/ never answered 200")

    def remove(self, *more_containers):
        docker("rm", "-f", *more_containers, self.nginx, self.registry, check=False)
        docker("volume", "rm", self.socket_volume, check=False)
        docker("network", "rm", self.network, check=False)
        subprocess.run(["rm", "-rf", self.base_dir, f"/etc/docker/certs.d/localhost:{self.port}"], check=False)


def add_deployment_arguments(parser):
    """The images to deploy, and --keep, which every deploying bench takes."""
    parser.add_argument("--nginx-image", default=NGINX_IMAGE)
    parser.add_argument("--registry-image", default=REGISTRY_IMAGE)
    parser.add_argument("--keep", action="store_true", help="leave the deployments running to re-run the commands")


def load_average():
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_header(script, images):
    """When, on what and how loaded the figures were measured, and how to re-run their commands."""
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, {load_average()} (1/5/15 min) "
        f"before; images {', '.join(images)}; bcrypt cost 10"
    )
    print(f"# export BENCH_AUTH={BENCH_AUTH}  (user {USER}, a throwaway password; 127.0.0.1 only)")
    print(f"# to re-run a command below: python bench/{script} --keep (the deployments stay)")


def print_load_after():
    print(f"# {load_average()} (1/5/15 min) after")


def report(label, value, command, label_width=56, value_width=30):
    """One figure: its label, its value and the command that produced it."""
    print(f"{label:<{label_width}} {value:>{value_width}}   {command}")


def spread(values, unit_format="{:.1f}"):
    """median (min..max, n runs) of ``values``."""
    values = sorted(values)
    shown = [unit_format.format(value) for value in (statistics.median(values), values[0], values[-1])]
    return f"{shown[0]} ({shown[1]}..{shown[2]}, {len(values)} runs)"


# What each curl run prints: its figures, and the Location an upload step answers with.
CURL_FIGURES = "%{http_code} %{size_download} %{speed_download} %{time_total} %header{location}"


def curl_command(url, ca_file=None, auth=True, options=()):
    """curl's arguments, which read the login from stdin (-K -), and the command line shown for them."""
    tls = ["--cacert", ca_file] if ca_file else []
    args = ["curl", "-sS", *tls, *options, "-o", "/dev/null", "-w", CURL_FIGURES, url]
    shown = shlex.join(args) + (f" -H {SHOWN_AUTH_HEADER}" if auth else "")
    return [*args, "-K", "-"] if auth else args, shown


def curl_config(auth=True):
    """What curl reads with -K -: the login, out of the process list."""
    return f'header = "Authorization: {AUTH_HEADER}"\n' if auth else ""


def curl_figures(stdout, returncode):
    code, size, speed, total, location = (stdout.split(maxsplit=4) + ["0"] * 4 + [""])[:5]
    return {
        "code": int(code),
        "bytes": int(size),
        "bytes_per_s": float(speed),
        "seconds": float(total),
        "location": location.strip(),
        "exit": returncode,
    }


def curl(url, ca_file=None, auth=True, options=(), check=True):
    """One curl request: its CURL_FIGURES; the bench stops on an error unless ``check`` is false."""
    args, _shown = curl_command(url, ca_file, auth, options)
    done = subprocess.run(args, input=curl_config(auth), capture_output=True, text=True, check=False)
    figures = curl_figures(done.stdout, done.returncode)
    if check and (done.returncode != 0 or figures["code"] >= 400):
        sys.exit(f"curl {url}: exit {done.returncode}, HTTP {figures['code']}: {done.stderr.strip()[-300:]}")
    return figures


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
        shown += ["-H", SHOWN_AUTH_HEADER]
    done = subprocess.run(["ab", *args, url], capture_output=True, text=True, check=False)
    if "Requests per second" not in done.stdout:
        sys.exit(f"ab failed on {url}: {(done.stderr or done.stdout).strip()[-500:]}")
    figures = {}
    for name, pattern in AB_FIGURES:
        found = re.search(pattern, done.stdout)
        figures[name] = float(found.group(1)) if found else 0.0
    return figures, " ".join([*shown, url])
