"""The native registry as its host and its clients see it.

The tests run in file order: the later ones change the accounts (a second
converge through ansible-playbook) and re-create the container. Four
ansible-playbook runs in all: the accounts change, then one run
that brings a removed container back from an image archive with only the
listed accounts, one with a certificate of our own (the archive is not loaded
again), and one back to the scenario's own settings.
"""

import pytest
from privreg_molecule.registry_client import RegistryClient
from privreg_molecule.scenario import (
    certificate_sha256,
    converge,
    make_own_certificate,
    push_pull_round_trip,
    served_certificate_sha256,
    started_at,
    task_result,
    task_status,
    wait_until_healthy,
)

REPOSITORY = "molecule/multilayer"
LAYERS = 3
CAROL_PASSWORD = "c@rol:new 'pw' \\ ✓"
# A second name for the registry image, saved to an archive and removed, so
# loading it is tested without touching the image other scenarios use.
OFFLINE_IMAGE = "privreg/registry:molecule-offline"
# The image scripts/build-images.sh makes, which the shared base gives every scenario.
LOCAL_IMAGE = "privreg/registry:2.8.2-debian"
LOAD_TASK = "The image is loaded from the archive"
ACCOUNT_REPORT = "The account changes are shown (names only)"
# The file bob's password would create if a shell ever ran it (molecule.yml).
PWNED = "/tmp/privreg-molecule-native-pwned"


@pytest.fixture(scope="module")
def container(host, conf):
    return host.docker(conf["registry_container_name"])


@pytest.fixture(scope="module")
def offline_image(host, conf, tmp_path_factory):
    """registry_image_archive: the variables of a `docker save` archive on the controller whose image is
    absent from the host (a second name for the registry image, untagged; its layers stay for the
    other name). The image is removed after the module's tests."""
    archive = tmp_path_factory.mktemp("offline") / "registry.tar"
    host.run_expect([0], "docker tag %s %s", conf["registry_image"], OFFLINE_IMAGE)
    try:
        host.run_expect([0], "docker save -o %s %s", str(archive), OFFLINE_IMAGE)
    finally:
        host.run_expect([0], "docker image rm %s", OFFLINE_IMAGE)
    yield {"registry_image": OFFLINE_IMAGE, "registry_image_archive": str(archive)}
    host.run("docker image rm %s", OFFLINE_IMAGE)


# ---- the host -----------------------------------------------------------------


def test_container_runs_healthy_with_a_restart_policy(host, conf, container):
    assert container.is_running
    state = container.inspect()
    assert state["Config"]["Image"] == conf["registry_image"] == LOCAL_IMAGE
    assert state["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    # The first check runs one interval (30 s) after the start, later on a loaded machine.
    health = wait_until_healthy(host, conf["registry_container_name"])
    assert health and health["Status"] == "healthy", health


def test_registry_checks_accounts_and_serves_tls_itself(host, conf, container, endpoint):
    env = dict(item.split("=", 1) for item in container.inspect()["Config"]["Env"])
    assert env["REGISTRY_AUTH"] == "htpasswd"
    assert env["REGISTRY_AUTH_HTPASSWD_PATH"] == "/auth/htpasswd"
    assert env["REGISTRY_HTTP_TLS_CERTIFICATE"] == "/certs/registry.crt"
    assert env["REGISTRY_HTTP_HOST"] == f"https://{endpoint}"
    # The HTTP secret is in the root-only config file, not in the environment docker inspect shows.
    assert "REGISTRY_HTTP_SECRET" not in env
    secret = host.file(f"{conf['registry_base_dir']}/http_secret").content_string.strip()
    assert len(secret) >= 32
    assert secret in host.file(f"{conf['registry_base_dir']}/config/config.yml").content_string


def test_auth_folder_not_file_is_mounted_read_only(container, conf):
    mounts = {m["Destination"]: m for m in container.inspect()["Mounts"]}
    assert mounts["/auth"]["Source"] == f"{conf['registry_base_dir']}/auth"
    assert mounts["/auth"]["RW"] is False
    assert mounts["/certs"]["RW"] is False
    assert mounts["/var/lib/registry"]["Source"] == f"{conf['registry_base_dir']}/data"
    assert "/auth/htpasswd" not in mounts


def test_only_the_tls_port_is_published_on_the_bind_address_only(host, container, conf):
    ports = container.inspect()["NetworkSettings"]["Ports"]
    assert list(ports) == ["5000/tcp"]
    bindings = [(binding["HostIp"], binding["HostPort"]) for binding in ports["5000/tcp"]]
    assert (
        bindings
        == [(conf["registry_bind_address"], str(conf["registry_port"]))]
        == [("127.0.0.1", str(conf["registry_port"]))]
    )
    assert host.socket(f"tcp://127.0.0.1:{conf['registry_port']}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{conf['registry_port']}").is_listening
    assert not host.socket(f"tcp://:::{conf['registry_port']}").is_listening


def test_the_role_alone_runs_no_nginx_and_no_network(host, conf):
    """The converge applied registry_native alone, with no registry_topology: nothing of nginx_proxy's."""
    for kind, name in (
        ("container", conf["registry_nginx_container_name"]),
        ("network", conf["registry_network_name"]),
    ):
        assert host.run("docker %s inspect %s", kind, name).rc != 0, name
    assert host.run("docker volume inspect %s", conf["registry_container_name"] + "-socket").rc != 0


def test_secrets_are_readable_by_root_only(host, conf):
    base = conf["registry_base_dir"]
    for path in ("auth/htpasswd", "certs/registry.key", "ca/ca.key", "http_secret", "config/config.yml"):
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
    assert task_result(output, ACCOUNT_REPORT)["msg"] == {"added": ["carol"], "removed": ["bob"], "updated": []}
    assert started_at(host, conf["registry_container_name"]) == before

    assert client.status(user="carol", password=accounts[2]["password"]) == 200
    login = client.login("carol", accounts[2]["password"])
    assert login.rc == 0, login.stderr
    assert client.pull(f"{client.endpoint}/{REPOSITORY}:1").rc == 0
    assert client.logout().rc == 0

    assert client.status(user="bob", password=users["bob"]) == 401
    assert client.login("bob", users["bob"]).rc != 0


def test_a_removed_container_comes_back_from_the_archive_with_its_images_and_only_the_listed_users(
    host, conf, client, users, offline_image, tmp_path
):
    """One run for three changes that do not hide each other: the container a sysadmin removed comes
    back (a new one, on the same data); the image, absent, is loaded from registry_image_archive; with
    registry_users_exclusive the accounts are exactly molecule.yml's again (bob returns, carol goes,
    without a restart: that was shown by the accounts change before)."""
    name = conf["registry_container_name"]
    ref = f"{client.endpoint}/{REPOSITORY}:1"
    digests = client.repo_digest(ref)
    old_id = host.docker(name).id
    host.run_expect([0], "docker rm -f %s", name)

    output = converge(
        {**offline_image, "registry_users": conf["registry_users"], "registry_users_exclusive": True}, tmp_path
    )
    assert task_status(output, LOAD_TASK) == "changed"
    assert task_result(output, ACCOUNT_REPORT)["msg"] == {"added": ["bob"], "removed": ["carol"], "updated": []}
    recreated = host.docker(name)
    assert recreated.id != old_id
    assert recreated.inspect()["Config"]["Image"] == OFFLINE_IMAGE
    assert client.status() == 401

    lines = host.file(f"{conf['registry_base_dir']}/auth/htpasswd").content_string.splitlines()
    assert sorted(line.split(":", 1)[0] for line in lines) == sorted(users)
    assert client.status(user="bob", password=users["bob"]) == 200
    assert client.status(user="carol", password=CAROL_PASSWORD) == 401

    assert client.remove_image(ref).rc == 0
    assert client.login("alice", users["alice"]).rc == 0
    pulled = client.pull(ref)
    assert pulled.rc == 0, pulled.stderr
    assert client.repo_digest(ref) == digests
    assert client.logout().rc == 0


def test_own_certificate_replaces_the_generated_one_and_back(
    host, conf, client, users, endpoint, offline_image, tmp_path
):
    """The certificate alone re-creates the container: the archive's image stays, and it is present,
    so the archive is not loaded again. The run back to the scenario's settings brings back the
    generated certificate and registry_image."""
    base = conf["registry_base_dir"]
    generated_ca = host.file(f"{base}/certs/ca.crt").content
    own = make_own_certificate(host, str(tmp_path / "own"), conf["registry_host"])
    try:
        output = converge({**offline_image, **own}, tmp_path)
        assert task_status(output, LOAD_TASK) == "skipping"
        assert host.docker(conf["registry_container_name"]).inspect()["Config"]["Image"] == OFFLINE_IMAGE
        assert served_certificate_sha256(host, conf["registry_host"], conf["registry_port"]) == certificate_sha256(
            host, own["registry_tls_certificate"]
        )
        trusted = host.file(f"/etc/docker/certs.d/{endpoint}/ca.crt").content
        assert trusted == host.file(own["registry_tls_ca_certificate"]).content
        own_client = RegistryClient(host, endpoint, own["registry_tls_ca_certificate"], client.docker_config)
        assert own_client.status(user="alice", password=users["alice"]) == 200
        login = own_client.login("alice", users["alice"])
        assert login.rc == 0, login.stderr
        assert own_client.logout().rc == 0
    finally:
        converge({}, tmp_path)
    assert host.docker(conf["registry_container_name"]).inspect()["Config"]["Image"] == conf["registry_image"]
    # Back to the generated certificate, under the same CA: clients keep trusting it.
    assert host.file(f"{base}/certs/ca.crt").content == generated_ca
    assert host.file(f"/etc/docker/certs.d/{endpoint}/ca.crt").content == generated_ca
    assert client.status(user="alice", password=users["alice"]) == 200


def test_passwords_stay_out_of_the_log_and_the_shell(host, conf, users):
    logs = host.run("docker logs %s 2>&1", conf["registry_container_name"]).stdout
    for password in users.values():
        assert password not in logs
    assert PWNED in users["bob"]  # the command bob's password holds
    assert not host.file(PWNED).exists
