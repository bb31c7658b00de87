"""The testbed container runs from the local image and answers on its port."""

import pytest


@pytest.fixture(scope="module")
def testbed(host):
    """The scenario's variables (molecule.yml group_vars and the shared base)."""
    return host.ansible.get_variables()


def test_container_runs_from_the_local_registry_image(host, testbed):
    container = host.docker(testbed["testbed_container_name"])
    assert container.is_running
    assert container.inspect()["Config"]["Image"] == testbed["registry_image"] == "privreg/registry:2.8.2-debian"


def test_container_is_healthy(host, testbed):
    status = host.check_output("docker inspect -f '{{.State.Health.Status}}' %s", testbed["testbed_container_name"])
    assert status == "healthy"


def test_registry_answers_on_the_published_port(host, testbed):
    url = f"http://127.0.0.1:{testbed['testbed_port']}/v2/"
    answer = host.run("curl -sS -o /dev/null -w '%%{http_code}' %s", url)
    assert answer.rc == 0, answer.stderr
    assert answer.stdout == "200"


def test_port_is_published_on_loopback_only(host, testbed):
    assert host.socket(f"tcp://127.0.0.1:{testbed['testbed_port']}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{testbed['testbed_port']}").is_listening
