# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over module_utils/_endpoint.py: the same functions the registry_tls_port module and site.yml use.

Documentation: one YAML file per filter beside this one (registry_endpoint.yml, ...).
"""

from __future__ import annotations

from functools import wraps

from ansible.errors import AnsibleFilterError

from ansible_collections.privreg.registry.plugins.module_utils._endpoint import (
    EndpointError,
    docker_certs_dir,
    endpoint,
    registry_url,
    topology_role,
)


def _as_filter(function):
    """Turn an EndpointError into a filter error with the same message."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except EndpointError as error:
            raise AnsibleFilterError(str(error)) from None

    return wrapper


class FilterModule:
    def filters(self):
        return {
            'registry_endpoint': _as_filter(endpoint),
            'registry_url': _as_filter(registry_url),
            'docker_certs_dir': _as_filter(docker_certs_dir),
            'registry_topology_role': _as_filter(topology_role),
        }
