"""The registry behind nginx as its host and its clients see it.

custom_port's tests/test_custom_port_clients.py checks what differs there (another port, TLS to the
registry) with this file's helpers in privreg_molecule.proxy_scenario.

The tests run in file order: the last one changes the accounts (a second
converge through ansible-playbook) and puts them back.
"""

import pytest
from privreg_molecule.proxy_scenario import (
    SOCKET_DIR,
    nginx_listening_ports,
    nginx_reloads,
    registry_env,
    routed_to_registry,
    running_config,
    socket_volume,
)
from privreg_molecule.scenario import converge, push_pull_round_trip, started_at

REPOSITORY = "molecule/proxied"
LAYERS = 4
KIB_PER_LAYER = 10 * 1024  # 4 layers of 10 MiB: several tens of MB per push


# ---- the host -----------------------------------------------------------------


def test_nginx_alone_listens_on_the_client_port_of_the_host(host, nginx, registry, conf):
    # On the host's network, no published port (no userland proxy copying every byte).
    assert nginx.inspect()["HostConfig"]["NetworkMode"] == "host"
    assert nginx.inspect()["HostConfig"]["PortBindings"] in (None, {})
    assert nginx_listening_ports(host, nginx) == sorted([conf["registry_port"], conf["registry_nginx_health_port"]])
    assert not any(registry.inspect()["NetworkSettings"]["Ports"].values())
    assert registry.inspect()["HostConfig"]["PortBindings"] in (None, {})


def test_the_registry_has_no_network_and_shares_only_its_socket_with_nginx(host, nginx, registry, conf):
    for container in (nginx, registry):
        assert container.is_running
        assert container.inspect()["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert registry.inspect()["HostConfig"]["NetworkMode"] == "none"
    for container in (nginx, registry):
        volumes = [m for m in container.inspect()["Mounts"] if m["Type"] == "volume"]
        assert [(m["Name"], m["Destination"]) for m in volumes] == [(socket_volume(conf), SOCKET_DIR)]
    # The network of earlier releases is gone.
    assert host.run("docker network inspect %s", conf["registry_network_name"]).rc != 0
    assert nginx.inspect()["Config"]["Image"] == conf["registry_nginx_image"]


def test_registry_port_is_unreachable_from_the_host(host):
    # Nothing answers on the registry's own port: curl exit 7 is "connection refused".
    for url in ("http://127.0.0.1:5000/v2/", "https://127.0.0.1:5000/v2/", "http://localhost:5000/v2/"):
        assert host.run("curl -sS -o /dev/null --max-time 5 %s", url).rc == 7, url


def test_registry_only_stores(registry, endpoint):
    env = registry_env(registry)
    assert "REGISTRY_AUTH" not in env
    # No TLS on the socket between nginx and the registry by default (custom_port's test_custom_port_clients.py turns it on).
    assert not [name for name in env if name.startswith("REGISTRY_HTTP_TLS_")], sorted(env)
    # Upload URLs carry the client-facing port whatever Host header nginx sends.
    assert env["REGISTRY_HTTP_HOST"] == f"https://{endpoint}"
    assert "/auth" not in {mount["Destination"] for mount in registry.inspect()["Mounts"]}


def test_nginx_mounts_folders_read_only(nginx, conf):
    mounts = {mount["Destination"]: mount for mount in nginx.inspect()["Mounts"] if mount["Type"] == "bind"}
    base = conf["registry_base_dir"]
    assert {dest: (m["Source"], m["RW"]) for dest, m in mounts.items()} == {
        "/etc/nginx/registry": (f"{base}/nginx", False),
        "/etc/nginx/auth": (f"{base}/auth", False),
        "/etc/nginx/certs": (f"{base}/certs", False),
        # The registry's storage, for the blobs nginx sends itself (registry_nginx_serve_blobs).
        "/var/lib/registry": (f"{base}/data", False),
        # The two files that name nginx's group in the container (a file can only be mounted over a file).
        "/etc/passwd": (f"{base}/nginx-accounts/passwd", False),
        "/etc/group": (f"{base}/nginx-accounts/group", False),
    }
    # Memory only, empty at every start: the login cache and its secret; the pid and temporary files.
    assert sorted(nginx.inspect()["HostConfig"]["Tmpfs"]) == ["/run/registry-auth", "/run/registry-nginx"]
    assert nginx.inspect()["HostConfig"]["ReadonlyRootfs"] is True


def test_htpasswd_is_readable_by_nginx_and_no_one_else(host, conf, nginx_gid):
    htpasswd = host.file(f"{conf['registry_base_dir']}/auth/htpasswd")
    # The group the role created for nginx, not whatever the host's gid 101 is.
    assert (htpasswd.uid, htpasswd.gid, htpasswd.mode) == (0, nginx_gid, 0o640)
    # nginx runs as uid 101 with that group: it reads it through the read-only folder mount.
    read = host.run("docker exec %s cat /etc/nginx/auth/htpasswd", conf["registry_nginx_container_name"])
    assert read.rc == 0, read.stderr
    assert read.stdout == htpasswd.content_string


def test_running_config_follows_the_recipe(host, conf, nginx_gid):
    config = running_config(host, conf, nginx_gid)
    for directive in (
        f"listen {conf['registry_port']} ssl;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "client_max_body_size 0;",
        "chunked_transfer_encoding on;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "add_header Docker-Distribution-Api-Version $docker_distribution_api_version always;",
        "proxy_read_timeout 900;",
        "proxy_request_buffering off;",
        "default /etc/nginx/auth/htpasswd;",
        *routed_to_registry(conf),
        f"server unix:{SOCKET_DIR}/registry.sock;",
    ):
        assert directive in config, directive
    # Plain HTTP to the registry here (custom_port's test_custom_port_clients.py checks the TLS side).
    assert not any(line.startswith("proxy_ssl_") for line in config), sorted(config)
    # Sized for many concurrent clients (the setup this replaces had 16).
    connections = [int(line.split()[1].rstrip(";")) for line in config if line.startswith("worker_connections ")]
    assert len(connections) == 1 and connections[0] >= 1024, connections


@pytest.mark.parametrize(("version", "accepted"), [("-tls1_1", False), ("-tls1_2", True), ("-tls1_3", True)])
def test_tls_versions(host, endpoint, conf, version, accepted):
    # SECLEVEL=0 lets the client offer TLSv1.1, so only the server can refuse it.
    port = conf["registry_port"]
    handshake = host.run(
        "openssl s_client -connect 127.0.0.1:%s -servername %s %s -cipher DEFAULT@SECLEVEL=0 < /dev/null",
        str(port),
        conf["registry_host"],
        version,
    )
    if accepted:
        assert handshake.rc == 0, handshake.stderr
    else:
        assert handshake.rc != 0
        assert "alert protocol version" in handshake.stderr, handshake.stderr


# ---- clients --------------------------------------------------------------------


def test_anonymous_request_gets_401_with_challenge_and_api_version(client, conf):
    status, headers = client.request()
    assert status == 401
    assert headers["www-authenticate"] == 'Basic realm="Registry Realm"'
    assert headers["docker-distribution-api-version"] == "registry/2.0"


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_each_user_is_let_in_and_a_wrong_password_is_not(client, users, name):
    status, headers = client.request(user=name, password=users[name])
    assert status == 200
    assert headers["docker-distribution-api-version"] == "registry/2.0"
    status, headers = client.request(user=name, password=users[name] + "x")
    assert status == 401
    assert headers["www-authenticate"] == 'Basic realm="Registry Realm"'
    assert headers["docker-distribution-api-version"] == "registry/2.0"


def test_push_pull_round_trip_with_the_docker_cli(client, users):
    # Every layer goes through nginx to the end (on custom ports too), then back; logged out, denied.
    push_pull_round_trip(client, "alice", users["alice"], REPOSITORY, layers=LAYERS, kib_per_layer=KIB_PER_LAYER)


def test_accounts_change_live_without_restart_or_reload(host, conf, client, users, tmp_path):
    containers = (conf["registry_nginx_container_name"], conf["registry_container_name"])
    before = [started_at(host, name) for name in containers]
    reloads = nginx_reloads(host, conf["registry_nginx_container_name"])
    live_conf = host.file(f"{conf['registry_base_dir']}/nginx/nginx.conf").sha256sum
    carol = "c@rol: new 'pw' \\ ✓"

    output = converge(
        {
            "registry_users": [
                {"name": "alice", "password": users["alice"]},
                {"name": "bob", "state": "absent"},
                {"name": "carol", "password": carol},
            ]
        },
        tmp_path,
    )
    assert "carol" in output and "bob" in output  # the names-only change report

    assert client.status(user="carol", password=carol) == 200
    login = client.login("carol", carol)
    assert login.rc == 0, login.stderr
    assert client.pull(f"{client.endpoint}/{REPOSITORY}:1").rc == 0
    assert client.logout().rc == 0
    assert client.status(user="bob", password=users["bob"]) == 401
    assert client.login("bob", users["bob"]).rc != 0

    # Neither container restarted, nginx did not even reload, its config is the same.
    assert [started_at(host, name) for name in containers] == before
    assert nginx_reloads(host, conf["registry_nginx_container_name"]) == reloads
    assert host.file(f"{conf['registry_base_dir']}/nginx/nginx.conf").sha256sum == live_conf

    # Back to the accounts of molecule.yml.
    converge({"registry_users": conf["registry_users"] + [{"name": "carol", "state": "absent"}]}, tmp_path)
    assert client.status(user="bob", password=users["bob"]) == 200
    assert client.status(user="carol", password=carol) == 401
    lines = host.file(f"{conf['registry_base_dir']}/auth/htpasswd").content_string.splitlines()
    assert sorted(line.split(":", 1)[0] for line in lines) == sorted(users)
