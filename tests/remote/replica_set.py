"""Two registry replicas behind HAProxy on the test bed, on S3 storage with a
Redis cache (tests/remote/test_replicas.py and bench/replica_bench.py): the
Debian 12 and 13 hosts run one topology from site.yml over SSH (nginx_proxy,
or native, where the registry itself serves TLS on the replica's port);
this machine runs what they share, moto's S3 server and Debian's
redis-server, and the balancer, on its test bed address. The balancer is
scaffolding, configured as the load balancer contract says
(docs/docsite/rst/storage_and_replicas.rst, The load balancer): TLS in
front with the registry's certificate and name, re-encrypted to each
replica's port, health check `GET /v2/` answering 401, `Host` kept,
`X-Forwarded-Proto` set, a failed connection retried on the other replica.
Its admin socket takes a replica out of rotation and puts it back."""

import json
import os
import secrets
import socket
import subprocess
import time

import testinfra
from privreg_molecule.scenario import make_own_certificate
from storage_servers import RedisServer, S3Server
from testbed_hosts import ROOT, ansible_env

SITE = os.path.join(ROOT, "playbooks", "site.yml")
# The balancer's names of the replicas, and the test bed hosts they run on.
REPLICAS = {"a": "privreg-testbed-bookworm", "b": "privreg-testbed-trixie"}
PORT = 6443
# The container that serves each replica's port, per topology: its log has a
# line per request, and a replica stops serving when it stops.
FRONT_CONTAINER = {"nginx_proxy": "registry_nginx", "native": "registry"}


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


class ReplicaSet:
    """The servers, the balancer and the two replica hosts' inventory and site.yml runs,
    in ``topology`` (nginx_proxy or native)."""

    def __init__(self, testbed, archives, workdir, topology="nginx_proxy"):
        self.testbed = testbed
        self.topology = topology
        self.front_container = FRONT_CONTAINER[topology]
        self.workdir = workdir
        address = testbed.controller_address
        self.s3 = s3 = S3Server(address, os.path.join(workdir, "moto.log"))
        self.redis = redis = RedisServer(address, workdir)
        own = make_own_certificate(testinfra.get_host("local://"), os.path.join(workdir, "tls"), address)
        self.ca_file = own["registry_tls_ca_certificate"]
        self.balancer = Balancer(
            workdir,
            address,
            own["registry_tls_certificate"],
            own["registry_tls_private_key"],
            self.ca_file,
            {name: testbed.address(host) for name, host in REPLICAS.items()},
        )
        self.endpoint = "%s:%d" % (testbed.controller_address, PORT)
        self.users = {"alice": "al1ce %s" % secrets.token_hex(6)}
        # Accounts the next run removes (state: absent).
        self.removed = []
        self.inventory = os.path.join(workdir, "inventory.json")
        self.secrets_file = os.path.join(workdir, "secrets.json")
        self.group_vars = {
            **testbed.connection,
            "registry_topology": topology,
            # the balancer's name and port: what clients use and upload URLs carry
            "registry_host": testbed.controller_address,
            "registry_port": PORT,
            **own,
            "registry_image": archives["registry_image"],
            "registry_image_archive": archives["registry"],
            "registry_storage": "s3",
            "registry_s3_endpoint": s3.endpoint,
            "registry_s3_bucket": s3.bucket,
            "registry_s3_path_style": True,
            "registry_redis_addresses": [redis.address_port],
            "registry_redis_db": 1,
            # clients may delete: playbooks/gc.yml has something to collect
            "registry_storage_delete": True,
        }
        if topology == "nginx_proxy":
            self.group_vars["registry_nginx_image"] = archives["nginx_image"]
            self.group_vars["registry_nginx_image_archive"] = archives["nginx"]
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
            users += [{"name": name, "state": "absent"} for name in self.removed]
            json.dump({**self.secrets, "registry_users": users}, stream)

    def play(self, playbook=SITE, options=()):
        """A run of ``playbook`` over both hosts; ``options``: more ansible-playbook arguments
        (``-e registry_serial=1``: one host at a time)."""
        done = subprocess.run(
            ["ansible-playbook", "-i", self.inventory, "-e", "@" + self.secrets_file, *options, playbook],
            env=ansible_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-8000:]
        return output

    def trust_on(self, client):
        """The CA in the docker client's folder for the balancer's endpoint on ``client``."""
        with open(self.ca_file) as stream:
            ca = stream.read()
        self.testbed.must(
            client, "sudo install -D -m 0644 /dev/stdin /etc/docker/certs.d/%s/ca.crt" % self.endpoint, stdin=ca
        )

    def build_on(self, client, ref, layers, layer_bytes):
        """An image ``ref`` of ``layers`` random layers built FROM scratch on ``client``
        (nothing can be pulled); returns its image id."""
        steps = "".join(
            "head -c %d /dev/urandom >$d/l%d; echo 'COPY l%d /l%d' >>$d/Dockerfile; " % (layer_bytes, i, i, i)
            for i in range(layers)
        )
        return self.testbed.must(
            client,
            "set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; echo 'FROM scratch' >$d/Dockerfile; %s"
            "sudo docker build -q -t %s $d" % (steps, ref),
        ).strip()

    def remove_user(self, name):
        """``name`` is removed by the next run."""
        del self.users[name]
        self.removed.append(name)

    def served_requests(self, host, method, path="/v2/"):
        """How many requests of ``method`` under ``path`` the replica on ``host`` logged
        (nginx's access log, or the registry's own in native)."""
        log = self.testbed.must(host, "sudo docker logs %s 2>&1" % self.front_container)
        return sum(1 for line in log.splitlines() if '"%s %s' % (method, path) in line)

    def wait_until_both_up(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.balancer.up() != sorted(REPLICAS) and time.monotonic() < deadline:
            time.sleep(1)
        return self.balancer.up()

    def remove(self, client):
        """The replicas' containers and folders, the client's CA folder, the balancer and servers."""
        self.testbed.ssh(client, "sudo rm -rf /etc/docker/certs.d/%s" % self.endpoint)
        for host in REPLICAS.values():
            self.testbed.ssh(
                host,
                "sudo docker rm -f -v registry registry_nginx; sudo docker volume rm -f registry-socket;"
                " sudo rm -rf /opt/registry",
            )
        self.balancer.stop()
        self.s3.stop()
        self.redis.stop()
