# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The host and port clients use, documented once for the registry_tls_port module and the filters.

PRIVATE to privreg.registry (the leading _): other collections must not extend it.
The module takes the host as option `host`, a filter as its input `_input`; the
same rules apply to both (module_utils/_endpoint.py, parse_host and parse_port).
ansible-test reads these attributes as plain string literals, so the two texts
are written out side by side here: change both together.
"""

from __future__ import annotations


class ModuleDocFragment:
    # privreg.registry._registry_endpoint: the registry_tls_port module's host and port.
    DOCUMENTATION = r"""
options:
  host:
    description:
      - The DNS name or IP address clients use to reach the registry.
      - An IPv6 address may be given with or without brackets.
      - No scheme, path, port or spaces; the task fails on any of them.
    type: str
    required: true
  port:
    description:
      - The TLS port clients use, 1 to 65535.
      - V(443) is left out of the endpoint and URLs, as clients leave it out.
    type: int
    default: 443
"""

    # privreg.registry._registry_endpoint.filter: a filter's input (the host) and port.
    FILTER = r"""
options:
  _input:
    description:
      - The DNS name or IP address clients use to reach the registry.
      - An IPv6 address may be given with or without brackets.
      - No scheme, path, port or spaces; the task fails on any of them.
    type: str
    required: true
  port:
    description:
      - The TLS port clients use, 1 to 65535.
      - V(443) is left out of the endpoint and URLs, as clients leave it out.
    type: int
    default: 443
"""
