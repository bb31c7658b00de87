"""registry_nginx_proxy's nginx.conf, one feature a file (templates/nginx/<feature>.conf.j2).

Each feature file is rendered on its own here, with Jinja as Ansible's template module sets it up
(trim_blocks), from a fixed set of the role's values: what each of its parts (main, http,
client_server, refusal) writes, and that its braces balance. The frame (templates/nginx.conf.j2)
is rendered with every feature and with none, and route.j2's choice of upstream with each order of
refusals. Real nginx checks the rendered files in tests/functional/test_nginx_template.py.
"""

import hashlib
import pathlib

import jinja2
import pytest
import yaml

ROLE = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'registry_nginx_proxy'
TEMPLATES = ROLE / 'templates'
FEATURE_FILES = sorted(path.name[: -len('.conf.j2')] for path in (TEMPLATES / 'nginx').glob('*.conf.j2'))
# The features in the order the role renders them (vars/main.yml).
SWITCHED = list(yaml.safe_load((ROLE / 'vars' / 'main.yml').read_text())['_registry_nginx_feature_switches'])
NAME = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'

# The role's values (vars/main.yml, after _common's preflight) that the feature files read.
VALUES = {
    '_registry_common': {
        'certificate_file': 'registry.crt',
        'private_key_file': 'registry.key',
        'ca_certificate_file': 'ca.crt',
        'htpasswd_file': 'htpasswd',
        'realm': 'Registry Realm',
        'socket_dir': '/run/registry',
        'socket_file': 'registry.sock',
    },
    '_registry_endpoint': {
        'host': 'registry.example',
        'nginx_host_listen': '5443 ssl',
        'nginx_anonymous_pull_listen': '5444 ssl',
    },
    '_registry_tls_fingerprint': 'f' * 64,
    '_registry_nginx_access_rules': {'name_component': NAME, 'plain_pull_request': '^GET (x)"\\.$'},
    '_registry_nginx_access_conf': '/etc/nginx/registry/access.conf',
    '_registry_nginx_access_file': '/etc/nginx/registry/access.json',
    '_registry_nginx_auth_cache_path': '/run/registry-auth/cache',
    '_registry_nginx_auth_secret_file': '/run/registry-auth/hmac.key',
    '_registry_nginx_auth_socket': '/run/registry-auth/check.sock',
    '_registry_nginx_auth_tmpfs': '/run/registry-auth',
    '_registry_nginx_denied_socket': '/run/registry-auth/denied.sock',
    '_registry_nginx_read_only_socket': '/run/registry-auth/read-only.sock',
    '_registry_nginx_container_auth_dir': '/etc/nginx/auth',
    '_registry_nginx_container_certs_dir': '/etc/nginx/certs',
    '_registry_nginx_container_conf_dir': '/etc/nginx/registry',
    '_registry_nginx_health_addr': '127.0.0.1:8081',
    '_registry_nginx_js_files': {'registry_auth.js': 'code'},
    '_registry_nginx_js_module': '/etc/nginx/modules/ngx_http_js_module.so',
    '_registry_nginx_pid_file': '/run/registry-nginx/nginx.pid',
    '_registry_nginx_run_dir': '/run/registry-nginx',
    '_registry_nginx_storage_root': '/var/lib/registry/docker/registry/v2',
    '_registry_nginx_uid': 101,
    '_registry_nginx_upstream_scheme': 'http',
    'registry_auth_cache_ttl': 60,
    'registry_auth_check_burst': 30,
    'registry_auth_check_rate': '1r/s',
    'registry_bcrypt_cost': 10,
    'registry_nginx_client_max_body_size': '0',
    'registry_nginx_proxy_read_timeout': '900s',
    'registry_nginx_proxy_send_timeout': '900s',
    'registry_nginx_worker_connections': 4096,
    'registry_nginx_worker_processes': 'auto',
}

# Lines each feature's parts write (whitespace folded), and the refusal it names.
EXPECTED = {
    'njs': {
        'main': {
            '# registry_auth.js sha256 %s' % hashlib.sha256(b'code').hexdigest(),
            'load_module /etc/nginx/modules/ngx_http_js_module.so;',
        },
        'http': {'js_path /etc/nginx/registry;'},
    },
    'login_basic': {
        'http': {'access_log /var/log/nginx/access.log;'},
        'client_server': {'auth_basic "Registry Realm";', 'auth_basic_user_file /etc/nginx/auth/htpasswd;'},
    },
    'login_cache': {
        'http': {
            'access_log /var/log/nginx/access.log registry;',
            'listen unix:/run/registry-auth/check.sock;',
            'limit_req_zone $binary_remote_addr zone=registry_auth_check:2m rate=1r/s;',
            'try_files /nonexistent =204;',
        },
        'client_server': {
            'auth_request /_registry_auth;',
            'location = /_registry_auth {',
            'proxy_cache_valid 204 60s;',
            'proxy_pass http://registry_auth_check;',
        },
    },
    'upstream_tls': {
        'http': {
            'proxy_ssl_verify on;',
            'proxy_ssl_trusted_certificate /etc/nginx/certs/ca.crt;',
            'proxy_ssl_name registry.example;',
        },
    },
    'read_only': {
        'http': {
            'default "registry_read_only ";',
            'listen unix:/run/registry-auth/read-only.sock;',
            'server unix:/run/registry-auth/read-only.sock;',
        },
        'refusal': {'$registry_read_only_refusal'},
    },
    'access_deciders': {
        'http': {
            'js_import registry_access from registry_access.js;',
            'js_preload_object registry_access_rules from /etc/nginx/registry/access.json;',
            # The plain-pull expression as an nginx string: backslashes and quotes escaped.
            '"~^GET (x)\\"\\\\.$" $1;',
            'include /etc/nginx/registry/access.conf;',
            'listen unix:/run/registry-auth/denied.sock;',
        },
    },
    'access_rules': {
        'http': {'js_set $registry_access_njs registry_access.decision;', 'default "registry_denied ";'},
        'refusal': {'$registry_access_refusal'},
    },
    'anonymous_pull': {
        'http': {
            'listen 5444 ssl;',
            'proxy_pass $registry_anonymous_upstream;',
            'default http://registry_denied;',
            'ssl_protocols TLSv1.2 TLSv1.3;',
        },
    },
    'blob_shortcut': {
        'http': {'"~^1/v2/(%s(?:/%s)*)/blobs/sha256:(([a-f0-9]{2})[a-f0-9]{62})$" $3;' % (NAME, NAME)},
        'client_server': {
            'location ~ "^/v2/.+/blobs/sha256:[a-f0-9]{64}$" {',
            'if ($registry_refusal != "") {',
            'location @registry {',
            'proxy_pass $registry_upstream;',
        },
    },
}
PARTS = ('main', 'http', 'client_server', 'refusal')


def environment():
    # As Ansible's template module: trim_blocks on, the role's templates folder searched.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 (nginx configuration, not HTML)
    )
    env.filters['hash'] = lambda text, kind: hashlib.new(kind, text.encode()).hexdigest()
    return env


def lines(text):
    return {
        ' '.join(line.split()) for line in text.splitlines() if line.strip() and not line.strip().startswith('#')
    } | {' '.join(line.split()) for line in text.splitlines() if line.strip().startswith('# registry_')}


def render_part(feature, part, **values):
    module = environment().get_template('nginx/%s.conf.j2' % feature).make_module({**VALUES, **values})
    return getattr(module, part)() if hasattr(module, part) else None


def test_every_feature_file_has_a_switch_and_every_switch_a_file():
    assert sorted(SWITCHED) == FEATURE_FILES
    assert sorted(EXPECTED) == FEATURE_FILES


@pytest.mark.parametrize('feature', FEATURE_FILES)
def test_each_feature_file_renders_on_its_own(feature):
    for part in PARTS:
        text = render_part(feature, part)
        wanted = EXPECTED[feature].get(part)
        if wanted is None:
            assert text is None, '%s has a %s part the test does not know' % (feature, part)
            continue
        assert wanted <= lines(text), sorted(wanted - lines(text))
        assert text.count('{') == text.count('}')


def render_frame(features, **values):
    return (
        environment().get_template('nginx.conf.j2').render({**VALUES, '_registry_nginx_features': features, **values})
    )


def test_the_frame_holds_each_switched_feature_once():
    text = render_frame(SWITCHED)
    for feature in FEATURE_FILES:
        for part in ('main', 'http', 'client_server'):
            rendered = render_part(feature, part)
            if rendered and rendered.strip():
                assert text.count(rendered.strip()) == 1, (feature, part)
    assert text.count('{') == text.count('}')
    # read_only comes before access_rules: a write to a read-only registry is refused as read-only.
    assert 'map "$registry_read_only_refusal$registry_access_refusal" $registry_refusal {' in lines(text)


def test_the_frame_without_features_routes_every_request_to_the_registry():
    text = render_frame(['login_basic'])
    assert {
        'map $request_method $registry_refusal {',
        '"" http://registry;',
        'proxy_pass $registry_upstream;',
        'auth_basic "Registry Realm";',
    } <= lines(text)
    for feature in set(FEATURE_FILES) - {'login_basic'}:
        for part in ('http', 'client_server'):
            rendered = render_part(feature, part)
            if rendered and rendered.strip():
                assert rendered.strip() not in text, (feature, part)


@pytest.mark.parametrize(
    ('features', 'refusals'),
    [
        (['read_only'], '$registry_read_only_refusal'),
        (['access_deciders', 'access_rules'], '$registry_access_refusal'),
        (['read_only', 'access_deciders', 'access_rules'], '$registry_read_only_refusal$registry_access_refusal'),
    ],
)
def test_the_route_takes_the_first_refusal(features, refusals):
    text = render_frame(['login_basic'] + features, _registry_nginx_upstream_scheme='https')
    assert {
        'map "%s" $registry_refusal {' % refusals,
        '"~^(\\S+) " $1;',
        '"" https://registry;',
        'default http://$registry_refusal;',
    } <= lines(text)
