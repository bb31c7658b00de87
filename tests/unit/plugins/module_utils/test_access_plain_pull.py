"""The plain-pull request (_access.PLAIN_PULL_REQUEST, access_rules()'s plain_pull_request): which
request lines nginx decides itself, and the repository name it hands to the rules' pull expression
(access.conf).

nginx decides a request without njs only when the request line reads one way only: GET or HEAD,
no %-escape in the path, no dot segment or doubled slash, a name in the registry's grammar of at
most 255 characters, and one of the routes manifests, blobs, referrers or tags/list. Everything
else must fall through ("") to registry_access.js, which parses the request as the registry does.
nginx.conf's plain-pull map matches "$request_method $request_uri" against it with PCRE; Python's
re reads the same syntax.
"""

from __future__ import annotations

import re

import pytest

from ansible_collections.privreg.registry.plugins.module_utils._access import PLAIN_PULL_REQUEST, access_rules

DIGEST = 'sha256:' + 'a' * 64
PLAIN = re.compile(PLAIN_PULL_REQUEST)


def plain_name(method, uri):
    found = PLAIN.match('%s %s' % (method, uri))
    return found.group(1) if found else ''


@pytest.mark.parametrize(
    'method, uri, name',
    [
        ('GET', '/v2/bench/data/blobs/' + DIGEST, 'bench/data'),
        ('HEAD', '/v2/base/img/blobs/' + DIGEST, 'base/img'),
        ('GET', '/v2/library/a_b/c--d/manifests/v1.2-rc_3', 'library/a_b/c--d'),
        ('GET', '/v2/x/manifests/' + DIGEST, 'x'),
        ('GET', '/v2/x/tags/list', 'x'),
        ('GET', '/v2/x/tags/list?n=10&last=a%20b', 'x'),
        ('GET', '/v2/x/referrers/' + DIGEST, 'x'),
        # One route only: the name is everything before the last two segments.
        ('GET', '/v2/alice/private/manifests/bob/tags/list', 'alice/private/manifests/bob'),
        ('GET', '/v2/a/blobs/uploads', 'a'),
        ('GET', '/v2/' + 'a' * 255 + '/manifests/x', 'a' * 255),
    ],
)
def test_plain_pulls_name_their_repository(method, uri, name):
    assert plain_name(method, uri) == name


@pytest.mark.parametrize(
    'method, uri',
    [
        # Not a pull: njs decides (push, delete, uploads, mounts).
        ('POST', '/v2/x/blobs/uploads/'),
        ('PUT', '/v2/x/manifests/latest'),
        ('DELETE', '/v2/x/blobs/' + DIGEST),
        ('PATCH', '/v2/x/blobs/uploads/abc'),
        ('get', '/v2/x/manifests/latest'),
        # Upload status, the root, the catalog.
        ('GET', '/v2/x/blobs/uploads/abc-def'),
        ('GET', '/v2/'),
        ('GET', '/v2/_catalog'),
        ('GET', '/v2/_catalog?n=100'),
        # %-escapes the registry decodes, dot segments, doubled slashes, case, grammar.
        ('GET', '/v2/alice%2Fprivate/blobs/' + DIGEST),
        ('GET', '/v2/%61lice/private/blobs/' + DIGEST),
        ('GET', '/v2/bob/app/../../alice/private/blobs/' + DIGEST),
        ('GET', '/v2/bob/./app/blobs/' + DIGEST),
        ('GET', '/v2//alice/private/blobs/' + DIGEST),
        ('GET', '/v2/alice//private/blobs/' + DIGEST),
        ('GET', '/v2/x/manifests/..'),
        ('GET', '/v2/x/manifests/.'),
        ('GET', '/v2/x/manifests/.hidden'),
        ('GET', '/v2/x/manifests/a%2Fb'),
        ('GET', '/v2/x/manifests/'),
        ('GET', '/v2/x/blobs//'),
        ('GET', '/v2/ALICE/private/blobs/' + DIGEST),
        ('GET', '/v2/a-/b/manifests/x'),
        ('GET', '/v2/-a/manifests/x'),
        ('GET', '/v2/a..b/manifests/x'),
        # A registry domain as the first component: njs reads it.
        ('GET', '/v2/localhost:5000/x/manifests/latest'),
        ('GET', '/v2/manifests/latest'),
        ('GET', '/v2/tags/list'),
        # Longer than the registry's 255 characters.
        ('GET', '/v2/' + 'a' * 256 + '/manifests/x'),
        ('GET', '/v2/' + 'a/' * 128 + 'b/manifests/x'),
        # Not under /v2/, or something after the route.
        ('GET', '/v3/x/manifests/latest'),
        ('GET', '/v2/x/manifests/latest/'),
        ('GET', '/v2/x/tags/list/'),
        ('GET', 'http://host/v2/x/manifests/latest'),
    ],
)
def test_everything_else_falls_through_to_njs(method, uri):
    assert plain_name(method, uri) == ''


def test_the_filter_gives_this_expression_with_or_without_rules():
    assert access_rules([], [], [])['plain_pull_request'] == PLAIN_PULL_REQUEST
