"""The login cache (registry_auth_cache_ttl, 60 s here), tested as an attacker would.

nginx logs `auth_cache=<status>` for every /v2/ request: HIT when a login came
from the cache, MISS when bcrypt checked it, BYPASS without credentials. Each
request carries its own User-Agent, so its log line is found again. The same
credentials with another number of spaces after "Basic" (nginx accepts any)
are another cache key: that gives each test a login the cache has not seen.

Runs after test_proxy_clients.py and test_proxy_config_changes.py (file order);
every test leaves the accounts and the config as molecule.yml has them, but
test_ttl_zero_..., which leaves the cache on with a 2 s TTL for the test after
it, which puts molecule.yml's back.
"""

import base64
import io
import os
import re
import subprocess
import tarfile
import time
import uuid

import bcrypt
import pytest
from privreg_molecule.proxy_scenario import nginx_listening_ports
from privreg_molecule.registry_client import _curl_config_value as curl_value
from privreg_molecule.request_loop import RequestLoop
from privreg_molecule.scenario import converge, started_at

AUTH_TMPFS = "/run/registry-auth"
CACHE_DIR = f"{AUTH_TMPFS}/cache"
SECRET_FILE = f"{AUTH_TMPFS}/hmac.key"
CHALLENGE = 'Basic realm="Registry Realm"'


def basic(user, password, spaces=1):
    return "Basic" + " " * spaces + base64.b64encode(f"{user}:{password}".encode()).decode()


class Probe:
    """curl through the proxy with any Authorization header; the log tells what the cache did."""

    def __init__(self, host, conf, client, nginx_gid):
        self.host = host
        self.client = client
        self.nginx = conf["registry_nginx_container_name"]
        # nginx's workers' user and group: the tmpfs is the master's (root), open to nginx's group.
        self.user = f"101:{nginx_gid}"
        self.fresh = 1

    def fresh_spaces(self):
        """A spacing after "Basic" no earlier request in this module used: a key the cache never saw."""
        self.fresh += 1
        return 1 + self.fresh

    def get(self, authorization=None, path="/v2/", method="GET"):
        """``(status, headers, auth_cache)`` of one request; credentials go to curl on stdin.

        ``authorization``: the header's value, or a list of values for as many headers.
        """
        agent = f"privreg-cache-test-{uuid.uuid4()}"
        config = f"user-agent = {curl_value(agent)}\n"
        values = authorization if isinstance(authorization, list) else [] if authorization is None else [authorization]
        for value in values:
            config += f"header = {curl_value('Authorization: ' + value)}\n"
        result = self.host.run(
            "printf '%%s' %s | curl -sS -K - -o /dev/null -D - -X %s --cacert %s -w %s %s",
            config,
            method,
            self.client.ca_file,
            "\nprivreg-status:%{http_code}\n",
            f"https://{self.client.endpoint}{path}",
        )
        status, headers = 0, {}
        for line in result.stdout.splitlines():
            if line.startswith("privreg-status:"):
                status = int(line.split(":", 1)[1])
            elif ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return status, headers, self.cache_status(agent)

    def cache_status(self, agent):
        # The engine copies nginx's stdout to its log on its own time: under load the line of a request
        # that has been answered can still be on its way, so wait for it (each agent is logged once).
        deadline = time.monotonic() + 60
        while True:
            logs = self.host.run("docker logs --since 10m %s 2>/dev/null", self.nginx).stdout
            found = [line for line in logs.splitlines() if f'"{agent}"' in line]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(found) == 1, found
        status = re.search(r"auth_cache=(\S+)$", found[0])
        return status.group(1) if status else None

    def exec(self, command, *args):
        return self.host.check_output(
            "docker exec -u %s %s sh -c " + "%s", self.user, self.nginx, command % args if args else command
        )

    def cache_files(self):
        return sorted(self.exec(f"find {CACHE_DIR} -type f").split())


@pytest.fixture(scope="module")
def probe(host, conf, client, nginx_gid):
    return Probe(host, conf, client, nginx_gid)


def test_a_login_is_checked_once_then_served_from_the_cache(probe, users):
    header = basic("alice", users["alice"], probe.fresh_spaces())
    assert probe.get(header)[::2] == (200, "MISS")
    assert probe.get(header)[::2] == (200, "HIT")
    # Any method is checked as a GET, so uploads (POST, PUT, PATCH) use the same entry.
    assert probe.get(header, "/v2/molecule/cached/blobs/uploads/", "POST")[::2] == (202, "HIT")
    status, _headers, cached = probe.get(header, "/v2/molecule/cached/manifests/none", "DELETE")
    assert (status != 401, cached) == (True, "HIT")


def test_a_wrong_password_after_a_right_one_is_refused_and_never_cached(probe, users):
    spaces = probe.fresh_spaces()
    assert probe.get(basic("alice", users["alice"], spaces))[::2] == (200, "MISS")
    files = probe.cache_files()
    for wrong in (users["alice"] + "x", users["alice"][:-1], "", users["bob"]):
        for _attempt in range(2):
            status, headers, cached = probe.get(basic("alice", wrong, spaces))
            assert (status, cached) == (401, "MISS"), wrong
            assert headers["www-authenticate"] == CHALLENGE
            assert headers["docker-distribution-api-version"] == "registry/2.0"
    # Another user's right password, and a user that does not exist.
    assert probe.get(basic("bob", users["alice"], spaces))[::2] == (401, "MISS")
    assert probe.get(basic("mallory", users["alice"], spaces))[::2] == (401, "MISS")
    assert probe.cache_files() == files
    assert probe.get(basic("alice", users["alice"], spaces))[::2] == (200, "HIT")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        "Bearer abc",
        "Basic " + base64.b64encode(b"alice").decode(),
    ],
)
def test_requests_without_valid_credentials_get_the_challenge(probe, authorization):
    status, headers, cached = probe.get(authorization)
    assert status == 401
    assert headers["www-authenticate"] == CHALLENGE
    assert headers["docker-distribution-api-version"] == "registry/2.0"
    # No header: the cache is not even asked; a bad one: bcrypt (or the parser) says no.
    assert cached == ("BYPASS" if not authorization else "MISS")


def test_two_authorization_headers_are_refused_whatever_their_order(probe, users):
    right, wrong = basic("bob", users["bob"]), basic("bob", users["bob"] + "x")
    assert probe.get(right)[0] == 200
    # nginx refuses a repeated Authorization header before any check (400): the cache key and
    # the check never see different headers.
    assert probe.get([right, wrong])[0] == 400
    assert probe.get([wrong, right])[0] == 400
    assert probe.get([right, right])[0] == 400


def test_the_check_server_is_reachable_only_inside_the_container(probe, host, nginx, conf):
    # Internal location: a client asking for it directly gets 404, not a 204.
    assert probe.get(None, "/_registry_auth")[0] == 404
    # The check listens on a socket in the tmpfs, on no TCP port: TCP has the client port and the
    # health check's (on the host's loopback).
    assert nginx_listening_ports(host, nginx) == sorted([conf["registry_port"], conf["registry_nginx_health_port"]])


def test_a_removed_user_and_a_password_changed_by_hand_are_refused_at_once(probe, conf, users, tmp_path):
    """Both while cached. bob removed by the role: refused right after its run. alice's hash changed by
    hand in place, same size, mtime put back (only the ctime tells): her old password is refused at
    once. One role run puts both back (each a change of its own to the file; one converge less)."""
    bob = basic("bob", users["bob"], probe.fresh_spaces())
    assert probe.get(bob)[::2] == (200, "MISS")
    assert probe.get(bob)[::2] == (200, "HIT")
    # An account removed drops no request of the others.
    with RequestLoop(probe.client.endpoint, probe.client.ca_file, "alice", users["alice"]) as loop:
        converge(
            {"registry_users": [{"name": "alice", "password": users["alice"]}, {"name": "bob", "state": "absent"}]},
            tmp_path,
        )
    assert loop.requests > 0 and loop.failures == [], (loop.requests, loop.failures[:5])
    assert probe.get(bob)[::2] == (401, "MISS")

    alice = basic("alice", users["alice"], probe.fresh_spaces())
    assert probe.get(alice)[::2] == (200, "MISS")
    assert probe.get(alice)[::2] == (200, "HIT")
    path = f"{conf['registry_base_dir']}/auth/htpasswd"
    before = os.stat(path)
    lines = open(path, encoding="utf-8").read().splitlines(keepends=True)
    new_hash = bcrypt.hashpw(b"changed by hand", bcrypt.gensalt(10)).decode()
    text = "".join(f"alice:{new_hash}\n" if line.startswith("alice:") else line for line in lines)
    assert len(text.encode()) == before.st_size
    with open(path, "r+", encoding="utf-8") as file:
        file.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert probe.get(alice)[::2] == (401, "MISS")
    assert probe.get(basic("alice", "changed by hand", probe.fresh_spaces()))[0] == 200

    # The role puts bob and alice's password back (the file by rename): both checked afresh.
    converge({"registry_users": conf["registry_users"]}, tmp_path)
    assert probe.get(bob)[::2] == (200, "MISS")
    assert probe.get(alice)[::2] == (200, "MISS")


def container_files(host, name, user):
    """Every file of the container as bytes: its filesystem (docker export) and the tmpfs (tar from inside, as
    ``user``, nginx's)."""
    exported = subprocess.run(["docker", "export", name], capture_output=True, check=True).stdout
    tmpfs = subprocess.run(
        ["docker", "exec", "-u", user, name, "tar", "-cf", "-", AUTH_TMPFS], capture_output=True, check=True
    ).stdout
    files = {}
    for archive, prefix in ((exported, "/"), (tmpfs, "/")):
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar:
                if member.isfile():
                    files[prefix + member.name.lstrip("/")] = tar.extractfile(member).read()
    return files


def secrets_of(users):
    """What must never be stored: each password, user:password, and its base64 (the header)."""
    found = []
    for name, password in users.items():
        pair = f"{name}:{password}".encode()
        found += [password.encode(), pair, base64.b64encode(pair)]
    return found


def test_no_credential_material_in_any_file_or_log_of_the_nginx_container(probe, host, conf, users):
    for name, password in users.items():
        assert probe.get(basic(name, password))[0] == 200
    files = container_files(host, conf["registry_nginx_container_name"], probe.user)
    assert f"{SECRET_FILE[1:]}" in {path[1:] for path in files}
    cached = {path: data for path, data in files.items() if path.startswith(CACHE_DIR + "/")}
    assert cached, "no cache file after logins"
    for path, data in cached.items():
        # nginx's cache header: the key is the 64-hex HMAC, the answer a bare 204.
        assert re.search(rb"\nKEY: [0-9a-f]{64}\nHTTP/1.1 204 No Content\r\n", data), path
    logs = subprocess.run(["docker", "logs", conf["registry_nginx_container_name"]], capture_output=True, check=True)
    for secret in secrets_of(users):
        assert not [path for path, data in files.items() if secret in data], secret
        assert secret not in logs.stdout + logs.stderr


def test_the_hmac_secret_lives_in_the_tmpfs_only(probe, host, conf, nginx_gid):
    name = conf["registry_nginx_container_name"]
    secret = probe.exec(f"cat {SECRET_FILE}")
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert probe.exec(f"stat -c '%u %g %a' {SECRET_FILE}") == f"101 {nginx_gid} 600"
    mounts = {line.split()[1]: line.split() for line in probe.exec("cat /proc/mounts").splitlines()}
    assert mounts[AUTH_TMPFS][2] == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= set(mounts[AUTH_TMPFS][3].split(","))
    assert secret not in host.check_output("docker inspect %s", name)
    exported = subprocess.run(["docker", "export", name], capture_output=True, check=True).stdout
    assert secret.encode() not in exported
    assert secret not in host.run("grep -r -F -l %s %s", secret, conf["registry_base_dir"]).stdout


def test_a_restart_starts_with_an_empty_cache_and_a_new_secret(probe, host, conf, users):
    name = conf["registry_nginx_container_name"]
    header = basic("alice", users["alice"], probe.fresh_spaces())
    probe.get(header)
    assert probe.get(header)[::2] == (200, "HIT")
    secret = probe.exec(f"cat {SECRET_FILE}")
    assert probe.cache_files()

    host.run_expect([0], "docker restart %s", name)
    # The master makes the cache's folder as it starts, after the restart has returned (bounded wait).
    for _attempt in range(120):
        if host.run("docker exec -u %s %s test -d %s", probe.user, name, CACHE_DIR).rc == 0:
            break
        time.sleep(0.5)
    assert probe.cache_files() == []
    assert probe.exec(f"cat {SECRET_FILE}") != secret
    assert probe.get(header)[::2] == (200, "MISS")
    assert probe.get(header)[::2] == (200, "HIT")
    # Nothing of the cache is in the container's own layer, which a restart keeps.
    changed = host.check_output("docker diff %s", name).splitlines()
    assert not [line for line in changed if f"{AUTH_TMPFS}/" in line or "/var/cache" in line], changed


# The TTL test_an_entry_expires_after_the_ttl runs with; test_ttl_zero_... ends there (one converge less).
SHORT_TTL = 2


def live_config(host, conf):
    return host.file(f"{conf['registry_base_dir']}/nginx/nginx.conf").content_string


def test_ttl_zero_checks_every_login_with_auth_basic_and_only_reloads(probe, host, conf, users, tmp_path):
    name = conf["registry_nginx_container_name"]
    started = started_at(host, name)
    # The login check switched (auth_request to auth_basic) by a reload that drops no request.
    with RequestLoop(probe.client.endpoint, probe.client.ca_file, "alice", users["alice"]) as loop:
        converge({"registry_auth_cache_ttl": 0}, tmp_path)
    assert loop.requests > 0 and loop.failures == [], (loop.requests, loop.failures[:5])
    live = live_config(host, conf)
    assert "auth_request" not in live and "load_module" not in live
    agent_line = probe.get(basic("alice", users["alice"]))
    assert agent_line[0] == 200
    assert probe.get(basic("alice", users["alice"] + "x"))[0] == 401
    # The cache back on (with the next test's TTL; that test puts molecule.yml's back): a reload again.
    converge({"registry_auth_cache_ttl": SHORT_TTL}, tmp_path)
    assert started_at(host, name) == started
    assert probe.get(basic("alice", users["alice"], probe.fresh_spaces()))[::2] == (200, "MISS")


def test_an_entry_expires_after_the_ttl(probe, host, conf, users, tmp_path):
    if f"proxy_cache_valid 204 {SHORT_TTL}s;" not in live_config(host, conf):
        converge({"registry_auth_cache_ttl": SHORT_TTL}, tmp_path)
    try:
        header = basic("alice", users["alice"], probe.fresh_spaces())
        stored = time.monotonic()
        assert probe.get(header)[::2] == (200, "MISS")
        assert probe.get(header)[::2] == (200, "HIT")
        # Served from the cache until it expires, then checked again: polled, however slow the machine.
        hang_guard = stored + 120
        while (answer := probe.get(header)[::2]) == (200, "HIT"):
            assert time.monotonic() < hang_guard, "the entry never expired"
            time.sleep(0.2)
        assert answer == (200, "EXPIRED")
        # Not before the TTL (nginx counts whole seconds: up to one early).
        assert time.monotonic() - stored >= SHORT_TTL - 1
    finally:
        converge({}, tmp_path)
