"""Two registry replicas behind a load balancer, on S3 storage with a Redis
cache, on the test bed: the Debian 12 and 13 hosts run the nginx_proxy
topology from site.yml over SSH; this machine runs the servers they share (moto's
S3 server, Debian's redis-server) and the balancer, HAProxy from Debian, on
its test bed address. The balancer is test scaffolding, configured as the
README's load balancer contract says: TLS in front with the registry's
certificate and name, re-encrypted to each replica's port, health check
`GET /v2/` answering 401, `Host` (with the port) kept, `X-Forwarded-Proto`
set. Its runtime socket takes a replica out of rotation and puts it back.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import time

import pytest
import testinfra
from privreg_molecule.scenario import make_own_certificate
from storage_servers import RedisServer, S3Server
from testbed_hosts import CLIENT, ROOT, ansible_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy (scripts/install-packages.sh)"),
]

SITE = os.path.join(ROOT, "playbooks", "site.yml")
REPLICAS = {"a": "privreg-testbed-bookworm", "b": "privreg-testbed-trixie"}
PORT = 6443
LAYERS = 4


class Balancer:
    """HAProxy in front of the replicas, with an admin socket."""

    def __init__(self, workdir, address, certificate, key, ca, replicas):
        self.address = address
        self.socket = os.path.join(workdir, "haproxy.sock")
        pem = os.path.join(workdir, "balancer.pem")
        with open(pem, "w") as out:
            for path in (certificate, key):
                with open(path) as stream:
                    out.write(stream.read())
        os.chmod(pem, 0o600)
        servers = "\n".join(
            "  server %s %s:%d ssl verify required ca-file %s check inter 1s fall 2 rise 2" % (name, ip, PORT, ca)
            for name, ip in replicas.items()
        )
        config = os.path.join(workdir, "haproxy.cfg")
        with open(config, "w") as stream:
            stream.write(
                "global\n  stats socket %s mode 600 level admin\n"
                "defaults\n  mode http\n  timeout connect 5s\n  timeout client 300s\n  timeout server 300s\n"
                "frontend registry\n  bind %s:%d ssl crt %s\n"
                "  http-request set-header X-Forwarded-Proto https\n  default_backend replicas\n"
                "backend replicas\n  balance roundrobin\n  option httpchk GET /v2/\n  http-check expect status 401\n"
                "  retries 3\n  option redispatch\n"
                "%s\n" % (self.socket, address, PORT, pem, servers)
            )
        self.process = subprocess.Popen(
            ["haproxy", "-f", config, "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while not os.path.exists(self.socket):
            assert self.process.poll() is None and time.monotonic() < deadline, "haproxy did not start"
            time.sleep(0.2)

    def command(self, line):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(self.socket)
            sock.sendall(line.encode() + b"\n")
            return sock.makefile().read()

    def only(self, replica):
        """Every request to ``replica``: the other is put in maintenance."""
        for name in REPLICAS:
            self.command("set server replicas/%s state %s" % (name, "ready" if name == replica else "maint"))

    def both(self):
        for name in REPLICAS:
            self.command("set server replicas/%s state ready" % name)

    def up(self):
        """The replicas the health check sees up."""
        rows = self.command("show servers state replicas").splitlines()[2:]
        return sorted(row.split()[3] for row in rows if row.split() and row.split()[5] == "2")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class Replicas:
    """The two replica hosts' inventory and site.yml runs."""

    def __init__(self, testbed, archives, workdir, s3, redis, own):
        self.testbed = testbed
        self.workdir = workdir
        self.endpoint = "%s:%d" % (testbed.controller_address, PORT)
        self.users = {"alice": "al1ce %s" % secrets.token_hex(6)}
        self.inventory = os.path.join(workdir, "inventory.json")
        self.secrets_file = os.path.join(workdir, "secrets.json")
        self.group_vars = {
            **testbed.connection,
            "registry_topology": "nginx_proxy",
            # the balancer's name and port: what clients use and upload URLs carry
            "registry_host": testbed.controller_address,
            "registry_port": PORT,
            **own,
            "registry_image": archives["registry_image"],
            "registry_image_archive": archives["registry"],
            "registry_nginx_image": archives["nginx_image"],
            "registry_nginx_image_archive": archives["nginx"],
            "registry_storage": "s3",
            "registry_s3_endpoint": s3.endpoint,
            "registry_s3_bucket": s3.bucket,
            "registry_s3_path_style": True,
            "registry_redis_addresses": [redis.address_port],
            "registry_redis_db": 1,
        }
        self.secrets = {
            "registry_s3_access_key": s3.access_key,
            "registry_s3_secret_key": s3.secret_key,
            "registry_redis_password": redis.password,
            "registry_http_secret": secrets.token_hex(24),
        }
        self.write()

    def write(self):
        hosts = {name: {"ansible_host": self.testbed.address(name)} for name in REPLICAS.values()}
        with open(self.inventory, "w") as stream:
            json.dump({"registry": {"vars": self.group_vars, "hosts": hosts}}, stream)
        fd = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            users = [{"name": name, "password": password} for name, password in self.users.items()]
            json.dump({**self.secrets, "registry_users": users}, stream)

    def play(self):
        done = subprocess.run(
            ["ansible-playbook", "-i", self.inventory, "-e", "@" + self.secrets_file, SITE],
            env=ansible_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-8000:]
        return output


@pytest.fixture(scope="module")
def replicas(testbed, image_archives, tmp_path_factory, timed):
    workdir = tmp_path_factory.mktemp("replicas")
    address = testbed.controller_address
    s3 = S3Server(address, str(workdir / "moto.log"))
    redis = RedisServer(address, str(workdir))
    own = make_own_certificate(testinfra.get_host("local://"), str(workdir / "tls"), address)
    addresses = {name: testbed.address(host) for name, host in REPLICAS.items()}
    balancer = Balancer(
        str(workdir),
        address,
        own["registry_tls_certificate"],
        own["registry_tls_private_key"],
        own["registry_tls_ca_certificate"],
        addresses,
    )
    deployment = Replicas(testbed, image_archives, str(workdir), s3, redis, own)
    deployment.balancer = balancer
    deployment.s3 = s3
    timed("replicas deploy (2 hosts, S3, Redis, behind HAProxy)", deployment.play)
    with open(own["registry_tls_ca_certificate"]) as stream:
        ca = stream.read()
    testbed.must(
        CLIENT, "sudo install -D -m 0644 /dev/stdin /etc/docker/certs.d/%s/ca.crt" % deployment.endpoint, stdin=ca
    )
    login(testbed, deployment, "alice")
    yield deployment
    testbed.ssh(CLIENT, "sudo docker logout %s; sudo rm -rf /etc/docker/certs.d/%s" % ((deployment.endpoint,) * 2))
    for host in REPLICAS.values():
        testbed.ssh(
            host,
            "sudo docker rm -f -v registry registry_nginx; sudo docker volume rm -f registry-socket; sudo rm -rf /opt/registry",
        )
    balancer.stop()
    s3.stop()
    redis.stop()


def login(testbed, replicas, user):
    testbed.must(
        CLIENT, "sudo docker login -u %s --password-stdin %s" % (user, replicas.endpoint), stdin=replicas.users[user]
    )


def build(testbed, replicas, repository, layers=LAYERS, kib=512):
    """A multi-layer image of random content on the client; returns (ref, image id)."""
    ref = "%s/%s:%s" % (replicas.endpoint, repository, secrets.token_hex(3))
    steps = "".join(
        "head -c %d /dev/urandom >$d/l%d; echo 'COPY l%d /l%d' >>$d/Dockerfile; " % (kib * 1024, i, i, i)
        for i in range(layers)
    )
    image = testbed.must(
        CLIENT,
        "set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; echo 'FROM scratch' >$d/Dockerfile; %s"
        "sudo docker build -q -t %s $d" % (steps, ref),
    ).strip()
    return ref, image


def served_requests(testbed, host, method, path="/v2/"):
    """How many requests of ``method`` under ``path`` the replica's nginx logged."""
    log = testbed.must(host, "sudo docker logs registry_nginx 2>&1")
    return sum(1 for line in log.splitlines() if '"%s %s' % (method, path) in line)


def test_the_balancer_sees_both_replicas_up(replicas):
    deadline = time.monotonic() + 30
    while replicas.balancer.up() != ["a", "b"] and time.monotonic() < deadline:
        time.sleep(1)
    assert replicas.balancer.up() == ["a", "b"]


def test_a_push_whose_requests_alternate_between_replicas_completes(replicas, testbed, timed):
    before = {
        name: served_requests(testbed, host, "PATCH") + served_requests(testbed, host, "PUT")
        for name, host in REPLICAS.items()
    }
    ref, image = build(testbed, replicas, "replicas/alternating")
    timed("push through the balancer", testbed.must, CLIENT, "sudo docker push %s" % ref)
    after = {
        name: served_requests(testbed, host, "PATCH") + served_requests(testbed, host, "PUT")
        for name, host in REPLICAS.items()
    }
    # uploads (PATCH, PUT) landed on both replicas: an upload begun on one was continued on the other
    assert all(after[name] > before[name] for name in REPLICAS), (before, after)
    testbed.must(CLIENT, "sudo docker rmi %s && sudo docker pull %s" % (ref, ref))
    assert testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % ref).strip() == image


def test_an_image_pushed_via_one_replica_pulls_via_the_other(replicas, testbed):
    ref, image = build(testbed, replicas, "replicas/a-to-b")
    replicas.balancer.only("a")
    try:
        testbed.must(CLIENT, "sudo docker push %s && sudo docker rmi %s" % (ref, ref))
        replicas.balancer.only("b")
        testbed.must(CLIENT, "sudo docker pull %s" % ref)
    finally:
        replicas.balancer.both()
    assert testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % ref).strip() == image


def test_a_pull_survives_a_replica_stopping_midway(replicas, testbed):
    ref, image = build(testbed, replicas, "replicas/failover", layers=8, kib=32 * 1024)
    testbed.must(CLIENT, "sudo docker push %s && sudo docker rmi %s" % (ref, ref))
    blobs = "/v2/replicas/failover/blobs/"
    blobs_before = served_requests(testbed, REPLICAS["a"], "GET", blobs)
    ssh = testbed.ssh_command(CLIENT, "sudo docker pull %s || sudo docker pull %s" % (ref, ref))
    pulling = subprocess.Popen(ssh, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # replica a's proxy stops as soon as it serves a layer of the pull (the balancer alternates)
    deadline = time.monotonic() + 60
    while served_requests(testbed, REPLICAS["a"], "GET", blobs) == blobs_before and time.monotonic() < deadline:
        time.sleep(0.1)
    testbed.must(REPLICAS["a"], "sudo docker stop -t 0 registry_nginx")
    try:
        assert pulling.poll() is None, "the pull ended before the replica stopped: nothing was tested"
        output = pulling.communicate(timeout=300)[0]
        assert pulling.returncode == 0, output
        assert testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % ref).strip() == image
    finally:
        testbed.must(REPLICAS["a"], "sudo docker start registry_nginx")
        testbed.must(CLIENT, "sudo docker rmi %s" % ref)


def test_accounts_and_access_rules_changed_on_a_rerun_apply_on_every_replica(replicas, testbed, timed):
    """carol is added, read-only by a new rule; alice keeps every right."""
    replicas.users["carol"] = "c@rol %s" % secrets.token_hex(6)
    replicas.group_vars["registry_access"] = [
        {"repositories": ["**"], "users": ["alice"], "actions": ["pull", "push", "delete", "catalog"]},
        {"repositories": ["replicas/**"], "users": ["carol"], "actions": ["pull"]},
    ]
    replicas.write()
    timed("replicas re-run with a new account and access rules", replicas.play)
    deadline = time.monotonic() + 30
    while replicas.balancer.up() != ["a", "b"] and time.monotonic() < deadline:
        time.sleep(1)
    ref, _image = build(testbed, replicas, "replicas/read-only", layers=1, kib=64)
    for name in REPLICAS:
        replicas.balancer.only(name)
        try:
            login(testbed, replicas, "carol")
            denied = testbed.ssh(CLIENT, "sudo docker push %s" % ref)
            assert denied.returncode != 0, "carol pushed through replica %s" % name
            assert "denied: requested access to the resource is denied" in denied.stdout + denied.stderr
            login(testbed, replicas, "alice")
            testbed.must(CLIENT, "sudo docker push %s" % ref)
        finally:
            replicas.balancer.both()
