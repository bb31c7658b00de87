#!/usr/bin/python
# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_htpasswd
short_description: Manage bcrypt htpasswd accounts that the registry and nginx accept
description:
  - Adds, updates and removes users in an htpasswd file with bcrypt (C($2y$)) entries, the only kind the
    CNCF distribution registry verifies; nginx C(auth_basic) and Apache accept them too.
  - Existing C($2a$), C($2b$) and C($2y$) entries are checked with bcrypt, never re-hashed to compare, so a
    second run with the same input reports no change and leaves the file byte for byte identical.
    Checks run on every core.
  - Only bcrypt entries may authenticate. An entry in another scheme (C($apr1$), C({SHA}), C($1$), C($6$),
    DES crypt, plaintext), which the registry refuses but nginx may accept, fails the task with the user names
    before anything is written, unless the request re-hashes it (the user listed with a password) or removes it
    (O(users[].state=absent), O(exclusive)). O(unusable_entries=warn) keeps such entries with a warning.
  - A line that is not C(name:hash), a name on two lines, or a line that is not UTF-8 fails the task with its
    line number; nothing is dropped or rewritten silently. Lines whose first non-blank character is C(#) are
    comments and are kept.
  - An O(exclusive) request that would remove every account fails unless O(allow_remove_all=true).
  - A file with no account is still written (empty), and the task warns that the registry and nginx then refuse
    every login.
  - Bad input, a dangling symlink as O(path), or a file that cannot be read fails before the file is touched.
    Writes are atomic (temp file in the same folder, then rename) and serialized by a lock file C(.<name>.lock)
    beside the file, so concurrent runs lose no update.
  - Results and diffs name users only, never hashes or passwords.
version_added: 0.1.0
author:
  - privreg.registry maintainers (!UNKNOWN)
requirements:
  - bcrypt (Python library on the target; OS package C(python3-bcrypt) or pip package C(bcrypt))
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reports what would change and touches nothing.
  diff_mode:
    support: full
    description: Shows the user names added, removed and re-hashed; never a hash or a password.
  platform:
    support: full
    platforms: posix
    description: Uses C(flock) for the lock.
options:
  path:
    description:
      - The htpasswd file. Its folder must exist.
      - Mount the folder, not the file, into a registry or nginx container. The file is replaced by rename,
        and a single-file bind mount keeps showing the old file.
    type: path
    required: true
    aliases: [dest]
  name:
    description:
      - One user name. Use either O(name) or O(users).
      - Must not be empty, contain V(:), whitespace or control characters, or start with V(#).
    type: str
  password:
    description:
      - The password of O(name). Required when O(state=present).
      - At most 72 bytes in UTF-8 (bcrypt ignores the rest) and no line breaks.
    type: str
  state:
    description:
      - Whether O(name) has an entry. Defaults to V(present).
    type: str
    choices: [present, absent]
  users:
    description:
      - Several users, applied in one atomic write. Use either O(name) or O(users).
      - A name may appear only once.
    type: list
    elements: dict
    suboptions:
      name:
        description: The user name; the same rules as O(name).
        type: str
        required: true
      password:
        description: The password; the same rules as O(password). Required when O(users[].state=present).
        type: str
      state:
        description: Whether the user has an entry.
        type: str
        choices: [present, absent]
        default: present
  exclusive:
    description:
      - Remove every user the task does not list.
    type: bool
    default: false
  update_password:
    description:
      - V(always) sets the password of an existing user when it does not match.
      - V(on_create) sets it only for new users (and for entries the registry cannot verify).
    type: str
    choices: [always, on_create]
    default: always
  cost:
    description:
      - bcrypt cost (log2 of the rounds) of new hashes, from V(4) to V(14). Every authenticated request to the
        registry or nginx runs one check at this cost; 10 takes about 80 ms on one core, and each step doubles it.
      - Costs below 10 are for tests; the roles accept 10 to 14.
      - Existing entries whose password matches keep their cost. A listed user's entry over cost 14 is re-hashed
        without a check (the check could run for days); an unlisted one gets a warning.
    type: int
    default: 10
  create:
    description:
      - Create the file when it does not exist, empty if no account is asked for (a registry that finds no file
        at start makes one with an account of its own). If V(false), a missing file fails the task.
      - A new file gets mode V(0640) unless O(mode) says otherwise.
    type: bool
    default: true
  allow_remove_all:
    description:
      - With O(exclusive=true), a request that lists no present user removes every account only when this is
        V(true); otherwise the task fails and nothing changes (an empty or mistyped list must not lock everyone out).
    type: bool
    default: false
  unusable_entries:
    description:
      - What to do about entries that would stay in a scheme other than bcrypt.
      - V(fail) fails the task with their user names before anything is written.
      - V(warn) keeps them, reports them in RV(unusable) and warns.
    type: str
    choices: [fail, warn]
    default: fail
  backup:
    description:
      - Keep a copy of the file before each change, named C(<file name>.<UTC time>), mode C(0600).
      - Not in check mode. The copy holds the hashes, so keep it out of folders mounted into containers (O(backup_dir)).
    type: bool
    default: false
  backup_dir:
    description:
      - The folder for the copies of O(backup=true). Created with mode C(0700) when missing; an existing one keeps
        its mode.
      - Unset, the copies go beside the file.
    type: path
  backup_keep:
    description:
      - Keep only the newest N copies of this file in the backup folder (at least 1); older ones are removed after
        each new copy.
      - Unset, every copy is kept.
    type: int
notes:
  - Unlike M(community.general.htpasswd), this module writes bcrypt by default, needs only the bcrypt library
    (not passlib, which cannot hash with bcrypt 5), writes atomically and supports diff mode.
seealso:
  - module: community.general.htpasswd
"""

EXAMPLES = r"""
- name: Alice can log in to the registry
  privreg.registry.registry_htpasswd:
    path: /srv/registry/auth/htpasswd
    name: alice
    password: "{{ vault_alice_password }}"
    owner: root
    group: root
    mode: "0640"
  no_log: true

- name: Exactly these users can log in to the registry
  privreg.registry.registry_htpasswd:
    path: /srv/registry/auth/htpasswd
    users:
      - name: ci
        password: "{{ vault_ci_password }}"
      - name: alice
        password: "{{ vault_alice_password }}"
    exclusive: true
    backup: true
    backup_dir: /srv/registry/auth-backup
    backup_keep: 10
  no_log: true

- name: Bob can no longer log in
  privreg.registry.registry_htpasswd:
    path: /srv/registry/auth/htpasswd
    name: bob
    state: absent
"""

RETURN = r"""
added:
  description: Users that got an entry.
  returned: success
  type: list
  elements: str
  sample: [alice]
updated:
  description: Users whose entry was re-hashed (password changed, or the old entry was unusable).
  returned: success
  type: list
  elements: str
  sample: [ci]
removed:
  description: Users whose entry was removed.
  returned: success
  type: list
  elements: str
  sample: [bob]
unusable:
  description:
    - Users left with an entry the registry cannot verify (not bcrypt), with O(unusable_entries=warn). Each also gets
      a warning.
  returned: success
  type: list
  elements: str
  sample: [legacy]
backup_file:
  description: The copy made before the change.
  returned: changed and O(backup=true)
  type: str
  sample: /srv/registry/auth-backup/htpasswd.20261127T080000.123456Z
reason:
  description:
    - Why the task failed, for a caller that words its own message. V(unusable) (entries not in bcrypt) or
      V(remove_all) (O(exclusive) would remove every account).
  returned: failure for one of these reasons
  type: str
  sample: unusable
users:
  description: With RV(reason), the users concerned.
  returned: failure with RV(reason)
  type: list
  elements: str
  sample: [legacy]
"""

import sys  # noqa: E402 (imports follow the documentation, as ansible-test expects)

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.privreg.registry.plugins.module_utils._htpasswd import (  # noqa: E402
    BCRYPT_IMPORT_ERROR,
    BCRYPT_MISSING,
    DEFAULT_COST,
    HtpasswdError,
    ensure,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True, aliases=["dest"]),
            name=dict(type="str"),
            password=dict(type="str", no_log=True),
            state=dict(type="str", choices=["present", "absent"]),
            users=dict(
                type="list",
                elements="dict",
                options=dict(
                    name=dict(type="str", required=True),
                    password=dict(type="str", no_log=True),
                    state=dict(type="str", choices=["present", "absent"], default="present"),
                ),
            ),
            exclusive=dict(type="bool", default=False),
            update_password=dict(type="str", choices=["always", "on_create"], default="always", no_log=False),
            cost=dict(type="int", default=DEFAULT_COST),
            create=dict(type="bool", default=True),
            allow_remove_all=dict(type="bool", default=False),
            unusable_entries=dict(type="str", choices=["fail", "warn"], default="fail"),
            backup=dict(type="bool", default=False),
            backup_dir=dict(type="path"),
            backup_keep=dict(type="int"),
        ),
        mutually_exclusive=[("name", "users"), ("password", "users"), ("state", "users")],
        required_one_of=[("name", "users")],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    if BCRYPT_IMPORT_ERROR:
        module.fail_json(msg=BCRYPT_MISSING.format(python=sys.executable), exception=BCRYPT_IMPORT_ERROR)
    try:
        result = ensure(module)
    except HtpasswdError as error:
        module.fail_json(msg=str(error), **error.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
