"""Fixtures of the remote scenario's tests (nginx_proxy on Debian 12, native on Debian 13).

Molecule's testinfra verifier runs these once per registry host of the test bed
(verifier option ``hosts: registry``), over SSH with the scenario's inventory:
the test bed's own (scripts/testbed.sh) linked into Molecule's inventory
folder, with the scenario's group_vars/ and host_vars/.
"""

import pytest
import testinfra
from privreg_molecule.registry_client import RegistryClient
from privreg_molecule.scenario import conf, converge, inventory, recaps, users  # noqa: F401  (pytest fixtures)  # pylint: disable=unused-import

from ansible_collections.privreg.registry.plugins.module_utils._endpoint import endpoint as client_endpoint

# The test bed's docker client host (scripts/testbed.sh): not a registry host.
CLIENT = "privreg-testbed-client"
# The roles' default registry_port (the scenarios that keep it do not set it).
DEFAULT_PORT = 443


def templated(host, name):
    """A variable as the plays see it: the inventory's text may be a template
    (``registry_host: "{{ ansible_host }}"``), which testinfra does not render."""
    return host.ansible("ansible.builtin.debug", "var=%s" % name, check=False)[name]


@pytest.fixture(scope="module")
def address(conf):  # noqa: F811
    """The registry host's address on the test bed's network."""
    return conf["ansible_host"]


@pytest.fixture(scope="module")
def endpoint(host, conf):  # noqa: F811
    return client_endpoint(templated(host, "registry_host"), conf.get("registry_port", DEFAULT_PORT))


@pytest.fixture(scope="module")
def client_host(inventory):  # noqa: F811
    """The docker client host, over SSH as the inventory says (deploy, sudo)."""
    return testinfra.get_host("ansible://%s" % CLIENT, ansible_inventory=inventory)


@pytest.fixture(scope="module")
def ca_certificate(host, conf):  # noqa: F811
    """The CA a client must trust, where a sysadmin finds it: our own CA on
    the controller (registry_tls_ca_certificate), else the CA the role
    generated on the registry host (the README's scp)."""
    if conf.get("registry_tls_ca_certificate"):
        with open(templated(host, "registry_tls_ca_certificate"), encoding="ascii") as stream:
            return stream.read()
    return host.file("/opt/registry/certs/ca.crt").content_string


@pytest.fixture(scope="module")
def trusting_client(client_host, endpoint, ca_certificate, tmp_path_factory):
    """A RegistryClient on the client host after the README's "Trusting the
    registry on other docker hosts" steps; the CA folder goes away after."""
    certs_d = "/etc/docker/certs.d/%s" % endpoint
    client_host.run_expect([0], "printf '%%s' %s | install -D -m 0644 /dev/stdin %s/ca.crt", ca_certificate, certs_d)
    yield RegistryClient(client_host, endpoint, "%s/ca.crt" % certs_d, str(tmp_path_factory.mktemp("docker-config")))
    client_host.run("rm -rf %s", certs_d)


@pytest.fixture(scope="session")
def check_mode_recap(tmp_path_factory):
    """One ``--check --diff`` run of the converge playbook on every registry host
    at once (as Molecule converges them); its PLAY RECAP counters per host."""
    return recaps(converge({}, tmp_path_factory.mktemp("check-mode"), "--check", "--diff"))


@pytest.fixture(scope="module")
def host_name(host):
    """The registry host's inventory name."""
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def release(host):
    return host.system_info.codename
