"""The files registry_htpasswd writes, checked by the programs that read them.

Apache's `htpasswd -vb`, the distribution registry (Debian's docker-registry
binary, run directly) and nginx auth_basic (run as a foreground process with its
own prefix) must accept every user, and refuse a wrong password.
"""

import base64
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

pytestmark = pytest.mark.slow

MODULE = "privreg.registry.registry_htpasswd"
REGISTRY = "/usr/bin/docker-registry"
NGINX = "/usr/sbin/nginx"

# Passwords a shell, a config parser or an HTTP client could mangle.
USERS = [
    {"name": "alice", "password": "pass with  spaces "},
    {"name": "bob", "password": "it's \"quoted\""},
    {"name": "carol", "password": "$HOME $1 $$ ${x}"},
    {"name": "dave", "password": "back\\slash\\n\\\\"},
    {"name": "j\u00fcrgen", "password": "Gr\u00fc\u00dfe \u00e9t\u00e9 \u5bc6\u7801 \u0437\u0430\u043c\u043e\u043a"},
    {"name": "eve", "password": "x" * 71 + "!"},  # exactly 72 bytes: every one of them counts
]
WRONG = [("alice", "pass with spaces"), ("eve", "x" * 72), ("j\u00fcrgen", "Grusse"), ("nobody", "x")]


def need(program):
    if not os.path.exists(program):
        pytest.skip("%s is missing (Debian: apt-get install %s)" % (program, os.path.basename(program)))


@pytest.fixture
def htpasswd(ansible_module, tmp_path):
    """An htpasswd file written by the module, through real ansible."""
    path = str(tmp_path / "auth" / "htpasswd")
    os.makedirs(os.path.dirname(path))
    run = ansible_module(MODULE, {"path": path, "users": USERS, "cost": 5})
    assert run.rc == 0 and run.result["added"] == [u["name"] for u in USERS], run.stdout + run.stderr
    return path


def basic_auth(name, password):
    """The Authorization header with UTF-8 credentials (requests would encode them as Latin-1)."""
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (name, password)).encode()).decode()}


def status(url, name=None, password=None):
    headers = basic_auth(name, password) if name is not None else {}
    return requests.get(url, headers=headers, timeout=10).status_code


def statuses(url, credentials):
    return {name: status(url, name, password) for name, password in credentials}


def wait_for_port(port, process, log):
    # a deadline that holds on a loaded 2-core machine running test lanes side by side
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("server exited with %s:\n%s" % (process.returncode, open(log).read()))
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail("nothing listens on 127.0.0.1:%d after 60 s:\n%s" % (port, open(log).read()))


@pytest.fixture
def serve(tmp_path):
    """Start a server in the foreground of its own process; stopped (by its pid) after the test."""
    started = []

    def start(command, port):
        log = str(tmp_path / ("%s.log" % os.path.basename(command[0])))
        with open(log, "w") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        started.append(process)
        wait_for_port(port, process, log)
        return process

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_apache_htpasswd_accepts_every_user(htpasswd):
    program = shutil.which("htpasswd")
    if program is None:
        pytest.skip("htpasswd is missing (Debian: apt-get install apache2-utils)")
    for user in USERS:
        check = subprocess.run(
            [program, "-vb", htpasswd, user["name"], user["password"]], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, (user["name"], check.stderr)
    for name, password in WRONG:
        assert (
            subprocess.run([program, "-vb", htpasswd, name, password], capture_output=True, check=False).returncode != 0
        )


def start_registry(htpasswd, tmp_path, free_port, serve):
    """The registry binary checking ``htpasswd``; its /v2/ URL."""
    need(REGISTRY)
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        "storage: {filesystem: {rootdirectory: %s}}\n"
        "http: {addr: '127.0.0.1:%d'}\n"
        "auth: {htpasswd: {realm: test, path: %s}}\n" % (tmp_path / "data", free_port, htpasswd)
    )
    serve([REGISTRY, "serve", str(config)], free_port)
    return "http://127.0.0.1:%d/v2/" % free_port


def test_registry_accepts_every_user_and_follows_changes(ansible_module, htpasswd, tmp_path, free_port, serve):
    url = start_registry(htpasswd, tmp_path, free_port, serve)

    assert statuses(url, [(u["name"], u["password"]) for u in USERS]) == {u["name"]: 200 for u in USERS}
    assert statuses(url, WRONG) == {name: 401 for name, _password in WRONG}
    assert status(url) == 401

    # The registry re-reads the file when its mtime changes: the module's atomic
    # replace must reach it without a restart (the folder is not a bind mount here).
    changed = ansible_module(
        MODULE,
        {
            "path": htpasswd,
            "cost": 5,
            "users": [{"name": "alice", "state": "absent"}, {"name": "frank", "password": "frank's new pass"}],
        },
    )
    assert (changed.result["added"], changed.result["removed"]) == (["frank"], ["alice"])
    # nothing to wait for: the registry compares the file's mtime on every request
    assert status(url, "frank", "frank's new pass") == 200
    assert status(url, "alice", USERS[0]["password"]) == 401


def start_nginx(htpasswd, tmp_path, free_port, serve):
    """nginx auth_basic checking ``htpasswd``; its URL."""
    need(NGINX)
    prefix = tmp_path / "nginx"
    (prefix / "html").mkdir(parents=True)
    (prefix / "html" / "index.html").write_text("ok\n")
    temp_paths = "".join(
        "    %s_temp_path %s;\n" % (kind, prefix / kind)
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        "daemon off;\n"
        "user root root;\n"  # the workers read the 0640 root-owned file like the container's nginx would as owner
        "pid %(prefix)s/nginx.pid;\n"
        "error_log %(prefix)s/error.log warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        "    access_log off;\n"
        "%(temp_paths)s"
        "    server {\n"
        "        listen 127.0.0.1:%(port)d;\n"
        "        root %(prefix)s/html;\n"
        "        location / {\n"
        "            auth_basic \"registry\";\n"
        "            auth_basic_user_file %(htpasswd)s;\n"
        "        }\n"
        "    }\n"
        "}\n" % {"prefix": prefix, "temp_paths": temp_paths, "port": free_port, "htpasswd": htpasswd}
    )
    serve([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")], free_port)
    return "http://127.0.0.1:%d/" % free_port


def test_nginx_auth_basic_accepts_every_user(htpasswd, tmp_path, free_port, serve):
    url = start_nginx(htpasswd, tmp_path, free_port, serve)

    assert statuses(url, [(u["name"], u["password"]) for u in USERS]) == {u["name"]: 200 for u in USERS}
    assert statuses(url, WRONG) == {name: 401 for name, _password in WRONG}
    assert status(url) == 401


@pytest.fixture
def empty_htpasswd(ansible_module, tmp_path):
    """The file the module writes when no account is asked for."""
    path = str(tmp_path / "auth" / "htpasswd")
    os.makedirs(os.path.dirname(path))
    run = ansible_module(MODULE, {"path": path, "users": [], "exclusive": True, "cost": 5})
    assert run.rc == 0 and run.result["changed"] is True, run.stdout + run.stderr
    assert os.path.getsize(path) == 0
    return path


@pytest.mark.parametrize("start", [start_registry, start_nginx], ids=["registry", "nginx"])
def test_an_empty_file_refuses_everyone_with_401(empty_htpasswd, tmp_path, free_port, serve, start):
    """No account: the registry starts (a missing file would get a `docker` user of its own) and
    both consumers answer 401, a login challenge, never 403 or 500."""
    url = start(empty_htpasswd, tmp_path, free_port, serve)
    assert status(url) == 401
    assert statuses(url, WRONG + [("docker", "docker")]) == {name: 401 for name, _p in WRONG + [("docker", "x")]}
    assert os.path.getsize(empty_htpasswd) == 0  # the registry made no account of its own
