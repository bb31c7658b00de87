"""The local images work for real: registry and nginx with TLS and bcrypt accounts.

Runs scripts/build-images.sh (a no-op when the images are up to date), then
starts containers on published 127.0.0.1 ports and talks to them with requests,
curl-like status checks and the real docker CLI (login, push, pull).
"""

import datetime
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import uuid

import bcrypt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGISTRY_IMAGE = "privreg/registry:2.8.2-debian"
# The two upstream nginx layouts: nginx:<version> (Debian's userland: dash, bash, coreutils,
# util-linux, curl) and nginx:<version>-alpine (busybox's: sh, wget; no util-linux, no bash).
NGINX_IMAGE = "privreg/nginx:1.22-debian"
NGINX_ALPINE_IMAGE = "privreg/nginx:1.22-alpine"
NGINX_IMAGES = (NGINX_IMAGE, NGINX_ALPINE_IMAGE)
TEST_LABEL = "privreg.test=images"
USER, PASSWORD = "alice", "s3cret-Pass"


def _engine_answers():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _engine_answers(), reason="no Docker engine answers (run scripts/ensure-docker.sh)"),
]


def run(*args, check=True, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url, **kwargs):
    """The first answer of a server that is still starting."""
    deadline = time.monotonic() + 60  # holds on a loaded 2-core machine running test lanes side by side
    while True:
        try:
            return requests.get(url, timeout=2, **kwargs)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def images():
    result = run("bash", os.path.join(ROOT, "scripts", "build-images.sh"))
    return result.stdout


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A CA and a server certificate for localhost and 127.0.0.1."""
    folder = tmp_path_factory.mktemp("certs")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "privreg test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.crt").write_bytes(ca_cert.public_bytes(pem))
    (folder / "server.crt").write_bytes(cert.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder


@pytest.fixture(scope="module")
def auth(tmp_path_factory):
    """A folder with an htpasswd file holding one bcrypt account."""
    folder = tmp_path_factory.mktemp("auth")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (folder / "htpasswd").write_text(f"{USER}:{hashed}\n")
    # nginx workers (uid 101) read the file per request.
    os.chmod(folder, 0o755)  # noqa: S103
    os.chmod(folder / "htpasswd", 0o644)
    return folder


def start(image, port, container_port, *options):
    name = f"privreg-test-{uuid.uuid4().hex[:8]}"
    run(
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--label",
        TEST_LABEL,
        "-p",
        f"127.0.0.1:{port}:{container_port}",
        *options,
        image,
    )
    return name


def remove(name):
    run("docker", "rm", "-f", "-v", name, check=False)


def serving(name, port, url, ca):
    """Fixture body: wait until the container answers at ``url``, hand it to the tests, then remove it."""
    try:
        wait_for(url, verify=str(ca))
        yield {"name": name, "port": port, "url": url}
    finally:
        remove(name)


@pytest.fixture(scope="module")
def registry(images, tls, auth):
    port = free_port()
    name = start(
        REGISTRY_IMAGE,
        port,
        5000,
        "-v",
        f"{tls}:/certs:ro",
        "-v",
        f"{auth}:/auth:ro",
        "-e",
        "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt",
        "-e",
        "REGISTRY_HTTP_TLS_KEY=/certs/server.key",
        "-e",
        "REGISTRY_AUTH=htpasswd",
        "-e",
        "REGISTRY_AUTH_HTPASSWD_REALM=privreg test",
        "-e",
        "REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd",
    )
    yield from serving(name, port, f"https://127.0.0.1:{port}/v2/", tls / "ca.crt")


NGINX_SITE = """\
server {
    listen 443 ssl;
    server_name localhost;
    ssl_certificate /etc/nginx/certs/server.crt;
    ssl_certificate_key /etc/nginx/certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
        auth_basic "privreg test";
        auth_basic_user_file /etc/nginx/auth/htpasswd;
        root /usr/share/nginx/html;
    }
}
"""


@pytest.fixture(scope="module", params=NGINX_IMAGES)
def nginx(request, images, tls, auth, tmp_path_factory):
    conf = tmp_path_factory.mktemp("conf.d")
    (conf / "default.conf").write_text(NGINX_SITE)
    port = free_port()
    name = start(
        request.param,
        port,
        443,
        "-v",
        f"{conf}:/etc/nginx/conf.d:ro",
        "-v",
        f"{tls}:/etc/nginx/certs:ro",
        "-v",
        f"{auth}:/etc/nginx/auth:ro",
    )
    yield from serving(name, port, f"https://127.0.0.1:{port}/", tls / "ca.crt")


# ---- the builder -------------------------------------------------------------


def test_build_is_skipped_when_inputs_are_unchanged(images):
    before = {image: image_id(image) for image in (REGISTRY_IMAGE, *NGINX_IMAGES)}
    output = run("bash", os.path.join(ROOT, "scripts", "build-images.sh")).stdout
    for image in before:
        assert f"{image} is up to date" in output
    assert before == {image: image_id(image) for image in before}


def test_save_writes_loadable_archives(images, tmp_path):
    run("bash", os.path.join(ROOT, "scripts", "build-images.sh"), "--save", str(tmp_path))
    archives = (("registry.tar", REGISTRY_IMAGE), ("nginx.tar", NGINX_IMAGE), ("nginx-alpine.tar", NGINX_ALPINE_IMAGE))
    for archive, image in archives:
        with tarfile.open(tmp_path / archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == [image]
        assert manifest[0]["Config"].removesuffix(".json") == image_id(image).removeprefix("sha256:")


def image_id(image):
    return run("docker", "image", "inspect", "-f", "{{.Id}}", image).stdout.strip()


def image_config(image):
    return json.loads(run("docker", "image", "inspect", "-f", "{{json .Config}}", image).stdout)


# ---- upstream layouts --------------------------------------------------------


def test_registry_image_has_the_upstream_entrypoint_and_ports(images):
    config = image_config(REGISTRY_IMAGE)
    assert config["Entrypoint"] == ["/entrypoint.sh"]
    assert config["Cmd"] == ["/etc/docker/registry/config.yml"]
    assert list(config["ExposedPorts"]) == ["5000/tcp"]
    assert list(config["Volumes"]) == ["/var/lib/registry"]


@pytest.mark.parametrize("image", NGINX_IMAGES)
def test_nginx_image_has_the_upstream_command_and_signal(images, image):
    config = image_config(image)
    assert config["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert config["StopSignal"] == "SIGQUIT"
    assert list(config["ExposedPorts"]) == ["80/tcp"]


@pytest.mark.parametrize(
    ("image", "command", "expected"),
    [
        (REGISTRY_IMAGE, ["registry", "--version"], "2.8.2"),
        (REGISTRY_IMAGE, ["cat", "/etc/docker/registry/config.yml"], "rootdirectory: /var/lib/registry"),
        (REGISTRY_IMAGE, ["wget", "--help"], "--no-check-certificate"),
        (REGISTRY_IMAGE, ["ls", "/etc/ssl/certs/ca-certificates.crt"], "ca-certificates.crt"),
        *(
            (image, command, expected)
            for image in NGINX_IMAGES
            for command, expected in (
                (["nginx", "-t"], "test is successful"),
                (["id", "nginx"], "uid=101(nginx) gid=101(nginx)"),
                (["readlink", "/var/log/nginx/access.log"], "/dev/stdout"),
                (["readlink", "/var/log/nginx/error.log"], "/dev/stderr"),
                (["grep", "-c", "include /etc/nginx/conf.d/\\*.conf;", "/etc/nginx/nginx.conf"], "1"),
                (["grep", "-c", "listen       80;", "/etc/nginx/conf.d/default.conf"], "1"),
                (["ls", "/etc/nginx/modules/ngx_http_js_module.so"], "ngx_http_js_module.so"),
            )
        ),
        # Debian's userland, as in nginx:<version>: dash is sh, bash, util-linux, curl; no busybox.
        (NGINX_IMAGE, ["readlink", "/bin/sh"], "dash"),
        (NGINX_IMAGE, ["bash", "--version"], "GNU bash"),
        (NGINX_IMAGE, ["setpriv", "--version"], "util-linux"),
        (NGINX_IMAGE, ["curl", "--version"], "curl "),
        (NGINX_IMAGE, ["head", "--version"], "GNU coreutils"),
        # busybox's, as in nginx:<version>-alpine: sh and wget are busybox applets.
        (NGINX_ALPINE_IMAGE, ["readlink", "/bin/sh"], "/usr/bin/busybox"),
        (NGINX_ALPINE_IMAGE, ["wget", "--help"], "--no-check-certificate"),
        (NGINX_ALPINE_IMAGE, ["readlink", "/usr/bin/head"], "/usr/bin/busybox"),
    ],
)
def test_image_layout(images, image, command, expected):
    result = run("docker", "run", "--rm", "--label", TEST_LABEL, image, *command)
    assert expected in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("image", "absent"),
    [
        (NGINX_IMAGE, ["busybox", "wget"]),
        (NGINX_ALPINE_IMAGE, ["bash", "curl", "/usr/bin/setpriv --version | grep -q util-linux"]),
    ],
)
def test_nginx_image_lacks_what_its_upstream_layout_lacks(images, image, absent):
    for program in absent:
        result = run("docker", "run", "--rm", "--label", TEST_LABEL, image, "sh", "-c", program, check=False)
        assert result.returncode != 0, (image, program, result.stdout)


@pytest.mark.parametrize("image", NGINX_IMAGES)
def test_nginx_image_has_every_path_its_build_compiled_in(images, image):
    configure = run("docker", "run", "--rm", image, "nginx", "-V").stderr
    options = dict(arg[2:].split("=", 1) for arg in configure.split() if arg.startswith("--") and "=" in arg)
    temp_folders = [value for key, value in options.items() if key.endswith("-temp-path")]
    assert len(temp_folders) == 5
    file_folders = [os.path.dirname(options[key]) for key in ("pid-path", "lock-path", "http-log-path", "conf-path")]
    folders = [*temp_folders, *file_folders, options["modules-path"], options["prefix"] + "/html"]
    result = run("docker", "run", "--rm", image, "ls", "-d", *folders, check=False)
    assert result.returncode == 0, result.stderr


# ---- the registry serves TLS and checks bcrypt accounts -----------------------

# No, wrong and unknown credentials are refused; the account's own are accepted.
ACCOUNT_CASES = pytest.mark.parametrize(
    ("credentials", "status"),
    [(None, 401), ((USER, "wrong-password"), 401), (("mallory", PASSWORD), 401), ((USER, PASSWORD), 200)],
)


@ACCOUNT_CASES
def test_registry_checks_accounts_over_tls(registry, tls, credentials, status):
    answer = requests.get(registry["url"], auth=credentials, verify=str(tls / "ca.crt"), timeout=10)
    assert answer.status_code == status
    assert answer.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    if status == 401:
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="privreg test"'


def test_registry_refuses_plain_http(registry):
    answer = requests.get(registry["url"].replace("https:", "http:"), auth=(USER, PASSWORD), timeout=5)
    assert answer.status_code == 400
    assert "HTTP request to an HTTPS server" in answer.text


@pytest.fixture
def docker_client(registry, tls, tmp_path):
    """A docker CLI with its own config that trusts the test CA for the registry."""
    endpoint = f"127.0.0.1:{registry['port']}"
    certs_d = f"/etc/docker/certs.d/{endpoint}"
    os.makedirs(certs_d, exist_ok=True)
    shutil.copy(tls / "ca.crt", f"{certs_d}/ca.crt")
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))
    try:
        yield endpoint, env
    finally:
        shutil.rmtree(certs_d, ignore_errors=True)


def tiny_image(tmp_path, tag):
    """A one-file image made with docker import; returns its content marker."""
    marker = uuid.uuid4().hex
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "marker").write_text(marker)
    with tarfile.open(tmp_path / "tiny.tar", "w") as tar:
        tar.add(rootfs / "marker", arcname="marker")
    run("docker", "import", str(tmp_path / "tiny.tar"), tag)
    return marker


def test_docker_push_and_pull_through_the_registry(docker_client, tmp_path):
    endpoint, env = docker_client
    tag = f"{endpoint}/testbed/tiny:{uuid.uuid4().hex[:8]}"
    marker = tiny_image(tmp_path, tag)
    try:
        denied = run("docker", "push", tag, env=env, check=False)
        assert denied.returncode != 0

        run("docker", "login", "-u", USER, "--password-stdin", endpoint, input=PASSWORD, env=env)
        run("docker", "push", tag, env=env)
        run("docker", "rmi", tag)
        run("docker", "pull", tag, env=env)
        # The pulled image is the pushed one: read the file back out of it.
        created = run("docker", "create", "--label", TEST_LABEL, tag, "/none").stdout.strip()
        try:
            copied = run("docker", "cp", f"{created}:/marker", "-").stdout
        finally:
            remove(created)
        assert marker in copied
        run("docker", "logout", endpoint, env=env)
        run("docker", "rmi", tag)
        assert run("docker", "pull", tag, env=env, check=False).returncode != 0
    finally:
        run("docker", "rmi", "-f", tag, check=False)


# ---- nginx serves TLS and checks bcrypt accounts (libxcrypt) ------------------


@ACCOUNT_CASES
def test_nginx_checks_bcrypt_accounts_over_tls(nginx, tls, credentials, status):
    answer = requests.get(nginx["url"], auth=credentials, verify=str(tls / "ca.crt"), timeout=10)
    assert answer.status_code == status
    if status == 200:
        assert "Welcome to nginx" in answer.text


def test_nginx_workers_run_as_nginx_and_log_to_the_container_output(nginx, tls):
    requests.get(nginx["url"], auth=(USER, PASSWORD), verify=str(tls / "ca.crt"), timeout=10)
    # docker top lists the processes with the host's ps (the Debian layout has none).
    processes = run("docker", "top", nginx["name"], "-o", "pid,uid,args").stdout
    workers = [line.split()[1] for line in processes.splitlines() if "worker process" in line]
    assert workers and set(workers) == {"101"}
    logs = run("docker", "logs", nginx["name"])
    assert f"{USER} [" in logs.stdout and '"GET / HTTP/1.1" 200' in logs.stdout
