"""Pull throughput of one registry replica and of two behind a load balancer.

Needs the SSH test bed (scripts/testbed.sh build && scripts/testbed.sh up).
Deploys the replica set of tests/remote/replica_set.py: the Debian 12 and 13
test bed hosts as nginx_proxy replicas on moto's S3 server and Debian's
redis-server, behind HAProxy, all on this machine. Pushes an image of
--layers random layers from the test bed's client host, then, --rounds times,
alternating: --clients curl processes on the client host fetch every layer
through the balancer at once (authenticated, TLS), first with one replica in
rotation, then with both. Prints the median MB/s of each, their ratio, and the
machine's cores: every host, the balancer, S3 and Redis share them. A
benchmark: it prints numbers and asserts nothing.

    source scripts/env.sh && python bench/replica_bench.py [--rounds 3] [--clients 8] [--layers 4] [--layer-mib 16]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests", folder) for folder in ("remote", "functional")] + [
    os.path.join(ROOT, "molecule", "shared")
]

from deployment import load_average, print_load_after, report  # noqa: E402
from replica_set import ReplicaSet  # noqa: E402
from testbed_hosts import CLIENT, NGINX_IMAGE, REGISTRY_IMAGE, TESTBED_DIR, Testbed  # noqa: E402


def image_on_client(testbed, replicas, layers, layer_mib, password):
    """Pushes an image of random layers from the client; returns the layers' digests."""
    ref = "%s/bench/replicas:1" % replicas.endpoint
    replicas.build_on(CLIENT, ref, layers, layer_mib << 20)
    testbed.must(CLIENT, "sudo docker push %s >/dev/null" % ref)
    return manifest_layers(testbed, replicas, password)


def manifest_layers(testbed, replicas, password):
    """The layer digests of the pushed image's manifest, as the registry sends it."""
    manifest = testbed.must(
        CLIENT,
        "k=$(mktemp); cat >$k; curl -sS -K $k --cacert /etc/docker/certs.d/%s/ca.crt "
        "-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' https://%s/v2/bench/replicas/manifests/1;"
        " rm -f $k" % (replicas.endpoint, replicas.endpoint),
        stdin=curl_login(password),
    )
    return [layer["digest"] for layer in json.loads(manifest)["layers"]]


def curl_login(password):
    """What curl reads with -K: the login, out of the process list."""
    return 'user = "alice:%s"\n' % password.replace("\\", "\\\\").replace('"', '\\"')


def fetch_all(testbed, replicas, digests, clients, password):
    """Seconds and bytes of ``clients`` curl processes on the client, each fetching every layer."""
    urls = " ".join("https://%s/v2/bench/replicas/blobs/%s" % (replicas.endpoint, digest) for digest in digests)
    script = (
        "set -e; k=$(mktemp); trap 'rm -f $k' EXIT; cat >$k; ca=/etc/docker/certs.d/%s/ca.crt; "
        "start=$(date +%%s.%%N); for i in $(seq %d); do "
        "(for u in %s; do curl -sS -K $k --cacert $ca -o /dev/null -w '%%{size_download}\\n' $u; done) & done "
        ">$k.out; wait; end=$(date +%%s.%%N); "
        "echo $start $end $(awk '{s+=$1} END {print s}' $k.out); rm -f $k.out"
    ) % (replicas.endpoint, clients, urls)
    out = testbed.must(CLIENT, script, stdin=curl_login(password)).split()
    start, end, size = float(out[0]), float(out[1]), int(out[2])
    return end - start, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=int, default=16)
    options = parser.parse_args()

    testbed = Testbed(os.path.join(TESTBED_DIR, "inventory.yml"))
    archives = {
        "registry_image": REGISTRY_IMAGE,
        "nginx_image": NGINX_IMAGE,
        "registry": os.path.join(TESTBED_DIR, "images", "registry.tar"),
        "nginx": os.path.join(TESTBED_DIR, "images", "nginx.tar"),
    }
    print(
        "# %s cores, %s (1/5/15 min) before; images %s, %s; test bed hosts, HAProxy, moto S3 and Redis all on "
        "this machine" % (os.cpu_count(), load_average(), REGISTRY_IMAGE, NGINX_IMAGE)
    )
    with tempfile.TemporaryDirectory(prefix="privreg-replica-bench-") as workdir:
        replicas = ReplicaSet(testbed, archives, workdir)
        try:
            replicas.play()
            replicas.trust_on(CLIENT)
            password = replicas.users["alice"]
            testbed.must(
                CLIENT, "sudo docker login -u alice --password-stdin %s >/dev/null" % replicas.endpoint, stdin=password
            )
            digests = image_on_client(testbed, replicas, options.layers, options.layer_mib, password)
            rates = {"one replica": [], "two replicas": []}
            for _round in range(options.rounds):
                for label in rates:
                    if label == "one replica":
                        replicas.balancer.only("a")
                    else:
                        replicas.balancer.both()
                    seconds, size = fetch_all(testbed, replicas, digests, options.clients, password)
                    rates[label].append(size / seconds / 1e6)
            replicas.balancer.both()
            command = "%d curl x %d layers of %d MiB through HAProxy" % (
                options.clients,
                len(digests),
                options.layer_mib,
            )
            for label, values in rates.items():
                values.sort()
                shown = "%.0f MB/s (%.0f..%.0f, %d runs)" % (
                    statistics.median(values),
                    values[0],
                    values[-1],
                    len(values),
                )
                report("pull, %s behind the balancer" % label, shown, command, label_width=40, value_width=30)
            ratio = statistics.median(rates["two replicas"]) / statistics.median(rates["one replica"])
            report("two / one replica", "%.2f" % ratio, "(medians)", label_width=40, value_width=30)
        finally:
            testbed.ssh(
                CLIENT, "sudo docker logout %s; sudo docker rmi %s/bench/replicas:1" % ((replicas.endpoint,) * 2)
            )
            replicas.remove(CLIENT)
    print_load_after()


if __name__ == "__main__":
    main()
