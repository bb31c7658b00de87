"""What access rules cost an authenticated pull (registry_access, nginx topology).

Deploys registry_nginx_proxy twice side by side on this host (deployment.py:
names privreg-molecule-bench-access-*, ports on 127.0.0.1 only), one without
rules and one with 20 (--rules): 19 that never match the bench's repository
(project-<n>/**, for every account) and, last, the one that lets the bench
account pull and push bench/** (so registry_access.js tries every rule on
each request). The same small blob is pushed to both; then ab fetches it with
keep-alive and a cached login, alternating sides, --rounds each:
- GET /v2/bench/data/blobs/<digest> req/s (nginx sends it from storage: the
  cheapest pull, where the rules' share is largest), and the ratio
  rules / no rules (target >= 0.9);
- GET /v2/bench/data/manifests/latest req/s (a manifest naming that blob,
  answered by the registry), and its ratio.
A benchmark: it prints numbers and asserts nothing.

    source scripts/env.sh && python bench/access_bench.py [--keep] [--rounds 5] [--rules 20]
"""

import argparse
import json
import os
import statistics
import tempfile

from blob_bench import REPOSITORY, Blob, push
from deployment import (
    AUTH_HEADER,
    USER,
    Deployment,
    ab,
    add_deployment_arguments,
    curl,
    print_header,
    print_load_after,
    report,
    spread,
)

OPEN = Deployment("access-none", 44671)
RULED = Deployment("access-rules", 44672)
SIDES = {"no rules": OPEN, "rules": RULED}
BLOB_BYTES = 4096


def access_rules(count):
    """``count`` rules; only the last one matches the bench's repository."""
    misses = [
        {"repositories": [f"project-{index}/**"], "users": ["*"], "actions": ["pull"]} for index in range(count - 1)
    ]
    return [*misses, {"repositories": ["bench/**"], "users": [USER], "actions": ["pull", "push"]}]


def push_manifest(deployment, folder, config, layer):
    """A schema 2 manifest of ``config`` and ``layer`` (pushed blobs), tagged latest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config.size,
            "digest": config.digest,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": layer.size,
                "digest": layer.digest,
            }
        ],
    }
    path = os.path.join(folder, "manifest.json")
    with open(path, "w") as f:
        json.dump(manifest, f)
    media_type = "Content-Type: " + manifest["mediaType"]
    curl(
        f"{deployment.url}/v2/{REPOSITORY}/manifests/latest",
        deployment.ca_file,
        options=["-X", "PUT", "-H", media_type, "-T", path],
    )


# Without it the registry 2.8 answers a schema 2 manifest with 404 (it would
# have to convert it to schema 1), as docker asks with it.
MANIFEST_ACCEPT = "Accept: application/vnd.docker.distribution.manifest.v2+json"


def ab_get(url, seconds, headers=()):
    options = ["-k", "-c", "4", "-t", str(seconds), "-n", "10000000", "-s", "60"]
    return ab([*options, *(item for header in headers for item in ("-H", header))], url, AUTH_HEADER)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="ab runs of each side and path, alternating")
    parser.add_argument("--seconds", type=int, default=5, help="length of each ab run")
    parser.add_argument("--rules", type=int, default=20, help="rules of the ruled deployment")
    add_deployment_arguments(parser)
    options = parser.parse_args()
    images = (options.nginx_image, options.registry_image)
    paths = {"blob": None, "manifest": f"/v2/{REPOSITORY}/manifests/latest"}
    runs = {(path, side): [] for path in paths for side in SIDES}

    print_header("access_bench.py", images)
    with tempfile.TemporaryDirectory() as folder:
        try:
            OPEN.converge(folder, OPEN.variables(*images))
            RULED.converge(folder, RULED.variables(*images, registry_access=access_rules(options.rules)))
            blob = Blob(folder, "small", BLOB_BYTES)
            config = Blob(folder, "config", 2)
            for deployment in SIDES.values():
                deployment.wait_until_serving()
                push(deployment, blob, chunked=False)
                push(deployment, config, chunked=False)
                push_manifest(deployment, folder, config, blob)
            paths["blob"] = f"/v2/{REPOSITORY}/blobs/{blob.digest}"
            for round_number in range(options.rounds):
                order = list(SIDES) if round_number % 2 == 0 else list(reversed(SIDES))
                for path_name, path in paths.items():
                    for side in order:
                        headers = [MANIFEST_ACCEPT] if path_name == "manifest" else []
                        runs[path_name, side].append(ab_get(SIDES[side].url + path, options.seconds, headers))
        finally:
            if not options.keep:
                for deployment in SIDES.values():
                    deployment.remove()

    print()
    print(f"{'figure':<56} {'value: median (min..max, runs)':>30}   command")
    for path_name in paths:
        rps = {side: [figures["rps"] for figures, _command in runs[path_name, side]] for side in SIDES}
        for side in SIDES:
            label = f"GET {path_name} req/s, -c 4, {side}" + (f" ({options.rules})" if side == "rules" else "")
            report(label, spread(rps[side]), runs[path_name, side][0][1])
        non_2xx = {side: sum(figures["non2xx"] for figures, _command in runs[path_name, side]) for side in SIDES}
        ratio = statistics.median(rps["rules"]) / statistics.median(rps["no rules"])
        each = " ".join(f"{ruled / plain:.2f}" for ruled, plain in zip(rps["rules"], rps["no rules"], strict=True))
        target = "target >= 0.9" if path_name == "blob" else "the registry's share"
        report(f"ratio {path_name}, rules / no rules", f"{ratio:.3f}", f"({target}; round by round: {each})")
        report(f"  non-2xx answers, {path_name}", " / ".join(f"{non_2xx[side]:.0f}" for side in SIDES), "")
    print_load_after()


if __name__ == "__main__":
    main()
