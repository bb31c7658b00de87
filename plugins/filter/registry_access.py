# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over module_utils/_access.py: registry_access as what nginx and njs read.

registry_access_rules is the one the role uses. registry_access_document and
registry_access_matchers are its two halves, deprecated (removed in 1.0.0).
Documentation: one YAML file per filter beside this one.
"""

from __future__ import annotations

from ansible_collections.privreg.registry.plugins.module_utils._access import (
    AccessError,
    access_document,
    access_matchers,
    access_rules,
)
from ansible_collections.privreg.registry.plugins.plugin_utils._filters import as_filter


class FilterModule:
    def filters(self):
        return {
            'registry_access_rules': as_filter(access_rules, AccessError),
            'registry_access_document': as_filter(access_document, AccessError),
            'registry_access_matchers': as_filter(access_matchers, AccessError),
        }
