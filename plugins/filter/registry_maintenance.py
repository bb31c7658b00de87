# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over module_utils/_maintenance.py: what a registry image and its garbage collection print.

Documentation: registry_release.yml and registry_gc_summary.yml beside this one.
"""

from __future__ import annotations

from ansible_collections.privreg.registry.plugins.module_utils._maintenance import (
    MaintenanceError,
    gc_summary,
    release,
)
from ansible_collections.privreg.registry.plugins.plugin_utils._filters import as_filter


class FilterModule:
    def filters(self):
        return {
            'registry_release': as_filter(release, MaintenanceError),
            'registry_gc_summary': as_filter(gc_summary, MaintenanceError),
        }
