"""A host converged by the previous release of the collection is upgraded by
this checkout: the same inventory converges, images pushed before are still
pulled after, and a further run reports no change.

The previous release is the last commit before the roles moved onto the shared
base (privreg.registry._common); `git archive` takes its tree from this
checkout's history, and it runs as privreg.registry from a collection path of
its own.
"""

import os
import subprocess
import tarfile

import pytest
from local_engine import REGISTRY_IMAGE, needs_engine_and_images
from site_deployment import ROOT, Site

# The last landed main before the shared base and the hardening: the release
# users run today. (Up to the shared base alone, the upgrade changed nothing.)
PREVIOUS_RELEASE = "e2b8145"


def previous_release_known():
    done = subprocess.run(
        ["git", "-C", ROOT, "cat-file", "-e", PREVIOUS_RELEASE + "^{commit}"], capture_output=True, check=False
    )
    return done.returncode == 0


pytestmark = needs_engine_and_images + [
    pytest.mark.skipif(not previous_release_known(), reason="the checkout's history lacks " + PREVIOUS_RELEASE),
]


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory, ansible_environment):
    """The previous release's tree, and an environment that loads it as privreg.registry."""
    collections = tmp_path_factory.mktemp("previous-release")
    tree = collections / "ansible_collections" / "privreg" / "registry"
    tree.mkdir(parents=True)
    archive = collections / "tree.tar"
    subprocess.run(["git", "-C", ROOT, "archive", "-o", str(archive), PREVIOUS_RELEASE], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    env = dict(ansible_environment, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_ROLES_PATH=str(tree / "roles"))
    return tree, env


def docker_cli(*args, stdin=None, env=None):
    done = subprocess.run(["docker", *args], input=stdin, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("topology", ["nginx_proxy", "native"])
def test_a_host_converged_by_the_previous_release_upgrades_and_keeps_its_images(
    topology, previous_release, tmp_path, ansible_environment
):
    tree, previous_env = previous_release
    site = Site(topology, str(tmp_path), ansible_environment, name="upgrade")
    site.remove()
    endpoint = "localhost:%d" % site.port
    image = "%s/upgrade/kept:1" % endpoint
    client_env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))  # a login of the test's own
    try:
        changed, output = site.play(playbook=os.path.join(tree, "playbooks", "site.yml"), env=previous_env)
        # The previous release ran: it had no shared base.
        assert changed > 0 and "privreg.registry._common" not in output, output[-3000:]
        docker_cli(
            "login", endpoint, "--username", "alice", "--password-stdin", stdin=site.passwords[0], env=client_env
        )
        docker_cli("tag", REGISTRY_IMAGE, image)
        docker_cli("push", image, env=client_env)
        docker_cli("rmi", image)

        changed, output = site.play()
        assert "privreg.registry._common" in output
        docker_cli("pull", image, env=client_env)
        changed, output = site.play()
        assert changed == 0, output[-8000:]
    finally:
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False)
        subprocess.run(["docker", "logout", endpoint], env=client_env, capture_output=True, check=False)
        site.remove()
