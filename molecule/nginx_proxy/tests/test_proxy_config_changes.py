"""nginx.conf changes: checked with nginx -t before they go live, then a reload, never a restart.

Each test runs converge again with one nginx variable changed; the reload drops no request
(a client loop counts the failed ones while the runs change nginx.conf and access rules).
"""

import pytest
from privreg_molecule.proxy_scenario import NGINX_CONF, nginx_reloads
from privreg_molecule.request_loop import RequestLoop
from privreg_molecule.scenario import converge, started_at

# Rules a run adds and the next removes: alice keeps every action, so her requests must all pass.
ACCESS_RULES = [
    {"repositories": ["**"], "users": ["alice"], "actions": ["pull", "push", "delete", "catalog"]},
    {"repositories": ["molecule/**"], "users": ["bob"], "actions": ["pull"]},
]


def live_conf(host, conf):
    return host.file(f"{conf['registry_base_dir']}/nginx/nginx.conf")


def test_a_config_nginx_rejects_leaves_the_running_proxy_untouched(host, conf, client, users, tmp_path):
    name = conf["registry_nginx_container_name"]
    before = (started_at(host, name), nginx_reloads(host, name), live_conf(host, conf).sha256sum)

    with pytest.raises(AssertionError) as failed:
        converge({"registry_nginx_client_max_body_size": "10gigs"}, tmp_path)
    # The play fails with nginx's own message about the candidate (the tail of its output).
    output = str(failed.value)
    assert "[emerg]" in output and '"client_max_body_size" directive invalid value' in output, output[-3000:]
    assert "configuration file /etc/nginx/registry/nginx.conf test failed" in output

    assert (started_at(host, name), nginx_reloads(host, name), live_conf(host, conf).sha256sum) == before
    assert "client_max_body_size 0;" in live_conf(host, conf).content_string
    assert "10gigs" in host.file(f"{conf['registry_base_dir']}/nginx-candidate/nginx.conf").content_string
    assert client.status(user="alice", password=users["alice"]) == 200
    # The check container is gone.
    assert host.check_output("docker ps -aq --filter name=^/%s$", f"{name}_configtest") == ""


def test_a_config_change_reloads_nginx_without_a_restart_or_a_failed_request(
    host, conf, client, users, nginx_gid, tmp_path
):
    name = conf["registry_nginx_container_name"]
    started, reloads = started_at(host, name), nginx_reloads(host, name)
    # A value the live config does not have (the role's default is 4096).
    connections = 2048 if "worker_connections 4096;" in live_conf(host, conf).content_string else 4096

    with RequestLoop(client.endpoint, client.ca_file, "alice", users["alice"]) as loop:
        # A setting and access rules, one reload; then both back as molecule.yml has them, a reload again.
        converge({"registry_nginx_worker_connections": connections, "registry_access": ACCESS_RULES}, tmp_path)
        assert f"worker_connections {connections};" in live_conf(host, conf).content_string
        dumped = host.check_output("docker exec -u 101:%s %s cat %s", str(nginx_gid), name, NGINX_CONF)
        assert f"worker_connections {connections};" in dumped
        # Reloaded once (the master re-read the file), not restarted.
        assert nginx_reloads(host, name) == reloads + 1
        assert started_at(host, name) == started
        assert client.status() == 401
        converge({}, tmp_path)
    assert nginx_reloads(host, name) == reloads + 2
    assert started_at(host, name) == started
    assert loop.requests > 0 and loop.failures == [], (loop.requests, loop.failures[:5])
