"""How fast blobs go up and down through each topology, against the registry alone.

Deploys registry_native and registry_nginx_proxy side by side on this host
(bcrypt cost 10; names privreg-molecule-bench-blob-*, ports on 127.0.0.1 only:
deployment.py); clients use https://localhost:<port> with the deployment's CA
and the bench login, as docker would. Measured with curl, in the same run:
- push of a --push-mib blob, monolithic (POST, then PUT with the whole body)
  and chunked (POST, PATCH --chunk-mib chunks, PUT), nginx_proxy and native
  alternately, --rounds each: MB/s medians and nginx / native (target >= 0.9);
- single-stream pull of that blob, --rounds each: nginx_proxy, native and the
  raw registry (target: nginx >= 0.6 of raw);
- --blobs concurrent pulls of --blobs different --blob-mib blobs: aggregate
  MB/s and errors (non-200 or incomplete), nginx_proxy, native and raw.
"raw" is the same registry image, plain HTTP and no auth, run beside the
deployments on the nginx_proxy deployment's storage (read-only) and read on
its container address. "tls-static" is this machine's TLS ceiling for one
stream: the nginx image alone on the host's network, the deployment's
certificate and TLS protocols, no login, no access log, sending the same data
file from that storage with sendfile on; nothing that serves blobs over TLS
from user space here can be faster than it (the kernel has no kTLS).
A benchmark: it prints numbers and asserts nothing. Every figure is printed
beside the command that reproduces it (after --keep: the deployments stay).

    source scripts/env.sh && python bench/blob_bench.py [--keep] [--rounds 5]
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from deployment import (
    Deployment,
    add_deployment_arguments,
    curl,
    curl_command,
    curl_config,
    curl_figures,
    docker,
    print_header,
    print_load_after,
    spread,
)

NATIVE = Deployment("blob-native", 44661, topology="native")
PROXY = Deployment("blob-nginx", 44662, topology="nginx_proxy")
DEPLOYMENTS = {"nginx_proxy": PROXY, "native": NATIVE}
RAW = "privreg-molecule-bench-blob-raw"
TLS_STATIC = "privreg-molecule-bench-blob-tls-static"
TLS_STATIC_PORT = PROXY.port + 2
# Root workers: the storage is the deployment's, readable by root and nginx's group only.
TLS_STATIC_CONFIG = """\
user root;
worker_processes 1;
pid /tmp/nginx.pid;
events {{}}
http {{
    access_log off;
    sendfile on;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate /certs/registry.crt;
        ssl_certificate_key /certs/registry.key;
        root /blobs;
    }}
}}
"""
REPOSITORY = "bench/data"
MiB = 1024 * 1024
# Uploads: raw bytes, never an Expect: 100-continue round trip (curl's default above 1 MiB).
UPLOAD_OPTIONS = ["-H", "Content-Type: application/octet-stream", "-H", "Expect:"]


class Blob:
    """Random bytes in a file (and in --chunk-mib chunk files), and their digest."""

    def __init__(self, folder, name, size, chunk_size=None):
        data = os.urandom(size)
        self.size = size
        self.digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.path = os.path.join(folder, name)
        with open(self.path, "wb") as f:
            f.write(data)
        self.chunks = []
        for start in range(0, size, chunk_size or size):
            chunk = data[start : start + (chunk_size or size)]
            path = f"{self.path}.{start:012d}"
            with open(path, "wb") as f:
                f.write(chunk)
            self.chunks.append((path, start, start + len(chunk) - 1))

    def remove(self):
        for path in [self.path, *(path for path, _start, _end in self.chunks)]:
            os.remove(path)


def upload_step(deployment, method, url, body=None, headers=()):
    """One request of an upload; the Location of the next one."""
    options = ["-X", method, *UPLOAD_OPTIONS, *headers]
    options += ["-T", body] if body else ["-H", "Content-Length: 0"]
    figures = curl(url, deployment.ca_file, options=options)
    location = figures["location"]
    return location if location.startswith("https://") else deployment.url + location


def push(deployment, blob, chunked):
    """The blob through the deployment's endpoint, monolithic or chunked; seconds it took."""
    started = time.perf_counter()
    location = upload_step(deployment, "POST", f"{deployment.url}/v2/{REPOSITORY}/blobs/uploads/")
    if chunked:
        for path, start, end in blob.chunks:
            location = upload_step(deployment, "PATCH", location, path, ["-H", f"Content-Range: {start}-{end}"])
        upload_step(deployment, "PUT", f"{location}&digest={blob.digest}")
    else:
        upload_step(deployment, "PUT", f"{location}&digest={blob.digest}", blob.path)
    return time.perf_counter() - started


def push_command(deployment, chunked, blob_mib, chunk_mib):
    """The curl steps of a push, as a shell reader would type them."""
    url = f"{deployment.url}/v2/{REPOSITORY}/blobs/uploads/"
    login = '-H "Authorization: Basic $BENCH_AUTH"'
    head = f"curl -sS --cacert {deployment.ca_file} {login} -H 'Content-Type: application/octet-stream' -H 'Expect:'"
    post = f"L=$({head} -X POST -o /dev/null -w '%header{{location}}' {url})"
    if chunked:
        patch = (
            f"for each {chunk_mib} MiB chunk: L=$({head} -X PATCH -H 'Content-Range: <start>-<end>' -T <chunk>"
            f" -o /dev/null -w '%header{{location}}' \"$L\")"
        )
        return f"{post}; {patch}; {head} -X PUT -H 'Content-Length: 0' \"$L&digest=$DIGEST\""
    return f"{post}; {head} -X PUT -T <{blob_mib} MiB file> \"$L&digest=$DIGEST\""


def start_raw_registry(registry_image):
    """The registry image alone on the nginx_proxy deployment's storage: plain HTTP, no auth, read-only."""
    docker("rm", "-f", RAW, check=False)
    docker(
        "run",
        "-d",
        "--name",
        RAW,
        "-v",
        f"{PROXY.storage_dir}:/var/lib/registry:ro",
        "-e",
        "REGISTRY_HTTP_ADDR=0.0.0.0:5000",
        "-e",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/var/lib/registry",
        registry_image,
    )
    address = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", RAW)
    for _attempt in range(60):
        if curl(f"http://{address}:5000/v2/", auth=False, check=False)["code"] == 200:
            return f"http://{address}:5000"
        time.sleep(0.5)
    sys.exit(f"blob_bench: the raw registry never answered on {address}:5000")


def start_tls_static(folder, nginx_image):
    """The TLS ceiling: nginx sending blob data files of the nginx_proxy deployment's storage, nothing else."""
    config = os.path.join(folder, "tls-static.conf")
    with open(config, "w") as f:
        f.write(TLS_STATIC_CONFIG.format(port=TLS_STATIC_PORT))
    os.chmod(config, 0o644)
    docker("rm", "-f", TLS_STATIC, check=False)
    docker(
        "run",
        "-d",
        "--name",
        TLS_STATIC,
        "--network",
        "host",
        "--user",
        "0:0",
        "--mount",
        f"type=bind,source={config},target=/etc/nginx/tls-static.conf,readonly",
        "--mount",
        f"type=bind,source={PROXY.base_dir}/certs,target=/certs,readonly",
        "--mount",
        f"type=bind,source={PROXY.storage_dir}/docker/registry/v2/blobs/sha256,target=/blobs,readonly",
        nginx_image,
        "nginx",
        "-c",
        "/etc/nginx/tls-static.conf",
        "-g",
        "daemon off;",
    )
    url = f"https://localhost:{TLS_STATIC_PORT}"
    for _attempt in range(60):
        if curl(url + "/", PROXY.ca_file, auth=False, check=False)["code"] in (403, 404):
            return url
        time.sleep(0.5)
    logs = docker("logs", "--tail", "20", TLS_STATIC, check=False)
    sys.exit(f"blob_bench: the TLS-static nginx never answered on {url}:\n{logs}")


def blob_path(name, digest):
    """Where ``name`` serves a blob: the registry API, or a data file's path in storage for tls-static."""
    if name == "tls-static":
        hex_digest = digest.split(":", 1)[1]
        return f"/{hex_digest[:2]}/{hex_digest}/data"
    return f"/v2/{REPOSITORY}/blobs/{digest}"


def pull(url, ca_file, auth):
    args, _shown = curl_command(url, ca_file, auth)
    done = subprocess.run(args, input=curl_config(auth), capture_output=True, text=True, check=False)
    return curl_figures(done.stdout, done.returncode)


def pull_all(urls, ca_file, auth, size):
    """All ``urls`` at once, a curl process each: aggregate MB/s and how many failed or came short."""
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        started = time.perf_counter()
        results = list(pool.map(lambda url: pull(url, ca_file, auth), urls))
        seconds = time.perf_counter() - started
    good = [r for r in results if r["exit"] == 0 and r["code"] == 200 and r["bytes"] == size]
    return sum(r["bytes"] for r in good) / seconds / 1e6, len(results) - len(good)


def rotated(items, round_number):
    """Each round another one goes first: the host's other load weighs on all alike."""
    shift = round_number % len(items)
    return items[shift:] + items[:shift]


def report(label, value, command):
    print(f"{label:<52} {value:>34}   {command}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each push and single-stream pull")
    parser.add_argument("--concurrent-rounds", type=int, default=3, help="runs of the concurrent pulls")
    parser.add_argument("--push-mib", type=int, default=256)
    parser.add_argument("--chunk-mib", type=int, default=16)
    parser.add_argument("--blobs", type=int, default=32, help="blobs pulled at once")
    parser.add_argument("--blob-mib", type=int, default=32, help="size of each of those")
    add_deployment_arguments(parser)
    options = parser.parse_args()
    images = (options.nginx_image, options.registry_image)
    topologies = list(DEPLOYMENTS)
    push_seconds = {(kind, name): [] for kind in ("monolithic", "chunked") for name in topologies}
    single = {name: [] for name in [*topologies, "raw", "tls-static"]}
    concurrent = {name: [] for name in [*topologies, "raw"]}

    print_header("blob_bench.py", images)
    with tempfile.TemporaryDirectory() as folder:
        try:
            for deployment in DEPLOYMENTS.values():
                deployment.converge(folder, deployment.variables(*images))
                deployment.wait_until_serving()

            # Every blob goes to both topologies: the pulls below read the same bytes from each.
            single_stream_digest = None
            for round_number in range(options.rounds):
                for kind in ("monolithic", "chunked"):
                    blob = Blob(folder, "push", options.push_mib * MiB, options.chunk_mib * MiB)
                    for name in rotated(topologies, round_number):
                        seconds = push(DEPLOYMENTS[name], blob, chunked=kind == "chunked")
                        push_seconds[kind, name].append(seconds)
                    if single_stream_digest is None:
                        single_stream_digest = blob.digest
                    blob.remove()
            digests = []
            for index in range(options.blobs):
                blob = Blob(folder, f"many-{index}", options.blob_mib * MiB)
                for deployment in DEPLOYMENTS.values():
                    push(deployment, blob, chunked=False)
                digests.append(blob.digest)
                blob.remove()
            raw_url = start_raw_registry(options.registry_image)
            tls_static_url = start_tls_static(folder, options.nginx_image)

            endpoints = {name: (deployment.url, deployment.ca_file, True) for name, deployment in DEPLOYMENTS.items()}
            endpoints["raw"] = (raw_url, None, False)
            endpoints["tls-static"] = (tls_static_url, PROXY.ca_file, False)
            for round_number in range(options.rounds):
                for name in rotated(list(endpoints), round_number):
                    url, ca_file, auth = endpoints[name]
                    figures = pull(url + blob_path(name, single_stream_digest), ca_file, auth)
                    if figures["code"] != 200 or figures["bytes"] != options.push_mib * MiB:
                        sys.exit(f"blob_bench: {name} answered {figures}")
                    single[name].append(figures["bytes_per_s"] / 1e6)
            for round_number in range(options.concurrent_rounds):
                for name in rotated(list(concurrent), round_number):
                    url, ca_file, auth = endpoints[name]
                    urls = [url + blob_path(name, digest) for digest in digests]
                    concurrent[name].append(pull_all(urls, ca_file, auth, options.blob_mib * MiB))
        finally:
            if not options.keep:
                docker("rm", "-f", RAW, TLS_STATIC, check=False)
                for deployment in DEPLOYMENTS.values():
                    deployment.remove()

    print()
    print(f"{'figure':<52} {'value: median (min..max, runs)':>34}   command")
    for kind in ("monolithic", "chunked"):
        rates = {
            name: [options.push_mib * MiB / seconds / 1e6 for seconds in push_seconds[kind, name]]
            for name in topologies
        }
        for name in topologies:
            command = push_command(DEPLOYMENTS[name], kind == "chunked", options.push_mib, options.chunk_mib)
            report(f"push {options.push_mib} MiB {kind}, {name}: MB/s", spread(rates[name]), command)
        ratio = statistics.median(rates["nginx_proxy"]) / statistics.median(rates["native"])
        report(f"ratio push {kind}, nginx_proxy / native", f"{ratio:.3f}", "(medians; target >= 0.9)")

    shown = {
        name: curl_command(url + blob_path(name, single_stream_digest), ca_file, auth)[1]
        for name, (url, ca_file, auth) in endpoints.items()
    }
    for name in endpoints:
        report(f"pull {options.push_mib} MiB single stream, {name}: MB/s", spread(single[name]), shown[name])
    for name in topologies:
        ratio = statistics.median(single[name]) / statistics.median(single["raw"])
        target = "target >= 0.6" if name == "nginx_proxy" else "no worse than before"
        report(f"ratio single stream, {name} / raw", f"{ratio:.3f}", f"(medians; {target})")
    ceiling = statistics.median(single["tls-static"])
    report(
        "ratio single stream, tls-static / raw",
        f"{ceiling / statistics.median(single['raw']):.3f}",
        "(medians; the most any TLS endpoint reaches here)",
    )
    ratio = statistics.median(single["nginx_proxy"]) / ceiling
    report("ratio single stream, nginx_proxy / tls-static", f"{ratio:.3f}", "(medians; 1.0 = at the TLS ceiling)")

    for name in concurrent:
        rates = [rate for rate, _errors in concurrent[name]]
        errors = sum(errors for _rate, errors in concurrent[name])
        report(
            f"pull {options.blobs} x {options.blob_mib} MiB at once, {name}: MB/s",
            spread(rates),
            f"{options.blobs} at once of: {shown[name].replace(single_stream_digest, '<digest i>')}",
        )
        report(f"  errors (non-200 or incomplete), {name}", f"{errors} of {options.blobs * len(rates)}", "")
    print_load_after()


if __name__ == "__main__":
    main()
