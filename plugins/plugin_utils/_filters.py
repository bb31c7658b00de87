# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This plugin util is PRIVATE to privreg.registry: its functions may change in any release.

"""What every filter of the collection does with the pure functions of module_utils.

Those functions raise their own error class (a ValueError) with a message meant
for the sysadmin; a filter must fail the task with that message alone, not a
traceback, so the wrapping is written once here.
"""

from __future__ import annotations

from functools import wraps

from ansible.errors import AnsibleFilterError


def as_filter(function, error_class):
    """`function` as a filter: an `error_class` it raises becomes an AnsibleFilterError with the same message."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except error_class as error:
            raise AnsibleFilterError(str(error)) from None

    return wrapper
