"""Real S3 and Redis servers for the functional tests of shared storage, on
this host's address on Docker's default bridge (the registry container
reaches them there): Redis from Debian's redis-server, and moto's S3 server
from PyPI (nothing S3-compatible that runs here is packaged by Debian but
Ceph, far too heavy for this machine and the test budget)."""

import os
import secrets
import shutil
import socket
import subprocess
import time

import boto3
from local_engine import docker, unused_port


def bridge_gateway():
    """This host's address on Docker's default bridge.

    The engine names it in the bridge's IPAM config only sometimes (seen: a
    20.10 engine that found docker0 already up lists the subnet alone); the
    bridge interface itself always carries it."""
    done = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge")
    assert done.returncode == 0, done.stderr
    if done.stdout.strip():
        return done.stdout.strip()
    bridge = docker("network", "inspect", "-f", '{{index .Options "com.docker.network.bridge.name"}}', "bridge")
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", bridge.stdout.strip() or "docker0"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert "inet" in shown, "no IPv4 address on Docker's default bridge: %r" % shown
    return shown[shown.index("inet") + 1].split("/")[0]


def _wait_for_port(address, port, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited with %s" % process.returncode
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("nothing answers on %s:%d after %ds" % (address, port, timeout))


def _private_ca_certificate(workdir, address):
    """A CA of the test's own and a server certificate for ``address`` it signed
    (server.crt, server.key in ``workdir``); returns the CA certificate's path."""

    def openssl(*args):
        done = subprocess.run(["openssl", *args], cwd=workdir, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=privreg test CA", "-days", "2")
    openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=%s" % address)
    with open(os.path.join(workdir, "san.ext"), "w") as stream:
        stream.write("subjectAltName=IP:%s\n" % address)
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    os.chmod(os.path.join(workdir, "server.key"), 0o600)
    return os.path.join(workdir, "ca.crt")


class S3Server:
    """moto_server on the bridge address, with one bucket and credentials of its own.
    With ``tls``, over HTTPS with a certificate for the address signed by a CA of the
    test's own (``self.ca_certificate``)."""

    def __init__(self, address, log_path, tls=False):
        self.address = address
        self.port = unused_port()
        self.endpoint = "%s://%s:%d" % ("https" if tls else "http", address, self.port)
        workdir = os.path.dirname(log_path)
        self.ca_certificate = _private_ca_certificate(workdir, address) if tls else None
        https = ["-c", os.path.join(workdir, "server.crt"), "-k", os.path.join(workdir, "server.key")] if tls else []
        self.bucket = "privreg-%s" % secrets.token_hex(4)
        self.access_key = "AKIA" + secrets.token_hex(8).upper()
        # characters that trip quoting in YAML and in a shell
        self.secret_key = "s3/%s+'\"$x" % secrets.token_hex(12)
        self.log = open(log_path, "w")  # noqa: SIM115  (kept open while the server runs)
        self.process = subprocess.Popen(
            [shutil.which("moto_server"), "-H", address, "-p", str(self.port), *https], stdout=self.log, stderr=self.log
        )
        _wait_for_port(address, self.port, self.process)
        self.client().create_bucket(Bucket=self.bucket)

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            verify=self.ca_certificate,
        )

    def role_vars(self):
        """The roles' variables of a registry that stores in this server's bucket."""
        return {
            "registry_storage": "s3",
            "registry_s3_endpoint": self.endpoint,
            "registry_s3_bucket": self.bucket,
            "registry_s3_access_key": self.access_key,
            "registry_s3_secret_key": self.secret_key,
            "registry_s3_path_style": True,
        }

    def keys(self, prefix=""):
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


class RedisServer:
    """Debian's redis-server on the bridge address, with a password, no persistence,
    and the eviction policy the distribution project asks for (allkeys-lru).
    With ``tls``, it speaks TLS only, with a certificate for the address signed by a
    CA of the test's own (``self.ca_certificate``)."""

    def __init__(self, address, workdir, tls=False):
        self.address = address
        self.port = unused_port()
        self.password = "r3dis %s 'q' $x" % secrets.token_hex(6)
        self.ca_certificate = _private_ca_certificate(workdir, address) if tls else None
        listen = (
            "port 0\ntls-port %d\ntls-cert-file %s/server.crt\ntls-key-file %s/server.key\n"
            "tls-ca-cert-file %s\ntls-auth-clients no\n" % (self.port, workdir, workdir, self.ca_certificate)
            if tls
            else "port %d\n" % self.port
        )
        config = os.path.join(workdir, "redis.conf")
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(
                "bind %s\n%srequirepass \"%s\"\nsave \"\"\nappendonly no\n"
                "maxmemory 64mb\nmaxmemory-policy allkeys-lru\ndir %s\n"
                % (address, listen, self.password.replace("\\", "\\\\").replace('"', '\\"'), workdir)
            )
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for_port(address, self.port, self.process)

    @property
    def address_port(self):
        return "%s:%d" % (self.address, self.port)

    def keys(self, db):
        """The keys of database ``db``, read with redis-cli (password on its environment)."""
        done = subprocess.run(
            ["redis-cli", "-h", self.address, "-p", str(self.port), "-n", str(db), "--scan"]
            + (["--tls", "--cacert", self.ca_certificate] if self.ca_certificate else []),
            env=dict(os.environ, REDISCLI_AUTH=self.password),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def servers_missing():
    """What this host lacks to run the servers (scripts/install-packages.sh and the venv provide them)."""
    return [name for name in ("moto_server", "redis-server", "redis-cli") if shutil.which(name) is None]
