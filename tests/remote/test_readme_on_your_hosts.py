"""The README's "On your hosts", run as written on the test bed's hosts.

A sysadmin copies inventory/example.yml, renames its hosts to his own, points
the certificate paths at his PEM files, keeps the passwords in a vault, and
runs the README's commands, typing the vault password at the prompt. Here
the hosts are the test bed's (scripts/testbed.sh): registry1 (nginx_proxy on
443, our own certificate from the controller) is the Debian 12 host, registry2
(native on 5443, one bind address) the Debian 13 host; the images come as
archives (the README's "Offline install"). Then a docker client on a third
host trusts each registry as the README says, logs in, pushes and pulls over
the network; both hosts switch topology ("Changing it and re-running switches
the host") and the client pushes and pulls again. Re-runs and --check on
converged hosts are the remote Molecule scenarios' (both topologies, both
releases).
"""

import fcntl
import json
import os
import pty
import re
import secrets
import select
import subprocess
import termios
import time

import pytest
import testinfra
import yaml
from privreg_molecule.scenario import make_own_certificate
from testbed_hosts import CLIENT, ROOT, ansible_env

pytestmark = pytest.mark.slow

EXAMPLE = os.path.join(ROOT, "inventory", "example.yml")
README = os.path.join(ROOT, "README.md")
# The example's hosts, and the test bed host that stands in for each.
STAND_INS = {"registry1.example.org": "privreg-testbed-bookworm", "registry2.example.org": "privreg-testbed-trixie"}
VAULT_PASSWORD = "vault " + secrets.token_hex(8)


def readme_commands():
    """The shell lines of the first code block of the README's "On your hosts"."""
    with open(README, encoding="utf-8") as stream:
        text = stream.read()
    section = text.split("### On your hosts", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def in_terminal(command, cwd, env, answer, timeout=900):
    """Runs a shell command with a terminal of its own, as typed at a prompt;
    writes ``answer`` when it asks for a password. Returns (rc, output)."""
    controller, terminal = pty.openpty()

    def take_the_terminal():
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        preexec_fn=take_the_terminal,  # noqa: PLW1509  (a single-threaded test process)
    )
    os.close(terminal)
    output, answered, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([controller], [], [], 1)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"password:" in output.lower():
                os.write(controller, answer.encode() + b"\n")
                answered = True
        elif process.poll() is not None:
            break
    else:
        process.kill()
    os.close(controller)
    return process.wait(timeout=30), output.decode(errors="replace").replace("\r\n", "\n")


class Operator:
    """The sysadmin: his copy of the example inventory, his vault, the README's commands."""

    def __init__(self, testbed, archives, workdir):
        self.testbed = testbed
        self.workdir = workdir
        self.inventory = str(workdir / "inventory.yml")
        self.passwords = {"ci": "ci %s 'q' \"$x\\" % secrets.token_hex(6), "alice": "al1ce " + secrets.token_hex(6)}
        # what the first client test pushed to each host, pulled again after the topology switch
        self.pushed = {}
        with open(EXAMPLE, encoding="utf-8") as stream:
            self.document = yaml.safe_load(stream)
        group = self.document["registry"]
        # The example's connection becomes the test bed's: its user, key, become.
        group["vars"].update(testbed.connection)
        # Offline install: the images the hosts cannot pull, as archives.
        group["vars"].update(
            {
                "registry_image": archives["registry_image"],
                "registry_image_archive": archives["registry"],
                "registry_nginx_image": archives["nginx_image"],
                "registry_nginx_image_archive": archives["nginx"],
            }
        )
        hosts = {}
        for example_name, host_vars in group["hosts"].items():
            name = STAND_INS[example_name]
            address = testbed.address(name)
            host_vars = dict(host_vars, ansible_host=address, registry_host=address)
            if "registry_bind_address" in host_vars:
                host_vars["registry_bind_address"] = address
            if "registry_tls_certificate" in host_vars:
                # our PEM files instead of the example's, for the host's address
                own = make_own_certificate(testinfra.get_host("local://"), str(workdir / "tls" / name), address)
                host_vars.update(own)
            hosts[name] = host_vars
        group["hosts"] = hosts
        self.write_inventory()
        self.write_vault()

    def write_inventory(self):
        with open(self.inventory, "w", encoding="utf-8") as stream:
            yaml.safe_dump(self.document, stream)

    def write_vault(self):
        """group_vars/registry/vault.yml beside the inventory, encrypted with ansible-vault."""
        vault = self.workdir / "group_vars" / "registry" / "vault.yml"
        vault.parent.mkdir(parents=True)
        password_file = self.workdir / ".vault-password"
        password_file.touch(mode=0o600)
        password_file.write_text(VAULT_PASSWORD)
        vault.touch(mode=0o600)
        vault.write_text(yaml.safe_dump({"vault_registry_%s_password" % n: p for n, p in self.passwords.items()}))
        subprocess.run(
            ["ansible-vault", "encrypt", "--vault-password-file", str(password_file), str(vault)],
            env=ansible_env(),
            check=True,
            capture_output=True,
        )
        password_file.unlink()
        assert vault.read_text().startswith("$ANSIBLE_VAULT;")

    def host_vars(self, name):
        return self.document["registry"]["hosts"][name]

    def run_readme(self):
        """The README's commands, the example's inventory path replaced by this copy.
        Returns {host: changed} from the play recap; fails on a failed run."""
        lines = readme_commands()
        assert any("inventory/example.yml" in line for line in lines), lines
        command = " && ".join(line.replace("inventory/example.yml", self.inventory) for line in lines)
        rc, output = in_terminal(command, ROOT, ansible_env(), VAULT_PASSWORD)
        (self.workdir / "last-run.log").write_text(output)
        recap = dict(
            (host, (int(changed), int(unreachable), int(failed)))
            for host, changed, unreachable, failed in re.findall(
                r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M
            )
        )
        assert rc == 0 and set(recap) == set(STAND_INS.values()), output[-8000:]
        assert all(counts[1:] == (0, 0) for counts in recap.values()), output[-8000:]
        return {host: counts[0] for host, counts in recap.items()}, output


@pytest.fixture(scope="module")
def operator(testbed, image_archives, tmp_path_factory, timed):
    """The example inventory deployed on the test bed by the README's commands."""
    person = Operator(testbed, image_archives, tmp_path_factory.mktemp("operator"))
    timed("README deploy (example inventory)", person.run_readme)
    return person


def test_the_vault_password_was_asked_and_no_password_shown(operator):
    output = (operator.workdir / "last-run.log").read_text()
    assert "Vault password:" in output
    for password in operator.passwords.values():
        assert password not in output


def push_and_pull(testbed, name, endpoint, ca_pem, user, password, timed, earlier=None):
    """The README's "Trusting the registry on other docker hosts" on the client
    host, then a push, rmi and pull of a tiny image of its own content, and a
    pull of ``earlier`` ((ref, image id), pushed before) when given. Returns
    (ref, image id) of the image pushed; it stays in the registry."""
    assert testbed.address(CLIENT) != testbed.address(name)
    testbed.must(CLIENT, "sudo install -D -m 0644 /dev/stdin /etc/docker/certs.d/%s/ca.crt" % endpoint, stdin=ca_pem)
    testbed.must(CLIENT, "sudo docker login -u %s --password-stdin %s" % (user, endpoint), stdin=password)
    image = "%s/readme/tiny:%s" % (endpoint, secrets.token_hex(4))
    built = testbed.must(
        CLIENT,
        "set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; echo %s >$d/mark; "
        "printf 'FROM scratch\\nCOPY mark /mark\\n' >$d/Dockerfile; "
        "sudo docker build -q -t %s $d" % (secrets.token_hex(16), image),
    ).strip()

    def round_trip():
        testbed.must(CLIENT, "sudo docker push %s" % image)
        testbed.must(CLIENT, "sudo docker rmi %s" % image)
        testbed.must(CLIENT, "sudo docker pull %s" % image)

    timed("push, rmi, pull %s (%s)" % (endpoint, name), round_trip)
    assert testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % image).strip() == built
    if earlier:
        testbed.must(CLIENT, "sudo docker pull %s" % earlier[0])
        assert testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % earlier[0]).strip() == earlier[1]
        testbed.must(CLIENT, "sudo docker rmi %s" % earlier[0])
    testbed.must(CLIENT, "sudo docker rmi %s && sudo docker logout %s" % (image, endpoint))
    return image, built


def endpoint_and_ca(operator, name):
    """What a client types, and the CA it trusts: ours, else the one the role
    generated (read as the README's scp does, by the unprivileged ssh user)."""
    host_vars = operator.host_vars(name)
    port = host_vars.get("registry_port", 443)
    endpoint = host_vars["registry_host"] + ("" if port == 443 else ":%d" % port)
    if "registry_tls_ca_certificate" in host_vars:
        with open(host_vars["registry_tls_ca_certificate"], encoding="ascii") as stream:
            return endpoint, stream.read()
    return endpoint, operator.testbed.must(name, "cat /opt/registry/certs/ca.crt")


@pytest.mark.parametrize("name", sorted(STAND_INS.values()))
def test_a_client_host_pushes_and_pulls(operator, testbed, name, timed):
    endpoint, ca_pem = endpoint_and_ca(operator, name)
    operator.pushed[name] = push_and_pull(testbed, name, endpoint, ca_pem, "ci", operator.passwords["ci"], timed)


def container_env(testbed, host, name):
    inspected = testbed.must(host, "sudo docker inspect -f '{{json .Config.Env}}' %s" % name)
    return dict(item.split("=", 1) for item in json.loads(inspected))


def test_switching_both_hosts_topology_and_rerunning_works(operator, testbed, timed):
    """registry1 becomes native, registry2 nginx_proxy; the other topology's
    containers and the socket volume go, accounts and images stay, and the
    client pushes to both again and pulls what it pushed before the switch.
    A re-run then changes nothing: the Molecule scenario `remote` re-runs the
    other pairs (nginx_proxy on Debian 12, native on Debian 13)."""
    swap = {"nginx_proxy": "native", "native": "nginx_proxy"}
    for name in STAND_INS.values():
        host_vars = operator.host_vars(name)
        host_vars["registry_topology"] = swap[host_vars["registry_topology"]]
    operator.write_inventory()
    timed("README switch of both topologies", operator.run_readme)
    for name in sorted(STAND_INS.values()):
        running = testbed.must(name, "sudo docker ps --format '{{.Names}}'").split()
        expected = {"native": ["registry"], "nginx_proxy": ["registry", "registry_nginx"]}
        topology = operator.host_vars(name)["registry_topology"]
        assert sorted(running) == expected[topology], (name, running)
        env = container_env(testbed, name, "registry")
        volume = testbed.ssh(name, "sudo docker volume inspect registry-socket")
        if topology == "native":
            # the registry checks the accounts itself, on the client-facing port; nginx's socket is gone
            assert env["REGISTRY_AUTH"] == "htpasswd" and volume.returncode != 0, (name, env)
        else:
            # behind nginx: no network, nothing published, no accounts of its own
            network = testbed.must(name, "sudo docker inspect -f '{{.HostConfig.NetworkMode}}' registry").strip()
            ports = testbed.must(name, "sudo docker inspect -f '{{json .HostConfig.PortBindings}}' registry")
            assert (network, json.loads(ports) or {}) == ("none", {}), (name, network, ports)
            assert "REGISTRY_AUTH" not in env and volume.returncode == 0, (name, env)
        endpoint, ca_pem = endpoint_and_ca(operator, name)
        earlier = operator.pushed.get(name)
        assert earlier, "test_a_client_host_pushes_and_pulls pushed nothing to %s" % name
        push_and_pull(testbed, name, endpoint, ca_pem, "alice", operator.passwords["alice"], timed, earlier)
    changed, output = timed("README re-run after the switch", operator.run_readme)
    assert changed == dict.fromkeys(STAND_INS.values(), 0), output[-8000:]
