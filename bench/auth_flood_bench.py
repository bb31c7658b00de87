"""What a flood of wrong passwords costs a client whose login nginx has cached.

Deploys registry_nginx_proxy on this host (bcrypt cost 10, the role's
defaults otherwise: login cache 60 s, registry_auth_check_rate 1r/s, burst 30;
names privreg-molecule-bench-flood-*, port on 127.0.0.1 only: deployment.py) and measures,
with ab from apache2-utils against 127.0.0.1:
- TLS `GET /v2/` requests/s and p50/p99 latency with keep-alive and 4
  clients whose login is cached, without a flood and while another client
  sends wrong passwords for an existing user (--flood-rate a second, each a
  new password, keep-alive), and the ratio of the two;
- the same flood again with the limit lifted (registry_auth_check_rate
  100000r/s): what the limit saves;
- how long a wrong password takes to be refused for an existing user and
  for a user that does not exist (one at a time, paced under the limit).
All clients come through the published port: nginx sees the engine's gateway
address for every one of them, so the flooder and the measured client share
an address (as clients behind one NAT do). Each ab run uses a login cached
just before it: a login whose entry expires while its address is over the
limit waits for the limit like a new one (the Security guide, docs/docsite/rst/security.rst).
A benchmark: it prints numbers and asserts nothing. Every figure is printed
beside the command that reproduces it (after --keep: the deployment stays).

    source scripts/env.sh && python bench/auth_flood_bench.py [--keep] [--seconds 15] [--flood-rate 20]
"""

import argparse
import base64
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
from deployment import (
    PASSWORD,
    USER,
    Deployment,
    ab,
    add_deployment_arguments,
    docker,
    load_average,
    print_header,
    print_load_after,
)

DEPLOYMENT = Deployment("flood", 44641)
NGINX, PORT, CA_FILE = DEPLOYMENT.nginx, DEPLOYMENT.port, DEPLOYMENT.ca_file
# The certificate names localhost; ab does not check it, and "localhost" could be ::1 for it.
V2 = f"https://localhost:{PORT}/v2/"
AB_V2 = f"https://127.0.0.1:{PORT}/v2/"
LIMIT_OFF = "100000r/s"


def basic(user, password, spaces=1):
    """A Basic header; another number of spaces after "Basic" is another login cache entry."""
    return "Basic" + " " * spaces + base64.b64encode(f"{user}:{password}".encode()).decode()


RUNS = iter(range(2, 1000))


def fresh_login():
    """A header for USER the cache has not seen, checked once (200): cached for the next 60 s.

    Each ab run gets its own, so no entry expires during a run (a re-check from the
    flooder's address would wait for the limit like any other check).
    """
    header = basic(USER, PASSWORD, next(RUNS))
    for _attempt in range(60):
        if requests.get(V2, headers={"Authorization": header}, verify=CA_FILE, timeout=10).status_code == 200:
            return header
        time.sleep(0.5)
    sys.exit("auth_flood_bench: the bench login never answered 200")


def wait_for_login():
    """Until the bench login answers 200 (and is cached)."""
    for _attempt in range(60):
        try:
            answer = requests.get(V2, headers={"Authorization": basic(USER, PASSWORD)}, verify=CA_FILE, timeout=5)
            if answer.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    sys.exit(f"auth_flood_bench: {V2} never answered 200")


def ab_cached(seconds, header):
    """ab for ``seconds`` with a cached login; the command line shows $BENCH_AUTH, never the credentials."""
    return ab(["-k", "-c", "4", "-t", str(seconds), "-n", "10000000", "-s", "60"], AB_V2, header)


class Flood(threading.Thread):
    """Wrong passwords for USER at ``rate`` a second, each a new one, over one keep-alive connection."""

    def __init__(self, rate):
        super().__init__(daemon=True)
        self.rate = rate
        self.stop = threading.Event()
        self.statuses = {}

    def run(self):
        session = requests.Session()
        started = time.monotonic()
        sent = 0
        while not self.stop.is_set():
            wrong = f"wrong-{sent}-{time.monotonic_ns()}"
            try:
                status = session.get(V2, headers={"Authorization": basic(USER, wrong)}, verify=CA_FILE, timeout=30)
                key = status.status_code
            except requests.RequestException as error:
                key = type(error).__name__
            self.statuses[key] = self.statuses.get(key, 0) + 1
            sent += 1
            delay = started + sent / self.rate - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)


def flood_command(rate):
    return (
        f"while :; do curl -s -o /dev/null --cacert {CA_FILE} -u \"{USER}:wrong-$RANDOM$RANDOM\" {V2};"
        f" sleep {1 / rate:.3f}; done   (the bench: python requests, one keep-alive connection)"
    )


def nginx_log_counts(since):
    """The check server's verdicts in nginx's error log since ``since`` (docker logs --since)."""
    logs = subprocess.run(["docker", "logs", "--since", since, NGINX], capture_output=True, text=True, check=False)
    text = logs.stdout + logs.stderr
    return {
        "bcrypt": text.count("password mismatch"),
        "limited": text.count("limiting requests"),
    }


def under_flood(seconds, rate, limited):
    """ab with a cached login while a Flood runs; with ``limited``, once the limit holds the flood back."""
    header = fresh_login()
    since = docker("exec", NGINX, "date", "+%s")
    flood = Flood(rate)
    flood.start()
    time.sleep(2)
    # The burst spent: the flood is in its steady state when ab starts.
    for _second in range(60 if limited else 0):
        if nginx_log_counts(since)["limited"]:
            break
        time.sleep(1)
    figures, command = ab_cached(seconds, header)
    flood.stop.set()
    flood.join()
    return figures, command, flood.statuses, nginx_log_counts(since)


def refusal_times(samples, rate_per_second):
    """Seconds to refuse a wrong password, existing user vs unknown user, paced under the limit."""
    session = requests.Session()
    session.get(V2, headers={"Authorization": basic(USER, PASSWORD)}, verify=CA_FILE, timeout=10)
    spacing = max(0.25, 1.5 / rate_per_second)
    times = {"known": [], "unknown": []}
    statuses = set()
    for index in range(samples):
        for kind, user in (("known", USER), ("unknown", f"nobody{index}")):
            headers = {"Authorization": basic(user, f"wrong-{index}")}
            started = time.perf_counter()
            answer = session.get(V2, headers=headers, verify=CA_FILE, timeout=30)
            times[kind].append(time.perf_counter() - started)
            statuses.add(answer.status_code)
            time.sleep(spacing)
    return times, statuses


def rate_per_second(rate):
    number, unit = re.fullmatch(r"(\d+)r/([sm])", rate).groups()
    return int(number) / (60 if unit == "m" else 1)


def report(label, value, command):
    print(f"{label:<52} {value:>16}   {command}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each ab run")
    parser.add_argument("--flood-rate", type=float, default=20, help="wrong passwords a second (the finding: ~20)")
    parser.add_argument("--samples", type=int, default=20, help="refusals timed per kind of user")
    parser.add_argument("--rounds", type=int, default=3, help="no-flood and flood runs, alternating")
    add_deployment_arguments(parser)
    options = parser.parse_args()
    results = {}
    default_rate = "1r/s"

    with tempfile.TemporaryDirectory() as folder:
        try:
            print_header("auth_flood_bench.py", [options.nginx_image, options.registry_image])

            DEPLOYMENT.converge(
                folder,
                DEPLOYMENT.variables(options.nginx_image, options.registry_image, registry_auth_check_rate=LIMIT_OFF),
            )
            wait_for_login()
            results["off"] = under_flood(options.seconds, options.flood_rate, limited=False)

            DEPLOYMENT.converge(folder, DEPLOYMENT.variables(options.nginx_image, options.registry_image))
            wait_for_login()
            # Alternating rounds: the other processes of this host weigh on both sides alike.
            results["quiet"], results["flood"] = [], []
            for _round in range(options.rounds):
                results["quiet"].append(ab_cached(options.seconds, fresh_login()))
                results["flood"].append(under_flood(options.seconds, options.flood_rate, limited=True))
                time.sleep(2)
            results["load"] = load_average()
            time.sleep(5)
            results["times"] = refusal_times(options.samples, rate_per_second(default_rate))
        finally:
            if not options.keep:
                DEPLOYMENT.remove()

    print()
    print(f"# {results['load']} (1/5/15 min) after the flood runs")
    print(f"{'figure':<52} {'value':>16}   command")
    quiet = {name: statistics.median(run[0][name] for run in results["quiet"]) for name in ("rps", "p50", "p99", "max")}
    command = results["quiet"][0][1]
    each = " ".join(f"{run[0]['rps']:.0f}" for run in results["quiet"])
    report(
        f"cached login, no flood: req/s (median of {options.rounds})",
        f"{quiet['rps']:.1f}",
        f"{command}  (each: {each})",
    )
    each = " ".join(f"{run[0]['p99']:.0f}" for run in results["quiet"])
    report(
        "cached login, no flood: p50 / p99 / max ms",
        f"{quiet['p50']:.0f} / {quiet['p99']:.0f} / {quiet['max']:.0f}",
        f"(medians; p99 each: {each})",
    )
    for key, label in (("flood", f"limit {default_rate}"), ("off", f"limit off ({LIMIT_OFF})")):
        runs = results[key] if key == "flood" else [results[key]]
        figures = {name: statistics.median(run[0][name] for run in runs) for name in ("rps", "p50", "p99", "max")}
        command, statuses, counts = runs[0][1], {}, {"bcrypt": 0, "limited": 0}
        for run in runs:
            for status, count in run[2].items():
                statuses[status] = statuses.get(status, 0) + count
            for name in counts:
                counts[name] += run[3][name]
        head = f"cached login, flood {options.flood_rate:g}/s, {label}"
        each = " ".join(f"{run[0]['rps']:.0f}" for run in runs)
        report(f"{head}: req/s", f"{figures['rps']:.1f}", f"{command}  (each: {each})")
        each = " ".join(f"{run[0]['p99']:.0f}" for run in runs)
        report(
            f"{head}: p50 / p99 / max ms",
            f"{figures['p50']:.0f} / {figures['p99']:.0f} / {figures['max']:.0f}",
            f"(p99 each: {each}) flood: {flood_command(options.flood_rate)}",
        )
        report(
            f"{head}: non-2xx",
            f"{sum(run[0]['non2xx'] for run in runs):.0f} of {sum(run[0]['complete'] for run in runs):.0f}",
            "",
        )
        report(
            f"{head}: flood answers",
            " ".join(f"{status}x{count}" for status, count in sorted(statuses.items(), key=str)),
            "",
        )
        report(
            f"{head}: bcrypt / limited",
            f"{counts['bcrypt']} / {counts['limited']}",
            f"docker logs --since <start> {NGINX} 2>&1 | grep -c 'password mismatch' (and 'limiting requests')",
        )
        report(f"ratio req/s, flood ({label}) / no flood", f"{figures['rps'] / quiet['rps']:.3f}", "")
    times, statuses = results["times"]
    for kind, label in (("known", "existing user"), ("unknown", "unknown user")):
        values = sorted(1000 * value for value in times[kind])
        report(
            f"wrong password, {label}: median / min / max ms",
            f"{statistics.median(values):.1f} / {values[0]:.1f} / {values[-1]:.1f}",
            f"curl -s -o /dev/null -w '%{{time_total}}' --cacert {CA_FILE} -u '<user>:wrong' {V2}",
        )
    report(
        "ratio of medians, unknown / existing user",
        f"{statistics.median(times['unknown']) / statistics.median(times['known']):.3f}",
        f"({options.samples} each, alternating, one keep-alive connection; answers {sorted(statuses)})",
    )
    print_load_after()


if __name__ == "__main__":
    main()
