# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The host and port clients use, documented once for the registry_tls_port module and the filters.

PRIVATE to privreg.registry (the leading _): other collections must not extend it.
The module takes the host as option `host`, a filter as its input `_input`; both
get the same text, and the same rules apply (module_utils/_endpoint.py, parse_host
and parse_port).
"""

from __future__ import annotations

_HOST = r"""
    description:
      - The DNS name or IP address clients use to reach the registry.
      - An IPv6 address may be given with or without brackets.
      - No scheme, path, port or spaces; the task fails on any of them.
    type: str
    required: true
"""

_PORT = r"""
    description:
      - The TLS port clients use, 1 to 65535.
      - V(443) is left out of the endpoint and URLs, as clients leave it out.
    type: int
    default: 443
"""


class ModuleDocFragment:
    # privreg.registry._registry_endpoint: the registry_tls_port module's host and port.
    DOCUMENTATION = 'options:\n  host:' + _HOST + '  port:' + _PORT

    # privreg.registry._registry_endpoint.filter: a filter's input (the host) and port.
    FILTER = 'options:\n  _input:' + _HOST + '  port:' + _PORT
