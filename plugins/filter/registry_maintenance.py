# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over module_utils/_maintenance.py: what a registry image and its garbage collection print.

Documentation: registry_release.yml, registry_gc_summary.yml and registry_blob_data_path.yml beside this one.
"""

from __future__ import annotations

from ansible_collections.privreg.registry.plugins.module_utils._maintenance import (
    MaintenanceError,
    blob_data_path,
    gc_summary,
    release,
)
from ansible_collections.privreg.registry.plugins.plugin_utils._filters import as_filter


def registry_blob_data_path(digest, storage_root):
    """Where the filesystem driver keeps ``digest``'s bytes under its ``docker/registry/v2`` root."""
    return blob_data_path(storage_root, digest)


class FilterModule:
    def filters(self):
        return {
            'registry_release': as_filter(release, MaintenanceError),
            'registry_gc_summary': as_filter(gc_summary, MaintenanceError),
            'registry_blob_data_path': registry_blob_data_path,
        }
