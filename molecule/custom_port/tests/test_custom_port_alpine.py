"""This scenario runs the alpine layout of nginx (privreg/nginx:1.22-alpine, as nginx:<version>-alpine):
busybox for the userland, no util-linux, no bash. The role starts it as it starts the Debian layout
(nginx_proxy's test_proxy_hardening.py checks that one from inside): seen here from the host.
"""

MASTER_CAPABILITIES = ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]


def test_the_image_has_the_alpine_layout(host, conf):
    name = conf["registry_nginx_container_name"]
    assert conf["registry_nginx_image"] == "privreg/nginx:1.22-alpine"
    assert host.check_output("docker exec %s readlink /bin/sh", name) == "/usr/bin/busybox"
    for program in ("bash", "curl", "/usr/bin/setpriv --version"):
        assert host.run("docker exec %s %s", name, program).rc != 0, program


def test_the_master_is_root_and_the_workers_are_nginx_with_no_capability(host, conf, nginx, nginx_gid):
    name = conf["registry_nginx_container_name"]
    assert sorted(nginx.inspect()["HostConfig"]["CapAdd"]) == MASTER_CAPABILITIES
    # docker top lists the container's processes by host pid; the host's /proc tells their ids and sets.
    rows = [line.split(None, 1) for line in host.check_output("docker top %s -o pid,args", name).splitlines()[1:]]
    processes = [
        (args, dict(line.split(":", 1) for line in host.file(f"/proc/{pid}/status").content_string.splitlines()))
        for pid, args in rows
        if args.startswith("nginx")
    ]
    master = [fields for args, fields in processes if args.startswith("nginx: master")]
    workers = [fields for args, fields in processes if args.startswith("nginx: worker")]
    assert len(master) == 1 and workers, processes
    assert master[0]["Uid"].split()[0] == "0" and int(master[0]["CapEff"], 16) == 0x4C1
    for fields in workers:
        assert fields["Uid"].split() == ["101"] * 4 and fields["Gid"].split() == [str(nginx_gid)] * 4, fields
        assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0, fields
