"""A registry host of the SSH test bed after converge, as its operator and a
docker client on another host meet it (the remote scenario: nginx_proxy on Debian 12, native on Debian 13).

Runs once per registry host (Debian 12 and Debian 13). The tests run in file
order; none changes the deployment.
"""

import json

from privreg_molecule.scenario import push_pull_round_trip

# The roles' default container names (the remote scenario keeps them).
CONTAINERS = {"nginx_proxy": {"registry", "registry_nginx"}, "native": {"registry"}}


def test_ansible_came_in_as_deploy_and_became_root(host):
    # ssh as the test bed's unprivileged user, then sudo (the inventory's become)
    assert host.check_output("id -u") == "0"
    assert host.check_output("printenv SUDO_USER") == "deploy"


def test_the_modules_ran_on_the_hosts_own_python(host):
    """No controller virtualenv on the target: the roles installed what their
    modules import from the host's own packages, for its /usr/bin/python3."""
    for package in ("python3-bcrypt", "python3-requests", "python3-cryptography"):
        assert host.package(package).is_installed, package
    host.run_expect([0], "/usr/bin/python3 -c 'import bcrypt, requests, cryptography'")


def test_check_mode_on_the_converged_host_changes_nothing(check_mode_recap, host_name):
    # Molecule's idempotence step checked a second real run; this checks --check.
    counters = check_mode_recap[host_name]
    assert (counters["changed"], counters["failed"], counters["unreachable"]) == (0, 0, 0), counters


def test_the_topologys_containers_run_from_the_loaded_images(host, conf):
    running = set(host.check_output("docker ps --format '{{.Names}}'").split())
    expected = CONTAINERS[conf["registry_topology"]]
    assert expected <= running, running
    assert not (set().union(*CONTAINERS.values()) - expected) & running, running
    for name in expected:
        image = host.check_output("docker inspect -f '{{.Config.Image}}' %s", name)
        assert image in (conf["registry_image"], conf.get("registry_nginx_image")), (name, image)


def test_no_password_in_docker_inspect(host, conf, users):
    names = sorted(CONTAINERS[conf["registry_topology"]])
    inspected = host.check_output("docker inspect" + " %s" * len(names), *names)
    json.loads(inspected)
    for name, password in users.items():
        assert password not in inspected, "the password of %s is in docker inspect" % name


def test_a_client_on_another_host_pushes_and_pulls(trusting_client, client_host, address, users, release):
    """The README's trust steps on another test bed host, then what a user does:
    login, a multi-layer push, pull back, logout, and an anonymous pull refused."""
    client_address = client_host.check_output("hostname -I").split()
    assert address not in client_address, "the client is the registry host"
    push_pull_round_trip(trusting_client, "ci", users["ci"], "remote/%s" % release)
