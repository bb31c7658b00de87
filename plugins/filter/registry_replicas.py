# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over module_utils/_replicas.py: what keeps replicas on one storage from working together, and
which of them collects garbage.

Documentation: registry_replica_problems.yml and registry_gc_collector.yml beside this one.
"""

from __future__ import annotations

from ansible_collections.privreg.registry.plugins.module_utils._replicas import gc_collector, replica_problems


def registry_replica_problems(settings, host=None):
    """``settings``: {host: its shared-storage settings, or None where unknown yet}."""
    known = {name: value for name, value in (settings or {}).items() if value}
    return replica_problems(known, host)


def registry_gc_collector(settings, host):
    """``settings``: {host: its shared-storage settings}; the host that collects for ``host``."""
    return gc_collector(settings or {}, host)


class FilterModule:
    def filters(self):
        return {
            'registry_replica_problems': registry_replica_problems,
            'registry_gc_collector': registry_gc_collector,
        }
