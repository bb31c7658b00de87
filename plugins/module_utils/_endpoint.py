# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to privreg.registry: its functions may change in any release.
# Other collections, roles and playbooks use the modules and filters instead.

"""Host, port and URL arithmetic of a registry on any TLS port.

One source of truth for the registry_tls_port module, the registry_endpoint
filters and through them both roles: every address a client, the registry,
nginx or the docker CLI sees is computed here, nowhere else.

Pure functions: no I/O, no Ansible imports. Bad input raises EndpointError
with a message that says what is wrong and what to do.
"""

from __future__ import annotations

import ipaddress
import re
from collections import namedtuple

DEFAULT_PORT = 443
DEFAULT_REGISTRY_PORT = 5000
DEFAULT_NGINX_PORT = 443
DEFAULT_UPSTREAM_HOST = 'registry'
# The one list of topologies: each names the public role that deploys it.
TOPOLOGY_ROLES = {
    'native': 'privreg.registry.registry_native',
    'nginx_proxy': 'privreg.registry.registry_nginx_proxy',
}
TOPOLOGIES = tuple(TOPOLOGY_ROLES)
DEFAULT_TOPOLOGY = 'nginx_proxy'
DOCKER_CERTS_D = '/etc/docker/certs.d'

_DNS_LABEL = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
# Docker's embedded DNS resolves container names, which may hold '_' (registry_1):
# accepted where nginx looks up a container, never in a name a certificate covers.
_CONTAINER_LABEL = re.compile(r'^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$')
_HOST_WITH_PORT = re.compile(r'^(\[[^\]]*\]|[^:\[\]]+):([0-9]+)$')
_DIGITS_AND_DOTS = re.compile(r'^[0-9.]+$')
_DIGITS = re.compile(r'^[0-9]+$')


class EndpointError(ValueError):
    """Bad host, port or option: the message is meant for the sysadmin."""


class Host(namedtuple('Host', ['name', 'kind', 'ip'])):
    """A validated host: `name` normalized (lower case, IPv6 without brackets).

    `kind` is 'dns', 'ipv4' or 'ipv6'; `ip` is the ipaddress object, None for names.
    """

    __slots__ = ()

    @property
    def literal(self):
        """The host as written in a URL or host:port: IPv6 in brackets."""
        return '[%s]' % self.name if self.kind == 'ipv6' else self.name

    @property
    def subject_alt_name(self):
        """The subjectAltName entry a certificate for this host needs (clients ignore the CN)."""
        return ('DNS:' if self.kind == 'dns' else 'IP:') + self.name


def parse_host(value, option='host', port_option='port', container_name=False):
    """Validate a DNS name, IPv4 or IPv6 literal (brackets optional) and return a Host.

    `option` names the option in messages; `port_option` is where a port
    written into the host belongs instead. `container_name` also accepts '_'
    inside labels, as Docker's DNS does for container names.
    """
    if not isinstance(value, str) or not value:
        raise EndpointError('%s must be a non-empty string: the DNS name or IP address, got %r' % (option, value))
    if any(char.isspace() for char in value):
        raise EndpointError("%s '%s' must not contain spaces" % (option, value))
    if '://' in value:
        raise EndpointError(
            "%s '%s' must not contain a scheme (%s://): give the bare DNS name or IP address"
            % (option, value, value.split('://', 1)[0])
        )
    if '/' in value:
        raise EndpointError(
            "%s '%s' must not contain a path (%s): give the bare DNS name or IP address"
            % (option, value, value[value.index('/') :])
        )

    bracketed = value.startswith('[') and value.endswith(']')
    text = value[1:-1] if bracketed else value
    if not bracketed and ':' in text and not _is_ipv6(text):
        with_port = _HOST_WITH_PORT.match(value)
        if with_port:
            raise EndpointError(
                "%s '%s' must not contain a port: set %s: %s instead" % (option, value, port_option, with_port.group(2))
            )
        raise EndpointError("%s '%s' is not a valid DNS name or IP address" % (option, value))

    if bracketed or ':' in text:
        if '%' in text:
            raise EndpointError(
                "%s '%s' must not contain an IPv6 zone index (%s): a certificate cannot name it"
                % (option, value, text[text.index('%') :])
            )
        if not _is_ipv6(text):
            raise EndpointError("%s '%s' is not a valid IPv6 address" % (option, value))
        address = ipaddress.IPv6Address(text)
        return Host(address.compressed, 'ipv6', address)

    if _DIGITS_AND_DOTS.match(text):
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            raise EndpointError("%s '%s' is not a valid IPv4 address" % (option, value)) from None
        return Host(address.compressed, 'ipv4', address)

    name = text.lower()
    labels = name.split('.')
    label = _CONTAINER_LABEL if container_name else _DNS_LABEL
    if len(name) > 253 or not all(label.match(part) for part in labels):
        raise EndpointError(
            "%s '%s' is not a valid DNS name or IP address: use letters, digits, hyphens%s and dots,"
            " labels of 1 to 63 characters" % (option, value, ', underscores' if container_name else '')
        )
    return Host(name, 'dns', None)


def _is_ipv6(text):
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def parse_port(value, option='port'):
    """Return the port as an int; accepts ints and digit strings (inventory values)."""
    port = int(value) if isinstance(value, str) and _DIGITS.match(value) else value
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise EndpointError('%s must be an integer from 1 to 65535, got %r' % (option, value))
    return port


def parse_bind_address(value):
    """Return the bind address as it goes before a published port ('' for all addresses)."""
    if value is None or value == '':
        return ''
    text = value[1:-1] if isinstance(value, str) and value.startswith('[') and value.endswith(']') else value
    try:
        if not isinstance(text, str):
            raise ValueError(text)
        address = ipaddress.ip_address(text)
    except ValueError:
        raise EndpointError(
            "bind_address '%s' must be an IPv4 or IPv6 address, or empty for all addresses" % (value,)
        ) from None
    return '[%s]' % address.compressed if address.version == 6 else address.compressed


def check_topology(topology):
    """Return `topology` if it is one of TOPOLOGIES; anything else is an EndpointError."""
    if not isinstance(topology, str) or topology not in TOPOLOGY_ROLES:
        raise EndpointError('topology must be one of %s, got %r' % (', '.join(TOPOLOGIES), topology))
    return topology


def topology_role(topology=None):
    """The public role that deploys `topology` ('native' -> 'privreg.registry.registry_native').

    None or '' (an unset inventory variable) is the default topology, nginx_proxy.
    """
    if topology is None or topology == '':
        topology = DEFAULT_TOPOLOGY
    return TOPOLOGY_ROLES[check_topology(topology)]


def endpoint(host, port=DEFAULT_PORT):
    """What clients type: host[:port], the port left out for 443, IPv6 in brackets."""
    literal = parse_host(host).literal
    port = parse_port(port)
    return literal if port == 443 else '%s:%d' % (literal, port)


def registry_url(host, port=DEFAULT_PORT):
    """The registry's external https URL (REGISTRY_HTTP_HOST): scheme, host and port unless 443."""
    return 'https://%s' % endpoint(host, port)


def docker_certs_dir(host, port=DEFAULT_PORT):
    """The docker client's folder for the registry's CA: /etc/docker/certs.d/<endpoint>."""
    return '%s/%s' % (DOCKER_CERTS_D, endpoint(host, port))


def published_port(bind_address, host_port, container_port):
    """A docker published_ports entry: [bind_address:]host_port:container_port."""
    prefix = parse_bind_address(bind_address)
    mapping = '%d:%d' % (host_port, container_port)
    return '%s:%s' % (prefix, mapping) if prefix else mapping


def nginx_host_listen(bind_address, port):
    """nginx's `listen` parameters on the host's own network: [bind_address:]port ssl."""
    prefix = parse_bind_address(bind_address)
    return '%s:%d ssl' % (prefix, port) if prefix else '%d ssl' % port


def registry_tls_port_facts(
    host,
    port=DEFAULT_PORT,
    topology=DEFAULT_TOPOLOGY,
    bind_address=None,
    registry_port=DEFAULT_REGISTRY_PORT,
    upstream_host=DEFAULT_UPSTREAM_HOST,
    upstream_tls=False,
    nginx_port=DEFAULT_NGINX_PORT,
    anonymous_pull_port=None,
):
    """The whole consistent set both roles use (docs/design.md, "registry_tls_port results")."""
    parsed = parse_host(host)
    port = parse_port(port)
    registry_port = parse_port(registry_port, 'registry_port')
    nginx_port = parse_port(nginx_port, 'nginx_port')
    upstream = parse_host(upstream_host, 'upstream_host', 'registry_port', container_name=True)
    check_topology(topology)
    if not isinstance(upstream_tls, bool):
        raise EndpointError('upstream_tls must be true or false, got %r' % (upstream_tls,))

    if anonymous_pull_port is not None:
        anonymous_pull_port = parse_port(anonymous_pull_port, 'anonymous_pull_port')
        if anonymous_pull_port == port:
            raise EndpointError(
                'anonymous_pull_port must differ from port (%d): the docker client sends a login only after'
                ' a 401 on /v2/, so anonymous pulls and logins cannot share a port' % port
            )

    client_endpoint = endpoint(parsed.name, port)
    client_url = registry_url(parsed.name, port)
    client_facing_port = registry_port if topology == 'native' else nginx_port
    return {
        'host': parsed.name,
        'client_port': port,
        'topology': topology,
        'endpoint': client_endpoint,
        'registry_http_host': client_url,
        'registry_http_addr': ':%d' % registry_port,
        'published_ports': [published_port(bind_address, port, client_facing_port)],
        'nginx_listen': '%d ssl' % nginx_port,
        'nginx_host_listen': nginx_host_listen(bind_address, port),
        'anonymous_pull_endpoint': None if anonymous_pull_port is None else endpoint(parsed.name, anonymous_pull_port),
        'anonymous_pull_certs_d_dir': (
            None if anonymous_pull_port is None else docker_certs_dir(parsed.name, anonymous_pull_port)
        ),
        'nginx_anonymous_pull_listen': (
            None if anonymous_pull_port is None else nginx_host_listen(bind_address, anonymous_pull_port)
        ),
        'nginx_upstream': '%s://%s:%d' % ('https' if upstream_tls else 'http', upstream.literal, registry_port),
        'certs_d_dir': docker_certs_dir(parsed.name, port),
        'probe_url': client_url + '/v2/',
        'subject_alt_name': parsed.subject_alt_name,
    }
