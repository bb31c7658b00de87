# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to privreg.registry: its functions may change in any release.
# Other collections, roles and playbooks use the modules and filters instead.

"""bcrypt htpasswd files that the registry, nginx and Apache all accept.

Decide first, then act: parse() reads a file's text, validate_users() checks a
request, plan() returns the new text and what changes, touching nothing.
ensure() is the module's read-plan-write under a lock.

Hashing and checking go through functions plan() receives, so tests can count
them; the defaults use every core (pyca bcrypt releases the GIL while hashing).
"""

from __future__ import annotations

import datetime
import os
import re
import traceback
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.privreg.registry.plugins.module_utils._locked_file import (
    locked,
    read_bytes,
    write_atomically,
    write_private_copy,
)

try:
    import bcrypt
except ImportError:
    bcrypt = None
    BCRYPT_IMPORT_ERROR = traceback.format_exc()
else:
    BCRYPT_IMPORT_ERROR = None

# 4 keeps tests fast; above 14 every login (an uncached check by the registry
# or nginx) takes seconds of CPU, and 31 would run for days. The roles ask for 10..14.
MIN_COST = 4
MAX_COST = 14
DEFAULT_COST = 10
MAX_PASSWORD_BYTES = 72  # bcrypt ignores every byte after these
NEW_FILE_MODE = "0640"

BCRYPT_MISSING = (
    "The Python library bcrypt is missing on the target (Python used: {python}). "
    "Install the OS package python3-bcrypt (Debian/Ubuntu: apt-get install python3-bcrypt; "
    "RHEL/CentOS/Fedora: dnf install python3-bcrypt) or the pip package bcrypt "
    "(pip install bcrypt) for that Python, or point ansible_python_interpreter at a Python that has it."
)

# What the registry verifies: $2a$, $2b$ and $2y$ bcrypt, cost 04-31.
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}\Z")

Entry = namedtuple("Entry", ["lineno", "name", "hash"])
User = namedtuple("User", ["name", "password", "state"])
Plan = namedtuple("Plan", ["content", "added", "updated", "removed", "unusable", "warnings", "diff"])

# Backups: <name>.<UTC time>, so that names sort by age.
_BACKUP_TIME = "%Y%m%dT%H%M%S.%fZ"
_BACKUP_SUFFIX = r"\.[0-9]{8}T[0-9]{6}\.[0-9]{6}Z\Z"
# At most this many names in a message; the result's `users` has them all.
_NAMES_SHOWN = 20


class HtpasswdError(ValueError):
    """Bad input or a file this module will not rewrite; the text says what to do.

    ``details`` (``reason``, ``users``) go into the failed result, so a role can
    say the same in its own variables' words. Neither the text nor the details
    ever hold a password or a hash.
    """

    def __init__(self, message, **details):
        super().__init__(message)
        self.details = details


def names_list(names):
    """Quoted names for a message, the first _NAMES_SHOWN of them."""
    shown = ", ".join(quote(name) for name in names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += " and %d more" % (len(names) - _NAMES_SHOWN)
    return shown


def quote(name):
    """A name as messages show it: quoted, control characters escaped."""
    return "'%s'" % "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def name_problem(name):
    """Why ``name`` cannot be an htpasswd user name, or None."""
    if not name:
        return "name is empty"
    if ":" in name:
        return "name contains ':', which separates name and hash"
    if any(c.isspace() for c in name):
        return "name contains whitespace"
    if any(not c.isprintable() for c in name):
        return "name contains a control character"
    if name.startswith("#"):
        return "name starts with '#', which marks a comment line"
    return None


def password_problem(password):
    """Why ``password`` cannot be hashed faithfully, or None."""
    if password == "":
        return "password is empty"
    if "\n" in password or "\r" in password:
        return "password contains a line break"
    if "\0" in password:
        return "password contains a NUL character"
    size = len(password.encode("utf-8"))
    if size > MAX_PASSWORD_BYTES:
        return "password is %d bytes in UTF-8; bcrypt uses only the first %d, so shorten it" % (
            size,
            MAX_PASSWORD_BYTES,
        )
    return None


def validate_cost(cost):
    if not MIN_COST <= cost <= MAX_COST:
        raise HtpasswdError(
            "cost must be between %d and %d, got %d: each step doubles the time of every login check "
            "(%d already takes over a second of CPU)" % (MIN_COST, MAX_COST, cost, MAX_COST)
        )


def validate_backup_keep(keep):
    if keep is not None and keep < 1:
        raise HtpasswdError("backup_keep must be at least 1, got %d; leave it unset to keep every backup" % keep)


def validate_users(users):
    """Raise HtpasswdError for the first bad user; the message names the user and the problem."""
    position = {}
    for number, user in enumerate(users, 1):
        problem = name_problem(user.name)
        if problem:
            who = "user #%d" % number if not user.name else "user %s" % quote(user.name)
            raise HtpasswdError("%s: %s" % (who, problem))
        if user.name in position:
            raise HtpasswdError(
                "user %s is listed twice in users (#%d and #%d)" % (quote(user.name), position[user.name], number)
            )
        position[user.name] = number
        if user.state not in ("present", "absent"):
            raise HtpasswdError(
                "user %s: state must be present or absent, got %s" % (quote(user.name), quote(str(user.state)))
            )
        if user.state == "present":
            if user.password is None:
                raise HtpasswdError("user %s: password is required for state present" % quote(user.name))
            problem = password_problem(user.password)
            if problem:
                raise HtpasswdError("user %s: %s" % (quote(user.name), problem))


def validate_path(path, create):
    """Fail before anything is touched when ``path`` cannot be the htpasswd file."""
    if os.path.islink(path) and not os.path.exists(path):
        raise HtpasswdError(
            "path %s is a symlink to %s, which does not exist; create the file there "
            "or point the link at the htpasswd file" % (path, os.readlink(path))
        )
    if os.path.isdir(path):
        raise HtpasswdError("path %s is a directory; give the path of the htpasswd file in it" % path)
    if not os.path.exists(path):
        folder = os.path.dirname(os.path.abspath(path))
        if not create:
            raise HtpasswdError("path %s does not exist and create is false" % path)
        if not os.path.isdir(folder):
            raise HtpasswdError("folder %s of path %s does not exist; create it first" % (folder, path))


def validate_backup_dir(backup_dir):
    if backup_dir is not None and os.path.exists(backup_dir) and not os.path.isdir(backup_dir):
        raise HtpasswdError("backup_dir %s exists and is not a directory" % backup_dir)


def is_bcrypt(hashed):
    return _BCRYPT_HASH.match(hashed) is not None


def bcrypt_cost(hashed):
    """The cost of a bcrypt entry (is_bcrypt must hold)."""
    return int(hashed[4:6])


_KINDS = [
    ("$apr1$", "Apache MD5 ($apr1$)"),
    ("{SHA}", "SHA-1 ({SHA})"),
    ("$1$", "MD5 crypt ($1$)"),
    ("$5$", "SHA-256 crypt ($5$)"),
    ("$6$", "SHA-512 crypt ($6$)"),
    ("$y$", "yescrypt ($y$)"),
    ("$2a$", "malformed bcrypt"),
    ("$2b$", "malformed bcrypt"),
    ("$2y$", "malformed bcrypt"),
]


def hash_kind(hashed):
    """What an entry the registry cannot verify looks like, for warnings."""
    for prefix, kind in _KINDS:
        if hashed.startswith(prefix):
            return kind
    if re.match(r"[./0-9A-Za-z]{13}\Z", hashed):
        return "DES crypt"
    return "plaintext or unknown"


def decode(data):
    """The text of an htpasswd file's bytes.

    Raises HtpasswdError with the line of the first byte that is not UTF-8; the
    message never shows the bytes, which could belong to a password.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        lineno = data.count(b"\n", 0, error.start) + 1
        raise HtpasswdError(
            "line %d is not UTF-8 text; fix or remove it by hand (user names are matched as UTF-8)" % lineno
        ) from None


def _lines(content):
    """The file's lines without their final newline; CR of CRLF files stays on the line."""
    if not content:
        return []
    if content.endswith("\n"):
        content = content[:-1]
    return content.split("\n")


def parse(content):
    """The entries of an htpasswd file's text, in file order.

    Blank lines and lines whose first non-blank character is '#' are not
    entries (plan() keeps them): the registry strips blanks before it looks for
    '#', and nginx matches no user name on such a line.
    A line that is not ``name:hash``, or a name on two lines, raises
    HtpasswdError with the line number: the consumers would read such a file
    differently (the registry keeps its previous user list; nginx takes the
    first of two lines, the registry the last). The message never shows the
    line itself, which could hold a password.
    """
    entries = []
    first_line = {}
    for lineno, line in enumerate(_lines(content), 1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if ":" not in line:
            raise HtpasswdError(
                "line %d is not a 'name:hash' entry (no ':'); fix or remove it by hand: "
                "a registry that cannot parse the file keeps serving its previous users" % lineno
            )
        name, hashed = line.split(":", 1)
        problem = name_problem(name)
        if problem:
            raise HtpasswdError(
                "line %d is not a 'name:hash' entry (%s); fix or remove it by hand: "
                "a registry that cannot parse the file keeps serving its previous users" % (lineno, problem)
            )
        if name in first_line:
            raise HtpasswdError(
                "line %d: user %s is already on line %d; nginx uses the first entry and "
                "the registry the last, so remove one by hand" % (lineno, quote(name), first_line[name])
            )
        first_line[name] = lineno
        entries.append(Entry(lineno, name, hashed))
    return entries


def _names_text(entries, rehashed=()):
    """The diff's view of a file: one user name a line, never a hash."""
    lines = []
    for entry in entries:
        if entry.name in rehashed:
            note = " (password re-hashed)"
        elif not is_bcrypt(entry.hash):
            note = " (unusable: %s)" % hash_kind(entry.hash)
        else:
            note = ""
        lines.append("%s%s\n" % (entry.name, note))
    return "".join(lines)


def plan(
    content,
    users,
    exclusive,
    update_password,
    check_passwords,
    make_hashes,
    unusable_entries="fail",
    allow_remove_all=False,
):
    """Decide the file's new text and what changes, touching nothing.

    ``users``: validated User tuples. ``check_passwords([(password, hash), ...])``
    returns one bool per pair; ``make_hashes([password, ...])`` one hash per
    password. Existing bcrypt entries are checked, never re-hashed to compare;
    only new users, changed passwords (update_password=always), entries the
    registry cannot use and entries over MAX_COST get a new hash.

    Refused with HtpasswdError before any bcrypt work: entries that would stay
    in a scheme other than bcrypt (``unusable_entries="fail"``; nginx would
    let them log in, the registry would not), and an exclusive request that
    would leave no account where there were some (unless ``allow_remove_all``).
    """
    entries = parse(content)
    current = {entry.name: entry for entry in entries}
    wanted = {user.name: user for user in users}

    present = [user for user in users if user.state == "present"]
    present_names = set(user.name for user in present)
    added = [user.name for user in present if user.name not in current]
    removed = [
        entry.name
        for entry in entries
        if (entry.name in wanted and wanted[entry.name].state == "absent") or (exclusive and entry.name not in wanted)
    ]
    left = [entry for entry in entries if entry.name not in removed]
    if exclusive and removed and not left and not added and not allow_remove_all:
        raise HtpasswdError(
            "exclusive is true and no present user is listed, so every account would be removed (%s) "
            "and nobody could log in; list the users to keep, or set allow_remove_all to remove them all; "
            "nothing was changed" % names_list(removed),
            reason="remove_all",
            users=removed,
        )
    # Listed users with a password are re-hashed; every other entry stays as it is.
    unusable = [entry for entry in left if entry.name not in present_names and not is_bcrypt(entry.hash)]
    if unusable and unusable_entries == "fail":
        raise HtpasswdError(
            "%s %s entries that are not bcrypt (%s): nginx may let them log in while the registry refuses "
            "them, and only bcrypt entries may authenticate; list each user with a password (it is re-hashed "
            "with bcrypt) or with state absent; nothing was changed"
            % (
                "users" if len(unusable) > 1 else "user",
                names_list([entry.name for entry in unusable]) + (" have" if len(unusable) > 1 else " has"),
                ", ".join(sorted(set(hash_kind(entry.hash) for entry in unusable))),
            ),
            reason="unusable",
            users=[entry.name for entry in unusable],
        )

    check_all = update_password == "always"  # noqa: S105 (an option value, not a password)
    listed_bcrypt = [
        user for user in present if check_all and user.name in current and is_bcrypt(current[user.name].hash)
    ]
    # A check at a cost over MAX_COST could run for days: such an entry is re-hashed unchecked.
    too_costly = set(user.name for user in listed_bcrypt if bcrypt_cost(current[user.name].hash) > MAX_COST)
    to_check = [user for user in listed_bcrypt if user.name not in too_costly]
    results = check_passwords([(user.password, current[user.name].hash) for user in to_check]) if to_check else []
    # zip() without strict=: targets may run a Python older than 3.10
    stale = too_costly | {user.name for user, ok in zip(to_check, results) if not ok}  # noqa: B905

    updated = [
        user.name
        for user in present
        if user.name in current and (user.name in stale or not is_bcrypt(current[user.name].hash))
    ]
    new_names = added + updated
    hashes = dict(zip(new_names, make_hashes([wanted[name].password for name in new_names]))) if new_names else {}  # noqa: B905

    kept = [entry for entry in entries if entry.name not in removed]
    after = [Entry(entry.lineno, entry.name, hashes.get(entry.name, entry.hash)) for entry in kept]
    after += [Entry(None, name, hashes[name]) for name in added]
    unusable = [entry.name for entry in after if not is_bcrypt(entry.hash)]
    warnings = [
        "user %s has an entry that is not bcrypt (%s): nginx may let it log in while the registry refuses it; "
        "list the user with a password to re-hash it to bcrypt, or remove it"
        % (quote(entry.name), hash_kind(entry.hash))
        for entry in after
        if entry.name in unusable
    ]
    warnings += [
        "user %s has a bcrypt entry at cost %d, over %d: every login of this user takes seconds of CPU; "
        "list the user with a password to re-hash it" % (quote(entry.name), bcrypt_cost(entry.hash), MAX_COST)
        for entry in after
        if entry.name not in hashes and is_bcrypt(entry.hash) and bcrypt_cost(entry.hash) > MAX_COST
    ]
    if not after:
        warnings.append("no account is left: the registry and nginx refuse every login (401) until a user is added")
    diff = {"before": _names_text(entries), "after": _names_text(after, updated)}
    if not (added or updated or removed):
        return Plan(content, [], [], [], unusable, warnings, diff)

    by_line = dict((entry.lineno, entry) for entry in after if entry.lineno is not None)
    dropped = set(entry.lineno for entry in entries if entry.name in removed)
    lines = []
    for lineno, line in enumerate(_lines(content), 1):
        if lineno in dropped:
            continue
        entry = by_line.get(lineno)
        lines.append("%s:%s" % (entry.name, entry.hash) if entry is not None and entry.name in hashes else line)
    lines += ["%s:%s" % (name, hashes[name]) for name in added]
    new_content = "".join(line + "\n" for line in lines)
    return Plan(new_content, added, updated, removed, unusable, warnings, diff)


def check_password(password, hashed):
    """bcrypt's check of one password; $2a$ and $2y$ are checked as $2b$ (same algorithm)."""
    hashed = hashed.encode("ascii")
    if hashed[:4] in (b"$2a$", b"$2y$"):
        hashed = b"$2b$" + hashed[4:]
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed)
    except ValueError:
        return False


def hash_password(password, cost):
    """A $2y$ bcrypt hash: pyca writes $2b$, the same algorithm under the prefix Apache writes."""
    hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")
    return "$2y$" + hashed[4:]


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def parallel(function, items):
    """``[function(*item) for item in items]``, on every core."""
    if len(items) < 2:
        return [function(*item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), cores())) as pool:
        return list(pool.map(lambda item: function(*item), items))


def users_from_params(params):
    """The request as User tuples, from either the single-user options or ``users``."""
    if params.get("users") is not None:
        return [User(item["name"], item.get("password"), item.get("state") or "present") for item in params["users"]]
    return [User(params["name"], params.get("password"), params.get("state") or "present")]


def backup_name(name, now):
    """The backup of file ``name`` made at ``now`` (an aware datetime): names sort by age."""
    return "%s.%s" % (name, now.astimezone(datetime.timezone.utc).strftime(_BACKUP_TIME))


def backups_to_prune(names, name, keep):
    """Of the file names in a backup folder, the backups of ``name`` beyond the newest ``keep`` (None: none)."""
    pattern = re.compile(re.escape(name) + _BACKUP_SUFFIX)
    backups = sorted(candidate for candidate in names if pattern.match(candidate))
    if keep is None or len(backups) <= keep:
        return []
    return backups[:-keep]


def make_backup(target, data, backup_dir, keep):
    """Keep ``data`` (the file's bytes before the change) as a 0600 backup; prune to ``keep``; its path."""
    folder = backup_dir or os.path.dirname(target)
    name = os.path.basename(target)
    path = write_private_copy(folder, backup_name(name, datetime.datetime.now(datetime.timezone.utc)), data)
    for old in backups_to_prune(os.listdir(folder), name, keep):
        os.unlink(os.path.join(folder, old))
    return path


def ensure(module):
    """Bring the file at module.params['path'] to the request; the module's result."""
    params = module.params
    path = params["path"]
    users = users_from_params(params)
    validate_cost(params["cost"])
    validate_backup_keep(params["backup_keep"])
    validate_users(users)
    validate_path(path, params["create"])
    validate_backup_dir(params["backup_dir"])
    target = os.path.realpath(path)  # a symlink stays a symlink; its target is replaced

    def decide():
        data = read_bytes(target)
        try:
            content = None if data is None else decode(data)
            decided = plan(
                content or "",
                users,
                params["exclusive"],
                params["update_password"],
                check_passwords=lambda pairs: parallel(check_password, pairs),
                make_hashes=lambda passwords: parallel(
                    hash_password, [(password, params["cost"]) for password in passwords]
                ),
                unusable_entries=params["unusable_entries"],
                allow_remove_all=params["allow_remove_all"],
            )
        except HtpasswdError as error:
            raise HtpasswdError("%s: %s" % (path, error), **error.details) from None
        # a missing file is created, empty when no account is asked for: a registry
        # that finds no file at start makes one with an account of its own
        return data, content, decided, content is None or content != decided.content

    backup_file = None
    try:
        if module.check_mode:
            data, content, decided, write = decide()
        else:
            with locked(target):
                data, content, decided, write = decide()
                if write:
                    if data is not None and params["backup"]:
                        backup_file = make_backup(target, data, params["backup_dir"], params["backup_keep"])
                    write_atomically(module, target, decided.content)
    except OSError as error:
        raise HtpasswdError("%s: %s" % (path, error)) from None

    changed = write
    if content is not None or (write and not module.check_mode):
        file_args = module.load_file_common_arguments(params, path=target)
        if content is None and file_args["mode"] is None:
            file_args["mode"] = NEW_FILE_MODE
        changed = module.set_fs_attributes_if_different(file_args, changed)

    for warning in decided.warnings:
        module.warn("%s: %s" % (path, warning))
    result = dict(
        changed=changed,
        added=decided.added,
        updated=decided.updated,
        removed=decided.removed,
        unusable=decided.unusable,
    )
    if backup_file:
        result["backup_file"] = backup_file
    if module._diff:
        result["diff"] = dict(decided.diff, before_header="%s (users)" % path, after_header="%s (users)" % path)
    return result
