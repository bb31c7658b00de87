"""The custom-port trap: an nginx that sends `Host $host` loses the port in upload URLs.

The deployed stack has two independent defences (nginx sends `Host $http_host`,
and the registry knows its URL from REGISTRY_HTTP_HOST); the client tests show
every layer of a push completes through it. To show that the same push test
catches the trap, this file builds the setup the collection replaces: a
registry WITHOUT REGISTRY_HTTP_HOST behind two proxies that run the role's own
nginx.conf and differ in one line. With `Host $http_host` the push completes;
with `Host $host` the upload URLs point at :443 and the push fails: the layers'
bytes never reach the proxy's port. The test judges by what happens: the
upload URL without the port, the push failing by itself with layers left,
and the proxy's access log, where the push's uploads start (POST) but none of
their data (PATCH, PUT) arrives, while through the control proxy it does. What
the client meets on 443 depends on the machine (nothing: the daemon retries
each layer for about a minute, then names 127.0.0.1:443; another registry
there: its refusal), so the client's message is not what is judged.
HANG_GUARD only stops a push that never ends.
"""

import re

import pytest
from privreg_molecule.proxy_scenario import NGINX_CONF, NGINX_PORT, SOCKET_DIR, upstream_url
from privreg_molecule.registry_client import RegistryClient

REPOSITORY = "molecule/trap"
LAYERS = 4
KIB_PER_LAYER = 4 * 1024
# Far from both outcomes: the good push takes seconds, the trapped one ends at the latest
# after the daemon's retries (about a minute); only a hung push reaches it.
HANG_GUARD = 900
HOST_LINES = {"control": "proxy_set_header Host $http_host;", "trap": "proxy_set_header Host $host;"}


def run_ok(host, command, *args):
    result = host.run(command, *args)
    assert result.rc == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def proxies(host, conf, client, nginx_gid, tmp_path_factory):
    """A registry without REGISTRY_HTTP_HOST (plain HTTP, on a socket of its own) and two proxies
    for it that run as the role's nginx runs; all removed afterwards.

    Yields {"control": RegistryClient, "trap": RegistryClient}, one per proxy's port.
    """
    base = conf["registry_base_dir"]
    prefix = conf["registry_container_name"] + "-trap"
    volume = prefix + "-socket"
    upstream = upstream_url(conf)
    live = host.file(f"{base}/nginx/nginx.conf").content_string
    assert f'"" {upstream};' in live and HOST_LINES["control"] in live
    assert f"listen {conf['registry_port']} ssl;" in live
    ports = {"control": conf["custom_port_control_port"], "trap": conf["custom_port_trap_port"]}
    endpoints = {name: f"{conf['registry_host']}:{port}" for name, port in ports.items()}
    containers = [f"{prefix}-registry"] + [f"{prefix}-{name}" for name in ports]
    tmpfs = f"mode=0770,uid=0,gid={nginx_gid}"
    try:
        run_ok(
            host,
            "docker run -d --name %s --network none --user 0:%s -v %s:%s "
            "-e REGISTRY_HTTP_NET=unix -e REGISTRY_HTTP_ADDR=%s/registry.sock %s "
            "sh -c 'umask 0007 && exec registry serve /etc/docker/registry/config.yml'",
            containers[0],
            str(nginx_gid),
            volume,
            SOCKET_DIR,
            SOCKET_DIR,
            conf["registry_image"],
        )
        for name, port in ports.items():
            folder = tmp_path_factory.mktemp(name)
            (folder / "nginx.conf").write_text(
                live.replace(upstream, "http://registry")
                .replace(HOST_LINES["control"], HOST_LINES[name])
                # In a container network of its own, published: not the role's host-network listen line.
                .replace(f"listen {conf['registry_port']} ssl;", f"listen {NGINX_PORT} ssl;")
            )
            # The login cache's key function and tmpfs, as the role gives them (without its secret: no caching).
            for js_file in ("registry_auth.js", "registry_basic.js"):
                (folder / js_file).write_text(host.file(f"{base}/nginx/{js_file}").content_string)
            folder.chmod(0o755)
            for path in folder.iterdir():
                path.chmod(0o644)
            # As the role's master runs: root with four capabilities, workers as nginx with nginx's group,
            # which the role's passwd and group files name.
            run_ok(
                host,
                "docker run -d --name %s --user 0:0 --cap-drop ALL --cap-add CHOWN --cap-add SETUID "
                "--cap-add SETGID --cap-add NET_BIND_SERVICE --security-opt no-new-privileges -p %s:%s "
                "--tmpfs /run/registry-auth:%s --tmpfs /run/registry-nginx:%s -v %s:%s "
                "-v %s:/etc/nginx/registry:ro -v %s/auth:/etc/nginx/auth:ro -v %s/certs:/etc/nginx/certs:ro "
                "-v %s/nginx-accounts/passwd:/etc/passwd:ro -v %s/nginx-accounts/group:/etc/group:ro "
                "%s nginx -c %s -g %s",
                f"{prefix}-{name}",
                str(port),
                str(NGINX_PORT),
                tmpfs,
                tmpfs,
                volume,
                SOCKET_DIR,
                str(folder),
                base,
                base,
                base,
                base,
                conf["registry_nginx_image"],
                NGINX_CONF,
                "daemon off;",
            )
            run_ok(host, "install -D -m 0644 %s /etc/docker/certs.d/%s/ca.crt", client.ca_file, endpoints[name])
        yield {
            name: RegistryClient(host, endpoint, client.ca_file, client.docker_config)
            for name, endpoint in endpoints.items()
        }
    finally:
        for container in containers:
            host.run("docker rm -fv %s", container)
        host.run("docker volume rm %s", volume)
        for endpoint in endpoints.values():
            host.run("rm -rf /etc/docker/certs.d/%s", endpoint)


@pytest.fixture()
def image(client):
    """A new image for each push: layers the registry has seen would only be checked, not uploaded."""
    ref, layer_count = client.build_multilayer_image(REPOSITORY, layers=LAYERS, kib_per_layer=KIB_PER_LAYER)
    assert layer_count == LAYERS
    yield ref
    client.remove_image(ref)


def push(proxy, users, image):
    """docker login, then push the test image through `proxy` until the push ends (HANG_GUARD)."""
    ref = f"{proxy.endpoint}/{REPOSITORY}:1"
    assert proxy.docker("tag %s %s", image, ref).rc == 0
    try:
        login = proxy.login("alice", users["alice"])
        assert login.rc == 0, login.stderr
        return proxy.host.run("DOCKER_CONFIG=%s timeout %s docker push %s", proxy.docker_config, str(HANG_GUARD), ref)
    finally:
        proxy.logout()
        proxy.remove_image(ref)


def upload_requests(host, conf, name):
    """The methods of the upload requests of REPOSITORY in proxy ``name``'s access log, in order."""
    log = host.run("docker logs %s", f"{conf['registry_container_name']}-trap-{name}").stdout
    return re.findall(rf'"(POST|PATCH|PUT) /v2/{REPOSITORY}/blobs/uploads/', log)


def upload_location(proxy, users):
    """Where the registry tells the client to send a new layer (the first step of every push)."""
    status, headers = proxy.request(f"/v2/{REPOSITORY}/blobs/uploads/", "alice", users["alice"], method="POST")
    assert status == 202, headers
    return headers["location"]


def test_the_two_proxies_differ_in_the_host_header_only(host, conf, proxies):
    prefix = conf["registry_container_name"] + "-trap"
    configs = {
        name: host.check_output("docker exec %s cat %s", f"{prefix}-{name}", NGINX_CONF).splitlines()
        for name in proxies
    }
    differing = [(a.strip(), b.strip()) for a, b in zip(configs["control"], configs["trap"], strict=True) if a != b]
    assert differing == [(HOST_LINES["control"], HOST_LINES["trap"])]


def test_with_http_host_every_layer_of_the_push_completes(host, conf, proxies, users, image):
    proxy = proxies["control"]
    assert upload_location(proxy, users).startswith(f"https://{proxy.endpoint}/v2/{REPOSITORY}/blobs/uploads/")
    before = len(upload_requests(host, conf, "control"))
    pushed = push(proxy, users, image)
    assert pushed.rc == 0, pushed.stdout + pushed.stderr  # 124: the hang guard stopped it
    assert pushed.stdout.count(": Pushed") == LAYERS, pushed.stdout
    # Every layer's data came through this proxy's port (and the image config's).
    assert upload_requests(host, conf, "control")[before:].count("PUT") >= LAYERS + 1


def test_with_host_the_port_is_lost_and_the_same_push_fails(host, proxies, conf, users, image):
    proxy = proxies["trap"]
    # The upload URL names no port: the client goes to 443.
    assert upload_location(proxy, users).startswith(f"https://{conf['registry_host']}/v2/{REPOSITORY}/blobs/uploads/")
    before = len(upload_requests(host, conf, "trap"))
    pushed = push(proxy, users, image)
    # The push failed by itself (124 would be the hang guard), with layers left behind ...
    assert pushed.rc not in (0, 124), pushed.stdout + pushed.stderr
    assert pushed.stdout.count(": Pushed") < LAYERS, pushed.stdout
    # ... because their data went to that URL, not to this proxy: uploads started here, none continued.
    pushed_here = upload_requests(host, conf, "trap")[before:]
    assert "POST" in pushed_here and "PATCH" not in pushed_here and "PUT" not in pushed_here, pushed_here
