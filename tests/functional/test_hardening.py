"""Defense in depth on a real deployment of site.yml, tried as an attacker on
the host and as a careless operator would:

- behind nginx the registry has no network at all and listens on a unix socket
  in a volume only nginx mounts: an unprivileged host user and another
  container cannot reach its API;
- the HTTP secret is not in `docker inspect`; both containers run read-only,
  without capabilities or new privileges, with a pids limit and rotating logs;
  nginx is not root, and its group is one the role created, not the host's
  gid 101; nginx has a health check that reaches the registry;
- a new nginx image that cannot load the config is refused by `nginx -t`
  before its container replaces the running proxy;
- a generated certificate about to expire is renewed by the same CA on the
  next run.

The deployments are the session's shared ones (site_deployment.SharedSites): a test
that changes one puts it back (a converge with the default vars) before it ends.
Tests of what only nginx_proxy has run for nginx_proxy alone.
"""

import datetime
import grp
import json
import os
import subprocess
import time

import pytest
from cryptography import x509
from local_engine import NGINX_IMAGE, docker, needs_engine_and_images, nginx_process_status
from site_deployment import restore, shared

pytestmark = needs_engine_and_images


@pytest.fixture(scope="module", params=[shared("nginx_proxy"), shared("native")])
def site(request, shared_sites):
    return shared_sites.get(request.param)


@pytest.fixture(scope="module", params=[shared("nginx_proxy")])
def proxy(request, shared_sites):
    """The shared nginx_proxy deployment, for what only that topology has."""
    return shared_sites.get(request.param)


def inspect(name):
    return json.loads(docker("container", "inspect", name).stdout)[0]


def as_nobody(*command):
    """A command run by an unprivileged user of the host."""
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True, text=True, check=False)


def status(site, auth=None):
    command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", site.base_dir + "/certs/ca.crt"]
    if auth:
        command += ["-u", auth]
    url = "https://localhost:%d/v2/" % site.port
    return subprocess.run(command + [url], capture_output=True, text=True, check=False).stdout


def test_behind_nginx_the_registry_has_no_network_and_no_reachable_socket(proxy):
    site = proxy
    registry = inspect(site.containers[0])
    assert registry["HostConfig"]["NetworkMode"] == "none"
    assert not any(net.get("IPAddress") for net in registry["NetworkSettings"]["Networks"].values())
    # The socket lives in a volume under the engine's root folder, which host users cannot enter.
    volume = json.loads(docker("volume", "inspect", site.containers[0] + "-socket").stdout)[0]
    socket = os.path.join(volume["Mountpoint"], "registry.sock")
    assert os.path.exists(socket)
    denied = as_nobody("curl", "-s", "--max-time", "5", "--unix-socket", socket, "http://registry/v2/_catalog")
    assert denied.returncode != 0 and "repositories" not in denied.stdout
    assert as_nobody("ls", volume["Mountpoint"]).returncode != 0
    # Another container on the engine's network finds no registry to talk to.
    probe = docker(
        "run",
        "--rm",
        "--entrypoint",
        "curl",
        NGINX_IMAGE,
        "-s",
        "-m",
        "5",
        "http://%s:5000/v2/_catalog" % site.containers[0],
    )
    assert probe.returncode != 0 and "repositories" not in probe.stdout
    # Through nginx, with a login, it answers.
    assert status(site, "alice:" + site.passwords[0]) == "200"
    assert status(site) == "401"


def test_the_http_secret_is_in_a_root_only_file_not_in_docker_inspect(site):
    registry = inspect(site.containers[0])
    assert not [item for item in registry["Config"]["Env"] if item.startswith("REGISTRY_HTTP_SECRET")]
    with open(os.path.join(site.base_dir, "http_secret")) as stream:
        secret = stream.read().strip()
    assert secret and secret not in docker("container", "inspect", site.containers[0]).stdout
    config = os.path.join(site.base_dir, "config", "config.yml")
    assert secret in open(config).read()
    assert os.stat(config).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(config)).st_mode & 0o777 == 0o700
    assert as_nobody("cat", config).returncode != 0


def test_containers_are_confined(site):
    names = site.existing_containers()
    assert len(names) == (2 if site.topology == "nginx_proxy" else 1)
    for name in names:
        host = inspect(name)["HostConfig"]
        assert host["ReadonlyRootfs"] is True, name
        assert host["CapDrop"] == ["ALL"], name
        if name.endswith("-nginx"):
            # nginx's master: root with what it needs for its life and no other capability (vars/main.yml) ...
            assert sorted(host["CapAdd"]) == ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]
            status = nginx_process_status(name)
            assert status["Uid"].split() == ["0"] * 4, status
            # ... CHOWN 0, SETGID 6, SETUID 7, NET_BIND_SERVICE 10, in the bounding set too.
            for field in ("CapEff", "CapBnd"):
                assert int(status[field], 16) == 0x4C1, (field, status)
        else:
            assert not host["CapAdd"], name
        assert "no-new-privileges" in host["SecurityOpt"], name
        assert host["PidsLimit"] == 512, name
        assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "5", "max-size": "10m"}}, name


def test_nginx_workers_are_not_root_and_read_the_accounts_through_a_group_of_its_own(proxy):
    site = proxy
    group = grp.getgrnam(site.nginx_group)
    # The container starts as root: nginx's master, alone (test_containers_are_confined).
    assert inspect(site.containers[1])["Config"]["User"] == "0:0"
    # Every nginx process but the master (workers, cache manager and loader): real, effective, saved uid
    # and gid, and no capability.
    status_lines = docker("exec", site.containers[1], "sh", "-c", "cat /proc/[0-9]*/status").stdout
    processes = [block for block in status_lines.split("Name:")[1:] if block.split()[0] == "nginx"]
    fields = [dict(line.split(":", 1) for line in ("Name:" + block).splitlines() if ":" in line) for block in processes]
    workers = [process for process in fields if process["Uid"].split()[0] != "0"]
    assert len(workers) >= 2 and len(fields) == len(workers) + 1, fields
    for process in workers:
        assert process["Uid"].split() == ["101"] * 4, process
        assert process["Gid"].split() == [str(group.gr_gid)] * 4, process
        assert int(process["CapEff"], 16) == 0 and int(process["CapPrm"], 16) == 0, process
    for path, mode in (("auth/htpasswd", 0o640), ("auth", 0o750), ("certs/registry.key", 0o640)):
        info = os.stat(os.path.join(site.base_dir, path))
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, group.gr_gid, mode), path
    assert as_nobody("cat", os.path.join(site.base_dir, "auth", "htpasswd")).returncode != 0


def test_nginx_has_a_health_check_that_reaches_the_registry(proxy):
    site = proxy
    check = docker(
        "exec", site.containers[1], "sh", "-c", inspect(site.containers[1])["Config"]["Healthcheck"]["Test"][1]
    )
    assert check.returncode == 0, check.stderr
    docker("stop", site.containers[0])
    try:
        broken = docker(
            "exec", site.containers[1], "sh", "-c", inspect(site.containers[1])["Config"]["Healthcheck"]["Test"][1]
        )
        assert broken.returncode != 0
    finally:
        # The same container starts again with its configuration: once nginx reaches it, the deployment
        # is the default one again; only if it does not does a converge put it back.
        docker("start", site.containers[0])
        if not answers_again(site):
            restore(site)


def answers_again(site, seconds=120):
    """Whether the deployment lets alice in again within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if status(site, "alice:" + site.passwords[0]) == "200":
            return True
        time.sleep(0.5)
    return False


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("rm /usr/lib/nginx/modules/ngx_http_js_module.so", "lacks what the nginx topology needs: /etc/nginx/modules/"),
        # The start and the config check are sh command lines.
        ("rm /bin/sh", "has no sh"),
    ],
)
def test_a_nginx_image_that_fails_the_config_check_never_replaces_the_running_proxy(proxy, breakage, message):
    site = proxy
    bad = "privreg-test-hard-nginx-broken:%s" % site.nginx_group
    builder = "privreg-test-hard-builder-%s" % site.nginx_group
    docker("rm", "-f", builder)
    removed = docker("run", "--name", builder, NGINX_IMAGE, "sh", "-c", breakage)
    assert removed.returncode == 0, removed.stderr
    assert docker("commit", builder, bad).returncode == 0
    docker("rm", "-f", builder)
    before = inspect(site.containers[1])["Id"]
    changed = None
    try:
        rc, changed, failed, output = site.run("-e", "registry_nginx_image=" + bad)
        assert rc != 0 and failed == 1
        assert message in output, output[-4000:]
        assert inspect(site.containers[1])["Id"] == before
        assert status(site, "alice:" + site.passwords[0]) == "200"
    finally:
        docker("rmi", "-f", bad)
        # A refused run that changed nothing left the default deployment: no converge needed to put it back.
        if changed != 0:
            restore(site)


def served_not_after(site):
    """The end of the certificate the endpoint serves, as a client sees it."""
    shown = subprocess.run(
        ["openssl", "s_client", "-connect", "localhost:%d" % site.port, "-servername", "localhost", "-showcerts"],
        input="",
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    pem = shown[shown.index("-----BEGIN CERTIFICATE-----") : shown.index("-----END CERTIFICATE-----") + 25]
    return x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc


def test_a_generated_certificate_near_its_end_is_renewed_by_the_same_ca(site):
    certs = os.path.join(site.base_dir, "certs")
    ca = open(os.path.join(certs, "ca.crt")).read()
    # The same CA signs a server certificate that ends in 10 days.
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            "registry.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "../ca/ca.key",
            "-days",
            "10",
            "-copy_extensions",
            "copy",
            "-out",
            "registry.crt",
        ],
        cwd=certs,
        check=True,
        capture_output=True,
    )
    try:
        changed, output = site.play()
        assert changed > 0
        assert "The server certificate is signed by the CA and not about to expire" in output
        assert open(os.path.join(certs, "ca.crt")).read() == ca
        now = datetime.datetime.now(datetime.UTC)
        assert served_not_after(site) - now > datetime.timedelta(days=800)
        assert status(site, "alice:" + site.passwords[0]) == "200"
        changed, output = site.play()
        assert changed == 0, output[-5000:]
    except BaseException:
        restore(site)  # the renewal's own converge did not end in the default state
        raise
