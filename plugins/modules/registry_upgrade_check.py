#!/usr/bin/python
# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: registry_upgrade_check
short_description: Refuse to switch a registry from 2.x to 3.x while its storage holds schema-1 manifests
version_added: 0.1.0
description:
  - Registry 3.x (distribution 3) serves the storage layout 2.x wrote, with the same digests, except schema-1
    manifests - it answers 500 for them, and its garbage collection aborts on them.
  - When O(running_major) is below 3 and O(wanted_major) is 3 or more, reads every manifest revision under
    O(storage_root) (the filesystem driver's C(docker/registry/v2) folder) and fails, listing the schema-1
    manifests with their repository and tags and the way out, if there are any.
  - Without O(storage_root) (S3 storage, which the host cannot read) such a switch fails, saying how to check the
    bucket; skip the module once that is done.
  - Any other pair of majors, or O(running_major) unset (no registry runs yet), reads nothing and passes.
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
options:
  storage_root:
    description:
      - The filesystem driver's C(docker/registry/v2) folder on the target (under the registry's data folder).
      - An absent folder holds no manifests.
    type: path
  running_major:
    description: The major release of the registry running now; unset when none runs.
    type: int
  wanted_major:
    description: The major release of the image the registry is about to run.
    type: int
    required: true
seealso:
  - plugin: privreg.registry.registry_release
    plugin_type: filter
'''

EXAMPLES = r'''
- name: The storage holds nothing registry 3 cannot serve
  privreg.registry.registry_upgrade_check:
    storage_root: /opt/registry/data/docker/registry/v2
    running_major: 2
    wanted_major: 3
'''

RETURN = r'''
scanned:
  description: Whether the storage was read (only when switching from below 3 to 3 or more).
  returned: always
  type: bool
schema1_manifests:
  description: The schema-1 manifests found, each with its repository, digest and tags.
  returned: always
  type: list
  elements: dict
  sample: [{repository: team/app, digest: "sha256:0b1e...", tags: [v1]}]
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.privreg.registry.plugins.module_utils._maintenance import (  # noqa: E402
    needs_schema1_scan,
    schema1_manifests,
    unreadable_storage_problem,
    upgrade_problem,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            storage_root=dict(type='path'),
            running_major=dict(type='int'),
            wanted_major=dict(type='int', required=True),
        ),
        supports_check_mode=True,
    )
    running, wanted = module.params['running_major'], module.params['wanted_major']
    storage_root = module.params['storage_root']
    if needs_schema1_scan(running, wanted) and not storage_root:
        module.fail_json(msg=unreadable_storage_problem(running, wanted), scanned=False, schema1_manifests=[])
    scanned = needs_schema1_scan(running, wanted)
    found = schema1_manifests(storage_root) if scanned else []
    problem = upgrade_problem(running, wanted, found)
    if problem:
        module.fail_json(msg=problem, scanned=scanned, schema1_manifests=found)
    module.exit_json(changed=False, scanned=scanned, schema1_manifests=found)


if __name__ == '__main__':
    main()
