#!/usr/bin/python
# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: registry_tls_port
short_description: Compute and check the addresses of a private registry on any TLS port
version_added: 0.1.0
description:
  - Computes, from the host and port clients use, the one consistent set of addresses both roles
    need (the client endpoint, C(REGISTRY_HTTP_HOST), C(REGISTRY_HTTP_ADDR), the published ports
    of the container that faces clients, nginx's C(listen) and upstream, the docker client's
    C(certs.d) folder and the URL to probe).
  - On a port other than 443 these must all agree, or pushes stop after the first layers.
  - When O(certificate) is given, checks on the target that it covers O(host) (DNS names with
    wildcard rules, IP addresses through IP SANs; the Common Name is ignored, as Go clients do),
    that it is valid now, and that O(private_key) matches it. Warns when it expires soon.
  - Changes nothing.
author:
  - privreg.registry maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same result.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
extends_documentation_fragment:
  - privreg.registry._registry_endpoint
options:
  topology:
    description:
      - V(native) publishes the registry container, which terminates TLS and checks accounts.
      - V(nginx_proxy) publishes an nginx container that terminates TLS and proxies to the registry.
    type: str
    choices: [native, nginx_proxy]
    default: nginx_proxy
  bind_address:
    description:
      - The host address the published port binds to. Empty means all addresses.
      - An IPv6 address is written in brackets in RV(published_ports).
    type: str
  registry_port:
    description:
      - The registry's port inside its container.
      - Deprecated, no role of this collection uses it; it will be removed in privreg.registry 1.0.0. The roles' registry listens on V(5000).
    type: int
    default: 5000
  upstream_host:
    description:
      - The registry container's name, as nginx reached it over a network of earlier releases; it only
        goes into RV(nginx_upstream).
      - Deprecated, no role of this collection uses it; it will be removed in privreg.registry 1.0.0. nginx reaches the registry over a unix socket.
      - A DNS name, an IP address, or a container name with V(_) (Docker's DNS resolves those too).
    type: str
    default: registry
  upstream_tls:
    description:
      - Whether nginx reaches the registry over TLS (V(true)) or plain HTTP; it only goes into RV(nginx_upstream).
      - Deprecated, no role of this collection uses it; it will be removed in privreg.registry 1.0.0.
    type: bool
    default: false
  nginx_port:
    description:
      - nginx's TLS port inside a container of its own; it only goes into RV(nginx_listen) and, for
        V(nginx_proxy), the container side of RV(published_ports).
      - Deprecated, no role of this collection uses it; it will be removed in privreg.registry 1.0.0. nginx runs on the host's network (RV(nginx_host_listen)).
    type: int
    default: 443
  anonymous_pull_port:
    description:
      - The host port of the nginx topology's anonymous pull server (C(registry_anonymous_pull_port)), if any.
      - "Must differ from O(port): the docker client sends a login only after a 401 on C(/v2/)."
    type: int
  certificate:
    description:
      - Path on the target of the PEM certificate served to clients (a chain after it is allowed).
      - When given, the module fails if it does not cover O(host) or is not valid now.
    type: path
  private_key:
    description:
      - Path on the target of the PEM private key of O(certificate); must be unencrypted.
      - When given, the module fails if it does not match O(certificate).
    type: path
  expiry_warning_days:
    description: Warn when O(certificate) expires in fewer than this many days.
    type: int
    default: 30
requirements:
  - cryptography >= 38 on the target (Debian 12's python3-cryptography), when O(certificate) is given
seealso:
  - plugin: privreg.registry.registry_endpoint
    plugin_type: filter
  - plugin: privreg.registry.registry_url
    plugin_type: filter
  - plugin: privreg.registry.docker_certs_dir
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Registry addresses for port 44301 are known and the certificate serves them
  privreg.registry.registry_tls_port:
    host: registry.example.org
    port: 44301
    topology: nginx_proxy
    certificate: /etc/privreg/tls/registry.crt
    private_key: /etc/privreg/tls/registry.key
  register: registry_tls

- name: Registry container knows its external URL
  community.docker.docker_container:
    name: registry
    image: registry:2
    env:
      REGISTRY_HTTP_HOST: "{{ registry_tls.registry_http_host }}"
      REGISTRY_HTTP_ADDR: "{{ registry_tls.registry_http_addr }}"

- name: Native registry on an IPv6 address, published on loopback only
  privreg.registry.registry_tls_port:
    host: "2001:db8::10"
    port: 5000
    topology: native
    bind_address: "::1"
'''

RETURN = r'''
host:
  description: O(host) normalized (lower case; IPv6 without brackets).
  returned: success
  type: str
  sample: r.example
client_port:
  description: The port clients use, O(port). Deprecated (it repeats O(port)); removed in privreg.registry 1.0.0.
  returned: success
  type: int
  sample: 44301
topology:
  description: O(topology).
  returned: success
  type: str
  sample: nginx_proxy
endpoint:
  description: What clients type in C(docker login) and image names; no port for 443, IPv6 in brackets.
  returned: success
  type: str
  sample: r.example:44301
registry_http_host:
  description: The registry's external URL for C(REGISTRY_HTTP_HOST), always with scheme, and port unless 443.
  returned: success
  type: str
  sample: https://r.example:44301
registry_http_addr:
  description: C(REGISTRY_HTTP_ADDR), the registry's listen address in its container.
  returned: success
  type: str
  sample: ":5000"
published_ports:
  description:
    - The published ports of the container that faces clients (the registry for V(native), nginx for V(nginx_proxy)),
      prefixed by O(bind_address) when given.
  returned: success
  type: list
  elements: str
  sample: ["44301:443"]
nginx_listen:
  description:
    - nginx's C(listen) parameters inside a container of its own (O(nginx_port)), for a published port.
    - Deprecated (the roles use RV(nginx_host_listen)); removed in privreg.registry 1.0.0.
  returned: success
  type: str
  sample: 443 ssl
nginx_host_listen:
  description:
    - nginx's C(listen) parameters on the host's own network (host networking, no published port),
      that is O(bind_address) and O(port); without O(bind_address), every IPv4 address of the host.
  returned: success
  type: str
  sample: 127.0.0.1:44301 ssl
nginx_anonymous_pull_listen:
  description: Like RV(nginx_host_listen), for O(anonymous_pull_port); null without it.
  returned: success
  type: str
  sample: 127.0.0.1:44302 ssl
anonymous_pull_endpoint:
  description:
    - C(host:port) of O(anonymous_pull_port) as docker names it (C(docker pull host:port/base/x)); null without it.
    - Deprecated (no role uses it); removed in privreg.registry 1.0.0.
  returned: success
  type: str
  sample: r.example:44302
anonymous_pull_certs_d_dir:
  description: Like RV(certs_d_dir), for O(anonymous_pull_port); null without it.
  returned: success
  type: str
  sample: /etc/docker/certs.d/r.example:44302
nginx_upstream:
  description:
    - nginx's C(proxy_pass) URL to the registry over a network of earlier releases.
    - Deprecated (nginx reaches the registry over a unix socket); removed in privreg.registry 1.0.0.
  returned: success
  type: str
  sample: http://registry:5000
certs_d_dir:
  description: The docker client's folder for the registry's CA certificate.
  returned: success
  type: str
  sample: /etc/docker/certs.d/r.example:44301
probe_url:
  description: The URL to probe C(/v2/) on, as clients see it.
  returned: success
  type: str
  sample: https://r.example:44301/v2/
subject_alt_name:
  description: The subjectAltName entry a certificate for O(host) needs (C(DNS:) for names, C(IP:) for addresses).
  returned: success
  type: str
  sample: DNS:r.example
certificate:
  description: What the certificate holds; never key material.
  returned: when O(certificate) is given
  type: dict
  contains:
    subject:
      description: The subject, RFC 4514.
      type: str
      sample: CN=r.example
    issuer:
      description: The issuer, RFC 4514.
      type: str
      sample: CN=Example CA
    subject_alt_names:
      description: The subjectAltName entries, C(DNS:) and C(IP:) prefixed.
      type: list
      elements: str
      sample: ["DNS:r.example", "IP:10.0.0.5"]
    not_before:
      description: Start of validity, UTC.
      type: str
      sample: "2026-01-01 00:00:00 UTC"
    not_after:
      description: End of validity, UTC.
      type: str
      sample: "2027-01-01 00:00:00 UTC"
    days_left:
      description: Whole days until RV(certificate.not_after).
      type: int
      sample: 365
    sha256_fingerprint:
      description: SHA-256 of the DER certificate, colon-separated hex.
      type: str
      sample: "AB:CD:..."
'''

import datetime  # noqa: E402 (imports follow the documentation, as ansible-test expects)

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.privreg.registry.plugins.module_utils._certificate import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR,
    CertificateError,
    check_certificate_files,
)
from ansible_collections.privreg.registry.plugins.module_utils._endpoint import (  # noqa: E402
    DEFAULT_TOPOLOGY,
    TOPOLOGIES,
    EndpointError,
    registry_tls_port_facts,
)

# Options that described a network between nginx and the registry; no role sets them since
# nginx reaches the registry over a unix socket.
UNUSED_SINCE_THE_SOCKET = dict(removed_in_version='1.0.0', removed_from_collection='privreg.registry')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', default=443),
            topology=dict(type='str', choices=list(TOPOLOGIES), default=DEFAULT_TOPOLOGY),
            bind_address=dict(type='str'),
            registry_port=dict(type='int', default=5000, **UNUSED_SINCE_THE_SOCKET),
            upstream_host=dict(type='str', default='registry', **UNUSED_SINCE_THE_SOCKET),
            upstream_tls=dict(type='bool', default=False, **UNUSED_SINCE_THE_SOCKET),
            nginx_port=dict(type='int', default=443, **UNUSED_SINCE_THE_SOCKET),
            anonymous_pull_port=dict(type='int'),
            certificate=dict(type='path'),
            private_key=dict(type='path', no_log=False),
            expiry_warning_days=dict(type='int', default=30),
        ),
        required_by=dict(private_key='certificate'),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = registry_tls_port_facts(
            params['host'],
            params['port'],
            params['topology'],
            params['bind_address'],
            params['registry_port'],
            params['upstream_host'],
            params['upstream_tls'],
            params['nginx_port'],
            params['anonymous_pull_port'],
        )
        if params['certificate']:
            if CRYPTOGRAPHY_IMPORT_ERROR:
                module.fail_json(msg=missing_required_lib('cryptography'), exception=CRYPTOGRAPHY_IMPORT_ERROR)
            result['certificate'], warnings = check_certificate_files(
                params['certificate'],
                result['host'],
                datetime.datetime.now(datetime.timezone.utc),
                params['private_key'],
                params['expiry_warning_days'],
            )
            for warning in warnings:
                module.warn(warning)
    except (EndpointError, CertificateError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
