"""The filters are the _endpoint functions, with AnsibleFilterError for bad input."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.privreg.registry.plugins.filter.registry_endpoint import FilterModule
from ansible_collections.privreg.registry.plugins.module_utils._endpoint import topology_role

FILTERS = FilterModule().filters()


def test_filter_names():
    assert sorted(FILTERS) == [
        'docker_certs_dir',
        'registry_endpoint',
        'registry_topology_role',
        'registry_url',
    ]


@pytest.mark.parametrize(
    'args, endpoint',
    [
        (('r.example',), 'r.example'),
        (('r.example', 443), 'r.example'),
        (('r.example', 5000), 'r.example:5000'),
        (('R.Example', '44301'), 'r.example:44301'),
        (('10.0.0.5', 44301), '10.0.0.5:44301'),
        (('2001:db8::10', 5000), '[2001:db8::10]:5000'),
        (('[::1]',), '[::1]'),
    ],
)
def test_filters(args, endpoint):
    assert FILTERS['registry_endpoint'](*args) == endpoint
    assert FILTERS['registry_url'](*args) == 'https://' + endpoint
    assert FILTERS['docker_certs_dir'](*args) == '/etc/docker/certs.d/' + endpoint


@pytest.mark.parametrize(
    'topology, role',
    [
        ('native', 'privreg.registry.registry_native'),
        ('nginx_proxy', 'privreg.registry.registry_nginx_proxy'),
        ('', 'privreg.registry.registry_nginx_proxy'),
        (None, 'privreg.registry.registry_nginx_proxy'),
    ],
)
def test_registry_topology_role_filter(topology, role):
    assert FILTERS['registry_topology_role'](topology) == role == topology_role(topology)


@pytest.mark.parametrize(
    'name, args, message',
    [
        (
            'registry_endpoint',
            ('r.example:44301',),
            "host 'r.example:44301' must not contain a port: set port: 44301 instead",
        ),
        (
            'registry_url',
            ('https://r.example',),
            "host 'https://r.example' must not contain a scheme (https://): give the bare DNS name or IP address",
        ),
        ('docker_certs_dir', ('r.example', 0), 'port must be an integer from 1 to 65535, got 0'),
        ('registry_endpoint', ('r example', 443), "host 'r example' must not contain spaces"),
        ('registry_topology_role', ('proxy',), "topology must be one of native, nginx_proxy, got 'proxy'"),
        ('registry_topology_role', ('Native',), "topology must be one of native, nginx_proxy, got 'Native'"),
        ('registry_topology_role', (0,), 'topology must be one of native, nginx_proxy, got 0'),
    ],
)
def test_bad_input_is_a_filter_error_with_the_same_message(name, args, message):
    with pytest.raises(AnsibleFilterError) as error:
        FILTERS[name](*args)
    assert error.value.message == message
