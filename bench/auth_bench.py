"""What checking logins costs behind nginx, with and without the login cache.

Deploys registry_nginx_proxy on this host (bcrypt cost 10, the default; names
privreg-molecule-bench-auth-*, ports on 127.0.0.1 only: nginx_deployment.py) and measures, with
ab from apache2-utils against 127.0.0.1:
- TLS `GET /v2/` requests/s with keep-alive and 4 clients: no auth, auth
  without cache (registry_auth_cache_ttl: 0), auth with cache (the default
  60 s), and their ratios (target: cache >= 0.9 of no auth);
- failed requests with 256 concurrent keep-alive connections;
- blob download MB/s through nginx (TLS, auth) against straight to the
  registry (plain HTTP on its unix socket, from the host).
"no auth" is a second nginx container on the same registry socket, run as the
role runs nginx, with the role's uncached nginx.conf minus its two auth_basic
lines.
A benchmark: it prints numbers and asserts nothing. Every figure is printed
beside the command that reproduces it (after --keep: the deployment stays).

    source scripts/env.sh && python bench/auth_bench.py [--keep] [--requests 4000]
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time

import requests
from deployment import BENCH_AUTH, Deployment, ab, docker, print_header

DEPLOYMENT = Deployment("auth", 44631)
NGINX, REGISTRY, SOCKET_VOLUME, PORT = DEPLOYMENT.nginx, DEPLOYMENT.registry, DEPLOYMENT.socket_volume, DEPLOYMENT.port
BASE_DIR, CA_FILE = DEPLOYMENT.base_dir, DEPLOYMENT.ca_file
NO_AUTH_NGINX = f"{DEPLOYMENT.prefix}-noauth"
NO_AUTH_PORT = 44632
# Where the role's nginx listens inside its container (it is not root).
NGINX_PORT = 8443
AUTH_HEADER = "Basic " + BENCH_AUTH
BLOB_MIB = 256
REPOSITORY = "bench/blob"


def start_no_auth_nginx(folder, nginx_image):
    """A second nginx on the same registry socket, run as the role runs nginx: the role's
    uncached nginx.conf without auth_basic."""
    live = os.path.join(BASE_DIR, "nginx", "nginx.conf")
    with open(live) as f:
        text = f.read()
    lines = [
        line
        for line in text.splitlines(keepends=True)
        if line.split()[:1] not in (["auth_basic"], ["auth_basic_user_file"])
    ]
    if len(lines) != len(text.splitlines()) - 2:
        sys.exit(f"auth_bench: {live} does not hold exactly two auth_basic lines")
    conf_dir = os.path.join(folder, "noauth")
    os.makedirs(conf_dir)
    with open(os.path.join(conf_dir, "nginx.conf"), "w") as f:
        f.writelines(lines)
    user = docker("inspect", "-f", "{{.Config.User}}", NGINX)
    gid = int(user.split(":")[1])
    # Readable by nginx's group, as the role's config folder is.
    for path, mode in ((conf_dir, 0o750), (os.path.join(conf_dir, "nginx.conf"), 0o640)):
        os.chown(path, 0, gid)
        os.chmod(path, mode)
    docker("rm", "-f", NO_AUTH_NGINX, check=False)
    docker(
        "run",
        "-d",
        "--name",
        NO_AUTH_NGINX,
        "--label",
        "privreg.molecule=bench",
        "--user",
        user,
        "--read-only",
        "--tmpfs",
        f"/run/registry-nginx:mode=0700,uid=101,gid={gid}",
        "-p",
        f"127.0.0.1:{NO_AUTH_PORT}:{NGINX_PORT}",
        "-v",
        f"{conf_dir}:/etc/nginx/registry:ro",
        "-v",
        f"{BASE_DIR}/certs:/etc/nginx/certs:ro",
        "-v",
        f"{SOCKET_VOLUME}:/run/registry",
        nginx_image,
        "nginx",
        "-c",
        "/etc/nginx/registry/nginx.conf",
        "-g",
        "daemon off;",
    )
    wait_for(f"https://localhost:{NO_AUTH_PORT}/v2/", 200, auth=False)


def wait_for(url, status, auth=True):
    headers = {"Authorization": AUTH_HEADER} if auth else {}
    for _attempt in range(60):
        try:
            if requests.get(url, headers=headers, verify=CA_FILE, timeout=5).status_code == status:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    sys.exit(f"auth_bench: {url} never answered {status}")


def ab_v2(url, concurrency, count, auth):
    args = ["-k", "-c", str(concurrency), "-n", str(count), "-s", "60"]
    return ab(args, url, AUTH_HEADER if auth else None)


def push_blob(url, data):
    """One monolithic blob upload through nginx (POST, then PUT with the digest)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    headers = {"Authorization": AUTH_HEADER}
    started = requests.post(f"{url}/v2/{REPOSITORY}/blobs/uploads/", headers=headers, verify=CA_FILE, timeout=60)
    started.raise_for_status()
    location = started.headers["Location"]
    done = requests.put(
        location,
        params={"digest": digest},
        data=data,
        verify=CA_FILE,
        timeout=600,
        headers=dict(headers, **{"Content-Type": "application/octet-stream"}),
    )
    done.raise_for_status()
    return digest


def download_mbps(url, auth, options=()):
    """Best of three curl downloads, MB/s (10^6 bytes); ``options``: more curl options."""
    config = f'header = "Authorization: {AUTH_HEADER}"\n' if auth else ""
    options = list(options)
    command = [
        "curl",
        "-sS",
        "--cacert",
        CA_FILE,
        *options,
        "-K",
        "-",
        "-o",
        "/dev/null",
        "-w",
        "%{speed_download}",
        url,
    ]
    speeds = []
    for _attempt in range(3):
        done = subprocess.run(command, input=config, capture_output=True, text=True, check=True)
        speeds.append(float(done.stdout) / 1e6)
    shown = " ".join(
        [
            "curl",
            "-s",
            "--cacert",
            CA_FILE,
            *options,
            "-o",
            "/dev/null",
            "-w",
            "'%{speed_download}'",
            *(['-H "Authorization: Basic $BENCH_AUTH"'] if auth else []),
            url,
        ]
    )
    return max(speeds), shown


def report(label, value, command):
    print(f"{label:<46} {value:>16}   {command}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per ab run (no-cache runs: an eighth)")
    parser.add_argument("--nginx-image", default="privreg/nginx:1.22-debian")
    parser.add_argument("--registry-image", default="privreg/registry:2.8.2-debian")
    parser.add_argument("--keep", action="store_true", help="leave the deployment running to re-run the commands")
    options = parser.parse_args()
    v2 = f"https://127.0.0.1:{PORT}/v2/"
    no_auth_v2 = f"https://127.0.0.1:{NO_AUTH_PORT}/v2/"
    results = {}

    with tempfile.TemporaryDirectory() as folder:
        try:
            print_header("auth_bench.py", [options.nginx_image, options.registry_image])

            DEPLOYMENT.converge(
                folder, DEPLOYMENT.variables(options.nginx_image, options.registry_image, registry_auth_cache_ttl=0)
            )
            start_no_auth_nginx(folder, options.nginx_image)
            results["noauth"] = ab_v2(no_auth_v2, 4, options.requests, auth=False)
            results["nocache"] = ab_v2(v2, 4, max(options.requests // 8, 100), auth=True)
            results["nocache256"] = ab_v2(v2, 256, 512, auth=True)

            DEPLOYMENT.converge(
                folder, DEPLOYMENT.variables(options.nginx_image, options.registry_image, registry_auth_cache_ttl=60)
            )
            wait_for(f"https://localhost:{PORT}/v2/", 200)
            results["cache"] = ab_v2(v2, 4, options.requests, auth=True)
            results["cache256"] = ab_v2(v2, 256, options.requests, auth=True)
            results["noauth256"] = ab_v2(no_auth_v2, 256, options.requests, auth=False)

            data = os.urandom(BLOB_MIB * 1024 * 1024)
            digest = push_blob(f"https://localhost:{PORT}", data)
            del data
            socket = os.path.join(docker("volume", "inspect", "-f", "{{.Mountpoint}}", SOCKET_VOLUME), "registry.sock")
            blob = f"/v2/{REPOSITORY}/blobs/{digest}"
            results["pull_proxy"] = download_mbps(f"https://localhost:{PORT}{blob}", auth=True)
            results["pull_direct"] = download_mbps(
                f"http://registry{blob}", auth=False, options=["--unix-socket", socket]
            )
            # The published port goes through the engine's docker-proxy; nginx's own address does not.
            nginx_address = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", NGINX)
            results["pull_nginx_address"] = download_mbps(
                f"https://localhost:{NGINX_PORT}{blob}",
                auth=True,
                options=["--resolve", f"localhost:{NGINX_PORT}:{nginx_address}"],
            )
        finally:
            if not options.keep:
                DEPLOYMENT.remove(NO_AUTH_NGINX)

    print()
    print(f"{'figure':<46} {'value':>16}   command")
    for key, label in (
        ("noauth", "GET /v2/ req/s, -c 4, no auth"),
        ("nocache", "GET /v2/ req/s, -c 4, auth, no cache (ttl 0)"),
        ("cache", "GET /v2/ req/s, -c 4, auth, cache (ttl 60)"),
    ):
        figures, command = results[key]
        report(label, f"{figures['rps']:.1f}", command)
    base = results["noauth"][0]["rps"]
    report("ratio auth+cache / no auth", f"{results['cache'][0]['rps'] / base:.3f}", "(the two lines above)")
    report("ratio auth, no cache / no auth", f"{results['nocache'][0]['rps'] / base:.3f}", "")
    for key, label in (
        ("noauth256", "-c 256: failed / non-2xx, no auth"),
        ("nocache256", "-c 256: failed / non-2xx, auth, no cache"),
        ("cache256", "-c 256: failed / non-2xx, auth, cache"),
    ):
        figures, command = results[key]
        value = f"{figures['failed']:.0f}/{figures['non2xx']:.0f} of {figures['complete']:.0f}"
        report(label, value, command)
    for key, label in (
        ("pull_proxy", f"blob MB/s ({BLOB_MIB} MiB), nginx, published port"),
        ("pull_nginx_address", f"blob MB/s ({BLOB_MIB} MiB), nginx, its address"),
        ("pull_direct", f"blob MB/s ({BLOB_MIB} MiB), registry, its socket"),
    ):
        speed, command = results[key]
        report(label, f"{speed:.0f}", command)
    direct = results["pull_direct"][0]
    report("ratio nginx (published port) / registry", f"{results['pull_proxy'][0] / direct:.2f}", "")
    report("ratio nginx (its address) / registry", f"{results['pull_nginx_address'][0] / direct:.2f}", "")


if __name__ == "__main__":
    main()
