"""nginx in front, hardened: failed logins, the auth subrequest, downloads, TLS suites.

Each test meets the real deployment the way a client (or an attacker) does,
with curl and openssl from the host. The login check's rate limit
(registry_auth_check_rate, registry_auth_check_burst) is kept per client
address (nginx shares the host's network and listens on every address, so it
sees the address a client connects from): each test's curl connects from a
loopback address of its own (the whole of 127.0.0.0/8 is local), finds the
limit full and spends it for no other test, and nginx's error log lines of
that test are the ones naming its address.

Runs between test_proxy_config_changes.py and test_proxy_login_cache.py (file
order) and leaves the accounts and the config as molecule.yml has them.
"""

import base64
import hashlib
import itertools
import os
import re
import statistics
import subprocess
import time
import uuid

import bcrypt
import pytest
from privreg_molecule.registry_client import _curl_config_value as curl_value
from privreg_molecule.scenario import converge, make_own_certificate

CHALLENGE = 'Basic realm="Registry Realm"'
# The role's defaults (roles/registry_nginx_proxy/defaults/main.yml).
CHECK_RATE_PER_SECOND = 1
CHECK_BURST = 30
REPOSITORY = "molecule/hardening"


def basic(user, password, spaces=1):
    """A Basic header; another number of spaces after "Basic" is another login cache key."""
    return "Basic" + " " * spaces + base64.b64encode(f"{user}:{password}".encode()).decode()


# Counted up from a random start: no two requests of this run share a spacing, nor with an earlier run
# of a minute ago (the login cache's TTL) but by a small chance. Far below nginx's 8k header buffers.
_SPACINGS = itertools.count(40 + uuid.uuid4().int % 4000)


def fresh_spaces():
    """A spacing no other request of this scenario uses (the login cache has not seen it)."""
    return next(_SPACINGS)


def new_client_address():
    """A loopback address outside 127.0.0.0/24 (where the other test files' clients come from), drawn at
    random: 16 million of them, so no test of this run or an earlier one has spent its login checks."""
    first, second, third = uuid.uuid4().bytes[:3]
    return f"127.{1 + first % 254}.{second}.{1 + third % 254}"


class Curl:
    """curl through the proxy from a client address of its own; Authorization headers go to curl on
    stdin, never in argv."""

    def __init__(self, conf, client):
        self.ca_file = client.ca_file
        self.base = f"https://{client.endpoint}"
        self.nginx = conf["registry_nginx_container_name"]
        self.address = new_client_address()

    def connection(self):
        """curl config lines: TLS trust, and the connection from this client's address over IPv4."""
        return f"cacert = {curl_value(self.ca_file)}\ninterface = {curl_value(self.address)}\nipv4\n"

    def transfers(self, *transfers, timeout=60, parallel=False):
        """Several requests over one connection (curl's ``next``), or all at once (``parallel``);
        ``[(status, seconds, new_connections, www_authenticate)]``, in the order they ended.

        Each transfer: dict(path, authorization, method, body_file, headers).
        """
        config = "parallel\nparallel-max = 10\n" if parallel else ""
        for index, transfer in enumerate(transfers):
            if index:
                config += "next\n"
            config += f"url = {curl_value(self.base + transfer.get('path', '/v2/'))}\n"
            config += f"request = {curl_value(transfer.get('method', 'GET'))}\n"
            config += self.connection()
            config += "silent\noutput = /dev/null\n"
            config += (
                "write-out = "
                + curl_value("%{http_code} %{time_total} %{num_connects} %header{www-authenticate}\n")
                + "\n"
            )
            if transfer.get("authorization"):
                config += f"header = {curl_value('Authorization: ' + transfer['authorization'])}\n"
            for header in transfer.get("headers", ()):
                config += f"header = {curl_value(header)}\n"
            if transfer.get("body_file"):
                config += f"data-binary = {curl_value('@' + transfer['body_file'])}\n"
        done = subprocess.run(
            ["curl", "-K", "-"], input=config, capture_output=True, text=True, timeout=timeout, check=False
        )
        results = []
        for line in done.stdout.splitlines():
            status, seconds, connects, *challenge = line.split(" ", 3)
            results.append((int(status), float(seconds), int(connects), "".join(challenge)))
        assert len(results) == len(transfers), done.stdout + done.stderr
        return results

    def get(self, authorization=None, path="/v2/"):
        """``(status, seconds, headers)`` of one GET."""
        config = f"url = {curl_value(self.base + path)}\n" + self.connection()
        config += "silent\noutput = /dev/null\ndump-header = -\n"
        config += f"write-out = {curl_value('privreg-status:%{http_code} %{time_total}')}\n"
        if authorization:
            config += f"header = {curl_value('Authorization: ' + authorization)}\n"
        done = subprocess.run(
            ["curl", "-K", "-"], input=config, capture_output=True, text=True, timeout=60, check=False
        )
        headers, status, seconds = {}, 0, 0.0
        for line in done.stdout.splitlines():
            if line.startswith("privreg-status:"):
                code, elapsed = line.split(":", 1)[1].split()
                status, seconds = int(code), float(elapsed)
            elif ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return status, seconds, headers

    def nginx_exec(self, command, user="root"):
        return subprocess.run(
            ["docker", "exec", "-u", user, self.nginx, "sh", "-c", command], capture_output=True, text=True, check=True
        ).stdout

    def nginx_log(self, since):
        done = subprocess.run(
            ["docker", "logs", "--since", since, self.nginx], capture_output=True, text=True, check=False
        )
        return done.stdout + done.stderr

    def nginx_now(self):
        return self.nginx_exec("date +%s").strip()

    def client_log(self, at_least=0):
        """nginx's error log lines that name this client's address (the check server's name it by X-Real-IP).

        The engine copies nginx's stderr to its log on its own time, behind the answers under load: waits
        (up to a minute) until ``at_least`` lines are there, then one more second for any line beyond them.
        """
        deadline = time.monotonic() + 60
        while True:
            lines = [line for line in self.nginx_log("24h").splitlines() if f"client: {self.address}," in line]
            if len(lines) >= at_least or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if at_least:
            time.sleep(1)
            lines = [line for line in self.nginx_log("24h").splitlines() if f"client: {self.address}," in line]
        return lines


@pytest.fixture()
def curl(conf, client):
    """A client of this test's own: a new address, so a full login check limit."""
    return Curl(conf, client)


# ---- (4) the auth subrequest carries no body and no body headers ---------------------


def push_blob(curl, users, data, tmp_path):
    """A monolithic blob upload as alice: POST, then a PUT of ``data`` with its digest; the digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    body = tmp_path / f"blob-{uuid.uuid4()}"
    body.write_bytes(data)
    config = (
        f"url = {curl_value(curl.base + '/v2/' + REPOSITORY + '/blobs/uploads/')}\nrequest = \"POST\"\n"
        f"{curl.connection()}silent\noutput = /dev/null\ndump-header = -\n"
        f"header = {curl_value('Authorization: ' + basic('alice', users['alice']))}\n"
    )
    started = subprocess.run(["curl", "-K", "-"], input=config, capture_output=True, text=True, check=True).stdout
    location = re.search(r"^location:\s*(\S+)", started, re.IGNORECASE | re.MULTILINE).group(1)
    path = location.split("://", 1)[1].split("/", 1)[1] if "://" in location else location.lstrip("/")
    path = "/" + path + ("&" if "?" in path else "?") + "digest=" + digest
    [(status, _seconds, _connects, _challenge)] = curl.transfers(
        {
            "path": path,
            "method": "PUT",
            "authorization": basic("alice", users["alice"]),
            "body_file": str(body),
            "headers": ["Content-Type: application/octet-stream"],
        },
        timeout=600,
    )
    body.unlink()
    assert status == 201
    return digest


# What a check after a PUT waited for before the fix: the check server discarding the PUT's body,
# announced by a Content-Length that came without it, until its lingering_timeout ran out (nginx's
# default, 5 s; the role sets none): such an answer comes 5 s late at the earliest (5.09 s measured).
# One bcrypt check, what the answer waits for now, takes well under a second even on loaded cores.
DISCARD_WAIT_SECONDS = 5


def test_a_cache_miss_after_a_put_with_a_body_answers_at_once(curl, conf, users, tmp_path):
    """A PUT's Content-Length never reaches the check: the next check on that connection does not wait for it.

    Both requests in one curl run, both logins new to the cache. Without the fix, 2 of 3
    such pairs waited 5.09 s on the second request (measured on this scenario's image).
    """
    # DISCARD_WAIT_SECONDS is nginx's default (the live file is what nginx runs: test_proxy_clients.py).
    assert "lingering_timeout" not in open(f"{conf['registry_base_dir']}/nginx/nginx.conf", encoding="utf-8").read()
    upload = tmp_path / "upload.bin"
    upload.write_bytes(os.urandom(1024 * 1024))
    # One client connection lands on one of nginx's workers; the bug needed the PUT's
    # worker (its kept-alive check connection): enough attempts to meet it. 10 checks:
    # within the burst of this test's own address.
    for _attempt in range(5):
        put, after = curl.transfers(
            {
                "path": "/v2/",
                "method": "PUT",
                "authorization": basic("alice", users["alice"], fresh_spaces()),
                "body_file": str(upload),
            },
            {"path": "/v2/", "authorization": basic("bob", users["bob"], fresh_spaces())},
        )
        assert put[0] in (200, 404, 405)
        assert after[0] == 200, after
        # Answered before a body discard could have timed out: no wait for a body that never comes.
        assert after[1] < DISCARD_WAIT_SECONDS, after


# ---- (5) downloads are not spooled to disk in the nginx container --------------------


# The image's compiled-in temp folders, and the role's (its root filesystem is read-only).
TEMP_FOLDERS = "/var/lib/nginx /var/cache/nginx /run/registry-nginx/proxy"


def nginx_temp_files(curl):
    """Files in nginx's temp folders, and those its workers hold open there.

    nginx unlinks a proxy temp file as soon as it opens it, so the file shows only
    as a worker's open descriptor ("... (deleted)"), readable by the workers' own
    user (root in the container lacks CAP_SYS_PTRACE for other users' /proc/<pid>/fd).
    """
    # The workers' uid and group (nginx's tmpfs belongs to root and that group; docker exec -u nginx would
    # take the image's gid, which it does not let in).
    group = curl.nginx_exec("stat -c %g /run/registry-nginx").strip()
    return curl.nginx_exec(
        f"find {TEMP_FOLDERS} -type f 2>/dev/null;"
        " for fd in /proc/[0-9]*/fd/*; do readlink \"$fd\"; done 2>/dev/null | grep -E '^(/var/(lib|cache)/nginx|/run/registry-nginx)/' || true",
        user=f"101:{group}",
    ).splitlines()


def kernel_send_buffer_max():
    """The most a TCP socket of the host's network (nginx's) may buffer for sending (tcp_wmem's maximum)."""
    with open("/proc/sys/net/ipv4/tcp_wmem", encoding="ascii") as stream:
        return int(stream.read().split()[2])


def test_a_slow_reader_of_a_large_blob_leaves_no_temp_file(curl, users, tmp_path):
    data = os.urandom(96 * 1024 * 1024)
    digest = push_blob(curl, users, data, tmp_path)
    since = curl.nginx_now()
    received = tmp_path / "slow-download"
    config = (
        f"url = {curl_value(curl.base + '/v2/' + REPOSITORY + '/blobs/' + digest)}\n"
        f"{curl.connection()}silent\noutput = {curl_value(str(received))}\nlimit-rate = 1M\n"
        f"header = {curl_value('Authorization: ' + basic('alice', users['alice']))}\n"
    )
    # Until the slow reader has taken more than the kernel can buffer for it and 2 MiB more: from
    # then on nginx has held back what it read of the blob for a while (where a buffering proxy
    # spools to disk), whatever the pace of a loaded machine. 1 MiB/s: 96 MiB last ~96 s.
    enough = kernel_send_buffer_max() + 2 * 1024 * 1024
    slow = subprocess.Popen(["curl", "-K", "-"], stdin=subprocess.PIPE, text=True)
    try:
        slow.stdin.write(config)
        slow.stdin.close()
        hang_guard = time.monotonic() + 600
        while not received.exists() or received.stat().st_size < enough:
            assert slow.poll() is None, "the slow download ended early"
            assert nginx_temp_files(curl) == []
            assert time.monotonic() < hang_guard, "the slow download does not progress"
            time.sleep(0.5)
        assert slow.poll() is None, "the slow download ended early"
        assert nginx_temp_files(curl) == []
    finally:
        slow.kill()
        slow.wait()
    assert "buffered to a temporary file" not in curl.nginx_log(since)

    # At full speed the same blob arrives whole.
    config = (
        f"url = {curl_value(curl.base + '/v2/' + REPOSITORY + '/blobs/' + digest)}\n"
        f"{curl.connection()}silent\nlocation\n"
        f"header = {curl_value('Authorization: ' + basic('alice', users['alice']))}\n"
    )
    fetched = subprocess.run(["curl", "-K", "-"], input=config.encode(), capture_output=True, check=True).stdout
    assert hashlib.sha256(fetched).hexdigest() == digest.split(":", 1)[1]


# ---- (9) TLS 1.2+ with forward-secret AEAD suites only -------------------------------


def s_client(conf, *options):
    port = conf["registry_port"]
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", conf["registry_host"], *options],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def refused_and_served(conf, ciphers):
    """{cipher: True when a TLS 1.2 handshake offering only that suite succeeds}."""
    results = {}
    for cipher in ciphers:
        done = s_client(conf, "-tls1_2", "-cipher", cipher)
        results[cipher] = done.returncode == 0 and f"Cipher is {cipher}" in done.stdout
        # No session ticket: its key would live as long as nginx and undo forward secrecy.
        assert "TLS session ticket:" not in done.stdout
    return results


# Refused: CBC (all of them forward secret: HIGH let them in), and every suite with RSA or DH key exchange.
ECDSA_SUITES = {
    "ECDHE-ECDSA-AES128-SHA": False,
    "ECDHE-ECDSA-AES256-SHA": False,
    "ECDHE-ECDSA-AES128-SHA256": False,
    "ECDHE-ECDSA-AES256-SHA384": False,
    "ECDHE-ECDSA-AES128-GCM-SHA256": True,
    "ECDHE-ECDSA-AES256-GCM-SHA384": True,
    "ECDHE-ECDSA-CHACHA20-POLY1305": True,
}
RSA_SUITES = {
    "AES128-SHA": False,  # RSA key exchange (no forward secrecy), CBC
    "AES128-GCM-SHA256": False,  # RSA key exchange, AEAD
    "AES256-GCM-SHA384": False,
    "ECDHE-RSA-AES128-SHA": False,  # forward secret, CBC
    "ECDHE-RSA-AES256-SHA384": False,
    "DHE-RSA-AES128-GCM-SHA256": False,  # DHE: no dhparams
    "ECDHE-RSA-AES128-GCM-SHA256": True,
    "ECDHE-RSA-AES256-GCM-SHA384": True,
    "ECDHE-RSA-CHACHA20-POLY1305": True,
}


def test_tls12_serves_forward_secret_aead_suites_only(conf):
    # The role's generated certificate is ECDSA (P-384).
    assert refused_and_served(conf, ECDSA_SUITES) == ECDSA_SUITES


def test_tls12_with_an_rsa_certificate_refuses_rsa_key_exchange(host, conf, tmp_path):
    """A sysadmin's own RSA certificate: the suites without forward secrecy become possible, and stay refused."""
    own = make_own_certificate(host, str(tmp_path / "own-rsa"), conf["registry_host"])
    try:
        converge(own, tmp_path)
        assert refused_and_served(conf, RSA_SUITES) == RSA_SUITES
    finally:
        converge({}, tmp_path)
    assert refused_and_served(conf, ECDSA_SUITES) == ECDSA_SUITES


def test_tls11_and_tls13_as_before(conf):
    assert s_client(conf, "-tls1_1").returncode != 0
    done = s_client(conf, "-tls1_3")
    assert done.returncode == 0
    assert re.search(r"Cipher is TLS_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)", done.stdout)


# ---- (3) failed logins: same cost for unknown users, limited per address -------------


UNKNOWN_USER = "privreg unknown-user"  # roles/registry_nginx_proxy/files/registry_auth.js
PLACEHOLDER_FILE = "/run/registry-auth/unknown-user.htpasswd"


def test_an_unknown_user_is_refused_as_slowly_as_a_wrong_password(curl, conf, users, nginx_gid):
    """bcrypt runs for both, at the same cost: the answer time no longer tells which user names exist."""
    pairs = 6
    times = {"known": [], "unknown": []}
    for index in range(pairs):
        for kind, user in (("known", "alice"), ("unknown", f"nobody-{uuid.uuid4()}")):
            status, seconds, headers = curl.get(basic(user, f"wrong-{index}"))
            assert (status, headers.get("www-authenticate")) == (401, CHALLENGE)
            times[kind].append(seconds)
    # Every one of those checks ran bcrypt: nginx logs a password mismatch only after crypt() compared;
    # an unknown user is checked under the placeholder name, never "not found" (refused without bcrypt).
    log = curl.client_log(at_least=2 * pairs)
    assert sum('user "alice": password mismatch' in line for line in log) == pairs, log
    assert sum(f'user "{UNKNOWN_USER}": password mismatch' in line for line in log) == pairs, log
    assert not [line for line in log if "was not found" in line], log
    # ... against an entry as costly as the accounts': the prefix and cost of the file's entries, and a
    # salt bcrypt takes as it is (a malformed one would make crypt() fail at once, without the rounds).
    # As the workers (docker exec -u nginx takes the image's gid, which nginx's tmpfs does not let in).
    name, entry = curl.nginx_exec(f"cat {PLACEHOLDER_FILE}", user=f"101:{nginx_gid}").strip().split(":", 1)
    assert name == UNKNOWN_USER
    htpasswd = open(f"{conf['registry_base_dir']}/auth/htpasswd", encoding="utf-8").read()
    alice = next(line.split(":", 1)[1] for line in htpasswd.splitlines() if line.startswith("alice:"))
    assert re.fullmatch(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}", entry), entry
    assert entry[:7] == alice[:7], (entry, alice)
    assert bcrypt.hashpw(b"any", entry[:29].encode()).decode()[:29] == entry[:29]
    # As clients measure it, interleaved pairs: the same order of time (without the placeholder the
    # unknown user's median was ~0.03 of the known one's: ~1.5 ms against ~50 ms).
    known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
    assert unknown > 0.3 * known, times
    # The placeholder name itself logs nobody in, with any password.
    assert curl.get(basic(UNKNOWN_USER, "x"))[0] == 401
    assert curl.get(basic(UNKNOWN_USER, users["alice"]))[0] == 401


FLOOD = 60
RIGHT_AFTER = 5


def test_a_flood_of_wrong_passwords_is_limited_and_cached_logins_go_on(curl, users):
    """What the limiter did, counted from the answers and nginx's log lines naming this test's address.

    A bcrypt check logs nothing on success, "password mismatch" on a wrong password; a limited one
    logs "limiting requests" and answers like a wrong password, without bcrypt.
    """
    started = int(curl.nginx_now())
    cached = basic("bob", users["bob"], fresh_spaces())
    assert curl.get(cached)[0] == 200  # one check (the cache's miss), from a full limit
    flood = curl.transfers(
        *[{"authorization": basic("alice", f"flood-{index}")} for index in range(FLOOD)], parallel=True
    )
    # Right after the flood, from the flooder's address, new logins, even right ones, are refused like
    # wrong ones (the docker client's usual 401 with the challenge) unless the limit refilled meanwhile.
    right = curl.transfers(
        *[{"authorization": basic("bob", users["bob"], fresh_spaces())} for _attempt in range(RIGHT_AFTER)],
        parallel=True,
    )
    ended = int(curl.nginx_now())
    # ... and a cached login is never limited.
    assert curl.get(cached)[0] == 200
    assert {(status, challenge) for status, _seconds, _connects, challenge in flood} == {(401, CHALLENGE)}
    assert {(status, challenge) for status, _seconds, _connects, challenge in right} <= {(200, ""), (401, CHALLENGE)}
    refused = sum(status == 401 for status, *_rest in right)

    log = curl.client_log(at_least=FLOOD + refused)
    mismatches = sum('user "alice": password mismatch' in line for line in log)
    limited = sum("limiting requests" in line and 'zone "registry_auth_check"' in line for line in log)
    # Each request is one of them: a wrong password checked by bcrypt or limited, a refused right one
    # limited (never a bcrypt failure), nothing else from this address.
    assert mismatches + limited == FLOOD + refused, log
    assert len(log) == mismatches + limited, log
    # The burst went to bcrypt (the limit was full; the cache's miss took one) ...
    assert mismatches >= CHECK_BURST, log
    # ... and no more than the limiter's allowance by nginx's own clock: the burst, the first check,
    # and what the rate refilled between the first request and the last (whole seconds, so one more).
    checked = 1 + mismatches + (RIGHT_AFTER - refused)
    assert checked <= CHECK_BURST + 1 + CHECK_RATE_PER_SECOND * (ended - started + 1), (checked, ended - started)
    # The limit did act, on wrong and right passwords alike.
    assert limited >= 1 and refused >= 1, (limited, refused, right)
    # The error log names the flooder by its address (X-Real-IP), not by the check socket.
    assert "client: unix:" not in curl.nginx_log(str(started))


# nginx's master/worker model (roles/registry_nginx_proxy/vars/main.yml): the master is root with these
# capabilities alone, bits of /proc/<pid>/status' Cap* fields: CHOWN 0, SETGID 6, SETUID 7,
# NET_BIND_SERVICE 10. Every other process of nginx is uid 101 with nginx's group and holds none.
MASTER_CAPABILITIES = (1 << 0) | (1 << 6) | (1 << 7) | (1 << 10)


def test_the_master_alone_is_root_with_its_capabilities_and_the_workers_hold_none(host, conf, nginx, nginx_gid):
    name = conf["registry_nginx_container_name"]
    config = nginx.inspect()
    assert config["Config"]["User"] == "0:0"
    assert sorted(config["HostConfig"]["CapAdd"]) == ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]
    assert config["HostConfig"]["CapDrop"] == ["ALL"]
    assert config["HostConfig"]["ReadonlyRootfs"] is True
    assert "no-new-privileges" in config["HostConfig"]["SecurityOpt"]
    # The start is sh, then nginx itself: no setpriv, nothing of util-linux.
    assert config["Config"]["Cmd"][:2] == ["sh", "-c"]
    assert "setpriv" not in " ".join(config["Config"]["Cmd"])
    # Each process as the container's own /proc shows it (read as nginx's user: the workers' /proc is theirs).
    statuses = host.check_output(
        "docker exec -u 101:%s %s sh -c 'for f in /proc/[0-9]*/status; do cat \"$f\"; echo; done'", str(nginx_gid), name
    ).split("\n\n")
    processes = [dict(line.split(":", 1) for line in block.strip().splitlines()) for block in statuses if block.strip()]
    nginx_processes = [process for process in processes if process["Name"].strip() == "nginx"]
    masters = [process for process in nginx_processes if process["Uid"].split() == ["0"] * 4]
    others = [process for process in nginx_processes if process not in masters]
    assert len(masters) == 1, nginx_processes
    assert int(masters[0]["CapEff"], 16) == MASTER_CAPABILITIES
    assert int(masters[0]["CapBnd"], 16) == MASTER_CAPABILITIES
    # Workers, the cache manager and loader: uid 101, nginx's group alone, no capability left.
    assert others, nginx_processes
    for process in others:
        assert process["Uid"].split() == ["101"] * 4, process
        assert process["Gid"].split() == [str(nginx_gid)] * 4, process
        assert process["Groups"].split() == [str(nginx_gid)], process
        for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert int(process[field], 16) == 0, (field, process)
        assert process["NoNewPrivs"].strip() == "1", process
