"""What the functional tests that deploy on this host's Docker engine share:
the local images, a docker CLI call, a free port, and the marks that skip
such a test where no engine or no image is there."""

import shutil
import socket
import subprocess

import pytest

REGISTRY_IMAGE = "privreg/registry:2.8.2-debian"
NGINX_IMAGE = "privreg/nginx:1.22-debian"


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def engine_answers():
    return shutil.which("docker") is not None and docker("info").returncode == 0


def nginx_process_status(container):
    """/proc/1/status of a container's first process (nginx) as a dict, read from the host."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", container).stdout.strip()
    with open(f"/proc/{pid}/status") as stream:
        return dict(line.rstrip("\n").split(":\t", 1) for line in stream if ":\t" in line)


def unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


needs_engine_and_images = [
    pytest.mark.slow,
    pytest.mark.skipif(not engine_answers(), reason="no Docker engine answers (scripts/ensure-docker.sh starts one)"),
    pytest.mark.skipif(
        engine_answers() and docker("image", "inspect", REGISTRY_IMAGE).returncode != 0,
        reason="local images missing: run scripts/build-images.sh",
    ),
]
