"""What clients see while a re-run changes a live registry.

Deploys each topology on this host (deployment.py: names privreg-molecule-bench-avail-<port>-*,
ports on 127.0.0.1 only), then applies one change after another with ansible-playbook
while clients loop against the registry:
- the docker CLI: each round builds a new image (a three-layer base with a new 1 MiB top
  layer), pushes it to a new repository (the top layer uploaded, the base's layers mounted
  from the round before), removes every local copy and pulls it (every layer downloaded);
- authenticated GETs of a manifest and of a 4 MiB layer, one client on a keep-alive
  connection (reconnecting after an error), one opening a fresh connection each time.
Per change it prints: the requests made (HTTP GETs and docker commands), those that failed
(an error or an answer other than 200; docker: a non-zero exit, after the CLI's own
retries), the GETs retried once on a new connection because the server had closed the idle
keep-alive one as the request went out (not failures: Go's HTTP client, which the docker CLI
uses, curl and urllib3 retry those alike), the longest gap without a successful GET from the
run's start to its end, the
docker commands that completed of those started, the run's wall time and its changed
tasks (a change that changed nothing measured nothing). A request counts for every change
whose run it overlaps; the next change starts once every request begun has ended.

The changes, in this order, each from the state the one before left: nothing; an account
added and one removed; access rules set (nginx_proxy: the native topology has none); the
server certificate renewed (its file removed: the run issues a new one from its CA, as it
does for one about to expire); nginx's worker count; the nginx
image; the registry image (a second tag of each image, the same files under a label of the
bench's own: a new image ID, as an upgrade gives); and the switch to the other topology on
the same folder and port.

With --replicas (the SSH test bed up: scripts/testbed.sh build && scripts/testbed.sh up),
it deploys the replica set of tests/remote/replica_set.py instead (two nginx_proxy
replicas behind HAProxy with health checks) and re-runs site.yml one host at a time
(-e registry_serial=1) while the same clients go through the balancer.
A benchmark: it prints numbers and asserts nothing (issue 29 sets the targets).

    source scripts/env.sh && python bench/availability_bench.py [--topologies native nginx_proxy] [--keep]
    source scripts/env.sh && python bench/availability_bench.py --replicas
"""

import argparse
import base64
import http.client
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from deployment import (
    PASSWORD,
    TOPOLOGIES,
    USER,
    Deployment,
    add_deployment_arguments,
    docker,
    print_header,
    print_load_after,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
REPOSITORY = "bench/avail"
LAYERS = 3
LAYER_BYTES = 4 * 1024 * 1024
# The new top layer of each docker round.
TOP_LAYER_BYTES = 1024 * 1024
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)
# Accounts the bench adds and removes; the clients log in as deployment.USER, which stays.
LEAVING_USER, ARRIVING_USER = "avail-leaving", "avail-arriving"
BENCH_LABEL = "privreg.bench.availability"
# How long the next change waits for the requests begun during a run to end.
SETTLE_LIMIT = 300


class Target:
    """Where the clients go: host and port (the name the certificate carries), CA, login."""

    def __init__(self, host, port, ca_file, user, password):
        self.host, self.port, self.ca_file = host, port, ca_file
        self.user, self.password = user, password
        self.endpoint = f"{host}:{port}"
        self.authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Log:
    """What the clients did: (kind, start, end, ok, what) per request, from every thread, and the
    starts of the requests still running."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.running = {}
        # (when) of each request retried on a new connection after a stale keep-alive one.
        self.retries = []

    def count_retry(self):
        with self.lock:
            self.retries.append(time.monotonic())

    def begin(self):
        start = time.monotonic()
        with self.lock:
            self.running[threading.get_ident()] = start
        return start

    def add(self, kind, start, ok, what=""):
        with self.lock:
            self.running.pop(threading.get_ident(), None)
            self.entries.append((kind, start, time.monotonic(), ok, what))

    def settle(self, end):
        """Until every request begun before ``end`` has ended (bounded)."""
        deadline = time.monotonic() + SETTLE_LIMIT
        while time.monotonic() < deadline:
            with self.lock:
                if all(start > end for start in self.running.values()):
                    return
            time.sleep(0.2)

    def between(self, start, end):
        with self.lock:
            return [entry for entry in self.entries if start <= entry[2] and entry[1] <= end]


class HttpClient(threading.Thread):
    """GETs of the manifest and of a layer, on one keep-alive connection or a fresh one each time."""

    def __init__(self, target, digests, log, stop, keep_alive):
        super().__init__(daemon=True)
        self.target, self.digests, self.log, self.stop, self.keep_alive = target, digests, log, stop, keep_alive
        self.context = ssl.create_default_context(cafile=target.ca_file)
        self.kind = "keep-alive" if keep_alive else "fresh"

    def connection(self):
        return http.client.HTTPSConnection(self.target.host, self.target.port, context=self.context, timeout=30)

    def run(self):
        connection, reused = None, False
        paths = [
            (f"/v2/{REPOSITORY}/manifests/{self.digests['manifest']}", {"Accept": MANIFEST_TYPES}),
            (f"/v2/{REPOSITORY}/blobs/{self.digests['layer']}", {}),
        ]
        turn = 0
        while not self.stop.is_set():
            path, headers = paths[turn % len(paths)]
            turn += 1
            start = self.log.begin()
            headers = {"Authorization": self.target.authorization, **headers}
            try:
                if connection is None:
                    connection, reused = self.connection(), False
                try:
                    response = send(connection, path, headers)
                except STALE_CONNECTION:
                    if not reused:
                        raise
                    # The server closed the idle connection as the request went out (nginx's old workers
                    # do at a reload): a client retries an idempotent request once on a new one, as
                    # Go's (the docker CLI's), curl and urllib3 do.
                    self.log.count_retry()
                    connection.close()
                    connection, reused = self.connection(), False
                    response = send(connection, path, headers)
                self.log.add(self.kind, start, response.status == 200, f"HTTP {response.status} {path}")
                if not self.keep_alive or response.will_close:
                    connection.close()
                    connection = None
                reused = True
            except (OSError, http.client.HTTPException) as error:
                self.log.add(self.kind, start, False, f"{type(error).__name__}: {error}")
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.05)


# What a request on a reused connection meets when the server closed it first: no answer began.
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def send(connection, path, headers):
    """One GET on ``connection``, its body read; the response."""
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response


class DockerClient(threading.Thread):
    """push, then pull with every layer downloaded, with the docker CLI logged in through a config
    folder of its own. Each round builds a new image: the base (loaded from its archive) with a new
    random top layer, which the push uploads (the base's layers mount from the repository of the
    round before); every local copy is removed before the pull, which downloads every layer."""

    def __init__(self, target, base, archive, docker_config, folder, log, stop):
        super().__init__(daemon=True)
        self.endpoint, self.base, self.archive, self.log, self.stop = target.endpoint, base, archive, log, stop
        self.env = dict(os.environ, DOCKER_CONFIG=docker_config)
        self.context = os.path.join(folder, "round-" + re.sub(r"[^\w.-]", "-", self.endpoint))
        os.makedirs(self.context, exist_ok=True)
        self.round = 0

    def command(self, *args):
        start = self.log.begin()
        done = subprocess.run(["docker", *args], capture_output=True, text=True, env=self.env, check=False)
        what = f"docker {args[0]}: " + (done.stderr.strip().splitlines() or [""])[-1][-200:]
        self.log.add("docker", start, done.returncode == 0, what)
        return done.returncode == 0

    def build_round(self, target):
        """The base from its archive (the pull before removed it), with a new top layer."""
        if subprocess.run(["docker", "image", "inspect", self.base], capture_output=True, check=False).returncode:
            subprocess.run(["docker", "load", "-q", "-i", self.archive], capture_output=True, check=True)
        with open(os.path.join(self.context, "top"), "wb") as f:
            f.write(os.urandom(TOP_LAYER_BYTES))
        with open(os.path.join(self.context, "Dockerfile"), "w") as f:
            f.write(f"FROM {self.base}\nCOPY top /top\n")
        subprocess.run(
            ["docker", "build", "-q", "-t", target, self.context],
            env=dict(os.environ, DOCKER_BUILDKIT="0"),
            capture_output=True,
            check=True,
        )

    def run(self):
        while not self.stop.is_set():
            self.round += 1
            target = f"{self.endpoint}/{REPOSITORY}-{self.round}:latest"
            self.build_round(target)
            pushed = self.command("push", target)
            # Every local copy gone: the pull downloads every layer.
            subprocess.run(["docker", "rmi", "-f", target, self.base], capture_output=True, check=False)
            if pushed and self.command("pull", target):
                subprocess.run(["docker", "rmi", "-f", target], capture_output=True, check=False)
            else:
                time.sleep(0.2)


def build_image(folder, tag):
    """A three-layer image from scratch (nothing can be pulled here): random bytes per layer; saved
    to an archive the docker client loads again after each pull removed it."""
    context = os.path.join(folder, "image")
    os.makedirs(context)
    lines = ["FROM scratch"]
    for layer in range(LAYERS):
        with open(os.path.join(context, f"layer{layer}"), "wb") as f:
            f.write(os.urandom(LAYER_BYTES))
        lines.append(f"COPY layer{layer} /layer{layer}")
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, context],
        env=dict(os.environ, DOCKER_BUILDKIT="0"),
        capture_output=True,
        check=True,
    )
    archive = os.path.join(folder, "base.tar")
    subprocess.run(["docker", "save", "-o", archive, tag], check=True)
    return archive


def relabelled(image):
    """A second tag of ``image`` with a new ID: the same files under a label of the bench's own."""
    tag = f"{image}-bench-relabelled-{os.getpid()}"
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=f"FROM {image}\nLABEL {BENCH_LABEL}=relabelled\n",
        env=dict(os.environ, DOCKER_BUILDKIT="0"),
        capture_output=True,
        text=True,
        check=True,
    )
    return tag


def login(target, docker_config):
    os.makedirs(docker_config, exist_ok=True)
    subprocess.run(
        ["docker", "login", "-u", target.user, "--password-stdin", target.endpoint],
        input=target.password,
        capture_output=True,
        text=True,
        env=dict(os.environ, DOCKER_CONFIG=docker_config),
        check=True,
    )


def seed(target, image, archive, docker_config):
    """The image in REPOSITORY; the digests of its manifest and of its first layer, which the GETs ask for."""
    ref = f"{target.endpoint}/{REPOSITORY}:latest"
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode:
        subprocess.run(["docker", "load", "-q", "-i", archive], capture_output=True, check=True)
    subprocess.run(["docker", "tag", image, ref], check=True)
    subprocess.run(
        ["docker", "push", ref], capture_output=True, env=dict(os.environ, DOCKER_CONFIG=docker_config), check=True
    )
    manifest = next(
        digest.split("@")[1]
        for digest in docker("inspect", "-f", "{{range .RepoDigests}}{{.}} {{end}}", ref).split()
        if digest.startswith(f"{target.endpoint}/")
    )
    docker("rmi", ref, check=False)
    connection = http.client.HTTPSConnection(
        target.host, target.port, context=ssl.create_default_context(cafile=target.ca_file), timeout=10
    )
    connection.request(
        "GET",
        f"/v2/{REPOSITORY}/manifests/{manifest}",
        headers={"Authorization": target.authorization, "Accept": MANIFEST_TYPES},
    )
    body = connection.getresponse().read().decode()
    connection.close()
    # The config's digest comes first, then the layers'.
    return {"manifest": manifest, "layer": re.findall(r'"digest":\s*"(sha256:[0-9a-f]{64})"', body)[1]}


class Clients:
    """The HTTP and docker clients against one target, started and stopped together."""

    def __init__(self, target, images, folder):
        self.log, self.stop = Log(), threading.Event()
        docker_config = os.path.join(folder, "docker-" + re.sub(r"[^\w.-]", "-", target.endpoint))
        login(target, docker_config)
        digests = seed(target, images["client"], images["archive"], docker_config)
        self.threads = [
            HttpClient(target, digests, self.log, self.stop, keep_alive=True),
            HttpClient(target, digests, self.log, self.stop, keep_alive=False),
            DockerClient(target, images["client"], images["archive"], docker_config, folder, self.log, self.stop),
        ]
        self.endpoint = target.endpoint
        for thread in self.threads:
            thread.start()

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=SETTLE_LIMIT)
        for reference in docker("images", "--format", "{{.Repository}}:{{.Tag}}").split():
            if reference.startswith(f"{self.endpoint}/"):
                docker("rmi", "-f", reference, check=False)


def renew_certificate(deployment):
    """The served certificate's file removed: the run issues a new one from the kept CA, as it does for one
    about to expire (registry_tls_renew_days cannot reach a new certificate's 825 days)."""
    os.remove(os.path.join(deployment.base_dir, "certs", "registry.crt"))


def changes(topology, images):
    """(name, topology after it, the variables it sets from then on, what it does on disk first) in the order
    applied."""
    other = "native" if topology == "nginx_proxy" else "nginx_proxy"
    users = [
        {"name": USER, "password": PASSWORD},
        {"name": LEAVING_USER, "state": "absent"},
        {"name": ARRIVING_USER, "password": PASSWORD + "-arriving"},
    ]
    rules = [
        {"repositories": ["bench/**"], "users": [USER], "actions": ["pull", "push"]},
        {"repositories": ["base/*"], "users": ["*"], "actions": ["pull"]},
    ]
    steps = [
        ("nothing", topology, {}, None),
        ("an account added, one removed", topology, {"registry_users": users}, None),
        ("access rules set", topology, {"registry_access": rules}, None),
        ("certificate renewed", topology, {}, renew_certificate),
        ("nginx worker count", topology, {"registry_nginx_worker_processes": "1"}, None),
        ("nginx image", topology, {"registry_nginx_image": images["nginx_relabelled"]}, None),
        ("registry image", topology, {"registry_image": images["registry_relabelled"]}, None),
        (f"topology switched to {other}", other, {"registry_access": []}, None),
    ]
    nginx_only = {"access rules set", "nginx worker count", "nginx image"}
    return [step for step in steps if topology == "nginx_proxy" or step[0] not in nginx_only]


def measure(log, start, end):
    """requests, failures, the longest gap without a successful GET, docker commands done/started."""
    entries = log.between(start, end)
    with log.lock:
        retried = sum(1 for when in log.retries if start <= when <= end)
    successes = sorted(entry[2] for entry in entries if entry[0] != "docker" and entry[3] and entry[2] <= end)
    marks = [start, *successes, end]
    docker_runs = [entry for entry in entries if entry[0] == "docker"]
    failures = [entry for entry in entries if not entry[3]]
    return {
        "requests": len(entries),
        "failures": len(failures),
        "gap": max(later - earlier for earlier, later in zip(marks, marks[1:], strict=False)),
        "docker": f"{sum(1 for entry in docker_runs if entry[3])}/{len(docker_runs)}",
        "retried": retried,
        "examples": sorted({entry[4] for entry in failures})[:3],
    }


def changed_tasks(output):
    """The run's changed tasks (every host's), or "failed" (the output's tail goes to stderr)."""
    recaps = RECAP.findall(output)
    if recaps and all(unreachable == failed == "0" for _ok, _changed, unreachable, failed in recaps):
        return str(sum(int(changed) for _ok, changed, _unreachable, _failed in recaps))
    print(f"# the run failed:\n{output[-2000:]}", file=sys.stderr)
    return "failed"


def apply(clients, name, run):
    """One change: ``run()`` returns the play's output; the row of what the clients saw meanwhile."""
    print(f"# {name}", file=sys.stderr, flush=True)
    start = time.monotonic()
    output = run()
    end = time.monotonic()
    clients.log.settle(end)
    row = (name, end - start, changed_tasks(output), measure(clients.log, start, end))
    # As it comes, for a long run.
    print(f"# {name}: {row[1]:.1f} s, changed {row[2]}, {row[3]}", file=sys.stderr, flush=True)
    return row


def bench_topology(topology, options, images, folder, port):
    name = f"avail-{port}-{topology.replace('_', '-')}"
    deployment = Deployment(name, port, topology)
    deployment.remove()
    variables = {
        **deployment.variables(options.nginx_image, options.registry_image),
        "registry_users": [
            {"name": USER, "password": PASSWORD},
            {"name": LEAVING_USER, "password": PASSWORD + "-leaving"},
        ],
    }
    deployment.converge(folder, variables)
    deployment.wait_until_serving()
    rows, clients = [], None
    try:
        clients = Clients(Target("localhost", port, deployment.ca_file, USER, PASSWORD), images, folder)
        for change, after, lasting, on_disk in changes(topology, images):
            if after != deployment.topology:
                deployment = Deployment(name, port, after)
                variables = {**deployment.variables(options.nginx_image, options.registry_image), **variables}
                if after == "native":
                    variables.pop("registry_nginx_image", None)
            variables.update(lasting)
            if on_disk:
                on_disk(deployment)
            rows.append(
                apply(clients, change, lambda d=deployment, v=dict(variables): d.converge(folder, v, check=False))
            )
    finally:
        if clients:
            clients.close()
        if not options.keep:
            deployment.remove()
    return rows


def bench_replicas(images, folder):
    """Two nginx_proxy replicas behind HAProxy; site.yml re-run one host at a time while the clients
    go through the balancer."""
    sys.path[:0] = [os.path.join(ROOT, "tests", folder) for folder in ("remote", "functional")] + [
        os.path.join(ROOT, "molecule", "shared")
    ]
    from replica_set import PORT, ReplicaSet  # noqa: PLC0415  (needs the test bed's paths)
    from testbed_hosts import CLIENT, NGINX_IMAGE, REGISTRY_IMAGE, TESTBED_DIR, Testbed  # noqa: PLC0415

    testbed = Testbed(os.path.join(TESTBED_DIR, "inventory.yml"))
    deployed = {"registry": REGISTRY_IMAGE, "nginx": NGINX_IMAGE}
    # The images by name and as the archives scripts/testbed.sh saved (the hosts load them).
    archives = {f"{kind}_image": image for kind, image in deployed.items()}
    archives.update({kind: os.path.join(TESTBED_DIR, "images", f"{kind}.tar") for kind in deployed})
    os.makedirs(os.path.join(folder, "replicas"))
    replicas = ReplicaSet(testbed, archives, os.path.join(folder, "replicas"))
    # This host's docker CLI trusts the balancer's CA.
    certs_d = f"/etc/docker/certs.d/{replicas.endpoint}"
    rows, clients = [], None
    try:
        replicas.play()
        os.makedirs(certs_d, exist_ok=True)
        shutil.copy(replicas.ca_file, os.path.join(certs_d, "ca.crt"))
        replicas.wait_until_both_up()
        target = Target(testbed.controller_address, PORT, replicas.ca_file, "alice", replicas.users["alice"])
        clients = Clients(target, images, folder)

        def one_at_a_time():
            try:
                return replicas.play(options=("-e", "registry_serial=1"))
            except AssertionError as failed:  # the play failed: its output's tail
                return str(failed)

        rows.append(apply(clients, "nothing, one host at a time", one_at_a_time))
        replicas.users["dave"] = "d4ve " + os.urandom(4).hex()
        replicas.group_vars["registry_nginx_worker_processes"] = "1"
        replicas.write()
        rows.append(apply(clients, "an account, nginx workers, one at a time", one_at_a_time))
        # Every container re-created: a setting both containers carry.
        replicas.group_vars["registry_pids_limit"] = 4096
        replicas.write()
        rows.append(apply(clients, "containers re-created, one at a time", one_at_a_time))
    finally:
        if clients:
            clients.close()
        shutil.rmtree(certs_d, ignore_errors=True)
        replicas.remove(CLIENT)
    return rows


def print_rows(label, rows):
    print(f"\n{label}")
    print(
        f"  {'change':<40} {'run s':>6} {'changed':>7} {'requests':>8} {'failed':>6} {'retried':>7} {'gap s':>6}"
        "  docker ok"
    )
    for name, wall, changed, figures in rows:
        print(
            f"  {name:<40} {wall:>6.1f} {changed:>7} {figures['requests']:>8} "
            f"{figures['failures']:>6} {figures['retried']:>7} {figures['gap']:>6.2f}  {figures['docker']}"
        )
        for example in figures["examples"]:
            print(f"      failed: {example}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_deployment_arguments(parser)
    parser.add_argument("--topologies", nargs="+", choices=TOPOLOGIES, default=list(TOPOLOGIES))
    parser.add_argument("--port", type=int, default=17600)
    parser.add_argument("--replicas", action="store_true", help="the replica set on the SSH test bed instead")
    options = parser.parse_args()
    if shutil.which("docker") is None:
        sys.exit("the docker CLI is missing: run scripts/install-packages.sh")
    print_header("availability_bench.py", [options.registry_image, options.nginx_image])
    client_image = f"privreg-bench-avail:{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        images = {"client": client_image, "archive": build_image(folder, client_image)}
        try:
            if options.replicas:
                print_rows("replicas behind HAProxy (site.yml, serial 1)", bench_replicas(images, folder))
            else:
                images["nginx_relabelled"] = relabelled(options.nginx_image)
                images["registry_relabelled"] = relabelled(options.registry_image)
                for number, topology in enumerate(options.topologies):
                    rows = bench_topology(topology, options, images, folder, options.port + 10 * number)
                    print_rows(f"{topology} (port {options.port + 10 * number})", rows)
        finally:
            for image in (client_image, images.get("nginx_relabelled"), images.get("registry_relabelled")):
                if image:
                    docker("rmi", "-f", image, check=False)
    print_load_after()


if __name__ == "__main__":
    main()
