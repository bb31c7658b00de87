# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over module_utils/_endpoint.py: the same functions the registry_tls_port module and site.yml use.

Documentation: one YAML file per filter beside this one (registry_endpoint.yml, ...).
"""

from __future__ import annotations

from ansible_collections.privreg.registry.plugins.module_utils._endpoint import (
    EndpointError,
    docker_certs_dir,
    endpoint,
    registry_url,
    topology_role,
)
from ansible_collections.privreg.registry.plugins.plugin_utils._filters import as_filter


class FilterModule:
    def filters(self):
        return {
            'registry_endpoint': as_filter(endpoint, EndpointError),
            'registry_url': as_filter(registry_url, EndpointError),
            'docker_certs_dir': as_filter(docker_certs_dir, EndpointError),
            'registry_topology_role': as_filter(topology_role, EndpointError),
        }
