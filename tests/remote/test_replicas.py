"""Two registry replicas behind a load balancer, on S3 storage with a Redis
cache, on the test bed (replica_set.py): what the Storage and replicas guide
(docs/docsite/rst/storage_and_replicas.rst) promises of replicas, with the real docker client on the test
bed's client host, in both topologies (the module's tests run once per
topology, on a replica set of their own).
"""

import os
import re
import secrets
import shutil
import subprocess
import time

import pytest
import requests
from privreg_molecule.request_loop import RequestLoop
from replica_set import REPLICAS, ReplicaSet
from testbed_hosts import CLIENT, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy (scripts/install-packages.sh)"),
]

LAYERS = 4
# The access rules a re-run adds: carol may only pull. Native refuses rules
# (its registry lets every account do everything), so there carol pushes too.
RERUN_ACCESS = {
    "nginx_proxy": [
        {"repositories": ["**"], "users": ["alice"], "actions": ["pull", "push", "delete", "catalog"]},
        {"repositories": ["replicas/**"], "users": ["carol"], "actions": ["pull"]},
    ],
    "native": [],
}


@pytest.fixture(scope="module", params=sorted(RERUN_ACCESS))
def replicas(request, testbed, image_archives, tmp_path_factory, timed):
    topology = request.param
    deployment = ReplicaSet(testbed, image_archives, str(tmp_path_factory.mktemp("replicas")), topology)
    # bob's account is removed by the re-run
    deployment.users["bob"] = "b0b %s" % secrets.token_hex(6)
    timed("replicas deploy (%s, 2 hosts, S3, Redis, behind HAProxy)" % topology, deployment.play)
    deployment.trust_on(CLIENT)
    login(testbed, deployment, "alice")
    yield deployment
    testbed.ssh(CLIENT, "sudo docker logout %s" % deployment.endpoint)
    deployment.remove(CLIENT)


def login(testbed, replicas, user):
    testbed.must(
        CLIENT, "sudo docker login -u %s --password-stdin %s" % (user, replicas.endpoint), stdin=replicas.users[user]
    )


def build(testbed, replicas, repository, layers=LAYERS, kib=512):
    """A multi-layer image of random content on the client; returns (ref, image id)."""
    ref = "%s/%s:%s" % (replicas.endpoint, repository, secrets.token_hex(3))
    return ref, replicas.build_on(CLIENT, ref, layers, kib * 1024)


def uploads(replicas):
    """The upload requests (PATCH, PUT) each replica logged."""
    return {
        name: replicas.served_requests(host, "PATCH") + replicas.served_requests(host, "PUT")
        for name, host in REPLICAS.items()
    }


def test_the_balancer_sees_both_replicas_up(replicas):
    assert replicas.wait_until_both_up() == ["a", "b"]


def test_a_push_whose_requests_alternate_between_replicas_completes(replicas, testbed, timed):
    before = uploads(replicas)
    ref, image = build(testbed, replicas, "replicas/alternating")
    timed("push through the balancer (%s)" % replicas.topology, testbed.must, CLIENT, "sudo docker push %s" % ref)
    after = uploads(replicas)
    # uploads (PATCH, PUT) landed on both replicas: an upload begun on one was continued on the other
    assert all(after[name] > before[name] for name in REPLICAS), (before, after)
    testbed.must(CLIENT, "sudo docker rmi %s && sudo docker pull %s" % (ref, ref))
    assert testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % ref).strip() == image


def test_an_image_pushed_via_one_replica_pulls_via_the_other(replicas, testbed):
    ref, image = build(testbed, replicas, "replicas/a-to-b")
    replicas.balancer.only("a")
    try:
        testbed.must(CLIENT, "sudo docker push %s && sudo docker rmi %s" % (ref, ref))
        replicas.balancer.only("b")
        testbed.must(CLIENT, "sudo docker pull %s" % ref)
    finally:
        replicas.balancer.both()
    assert testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % ref).strip() == image


def test_a_pull_survives_a_replica_stopping_midway(replicas, testbed):
    ref, image = build(testbed, replicas, "replicas/failover", layers=8, kib=32 * 1024)
    testbed.must(CLIENT, "sudo docker push %s && sudo docker rmi %s" % (ref, ref))
    blobs = "/v2/replicas/failover/blobs/"
    blobs_before = replicas.served_requests(REPLICAS["a"], "GET", blobs)
    ssh = testbed.ssh_command(CLIENT, "sudo docker pull %s || sudo docker pull %s" % (ref, ref))
    pulling = subprocess.Popen(ssh, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # replica a stops serving (nginx_proxy: its nginx; native: its registry) as
    # soon as it serves a layer of the pull (the balancer alternates)
    deadline = time.monotonic() + 60
    while replicas.served_requests(REPLICAS["a"], "GET", blobs) == blobs_before and time.monotonic() < deadline:
        time.sleep(0.1)
    testbed.must(REPLICAS["a"], "sudo docker stop -t 0 %s" % replicas.front_container)
    try:
        assert pulling.poll() is None, "the pull ended before the replica stopped: nothing was tested"
        output = pulling.communicate(timeout=300)[0]
        assert pulling.returncode == 0, output
        assert testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % ref).strip() == image
    finally:
        testbed.must(REPLICAS["a"], "sudo docker start %s" % replicas.front_container)
        testbed.must(CLIENT, "sudo docker rmi %s" % ref)


# The verification's requests (roles/_common/tasks/verify.yml) carry this User-Agent.
VERIFY_AGENT = "privreg.registry verify"


def verify_requests(testbed, replicas, host, since):
    """The log lines of the verification's requests the replica on ``host`` served since ``since`` (epoch s)."""
    log = testbed.must(host, "sudo docker logs --since %d %s 2>&1" % (since, replicas.front_container))
    return [line for line in log.splitlines() if VERIFY_AGENT in line]


def test_accounts_and_access_rules_changed_on_a_rerun_apply_on_every_replica(replicas, testbed, timed):
    """carol is added, bob removed; nginx_proxy: carol is read-only by a new
    rule and alice keeps every right; native (no rules): carol pushes. The
    re-run goes one host at a time (registry_serial=1), each host verifying its
    own instance, and no request through the balancer fails meanwhile."""
    replicas.users["carol"] = "c@rol %s" % secrets.token_hex(6)
    bob = replicas.users["bob"]
    replicas.remove_user("bob")
    rules = RERUN_ACCESS[replicas.topology]
    if rules:
        replicas.group_vars["registry_access"] = rules
    replicas.write()
    since = int(time.time()) - 1
    with RequestLoop(replicas.endpoint, replicas.ca_file, "alice", replicas.users["alice"]) as loop:
        output = timed(
            "replicas re-run one at a time with accounts changed (%s)" % replicas.topology,
            replicas.play,
            options=("-e", "registry_serial=1"),
        )
    assert loop.requests > 0 and loop.failures == [], (loop.requests, loop.failures[:5])
    # One batch per host: the play starts once for each, and each batch's tasks ran on that host alone.
    batches = output.split("PLAY [Registry hosts")[1:]
    hosts_per_batch = [sorted(set(re.findall(r"^(?:ok|changed): \[([^\]\s]+)", batch, re.M))) for batch in batches]
    assert sorted(hosts_per_batch) == [[host] for host in sorted(REPLICAS.values())], hosts_per_batch
    # Each host verified its own instance: every replica served its own run's checks (the anonymous one and
    # one per present account), behind nginx all from the host's loopback, none through the balancer.
    for host in REPLICAS.values():
        lines = verify_requests(testbed, replicas, host, since)
        assert len(lines) >= 1 + len(replicas.users), lines
        if replicas.topology == "nginx_proxy":
            assert all(line.startswith("127.0.0.1 ") for line in lines), lines
    assert replicas.wait_until_both_up() == ["a", "b"]
    ref, _image = build(testbed, replicas, "replicas/rerun", layers=1, kib=64)
    for name in REPLICAS:
        replicas.balancer.only(name)
        try:
            refused = testbed.ssh(CLIENT, "sudo docker login -u bob --password-stdin %s" % replicas.endpoint, stdin=bob)
            assert refused.returncode != 0, "the removed bob logged in through replica %s" % name
            # Refused by the login check: 401 with the challenge, or (seen on the test bed behind nginx since nginx's
            # workers run under the master/worker start, not understood yet) 403 from the check server; either way
            # bob is not let in, and a login the check passed would have answered 200 here (/v2/ needs a login only).
            answer = refused.stdout + refused.stderr
            assert "401 Unauthorized" in answer or "403 Forbidden" in answer, refused.stderr
            login(testbed, replicas, "carol")
            pushed = testbed.ssh(CLIENT, "sudo docker push %s" % ref)
            if rules:
                assert pushed.returncode != 0, "carol pushed through replica %s" % name
                assert "denied: requested access to the resource is denied" in pushed.stdout + pushed.stderr
                login(testbed, replicas, "alice")
                testbed.must(CLIENT, "sudo docker push %s" % ref)
                login(testbed, replicas, "carol")
            else:
                assert pushed.returncode == 0, pushed.stdout + pushed.stderr
            # carol pulls through this replica alone
            testbed.must(CLIENT, "sudo docker rmi %s && sudo docker pull %s" % (ref, ref))
        finally:
            replicas.balancer.both()


def registry_api(replicas, method, path, **kwargs):
    """A request to the registry through the balancer, as alice, from the controller."""
    return requests.request(
        method,
        "https://%s%s" % (replicas.endpoint, path),
        auth=("alice", replicas.users["alice"]),
        verify=replicas.ca_file,
        timeout=60,
        **kwargs,
    )


def play_section(output, play):
    """The part of an ansible-playbook output that belongs to the play named ``play``."""
    start = output.index("PLAY [%s]" % play)
    end = output.find("\nPLAY ", start + 1)
    return output[start : end if end > 0 else len(output)]


# The replicas' collection is the shared base's, the same in both topologies: it runs on nginx_proxy's set alone.
@pytest.mark.parametrize("replicas", ["nginx_proxy"], indirect=True)
def test_one_replica_collects_garbage_while_both_are_read_only(replicas, testbed, timed):
    """playbooks/gc.yml on the replica set: both replicas go read-only, the first by name alone
    collects the shared bucket and flushes the shared cache, both come back read-write."""
    login(testbed, replicas, "alice")
    ref, _image = build(testbed, replicas, "replicas/gc", layers=2, kib=256)
    testbed.must(CLIENT, "sudo docker push %s" % ref)
    digest = testbed.must(CLIENT, "sudo docker image inspect -f '{{index .RepoDigests 0}}' %s" % ref).strip()
    digest = digest.split("@", 1)[1]
    manifest = registry_api(
        replicas,
        "GET",
        "/v2/replicas/gc/manifests/" + digest,
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert manifest.status_code == 200, manifest.text
    layers = [layer["digest"] for layer in manifest.json()["layers"]]
    assert registry_api(replicas, "DELETE", "/v2/replicas/gc/manifests/" + digest).status_code == 202

    output = timed("gc.yml on the replicas", replicas.play, os.path.join(ROOT, "playbooks", "gc.yml"))
    hosts = sorted(REPLICAS.values())
    read_only = play_section(output, "The registries go read-only for the collection")
    for host in hosts:
        # the task's own lines (up to the blank line after it) say the host's registry changed
        task = r"registry container runs with the current settings[^\n]*\n(?:[^\n]+\n)*?changed: \[%s\]" % host
        assert re.search(task, read_only), read_only[-3000:]
    assert "Dry run on %s for the replicas %s:" % (hosts[0], ", ".join(hosts)) in output
    assert re.findall(r"Collected on (\S+):", output) == [hosts[0]]
    stored = replicas.s3.keys("docker/registry/v2/blobs/")
    assert not [layer for layer in layers if any(layer.split(":")[1] in key for key in stored)]
    # read-write again through either replica
    for name in REPLICAS:
        replicas.balancer.only(name)
        try:
            again, _image = build(testbed, replicas, "replicas/after-gc", layers=1, kib=64)
            testbed.must(CLIENT, "sudo docker push %s && sudo docker rmi %s" % (again, again))
        finally:
            replicas.balancer.both()
    testbed.must(CLIENT, "sudo docker rmi %s" % ref)
