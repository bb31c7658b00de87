# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to privreg.registry: its functions may change in any release.
# Other collections, roles and playbooks use the modules and filters instead.

"""Who may do what to which repository: registry_access as what nginx and njs read.

The inventory says it with globs (registry_access, registry_anonymous_pull).
access_rules() takes it to the one dict the role writes out: access.json,
which registry_access.js preloads, and access.conf, nginx's own maps for
plain pulls. On the way, access_document() checks the globs and gives each as
a PATTERN: a list of pieces, each a regular expression fragment (str) or None
for the authenticated user's name; access_matchers() folds those into one
regular expression per action (over "<user>\\n<repository>", each None a
back-reference to the user, as "*" rules serve every user, including users
added after the file was written). All the parsing and checking happens here,
at deploy time, so that a typo fails the run with a message instead of
locking users out (or letting everyone in) at request time. Parsing a nested
document and looping over rules in njs on every request cost more than the
request itself; one regular expression per action does not.

The registry's repository-name grammar lives here too (NAME_COMPONENT), and
the request line nginx decides without njs (PLAIN_PULL_REQUEST): both go out
in access_rules()'s result, for nginx.conf and registry_access.js to read.

Pure functions: no I/O, no Ansible imports. Bad input raises AccessError with
a message that names the rule and says what is wrong; it never holds a
password.
"""

from __future__ import annotations

import json
import re

DOCUMENT_VERSION = 1
ACTIONS = ('pull', 'push', 'delete', 'catalog')
RULE_KEYS = ('repositories', 'users', 'actions')
ANY_USER = '*'
USER_PLACEHOLDER = '{user}'

# The only fragments a pattern holds, so that JavaScript's RegExp and PCRE read them alike.
ONE_SEGMENT = '[^/]+'
ANY_SEGMENTS = '[^/]+(?:/[^/]+)*'
IN_SEGMENT = '[^/]*'
# At most this many '**' segments and '*' inside segments in one glob. Each is a
# run of varying length, and a regular expression that fails to match tries
# every way to split the name between them: with 2, a 255-character name costs
# well under a millisecond; with 4, seconds, in the nginx worker, and the
# anonymous patterns are tried for requests without any login. ('*' alone
# in a segment does not count: the '/' around it fix its length.)
MAX_WILDCARDS = 2

# What a glob may hold once its {user} tokens are taken out: repository name characters and '*'.
_GLOB_CHARACTER = re.compile(r'[a-z0-9._/*-]')
_UPPER_CASE = re.compile(r'[A-Z]')
_SEGMENT_PARTS = re.compile(r'(\{user\}|\*)')


MATCHERS_VERSION = 2

# One component of a repository name in the registry's grammar (distribution's
# reference.NameRegexp, between the "/"s): no nested repeats, so no request can
# make it backtrack for long. nginx.conf (the blob shortcut, the plain-pull map)
# and registry_access.js read it from access_rules()'s result.
NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
# The longest name the registry accepts (NAME_INVALID beyond).
NAME_MAX = 255

# A plain pull: a request line nginx decides itself, without njs, as it reads one
# way only: GET or HEAD, no %-escape, no dot segment or doubled "/", a name in
# the grammar of at most NAME_MAX characters, and the route manifests, blobs,
# referrers (with a reference) or tags/list. Group 1 is the repository. Matched
# against "$request_method $request_uri" by nginx.conf's plain-pull map; any
# other request falls through to registry_access.js. (The lookahead bounds the
# name's length before the grammar is tried.)
PLAIN_PULL_REQUEST = (
    '^(?:GET|HEAD) /v2/'
    '(?=[a-z0-9._/-]{1,%(max)d}/(?:tags/list|(?:manifests|blobs|referrers)/[^/?]+)(?:\\?|$))'
    '(%(name)s(?:/%(name)s)*)'
    '/(?:tags/list|(?:manifests|blobs|referrers)/[A-Za-z0-9_][A-Za-z0-9_.:+=-]*)(?:\\?.*)?$'
) % {'name': NAME_COMPONENT, 'max': NAME_MAX}
# Matches nothing: an action no rule grants.
_NEVER = '(?!)'
# Any user name: no name holds a newline (the separator of "<user>\n<repository>").
_ANY_USER_NAME = '[^\\n]*'


class AccessError(ValueError):
    """Bad registry_access, registry_anonymous_pull or registry_users: the message is meant for the sysadmin."""


def access_document(rules, users, anonymous_pull):
    """The checked rules: version, rules and anonymous patterns, which access_matchers() folds.

    `rules` is registry_access, `users` registry_users (list of dicts with at
    least a name; state defaults to present; other keys are ignored and never
    shown), `anonymous_pull` registry_anonymous_pull. None for any of them is
    []. Everything is checked before anything is returned, so a document is
    either whole and valid or an AccessError.
    """
    known = _present_users(users)
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        raise AccessError('registry_access must be a list of rules, got %s' % _show(rules))
    if anonymous_pull is None:
        anonymous_pull = []
    if not isinstance(anonymous_pull, list):
        raise AccessError('registry_anonymous_pull must be a list of repository globs, got %s' % _show(anonymous_pull))

    document_rules = [_rule(index, rule, known) for index, rule in enumerate(rules)]
    anonymous = []
    for index, glob in enumerate(anonymous_pull):
        problem = _glob_problem(glob, user_allowed=False)
        if problem:
            raise AccessError('registry_anonymous_pull[%d]: %s' % (index, problem))
        anonymous.append(glob)
    return {
        'version': DOCUMENT_VERSION,
        'rules': document_rules,
        'anonymous': [glob_pattern(glob) for glob in _unique(anonymous)],
    }


def glob_pattern(glob):
    """The pieces of a checked glob: regular expression fragments (str) and None for {user}.

    Segments are split on '/': '**' alone is one or more whole segments, '*'
    alone exactly one, '*' beside other characters any run of characters
    within the segment (none included), {user} the user's name; the rest is
    literal, '.' escaped. Adjacent fragments are joined, so a glob without
    {user} is a single string.
    """
    pieces = []

    def add(fragment):
        if pieces and pieces[-1] is not None:
            pieces[-1] += fragment
        else:
            pieces.append(fragment)

    for position, segment in enumerate(glob.split('/')):
        if position:
            add('/')
        if segment == '**':
            add(ANY_SEGMENTS)
        elif segment == '*':
            add(ONE_SEGMENT)
        else:
            for part in _SEGMENT_PARTS.split(segment):
                if part == USER_PLACEHOLDER:
                    pieces.append(None)
                elif part == '*':
                    add(IN_SEGMENT)
                elif part:
                    add(part.replace('.', r'\.'))
    return pieces


def _present_users(users):
    """Two lists: the names of registry_users entries whose state is present, and of the others.

    The others are kept for the message: "has state absent" says more than "is not there".
    """
    if users is None:
        users = []
    if not isinstance(users, list):
        raise AccessError('registry_users must be a list of users, got a %s' % type(users).__name__)
    present, absent = [], []
    for index, user in enumerate(users):
        # Only the type is shown: a user entry may hold a password.
        if not isinstance(user, dict):
            raise AccessError('registry_users[%d] must be a dict with a name, got a %s' % (index, type(user).__name__))
        name = user.get('name')
        if not isinstance(name, str) or not name:
            raise AccessError('registry_users[%d] needs a name (a non-empty string)' % index)
        state = user.get('state')
        (present if state is None or state == 'present' else absent).append(name)
    return present, absent


def _rule(index, rule, users):
    """One checked rule of the document; `users` is what _present_users returned."""
    if not isinstance(rule, dict):
        raise AccessError(
            'registry_access[%d] must be a dict with the keys %s, got %s' % (index, _keys_text(), _show(rule))
        )
    where = 'registry_access[%d] (%s)' % (index, _short(rule))
    for key in rule:
        if key not in RULE_KEYS:
            raise AccessError('%s: unknown key %s; a rule has the keys %s' % (where, _show(key), _keys_text()))
    for key in RULE_KEYS:
        if key not in rule:
            raise AccessError('%s: missing key %s; a rule has the keys %s' % (where, _show(key), _keys_text()))
        problem = _strings_problem(key, rule[key])
        if problem:
            raise AccessError('%s: %s' % (where, problem))

    for action in rule['actions']:
        if action not in ACTIONS:
            raise AccessError('%s: unknown action %s; the actions are %s' % (where, _show(action), ', '.join(ACTIONS)))

    present, absent = users
    names = _unique(rule['users'])
    for name in names:
        if name == ANY_USER or name in present:
            continue
        if name in absent:
            raise AccessError(
                '%s: user %s has state absent in registry_users; a rule may name present users only'
                % (where, _show(name))
            )
        raise AccessError('%s: user %s is not in registry_users' % (where, _show(name)))

    globs = _unique(rule['repositories'])
    for glob in globs:
        problem = _glob_problem(glob, user_allowed=True)
        if problem:
            raise AccessError('%s: %s' % (where, problem))

    # A '/' in a user's name would put that user's {user} namespace inside another one's ("team/bob" in "team").
    if any(USER_PLACEHOLDER in glob for glob in globs):
        served = present if ANY_USER in names else names
        for name in served:
            if '/' in name:
                raise AccessError(
                    '%s: user %s has a "/" in the name, so {user} would give it part of the namespace %s;'
                    ' rename the user or name the rule\'s users without it'
                    % (where, _show(name), _show(name.split('/', 1)[0]))
                )

    return {
        'repositories': [glob_pattern(glob) for glob in globs],
        'users': [ANY_USER] if ANY_USER in names else names,
        'actions': _unique(rule['actions']),
    }


def _strings_problem(key, value):
    """Why `value` is not a non-empty list of non-empty strings, or None."""
    if not isinstance(value, list):
        return '%s must be a list, got %s' % (key, _show(value))
    if not value:
        return '%s must not be empty' % key
    for position, item in enumerate(value):
        if not isinstance(item, str) or not item:
            return '%s[%d] must be a non-empty string, got %s' % (key, position, _show(item))
    return None


def _glob_problem(glob, user_allowed):
    """Why `glob` is not a repository glob, or None; {user} only where `user_allowed`."""
    if not isinstance(glob, str) or not glob:
        return 'a repository glob must be a non-empty string, got %s' % _show(glob)
    what = 'repository %s' % _show(glob)
    if USER_PLACEHOLDER in glob and not user_allowed:
        return '%s: {user} has no meaning for anonymous pulls, which have no user' % what
    rest = glob.replace(USER_PLACEHOLDER, '')
    if _UPPER_CASE.search(rest):
        return '%s has upper case letters; registry repository names are lower case' % what
    if '{' in rest or '}' in rest:
        return '%s has "{" or "}" outside the token {user}' % what
    for character in rest:
        if not _GLOB_CHARACTER.match(character):
            return '%s has %s; a glob holds a-z, 0-9, ".", "_", "-", "/", "*" and {user}' % (what, _show(character))
    segments = glob.split('/')
    if '' in segments:
        return '%s has an empty path segment (a leading, trailing or double "/")' % what
    for segment in segments:
        if '**' in segment and segment != '**':
            return '%s has %s: "**" must be a whole path segment, as in "library/**"' % (what, _show(segment))
    wildcards = sum(1 if segment == '**' else 0 if segment == '*' else segment.count('*') for segment in segments)
    if wildcards > MAX_WILDCARDS:
        return (
            '%s has %d wildcards of varying length ("**", or "*" beside other characters); at most %d keep'
            ' the matching nginx does for every request fast' % (what, wildcards, MAX_WILDCARDS)
        )
    return None


def _unique(items):
    """`items` without repeats, in their first order."""
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _keys_text():
    return '%s and %s' % (', '.join(RULE_KEYS[:-1]), RULE_KEYS[-1])


def _short(rule):
    """A rule's repositories and users as messages show it: repositories ["**"], users [bob]."""
    parts = []
    for key in ('repositories', 'users'):
        if key not in rule:
            continue
        value = rule[key]
        if isinstance(value, list):
            shown = [item if key == 'users' and isinstance(item, str) and item else _show(item) for item in value]
            parts.append('%s [%s]' % (key, ', '.join(shown)))
        else:
            parts.append('%s %s' % (key, _show(value)))
    return ', '.join(parts) or 'no repositories, no users'


def _show(value):
    """A value as messages show it: JSON where it can be (control characters escaped), else repr."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def access_matchers(document):
    """One regular expression per action, from an access_document(): what access_rules() gives nginx and njs.

    One regular expression (source text) per action: pull, push and delete
    over "<user>\\n<repository>", catalog over "<user>", anonymous over
    "<repository>"; anchored, with only the fragments of the patterns, user
    names escaped, and {user} as a back-reference to the user's name (each
    rule's alternative captures it in its one group). A request is allowed
    when each action it needs matches, so rules still add up as before.
    """
    matchers = {'version': MATCHERS_VERSION}
    for action in ('pull', 'push', 'delete'):
        alternatives = []
        for rule in document['rules']:
            if action not in rule['actions']:
                continue
            group = len(alternatives) + 1
            globs = '|'.join(
                ''.join('(?:\\%d)' % group if piece is None else piece for piece in pattern)
                for pattern in rule['repositories']
            )
            alternatives.append('(%s)\\n(?:%s)' % (_users_source(rule['users']), globs))
        matchers[action] = _anchored(alternatives)
    matchers['catalog'] = _anchored(
        ['(?:%s)' % _users_source(rule['users']) for rule in document['rules'] if 'catalog' in rule['actions']]
    )
    matchers['anonymous'] = _anchored(['(?:%s)' % ''.join(pattern) for pattern in document['anonymous']])
    return matchers


def _users_source(users):
    return _ANY_USER_NAME if ANY_USER in users else '|'.join(re.escape(user) for user in users)


def _anchored(alternatives):
    return '^(?:%s)$' % ('|'.join(alternatives) if alternatives else _NEVER)


def access_rules(rules, users, anonymous_pull):
    """Everything nginx and njs read of the access rules: access.json, and access.conf's expressions.

    The arguments are access_document()'s, checked the same way (an
    AccessError before anything is returned). The result is access_matchers()'s
    (version, and the sources pull, push, delete, catalog, anonymous) with the
    name grammar: name_component (NAME_COMPONENT) and plain_pull_request
    (PLAIN_PULL_REQUEST, Python and PCRE syntax, not quoted for nginx). No rules
    at all is a valid input: the grammar is still there for nginx.conf.
    """
    result = access_matchers(access_document(rules, users, anonymous_pull))
    result['name_component'] = NAME_COMPONENT
    result['plain_pull_request'] = PLAIN_PULL_REQUEST
    return result
