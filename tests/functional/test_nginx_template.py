"""registry_nginx_proxy's nginx.conf: rendered by real ansible with the roles' own defaults
and vars, then checked by real nginx (`nginx -t` in both local nginx images, the Debian and the
alpine layout, no network), as the role checks a candidate before it goes live.
"""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = os.path.join(ROOT, "roles")
TEMPLATE = os.path.join(ROLES, "registry_nginx_proxy", "templates", "nginx.conf.j2")
ACCESS_TEMPLATE = os.path.join(ROLES, "registry_nginx_proxy", "templates", "access.conf.j2")
# Both upstream layouts: nginx:<version> (Debian's userland) and nginx:<version>-alpine (busybox's).
NGINX_IMAGES = ("privreg/nginx:1.22-debian", "privreg/nginx:1.22-alpine")
# The njs code the role copies beside nginx.conf.
JS_FILES = [
    os.path.join(ROLES, "registry_nginx_proxy", "files", name)
    for name in ("registry_basic.js", "registry_auth.js", "registry_access.js")
]
# Where the role mounts the folders in the container (roles/registry_nginx_proxy/vars/main.yml).
CONTAINER_CONF = "/etc/nginx/registry/nginx.conf"
AUTH_TMPFS = "/run/registry-auth"
RUN_TMPFS = "/run/registry-nginx"
# As the role runs nginx (its vars/main.yml): the master as root with four capabilities and no
# other, the workers as nginx (uid 101) with the group nginx, which the passwd and group files the
# role mounts make the host group registry_nginx_group (a gid no image has).
MASTER_CAPABILITIES = ("CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE")
NGINX_GID = 4242
ACCOUNT_FILES = {
    "passwd": f"root:x:0:0:root:/root:/bin/sh\nnginx:x:101:{NGINX_GID}:nginx:/nonexistent:/bin/false\n",
    "group": f"root:x:0:\nnginx:x:{NGINX_GID}:\n",
}
TMPFS_OPTIONS = f"mode=0770,uid=0,gid={NGINX_GID}"


def _docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)


def _images_present():
    return shutil.which("docker") is not None and _docker("image", "inspect", *NGINX_IMAGES).returncode == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not _images_present(), reason=f"no Docker engine or not all of {NGINX_IMAGES} (scripts/build-images.sh)"
    ),
]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA and a server certificate with the names the role gives them, made by openssl."""
    folder = tmp_path_factory.mktemp("certs")
    for command in (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=test-CA"
        " -keyout ca.key -out ca.crt",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=registry.example"
        " -CA ca.crt -CAkey ca.key -keyout registry.key -out registry.crt",
    ):
        subprocess.run(command.split(), cwd=folder, check=True, capture_output=True)
    # nginx (uid 101) reads them: the role gives the key to nginx's group.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def render(ansible_playbook, folder, **overrides):
    """nginx.conf as the role renders it: the role's defaults and vars, the shared preflight
    (the endpoint from registry_tls_port, _registry_common), and ``overrides`` as extra vars
    (they win, as a sysadmin's would)."""
    variables = {
        "registry_host": "registry.example",
        "registry_base_dir": str(folder),
        **overrides,
        # The role reads them from its files/ folder; this play runs outside the role.
        "_registry_nginx_js_files": {os.path.basename(path): pathlib.Path(path).read_text() for path in JS_FILES},
    }
    var_files = [os.path.join(ROLES, "registry_nginx_proxy", kind, "main.yml") for kind in ("defaults", "vars")]
    plays = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"name": f"load {path}", "ansible.builtin.include_vars": {"file": path}} for path in var_files]
            + [
                # The shared preflight, as the role includes it: the endpoint and _registry_common.
                {
                    "name": "preflight",
                    "ansible.builtin.include_role": {"name": "privreg.registry._common", "tasks_from": "preflight"},
                    "vars": {
                        "_common_topology": "nginx_proxy",
                        "_common_anonymous_pull_port": (
                            "{{ registry_anonymous_pull_port if registry_anonymous_pull | length > 0 else '' }}"
                        ),
                    },
                },
                {"name": "fingerprint", "ansible.builtin.set_fact": {"_registry_tls_fingerprint": "test"}},
                # As the role's preflight: always, as nginx.conf reads the name grammar from it.
                {
                    "name": "access rules",
                    "ansible.builtin.set_fact": {
                        "_registry_nginx_access_rules": (
                            "{{ registry_access | privreg.registry.registry_access_rules(registry_users,"
                            " registry_anonymous_pull) }}"
                        )
                    },
                },
                {"name": "render", "ansible.builtin.template": {"src": TEMPLATE, "dest": f"{folder}/nginx/nginx.conf"}},
                # With rules, the files nginx.conf includes and preloads, as the role writes them.
                {
                    "name": "access.json",
                    "ansible.builtin.copy": {
                        "content": "{{ _registry_nginx_access_rules | to_nice_json }}",
                        "dest": f"{folder}/nginx/access.json",
                    },
                    "when": "_registry_nginx_rules | bool",
                },
                {
                    "name": "access.conf",
                    "ansible.builtin.template": {"src": ACCESS_TEMPLATE, "dest": f"{folder}/nginx/access.conf"},
                    "when": "_registry_nginx_rules | bool",
                },
            ],
        }
    ]
    os.makedirs(folder / "nginx", exist_ok=True)
    extra = folder / "extra.json"
    extra.write_text(json.dumps(variables))
    run = ansible_playbook(plays, extra_args=["-e", f"@{extra}"])
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return (folder / "nginx" / "nginx.conf").read_text()


def nginx_t(folder, certs):
    """`nginx -t` on the rendered file in each nginx image (image -> result), as the role checks a
    candidate: root with the master's capabilities alone, read-only, the role's mounts and no network."""
    auth = folder / "auth"
    auth.mkdir(exist_ok=True)
    (auth / "htpasswd").write_text("")
    # The role copies the njs code beside nginx.conf.
    for path in JS_FILES:
        shutil.copy(path, folder / "nginx" / os.path.basename(path))
    accounts = folder / "nginx-accounts"
    accounts.mkdir(exist_ok=True)
    for name, content in ACCOUNT_FILES.items():
        (accounts / name).write_text(content)
    options = [
        "--network",
        "none",
        "--user",
        "0:0",
        "--read-only",
        "--cap-drop",
        "ALL",
        *(f"--cap-add={capability}" for capability in MASTER_CAPABILITIES),
        "--security-opt",
        "no-new-privileges",
        "--tmpfs",
        f"{RUN_TMPFS}:{TMPFS_OPTIONS}",
        "--tmpfs",
        f"{AUTH_TMPFS}:{TMPFS_OPTIONS}",
        "-v",
        f"{folder}/nginx:/etc/nginx/registry:ro",
        "-v",
        f"{auth}:/etc/nginx/auth:ro",
        "-v",
        f"{certs}:/etc/nginx/certs:ro",
        *(f"--volume={accounts}/{name}:/etc/{name}:ro" for name in ACCOUNT_FILES),
    ]
    return {
        image: _docker("run", "--rm", *options, image, "nginx", "-t", "-c", CONTAINER_CONF) for image in NGINX_IMAGES
    }


def passes(checks):
    """Whether nginx -t passed in every image; the failures' output as the message."""
    failed = {image: checked.stderr for image, checked in checks.items() if checked.returncode != 0}
    assert not failed, failed
    return all("test is successful" in checked.stderr for checked in checks.values())


def directives(text):
    return {" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.strip().startswith("#")}


@pytest.mark.parametrize(
    ("overrides", "upstream", "ssl_name"),
    [
        ({}, "http://registry", None),
        ({"registry_port": 44301, "registry_upstream_tls": True}, "https://registry", "registry.example"),
        (
            {"registry_host": "[2001:DB8::10]", "registry_upstream_tls": True, "registry_container_name": "store"},
            "https://registry",
            "2001:db8::10",
        ),
        (
            {"registry_nginx_client_max_body_size": "2g", "registry_nginx_worker_connections": 16384},
            "http://registry",
            None,
        ),
    ],
)
def test_rendered_config_passes_nginx_t(ansible_playbook, tmp_path, certs, overrides, upstream, ssl_name):
    config = directives(render(ansible_playbook, tmp_path, **overrides))
    assert passes(nginx_t(tmp_path, certs))

    # The workers run as nginx with the group nginx (the host group, in the files the role mounts).
    assert "user nginx nginx;" in config
    # nginx listens on the host's network, on the client-facing port itself (every IPv4 address by default).
    assert f"listen {overrides.get('registry_port', 443)} ssl;" in config
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in config
    assert "proxy_set_header Host $http_host;" in config
    # Every request reaches the registry: no feature that refuses any is on (nginx/route.j2).
    assert {"proxy_pass $registry_upstream;", f'"" {upstream};', "map $request_method $registry_refusal {"} <= config
    assert "server unix:/run/registry/registry.sock;" in config
    assert f"client_max_body_size {overrides.get('registry_nginx_client_max_body_size', '0')};" in config
    assert f"worker_connections {overrides.get('registry_nginx_worker_connections', 4096)};" in config
    # Forward-secret AEAD suites only (Mozilla "intermediate" without DHE), no session tickets.
    assert {
        "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;",
        "ssl_prefer_server_ciphers off;",
        "ssl_session_tickets off;",
        # Downloads go to the client as the registry sends them, never into a temp file in the container.
        "proxy_buffering off;",
    } <= config
    upstream_checks = {
        "proxy_ssl_verify on;",
        "proxy_ssl_trusted_certificate /etc/nginx/certs/ca.crt;",
        f"proxy_ssl_name {ssl_name};",
    }
    assert (upstream_checks <= config) == (ssl_name is not None)


RULES = [{"repositories": ["**"], "users": ["*"], "actions": ["pull"]}]


@pytest.mark.parametrize(
    ("overrides", "access", "anonymous"),
    [
        ({"registry_access": RULES}, True, False),
        ({"registry_access": RULES, "registry_auth_cache_ttl": 0}, True, False),
        ({"registry_anonymous_pull": ["base/*"], "registry_anonymous_pull_port": 44302}, False, True),
        (
            {
                "registry_access": RULES,
                "registry_anonymous_pull": ["base/*"],
                "registry_bind_address": "127.0.0.1",
                "registry_read_only": True,
            },
            True,
            True,
        ),
    ],
)
def test_access_rules_config_passes_nginx_t(ansible_playbook, tmp_path, certs, overrides, access, anonymous):
    text = render(ansible_playbook, tmp_path, **overrides)
    assert passes(nginx_t(tmp_path, certs))
    config = directives(text)
    # njs runs the rules, with or without the login cache.
    assert "load_module /etc/nginx/modules/ngx_http_js_module.so;" in config
    assert "js_import registry_access from registry_access.js;" in config
    assert "listen unix:/run/registry-auth/denied.sock;" in config
    assert ("js_set $registry_access_njs registry_access.decision;" in config) == access
    # Plain pulls are matched by nginx itself against access.conf; njs reads the preloaded access.json.
    assert "include /etc/nginx/registry/access.conf;" in config
    assert "js_preload_object registry_access_rules from /etc/nginx/registry/access.json;" in config
    # Allowed requests reach the registry, denied ones the denial server, in /v2/ and @registry (which
    # the blob location hands a refused request to): the route takes the first refusal, read-only's first.
    assert text.count("proxy_pass $registry_upstream;") == 2
    assert "if ($registry_refusal != \"\") {" in config
    refusals = ("$registry_read_only_refusal" if overrides.get("registry_read_only") else "") + (
        "$registry_access_refusal" if access else ""
    )
    assert (f'map "{refusals}" $registry_refusal {{' in config) == bool(refusals)
    assert ('default "registry_denied ";' in config) == access
    bind = "127.0.0.1:" if overrides.get("registry_bind_address") else ""
    port = overrides.get("registry_anonymous_pull_port", 5444)
    assert (f"listen {bind}{port} ssl;" in config) == anonymous
    assert text.count("proxy_pass $registry_anonymous_upstream;") == (1 if anonymous else 0)


def test_no_access_rules_no_access_code(ansible_playbook, tmp_path, certs):
    """Without rules, requests go to the registry as before: no decision on the request path."""
    text = render(ansible_playbook, tmp_path)
    assert "registry_access" not in text.replace("# registry_access.js sha256", "")
    assert "registry_denied" not in text


# What /v2/ checks logins with: the cache (default 60 s) asks the bcrypt check only on a miss.
CACHED_LOGIN = {
    "load_module /etc/nginx/modules/ngx_http_js_module.so;",
    "auth_request /_registry_auth;",
    "proxy_cache_key $registry_auth_key;",
    "proxy_cache_bypass $registry_auth_uncached;",
    "proxy_no_cache $registry_auth_uncached;",
    "proxy_method GET;",
    "listen unix:/run/registry-auth/check.sock;",
    "try_files /nonexistent =204;",
    "auth_basic_user_file $registry_auth_check_user_file;",
    "default /etc/nginx/auth/htpasswd;",
    # An unknown user is checked against a placeholder entry of the same cost (registry_auth.js).
    "unknown /run/registry-auth/unknown-user.htpasswd;",
    "proxy_set_header X-Registry-Auth-User $registry_auth_check_user;",
    # A fixed address: no per-request variable to evaluate on a cached login.
    "proxy_pass http://registry_auth_check;",
    "proxy_set_header Authorization $registry_auth_check_authorization;",
    # Failed logins: bcrypt checks limited per client address (the defaults).
    "limit_req_zone $binary_remote_addr zone=registry_auth_check:2m rate=1r/s;",
    "limit_req zone=registry_auth_check burst=30 nodelay;",
    # The auth subrequest carries no body and no body headers.
    "proxy_pass_request_body off;",
    'proxy_set_header Content-Length "";',
    'proxy_set_header Transfer-Encoding "";',
}


@pytest.mark.parametrize(("ttl", "cached"), [(None, "60s"), (5, "5s"), (0, None)])
def test_login_cache_ttl(ansible_playbook, tmp_path, certs, ttl, cached):
    overrides = {} if ttl is None else {"registry_auth_cache_ttl": ttl}
    text = render(ansible_playbook, tmp_path, **overrides)
    assert passes(nginx_t(tmp_path, certs))
    config = directives(text)
    valid = {line for line in config if line.startswith("proxy_cache_valid")}
    if cached is None:
        # Off: auth_basic in /v2/ itself, as before the cache, and no module.
        assert not CACHED_LOGIN & (config - {"auth_basic_user_file /etc/nginx/auth/htpasswd;"})
        assert 'auth_basic "Registry Realm";' in config
        assert valid == set()
    else:
        assert CACHED_LOGIN <= config
        # Only successes (204) are cached, and the locations with auth_basic are the check server's alone
        # (its one location, whose user file follows X-Registry-Auth-User).
        assert valid == {f"proxy_cache_valid 204 {cached};"}
        assert text.count("auth_basic ") == 1
        assert f"inactive={cached}" in text


@pytest.mark.parametrize(
    ("overrides", "zone", "limit"),
    [
        ({}, "rate=1r/s", "burst=30"),
        ({"registry_auth_check_rate": "30r/m", "registry_auth_check_burst": 3}, "rate=30r/m", "burst=3"),
        ({"registry_auth_check_rate": "100r/s", "registry_auth_check_burst": 1}, "rate=100r/s", "burst=1"),
    ],
)
def test_login_check_rate_limit(ansible_playbook, tmp_path, certs, overrides, zone, limit):
    config = directives(render(ansible_playbook, tmp_path, **overrides))
    assert passes(nginx_t(tmp_path, certs))
    assert f"limit_req_zone $binary_remote_addr zone=registry_auth_check:2m {zone};" in config
    assert f"limit_req zone=registry_auth_check {limit} nodelay;" in config
    # Only the check server (bcrypt) is limited, never /v2/ itself (cached logins).
    assert len([line for line in config if line.startswith("limit_req ")]) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"registry_nginx_client_max_body_size": "10gigs"},
            '"client_max_body_size" directive invalid value in /etc/nginx/registry/nginx.conf:',
        ),
        (
            {"registry_nginx_worker_processes": "many"},
            '"worker_processes" directive invalid value in /etc/nginx/registry/nginx.conf:',
        ),
        (
            {"registry_auth_check_burst": 0},
            'invalid burst value "burst=0" in /etc/nginx/registry/nginx.conf:',
        ),
        (
            {"registry_auth_check_rate": "fast"},
            'invalid rate "rate=fast" in /etc/nginx/registry/nginx.conf:',
        ),
        (
            {"registry_nginx_proxy_read_timeout": "-1"},
            '"proxy_read_timeout" directive invalid value in /etc/nginx/registry/nginx.conf:',
        ),
    ],
)
def test_nginx_t_rejects_bad_values_with_its_own_message(ansible_playbook, tmp_path, certs, overrides, message):
    render(ansible_playbook, tmp_path, **overrides)
    for image, checked in nginx_t(tmp_path, certs).items():
        assert checked.returncode == 1, image
        assert message in checked.stderr, image
        assert "configuration file /etc/nginx/registry/nginx.conf test failed" in checked.stderr, image
