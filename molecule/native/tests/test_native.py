"""The native registry as its host and its clients see it.

The tests run in file order: the later ones change the accounts (a second
converge through ansible-playbook) and re-create the container.
"""

import pytest

from privreg_molecule.registry_client import RegistryClient
from privreg_molecule.scenario import (certificate_sha256, converge, make_own_certificate, push_pull_round_trip, recap,
                                       served_certificate_sha256, started_at, task_status)

REPOSITORY = "molecule/multilayer"
LAYERS = 3
CAROL_PASSWORD = "c@rol:new 'pw' \\ ✓"
# A second name for the registry image, saved to an archive and removed, so
# loading it is tested without touching the image other scenarios use.
OFFLINE_IMAGE = "privreg/registry:molecule-offline"


@pytest.fixture(scope="module")
def container(host, conf):
    return host.docker(conf["registry_container_name"])


# ---- the host -----------------------------------------------------------------


def test_check_mode_after_converge_has_nothing_to_do(tmp_path):
    # molecule.yml runs `check` on the new host before converge; this is the
    # other half: check mode on a converged host predicts no change.
    counters = recap(converge({}, tmp_path, "--check", "--diff"))
    assert (counters["changed"], counters["failed"]) == (0, 0), counters


def test_container_runs_healthy_with_a_restart_policy(host, conf, container):
    assert container.is_running
    state = container.inspect()
    assert state["Config"]["Image"] == conf["registry_image"]
    assert state["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    status = host.check_output("docker inspect -f '{{.State.Health.Status}}' %s", conf["registry_container_name"])
    # The first health check runs within the start period (10s) + interval.
    assert status in ("healthy", "starting")


def test_registry_checks_accounts_and_serves_tls_itself(container, endpoint):
    env = dict(item.split("=", 1) for item in container.inspect()["Config"]["Env"])
    assert env["REGISTRY_AUTH"] == "htpasswd"
    assert env["REGISTRY_AUTH_HTPASSWD_PATH"] == "/auth/htpasswd"
    assert env["REGISTRY_HTTP_TLS_CERTIFICATE"] == "/certs/registry.crt"
    assert env["REGISTRY_HTTP_HOST"] == f"https://{endpoint}"
    assert len(env["REGISTRY_HTTP_SECRET"]) >= 32


def test_auth_folder_not_file_is_mounted_read_only(container, conf):
    mounts = {m["Destination"]: m for m in container.inspect()["Mounts"]}
    assert mounts["/auth"]["Source"] == f"{conf['registry_base_dir']}/auth"
    assert mounts["/auth"]["RW"] is False
    assert mounts["/certs"]["RW"] is False
    assert mounts["/var/lib/registry"]["Source"] == f"{conf['registry_base_dir']}/data"
    assert "/auth/htpasswd" not in mounts


def test_only_the_tls_port_is_published(container, conf):
    ports = container.inspect()["NetworkSettings"]["Ports"]
    assert list(ports) == ["5000/tcp"]
    assert [binding["HostPort"] for binding in ports["5000/tcp"]] == [str(conf["registry_port"])]


def test_secrets_are_readable_by_root_only(host, conf):
    base = conf["registry_base_dir"]
    for path in ("auth/htpasswd", "certs/registry.key", "ca/ca.key", "http_secret"):
        secret = host.file(f"{base}/{path}")
        assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600), path


def test_the_ca_key_stays_out_of_the_mounted_certs_folder(host, conf):
    # certs/ is mounted into the containers; the CA key signs what clients trust
    assert not host.file(f"{conf['registry_base_dir']}/certs/ca.key").exists
    assert host.file(f"{conf['registry_base_dir']}/ca").mode == 0o700


def test_htpasswd_holds_bcrypt_entries_for_the_users(host, conf, users):
    lines = host.file(f"{conf['registry_base_dir']}/auth/htpasswd").content_string.splitlines()
    entries = dict(line.split(":", 1) for line in lines)
    assert sorted(entries) == sorted(users)
    assert all(hash_.startswith("$2") for hash_ in entries.values())
    assert not any(password in "\n".join(lines) for password in users.values())


def test_docker_client_trusts_the_generated_ca(host, conf, endpoint):
    installed = host.file(f"/etc/docker/certs.d/{endpoint}/ca.crt")
    assert installed.is_file
    assert installed.content == host.file(f"{conf['registry_base_dir']}/certs/ca.crt").content
    check = host.run("openssl verify -CAfile %s %s", installed.path, f"{conf['registry_base_dir']}/certs/registry.crt")
    assert check.rc == 0, check.stdout + check.stderr


# ---- clients --------------------------------------------------------------------


def test_anonymous_request_gets_a_basic_challenge(client):
    status, headers = client.request()
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_each_user_is_let_in_and_a_wrong_password_is_not(client, users, name):
    assert client.status(user=name, password=users[name]) == 200
    assert client.status(user=name, password=users[name] + "x") == 401


def test_push_pull_round_trip_with_the_docker_cli(client, users):
    push_pull_round_trip(client, "alice", users["alice"], REPOSITORY, layers=LAYERS)


def test_second_converge_adds_and_removes_users_without_a_restart(host, conf, client, users, tmp_path):
    before = started_at(host, conf["registry_container_name"])
    accounts = [
        {"name": "alice", "password": users["alice"]},
        {"name": "bob", "state": "absent"},
        {"name": "carol", "password": CAROL_PASSWORD},
    ]
    output = converge({"registry_users": accounts}, tmp_path)
    assert "carol" in output and "bob" in output  # the names-only change report
    assert started_at(host, conf["registry_container_name"]) == before

    assert client.status(user="carol", password=accounts[2]["password"]) == 200
    login = client.login("carol", accounts[2]["password"])
    assert login.rc == 0, login.stderr
    assert client.pull(f"{client.endpoint}/{REPOSITORY}:1").rc == 0
    assert client.logout().rc == 0

    assert client.status(user="bob", password=users["bob"]) == 401
    assert client.login("bob", users["bob"]).rc != 0


def test_images_survive_a_recreated_container(host, conf, client, users, tmp_path):
    ref = f"{client.endpoint}/{REPOSITORY}:1"
    digests = client.repo_digest(ref)
    old_id = host.docker(conf["registry_container_name"]).id
    host.run_expect([0], "docker rm -f %s", conf["registry_container_name"])

    # Back to exactly the accounts of molecule.yml: bob returns, carol goes.
    converge({"registry_users": conf["registry_users"], "registry_users_exclusive": True}, tmp_path)
    assert host.docker(conf["registry_container_name"]).id != old_id

    assert client.remove_image(ref).rc == 0
    assert client.login("alice", users["alice"]).rc == 0
    pulled = client.pull(ref)
    assert pulled.rc == 0, pulled.stderr
    assert client.repo_digest(ref) == digests
    assert client.logout().rc == 0


def test_exclusive_accounts_leave_only_the_listed_users(host, conf, client, users):
    lines = host.file(f"{conf['registry_base_dir']}/auth/htpasswd").content_string.splitlines()
    assert sorted(line.split(":", 1)[0] for line in lines) == sorted(users)
    assert client.status(user="bob", password=users["bob"]) == 200
    assert client.status(user="carol", password=CAROL_PASSWORD) == 401


def test_offline_install_loads_the_archive_only_when_the_image_is_absent(host, conf, client, tmp_path):
    """registry_image_archive: a `docker save` archive on the controller, loaded when the image is missing."""
    archive = tmp_path / "registry.tar"
    host.run_expect([0], "docker tag %s %s", conf["registry_image"], OFFLINE_IMAGE)
    try:
        host.run_expect([0], "docker save -o %s %s", str(archive), OFFLINE_IMAGE)
        host.run_expect([0], "docker image rm %s", OFFLINE_IMAGE)  # untags; the layers stay for the other tag
        offline = {"registry_image": OFFLINE_IMAGE, "registry_image_archive": str(archive)}

        output = converge(offline, tmp_path)
        assert task_status(output, "The image is loaded from the archive") == "changed"
        assert host.docker(conf["registry_container_name"]).inspect()["Config"]["Image"] == OFFLINE_IMAGE
        assert client.status() == 401

        again = converge(offline, tmp_path)
        assert task_status(again, "The image is loaded from the archive") == "skipping"
    finally:
        converge({}, tmp_path)
        host.run("docker image rm %s", OFFLINE_IMAGE)
    assert host.docker(conf["registry_container_name"]).inspect()["Config"]["Image"] == conf["registry_image"]


def test_own_certificate_replaces_the_generated_one_and_back(host, conf, client, users, endpoint, tmp_path):
    base = conf["registry_base_dir"]
    generated_ca = host.file(f"{base}/certs/ca.crt").content
    own = make_own_certificate(host, str(tmp_path / "own"), conf["registry_host"])
    try:
        converge(own, tmp_path)
        assert served_certificate_sha256(host, conf["registry_host"], conf["registry_port"]) == certificate_sha256(
            host, own["registry_tls_certificate"])
        trusted = host.file(f"/etc/docker/certs.d/{endpoint}/ca.crt").content
        assert trusted == host.file(own["registry_tls_ca_certificate"]).content
        own_client = RegistryClient(host, endpoint, own["registry_tls_ca_certificate"], client.docker_config)
        assert own_client.status(user="alice", password=users["alice"]) == 200
        login = own_client.login("alice", users["alice"])
        assert login.rc == 0, login.stderr
        assert own_client.logout().rc == 0
    finally:
        converge({}, tmp_path)
    # Back to the generated certificate, under the same CA: clients keep trusting it.
    assert host.file(f"{base}/certs/ca.crt").content == generated_ca
    assert host.file(f"/etc/docker/certs.d/{endpoint}/ca.crt").content == generated_ca
    assert client.status(user="alice", password=users["alice"]) == 200


def test_passwords_stay_out_of_the_log_and_the_shell(host, conf, users):
    logs = host.run("docker logs %s 2>&1", conf["registry_container_name"]).stdout
    for password in users.values():
        assert password not in logs
    assert not host.file("/tmp/pwned").exists
