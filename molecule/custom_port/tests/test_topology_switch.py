"""site.yml switches a host's topology both ways on a re-run: the other topology's
containers (and network) go, the images and the users stay.

Runs after the client tests, whose push left an image in the registry.
"""

from privreg_molecule.scenario import converge

# Pushed by test_proxy_clients.py::test_push_pull_round_trip_with_the_docker_cli.
REPOSITORY, TAG = "molecule/proxied", "1"


def exists(host, kind, name):
    return host.run("docker %s inspect %s", kind, name).rc == 0


def test_native_and_back(host, conf, client, users, tmp_path):
    nginx, registry, network = (
        conf["registry_nginx_container_name"], conf["registry_container_name"], conf["registry_network_name"])
    assert client.manifest_status(REPOSITORY, TAG, "alice", users["alice"]) == 200

    converge({"registry_topology": "native"}, tmp_path)
    assert not exists(host, "container", nginx)
    assert not exists(host, "network", network)
    env = dict(item.split("=", 1) for item in host.docker(registry).inspect()["Config"]["Env"])
    assert env["REGISTRY_AUTH"] == "htpasswd"
    # The registry itself now answers on the client-facing port, with the same image and users.
    for name, password in users.items():
        assert client.status(user=name, password=password) == 200
    assert client.status(user="alice", password=users["alice"] + "x") == 401
    assert client.manifest_status(REPOSITORY, TAG, "alice", users["alice"]) == 200

    converge({}, tmp_path)
    assert host.docker(nginx).is_running
    assert exists(host, "network", network)
    registry_state = host.docker(registry).inspect()
    assert not any(registry_state["NetworkSettings"]["Ports"].values())
    assert "REGISTRY_AUTH" not in dict(item.split("=", 1) for item in registry_state["Config"]["Env"])
    for name, password in users.items():
        assert client.status(user=name, password=password) == 200
    assert client.manifest_status(REPOSITORY, TAG, "bob", users["bob"]) == 200
    assert client.status() == 401
