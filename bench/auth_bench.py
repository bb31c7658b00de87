"""What checking logins costs behind nginx: the login cache against no check at all.

Deploys registry_nginx_proxy on this host (bcrypt cost 10; names
privreg-molecule-bench-login-*, ports on 127.0.0.1 only: deployment.py) and
starts beside it a plain nginx on the same registry socket: bench/plain_nginx.conf,
no njs module, no auth_request, no auth_basic, with the role's live TLS lines,
access log format, workers and upstream keepalive, in the same image with the
same user, confinement, mounts and log driver as the role's nginx. It measures,
with ab from apache2-utils against https://localhost:<port>/v2/:
- requests/s with keep-alive and 4 clients, plain nginx and a cached login
  alternately, --rounds rounds each: medians, min/max and the ratio of medians
  (target: cached login >= 0.9 of plain);
- failed requests with 256 concurrent keep-alive connections, both;
- the same without the cache (registry_auth_cache_ttl: 0): a bcrypt check a request.
A benchmark: it prints numbers and asserts nothing. Every figure is printed
beside the command that reproduces it (after --keep: the deployment stays).

    source scripts/env.sh && python bench/auth_bench.py [--keep] [--rounds 5] [--seconds 5]
"""

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

from deployment import (
    AUTH_HEADER,
    Deployment,
    ab,
    add_deployment_arguments,
    curl,
    docker,
    print_header,
    print_load_after,
    spread,
)

DEPLOYMENT = Deployment("login", 44651)
PLAIN_NGINX = f"{DEPLOYMENT.prefix}-plain"
PLAIN_PORT = 44652
PLAIN_URL = f"https://localhost:{PLAIN_PORT}/v2/"
CACHED_URL = f"{DEPLOYMENT.url}/v2/"
TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plain_nginx.conf")
# Longer than all rounds together: every measured request is a cached login.
CACHE_TTL = 600


def statements(text, directive):
    """Every `directive ...;` of an nginx config, whole (a log_format spans lines)."""
    return re.findall(rf"^\s*({directive}\s[^;]*;)", text, re.MULTILINE)


def only_statement(text, directive):
    found = statements(text, directive)
    if not found:
        sys.exit(f"auth_bench: the role's nginx.conf has no {directive}")
    return found[0]


def plain_config(live, listen_address):
    """bench/plain_nginx.conf filled in from the role's live nginx.conf."""
    log_format = only_statement(live, "log_format") if statements(live, "log_format") else ""
    # The variables the role's config makes itself (from its login check): "-" here.
    own = set(re.findall(r"(?:\bset|js_set|js_var|auth_request_set|map\s+\S+)\s+\$(\w+)", live))
    unset = sorted(own & set(re.findall(r"\$(\w+)", log_format)))
    upstream = re.search(r"upstream\s+registry\s*\{([^}]*)\}", live)
    client_listen = [line for line in statements(live, "listen") if " ssl" in line]
    if not upstream or not client_listen:
        sys.exit("auth_bench: the role's nginx.conf has no upstream registry or no TLS listen")
    values = {
        "worker_processes": only_statement(live, "worker_processes").split()[1].rstrip(";"),
        "pid": only_statement(live, "pid").split()[1].rstrip(";"),
        "unset_variables": "".join(f"    map $host ${name} {{ default -; }}\n" for name in unset).rstrip("\n"),
        "log_format": log_format,
        # The first access_log is the http level's (the inner servers turn theirs off).
        "access_log": only_statement(live, "access_log"),
        "upstream": "\n        ".join(part.strip() + ";" for part in upstream.group(1).split(";") if part.strip()),
        # The address is the baseline's own; the parameters (ssl, ...) are the role's.
        "listen": " ".join([listen_address, *client_listen[0].rstrip(";").split()[2:]]),
        "ssl": "\n        ".join(statements(live, r"ssl_\w+")),
    }
    values["run_dir"] = os.path.dirname(values["pid"])
    with open(TEMPLATE) as f:
        text = f.read()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


def start_plain_nginx(folder):
    """The baseline nginx, run as the role's nginx runs (read from docker inspect): same image, user,
    read-only root, capabilities, options, pids limit, tmpfs, network mode, mounts, log driver."""
    nginx = json.loads(docker("inspect", DEPLOYMENT.nginx))[0]
    host = nginx["HostConfig"]
    config_path = re.search(r"nginx -c (\S+)", " ".join(nginx["Config"]["Cmd"])).group(1)
    config_mount = next(mount for mount in nginx["Mounts"] if mount["Destination"] == os.path.dirname(config_path))
    with open(os.path.join(config_mount["Source"], os.path.basename(config_path))) as f:
        live = f.read()
    # On the host's network it listens on the host's loopback; else on its container port, published.
    if host["NetworkMode"] == "host":
        listen, ports = f"127.0.0.1:{PLAIN_PORT}", []
    else:
        container_port = next(iter(host["PortBindings"])).split("/")[0]
        listen, ports = container_port, ["-p", f"127.0.0.1:{PLAIN_PORT}:{container_port}"]

    conf_dir = os.path.join(folder, "plain")
    os.makedirs(conf_dir)
    with open(os.path.join(conf_dir, os.path.basename(config_path)), "w") as f:
        f.write(plain_config(live, listen))
    # Readable by nginx's group, as the role's config folder is.
    gid = os.stat(config_mount["Source"]).st_gid
    for path, mode in ((conf_dir, 0o750), (os.path.join(conf_dir, os.path.basename(config_path)), 0o640)):
        os.chown(path, 0, gid)
        os.chmod(path, mode)

    mounts = [f"type=bind,source={conf_dir},target={config_mount['Destination']},readonly"]
    for mount in nginx["Mounts"]:
        if mount is not config_mount:
            source = mount["Name"] if mount["Type"] == "volume" else mount["Source"]
            readonly = "" if mount["RW"] else ",readonly"
            mounts.append(f"type={mount['Type']},source={source},target={mount['Destination']}{readonly}")
    confinement = [
        "--user",
        nginx["Config"]["User"],
        "--network",
        host["NetworkMode"],
        *(["--read-only"] if host["ReadonlyRootfs"] else []),
        *[f"--cap-drop={capability}" for capability in host["CapDrop"] or []],
        *[f"--cap-add={capability}" for capability in host["CapAdd"] or []],
        *[f"--security-opt={option}" for option in host["SecurityOpt"] or []],
        *([f"--pids-limit={host['PidsLimit']}"] if host.get("PidsLimit") else []),
        *[f"--tmpfs={path}:{options}" for path, options in (host["Tmpfs"] or {}).items()],
        f"--log-driver={host['LogConfig']['Type']}",
        *[f"--log-opt={key}={value}" for key, value in host["LogConfig"]["Config"].items()],
        *[f"--mount={mount}" for mount in mounts],
    ]
    docker("rm", "-f", PLAIN_NGINX, check=False)
    docker(
        "run",
        "-d",
        "--name",
        PLAIN_NGINX,
        *confinement,
        *ports,
        nginx["Config"]["Image"],
        # The role's own start command (it names config_path, which now holds the plain config).
        *nginx["Config"]["Cmd"],
    )
    for _attempt in range(60):
        if curl(PLAIN_URL, DEPLOYMENT.ca_file, auth=False, check=False)["code"] == 200:
            return
        time.sleep(0.5)
    logs = docker("logs", "--tail", "20", PLAIN_NGINX, check=False)
    sys.exit(f"auth_bench: the plain nginx never answered 200 on {PLAIN_URL}:\n{logs}")


def ab_v2(url, auth, concurrency=4, seconds=None, count=None):
    """ab on /v2/ with keep-alive: for ``seconds``, or ``count`` requests."""
    length = ["-t", str(seconds), "-n", "10000000"] if seconds else ["-n", str(count)]
    return ab(["-k", "-c", str(concurrency), *length, "-s", "60"], url, AUTH_HEADER if auth else None)


def report(label, value, command):
    print(f"{label:<56} {value:>30}   {command}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="plain and cached-login ab runs, alternating")
    parser.add_argument("--seconds", type=int, default=5, help="length of each of those ab runs")
    add_deployment_arguments(parser)
    options = parser.parse_args()
    images = (options.nginx_image, options.registry_image)
    runs = {"plain": [], "cached": []}
    results = {}

    print_header("auth_bench.py", images)
    with tempfile.TemporaryDirectory() as folder:
        try:
            DEPLOYMENT.converge(folder, DEPLOYMENT.variables(*images, registry_auth_cache_ttl=CACHE_TTL))
            DEPLOYMENT.wait_until_serving()
            start_plain_nginx(folder)
            # Alternating, each side first every other round: the host's other load weighs on both alike.
            for round_number in range(options.rounds):
                order = ("plain", "cached") if round_number % 2 == 0 else ("cached", "plain")
                for side in order:
                    url, auth = (PLAIN_URL, False) if side == "plain" else (CACHED_URL, True)
                    runs[side].append(ab_v2(url, auth, seconds=options.seconds))
            results["plain256"] = ab_v2(PLAIN_URL, False, concurrency=256, count=4000)
            results["cached256"] = ab_v2(CACHED_URL, True, concurrency=256, count=4000)

            DEPLOYMENT.converge(folder, DEPLOYMENT.variables(*images, registry_auth_cache_ttl=0))
            DEPLOYMENT.wait_until_serving()
            results["nocache"] = ab_v2(CACHED_URL, True, count=400)
            results["nocache256"] = ab_v2(CACHED_URL, True, concurrency=256, count=512)
        finally:
            if not options.keep:
                DEPLOYMENT.remove(PLAIN_NGINX)

    print()
    print(f"{'figure':<56} {'value: median (min..max, runs)':>30}   command")
    rps = {side: [figures["rps"] for figures, _command in side_runs] for side, side_runs in runs.items()}
    for side, label in (("plain", "plain nginx, no login check"), ("cached", "cached login (njs + auth_request)")):
        report(f"GET /v2/ req/s, -c 4, {label}", spread(rps[side]), runs[side][0][1])
    ratio = statistics.median(rps["cached"]) / statistics.median(rps["plain"])
    each = " ".join(f"{cached / plain:.2f}" for cached, plain in zip(rps["cached"], rps["plain"], strict=True))
    report("ratio of medians, cached login / plain", f"{ratio:.3f}", f"(target >= 0.9; round by round: {each})")
    figures, command = results["nocache"]
    report("GET /v2/ req/s, -c 4, no cache (ttl 0, bcrypt)", f"{figures['rps']:.1f}", command)
    report("ratio, no cache / plain median", f"{figures['rps'] / statistics.median(rps['plain']):.3f}", "")
    for key, label in (
        ("plain256", "-c 256: failed / non-2xx, plain nginx"),
        ("cached256", "-c 256: failed / non-2xx, cached login"),
        ("nocache256", "-c 256: failed / non-2xx, no cache"),
    ):
        figures, command = results[key]
        value = f"{figures['failed']:.0f}/{figures['non2xx']:.0f} of {figures['complete']:.0f}"
        report(label, value, command)
    print_load_after()


if __name__ == "__main__":
    main()
