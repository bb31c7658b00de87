# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over module_utils/_access.py: registry_access as the document nginx's njs code reads.

Documentation: one YAML file per filter beside this one (registry_access_document.yml, registry_access_matchers.yml).
"""

from __future__ import annotations

from ansible_collections.privreg.registry.plugins.module_utils._access import (
    AccessError,
    access_document,
    access_matchers,
)
from ansible_collections.privreg.registry.plugins.plugin_utils._filters import as_filter


class FilterModule:
    def filters(self):
        return {
            'registry_access_document': as_filter(access_document, AccessError),
            'registry_access_matchers': as_filter(access_matchers, AccessError),
        }
