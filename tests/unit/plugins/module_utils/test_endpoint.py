"""Host, port and URL arithmetic: every key of docs/design.md "registry_tls_port results"."""

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.privreg.registry.plugins.module_utils._endpoint import (
    DEFAULT_TOPOLOGY,
    TOPOLOGIES,
    TOPOLOGY_ROLES,
    EndpointError,
    docker_certs_dir,
    endpoint,
    parse_bind_address,
    parse_host,
    parse_port,
    registry_tls_port_facts,
    registry_url,
    topology_role,
)

COLLECTION_ROOT = pathlib.Path(__file__).resolve().parents[4]


@pytest.mark.parametrize(
    'value, name, kind, literal',
    [
        ('r.example', 'r.example', 'dns', 'r.example'),
        ('Registry.Example.ORG', 'registry.example.org', 'dns', 'registry.example.org'),
        ('localhost', 'localhost', 'dns', 'localhost'),
        ('xn--bcher-kva.example', 'xn--bcher-kva.example', 'dns', 'xn--bcher-kva.example'),
        ('a' * 63 + '.example', 'a' * 63 + '.example', 'dns', 'a' * 63 + '.example'),
        ('10.0.0.5', '10.0.0.5', 'ipv4', '10.0.0.5'),
        ('127.0.0.1', '127.0.0.1', 'ipv4', '127.0.0.1'),
        ('::1', '::1', 'ipv6', '[::1]'),
        ('[::1]', '::1', 'ipv6', '[::1]'),
        ('2001:DB8:0:0::10', '2001:db8::10', 'ipv6', '[2001:db8::10]'),
        ('[2001:db8::10]', '2001:db8::10', 'ipv6', '[2001:db8::10]'),
    ],
)
def test_parse_host_accepts(value, name, kind, literal):
    host = parse_host(value)
    assert (host.name, host.kind, host.literal) == (name, kind, literal)
    assert (host.ip is None) == (kind == 'dns')


@pytest.mark.parametrize(
    'value, message',
    [
        ('', "host must be a non-empty string: the DNS name or IP address, got ''"),
        (None, 'host must be a non-empty string: the DNS name or IP address, got None'),
        (443, 'host must be a non-empty string: the DNS name or IP address, got 443'),
        ('r example', "host 'r example' must not contain spaces"),
        (' r.example', "host ' r.example' must not contain spaces"),
        ('r.example\n', "host 'r.example\n' must not contain spaces"),
        (
            'https://r.example',
            "host 'https://r.example' must not contain a scheme (https://): give the bare DNS name or IP address",
        ),
        (
            'http://r.example:5000/v2/',
            "host 'http://r.example:5000/v2/' must not contain a scheme (http://):"
            " give the bare DNS name or IP address",
        ),
        ('r.example/v2/', "host 'r.example/v2/' must not contain a path (/v2/): give the bare DNS name or IP address"),
        ('r.example:44301', "host 'r.example:44301' must not contain a port: set port: 44301 instead"),
        ('10.0.0.5:5000', "host '10.0.0.5:5000' must not contain a port: set port: 5000 instead"),
        ('[::1]:443', "host '[::1]:443' must not contain a port: set port: 443 instead"),
        ('r.example:https', "host 'r.example:https' is not a valid DNS name or IP address"),
        (
            'r_example',
            "host 'r_example' is not a valid DNS name or IP address: use letters, digits, hyphens and dots,"
            " labels of 1 to 63 characters",
        ),
        (
            'r.example.',
            "host 'r.example.' is not a valid DNS name or IP address: use letters, digits, hyphens and"
            " dots, labels of 1 to 63 characters",
        ),
        (
            '-r.example',
            "host '-r.example' is not a valid DNS name or IP address: use letters, digits, hyphens and"
            " dots, labels of 1 to 63 characters",
        ),
        (
            'user@r.example',
            "host 'user@r.example' is not a valid DNS name or IP address: use letters, digits,"
            " hyphens and dots, labels of 1 to 63 characters",
        ),
        (
            'a' * 64 + '.example',
            "host '%s.example' is not a valid DNS name or IP address: use letters, digits,"
            " hyphens and dots, labels of 1 to 63 characters" % ('a' * 64),
        ),
        ('10.0.0.256', "host '10.0.0.256' is not a valid IPv4 address"),
        ('10.0.0', "host '10.0.0' is not a valid IPv4 address"),
        ('[r.example]', "host '[r.example]' is not a valid IPv6 address"),
        ('[10.0.0.5]', "host '[10.0.0.5]' is not a valid IPv6 address"),
        ('2001:db8::10::1', "host '2001:db8::10::1' is not a valid DNS name or IP address"),
        (
            'fe80::1%eth0',
            "host 'fe80::1%eth0' must not contain an IPv6 zone index (%eth0): a certificate cannot name it",
        ),
    ],
)
def test_parse_host_rejects(value, message):
    with pytest.raises(EndpointError) as error:
        parse_host(value)
    assert str(error.value) == message


def test_parse_host_names_the_option_and_where_the_port_goes():
    with pytest.raises(EndpointError) as error:
        parse_host('registry:5000', 'upstream_host', 'registry_port')
    assert str(error.value) == "upstream_host 'registry:5000' must not contain a port: set registry_port: 5000 instead"


@pytest.mark.parametrize(
    'value, port', [(1, 1), (443, 443), (5000, 5000), (44301, 44301), (65535, 65535), ('44301', 44301)]
)
def test_parse_port_accepts(value, port):
    assert parse_port(value) == port


@pytest.mark.parametrize(
    'value, message',
    [
        (0, 'port must be an integer from 1 to 65535, got 0'),
        (65536, 'port must be an integer from 1 to 65535, got 65536'),
        (-443, 'port must be an integer from 1 to 65535, got -443'),
        ('https', "port must be an integer from 1 to 65535, got 'https'"),
        ('', "port must be an integer from 1 to 65535, got ''"),
        (None, 'port must be an integer from 1 to 65535, got None'),
        (True, 'port must be an integer from 1 to 65535, got True'),
        (443.0, 'port must be an integer from 1 to 65535, got 443.0'),
        ('\u00b2', "port must be an integer from 1 to 65535, got '\u00b2'"),
        (' 443', "port must be an integer from 1 to 65535, got ' 443'"),
    ],
)
def test_parse_port_rejects(value, message):
    with pytest.raises(EndpointError) as error:
        parse_port(value)
    assert str(error.value) == message


@pytest.mark.parametrize(
    'value, prefix',
    [
        (None, ''),
        ('', ''),
        ('127.0.0.1', '127.0.0.1'),
        ('0.0.0.0', '0.0.0.0'),  # noqa: S104
        ('::1', '[::1]'),
        ('[::1]', '[::1]'),
        ('2001:DB8::10', '[2001:db8::10]'),
    ],
)
def test_parse_bind_address(value, prefix):
    assert parse_bind_address(value) == prefix


@pytest.mark.parametrize('value', ['r.example', 'localhost', '127.0.0.1:5000', '[r.example]', 0, ' ::1'])
def test_parse_bind_address_rejects(value):
    with pytest.raises(EndpointError) as error:
        parse_bind_address(value)
    assert str(error.value) == ("bind_address '%s' must be an IPv4 or IPv6 address, or empty for all addresses" % value)


@pytest.mark.parametrize(
    'host, port, expected_endpoint',
    [
        ('r.example', 443, 'r.example'),
        ('r.example', 5000, 'r.example:5000'),
        ('r.example', 44301, 'r.example:44301'),
        ('10.0.0.5', 443, '10.0.0.5'),
        ('10.0.0.5', 5000, '10.0.0.5:5000'),
        ('10.0.0.5', 44301, '10.0.0.5:44301'),
        ('2001:db8::10', 443, '[2001:db8::10]'),
        ('2001:db8::10', 5000, '[2001:db8::10]:5000'),
        ('[2001:db8::10]', 44301, '[2001:db8::10]:44301'),
    ],
)
def test_endpoint_url_and_certs_dir(host, port, expected_endpoint):
    assert endpoint(host, port) == expected_endpoint
    assert registry_url(host, port) == 'https://' + expected_endpoint
    assert docker_certs_dir(host, port) == '/etc/docker/certs.d/' + expected_endpoint


def test_defaults_are_port_443():
    assert endpoint('r.example') == 'r.example'
    assert registry_url('r.example') == 'https://r.example'
    assert docker_certs_dir('r.example') == '/etc/docker/certs.d/r.example'


# host, port, topology, bind_address -> endpoint, published_ports (registry_port 5000, nginx_port 443)
FACT_CASES = [
    ('r.example', 443, 'nginx_proxy', None, 'r.example', ['443:443'], '443 ssl'),
    ('r.example', 5000, 'nginx_proxy', None, 'r.example:5000', ['5000:443'], '5000 ssl'),
    ('r.example', 44301, 'nginx_proxy', None, 'r.example:44301', ['44301:443'], '44301 ssl'),
    ('r.example', 443, 'native', None, 'r.example', ['443:5000'], '443 ssl'),
    ('r.example', 5000, 'native', None, 'r.example:5000', ['5000:5000'], '5000 ssl'),
    ('r.example', 44301, 'native', None, 'r.example:44301', ['44301:5000'], '44301 ssl'),
    ('10.0.0.5', 44301, 'native', '10.0.0.5', '10.0.0.5:44301', ['10.0.0.5:44301:5000'], '10.0.0.5:44301 ssl'),
    ('10.0.0.5', 443, 'nginx_proxy', '127.0.0.1', '10.0.0.5', ['127.0.0.1:443:443'], '127.0.0.1:443 ssl'),
    ('::1', 5000, 'native', '::1', '[::1]:5000', ['[::1]:5000:5000'], '[::1]:5000 ssl'),
    (
        '[2001:db8::10]',
        44301,
        'nginx_proxy',
        '[2001:db8::10]',
        '[2001:db8::10]:44301',
        ['[2001:db8::10]:44301:443'],
        '[2001:db8::10]:44301 ssl',
    ),
    ('2001:db8::10', 443, 'nginx_proxy', '', '[2001:db8::10]', ['443:443'], '443 ssl'),
]


@pytest.mark.parametrize(
    'host, port, topology, bind_address, expected_endpoint, published_ports, nginx_host_listen', FACT_CASES
)
def test_registry_tls_port_facts(
    host, port, topology, bind_address, expected_endpoint, published_ports, nginx_host_listen
):
    facts = registry_tls_port_facts(host, port, topology, bind_address)
    assert facts == {
        'host': parse_host(host).name,
        'client_port': port,
        'topology': topology,
        'endpoint': expected_endpoint,
        'registry_http_host': 'https://' + expected_endpoint,
        'registry_http_addr': ':5000',
        'published_ports': published_ports,
        'nginx_listen': '443 ssl',
        'nginx_host_listen': nginx_host_listen,
        'anonymous_pull_endpoint': None,
        'anonymous_pull_certs_d_dir': None,
        'nginx_anonymous_pull_listen': None,
        'nginx_upstream': 'http://registry:5000',
        'certs_d_dir': '/etc/docker/certs.d/' + expected_endpoint,
        'probe_url': 'https://%s/v2/' % expected_endpoint,
        'subject_alt_name': ('DNS:' if parse_host(host).kind == 'dns' else 'IP:') + parse_host(host).name,
    }


@pytest.mark.parametrize(
    'host, subject_alt_name',
    [
        ('Registry.Example.org', 'DNS:registry.example.org'),
        ('localhost', 'DNS:localhost'),
        ('127.0.0.1', 'IP:127.0.0.1'),
        ('[2001:DB8::10]', 'IP:2001:db8::10'),
    ],
)
def test_subject_alt_name(host, subject_alt_name):
    assert registry_tls_port_facts(host)['subject_alt_name'] == subject_alt_name


def test_design_md_example():
    """The example row of docs/design.md, keys the roles read."""
    facts = registry_tls_port_facts('r.example', 44301)
    assert {
        key: facts[key]
        for key in (
            'endpoint',
            'registry_http_host',
            'registry_http_addr',
            'published_ports',
            'nginx_listen',
            'nginx_host_listen',
            'nginx_upstream',
            'certs_d_dir',
            'probe_url',
        )
    } == {
        'endpoint': 'r.example:44301',
        'registry_http_host': 'https://r.example:44301',
        'registry_http_addr': ':5000',
        'published_ports': ['44301:443'],
        'nginx_listen': '443 ssl',
        'nginx_host_listen': '44301 ssl',
        'nginx_upstream': 'http://registry:5000',
        'certs_d_dir': '/etc/docker/certs.d/r.example:44301',
        'probe_url': 'https://r.example:44301/v2/',
    }


@pytest.mark.parametrize(
    'kwargs, key, value',
    [
        (dict(registry_port=5443), 'registry_http_addr', ':5443'),
        (dict(registry_port=5443), 'nginx_upstream', 'http://registry:5443'),
        (dict(registry_port=5443, topology='native', port=44301), 'published_ports', ['44301:5443']),
        (dict(upstream_tls=True), 'nginx_upstream', 'https://registry:5000'),
        (dict(upstream_host='Privreg-Registry'), 'nginx_upstream', 'http://privreg-registry:5000'),
        (dict(upstream_host='privreg_registry_1'), 'nginx_upstream', 'http://privreg_registry_1:5000'),
        (dict(upstream_host='172.18.0.2'), 'nginx_upstream', 'http://172.18.0.2:5000'),
        (dict(upstream_host='fd00::2', upstream_tls=True), 'nginx_upstream', 'https://[fd00::2]:5000'),
        (dict(nginx_port=8443), 'nginx_listen', '8443 ssl'),
        (dict(anonymous_pull_port=44302), 'nginx_anonymous_pull_listen', '44302 ssl'),
        (
            dict(anonymous_pull_port='44302', bind_address='127.0.0.1'),
            'nginx_anonymous_pull_listen',
            '127.0.0.1:44302 ssl',
        ),
        (dict(anonymous_pull_port=44302, port=44301), 'anonymous_pull_endpoint', 'r.example:44302'),
        (dict(anonymous_pull_port=44302), 'anonymous_pull_certs_d_dir', '/etc/docker/certs.d/r.example:44302'),
        (dict(nginx_port=8443, port=44301), 'published_ports', ['44301:8443']),
        (dict(nginx_port=8443, port=44301, topology='native'), 'published_ports', ['44301:5000']),
    ],
)
def test_registry_tls_port_facts_inner_ports(kwargs, key, value):
    assert registry_tls_port_facts('r.example', **kwargs)[key] == value


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (
            dict(host='https://r.example:44301'),
            "host 'https://r.example:44301' must not contain a scheme (https://): give the bare DNS name or IP address",
        ),
        (dict(host='r.example', port=70000), 'port must be an integer from 1 to 65535, got 70000'),
        (dict(host='r.example', registry_port=0), 'registry_port must be an integer from 1 to 65535, got 0'),
        (dict(host='r.example', nginx_port='x'), "nginx_port must be an integer from 1 to 65535, got 'x'"),
        (
            dict(host='r.example', upstream_host='http://registry'),
            "upstream_host 'http://registry' must not contain a scheme (http://): give the bare DNS name or IP address",
        ),
        (
            dict(host='r.example', upstream_host='_registry'),
            "upstream_host '_registry' is not a valid DNS name or IP address: use letters, digits, hyphens,"
            ' underscores and dots, labels of 1 to 63 characters',
        ),
        (
            dict(host='r_example', upstream_host='registry_1'),
            "host 'r_example' is not a valid DNS name or IP address: use letters, digits, hyphens and dots,"
            ' labels of 1 to 63 characters',
        ),
        (dict(host='r.example', topology='proxy'), "topology must be one of native, nginx_proxy, got 'proxy'"),
        (dict(host='r.example', upstream_tls='yes'), "upstream_tls must be true or false, got 'yes'"),
        (
            dict(host='r.example', port=44301, anonymous_pull_port=44301),
            'anonymous_pull_port must differ from port (44301): the docker client sends a login only after'
            ' a 401 on /v2/, so anonymous pulls and logins cannot share a port',
        ),
        (
            dict(host='r.example', anonymous_pull_port=0),
            'anonymous_pull_port must be an integer from 1 to 65535, got 0',
        ),
        (
            dict(host='r.example', bind_address='any'),
            "bind_address 'any' must be an IPv4 or IPv6 address, or empty for all addresses",
        ),
    ],
)
def test_registry_tls_port_facts_rejects(kwargs, message):
    with pytest.raises(EndpointError) as error:
        registry_tls_port_facts(**kwargs)
    assert str(error.value) == message


@pytest.mark.parametrize(
    'topology, role',
    [
        ('native', 'privreg.registry.registry_native'),
        ('nginx_proxy', 'privreg.registry.registry_nginx_proxy'),
        ('', 'privreg.registry.registry_nginx_proxy'),
        (None, 'privreg.registry.registry_nginx_proxy'),
    ],
)
def test_topology_role(topology, role):
    assert topology_role(topology) == role


def test_topology_role_default_is_nginx_proxy():
    assert DEFAULT_TOPOLOGY == 'nginx_proxy'
    assert topology_role() == topology_role(DEFAULT_TOPOLOGY) == 'privreg.registry.registry_nginx_proxy'


def test_every_topology_has_a_role_of_the_collection():
    assert TOPOLOGIES == ('native', 'nginx_proxy')
    for topology in TOPOLOGIES:
        namespace, name, role = topology_role(topology).split('.')
        assert (namespace, name) == ('privreg', 'registry')
        assert (COLLECTION_ROOT / 'roles' / role / 'tasks' / 'main.yml').is_file()
    assert sorted(TOPOLOGY_ROLES) == sorted(TOPOLOGIES)


@pytest.mark.parametrize(
    'topology, message',
    [
        ('proxy', "topology must be one of native, nginx_proxy, got 'proxy'"),
        ('Native', "topology must be one of native, nginx_proxy, got 'Native'"),
        (' native', "topology must be one of native, nginx_proxy, got ' native'"),
        ('registry_native', "topology must be one of native, nginx_proxy, got 'registry_native'"),
        (
            'privreg.registry.registry_native',
            "topology must be one of native, nginx_proxy, got 'privreg.registry.registry_native'",
        ),
        (0, 'topology must be one of native, nginx_proxy, got 0'),
        (False, 'topology must be one of native, nginx_proxy, got False'),
        (['native'], "topology must be one of native, nginx_proxy, got ['native']"),
    ],
)
def test_topology_role_rejects(topology, message):
    with pytest.raises(EndpointError) as error:
        topology_role(topology)
    assert str(error.value) == message
