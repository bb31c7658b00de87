# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to privreg.registry: its functions may change in any release.

"""Which registry hosts are replicas of one another, and what they must agree on.

Hosts that keep their images in the same place (one S3 endpoint, bucket and
root directory) serve the same images: they are replicas, behind one load
balancer. An upload begun on one and continued on another fails unless they
sign upload state with the same HTTP secret; they must also reach the bucket
the same way, share one Redis cache (or none) and answer with the balancer's
name. A host that keeps its images on its own disk but writes into the Redis
cache of a replica set would fill that cache with blobs the replicas do not
have.

Input, one entry per host (the role's variables without their ``registry_``
prefix; secrets as digests, never as values, so no message can show one)::

    {"host-a": {"storage": "s3", "s3_endpoint": "...", "s3_bucket": "...", "s3_root_directory": "",
                "s3_region": "...", "s3_path_style": True, "s3_redirect": False, "s3_access_key": "...",
                "s3_secret_key_sha256": "...", "redis_addresses": [...], "redis_db": 0, "redis_tls": False,
                "redis_password_sha256": "...", "http_secret_sha256": "" (unset), "host": "...", "port": 443},
     ...}
"""

from __future__ import annotations

# What replicas must agree on, with the variable a sysadmin sets for each.
_SHARED = (
    ('s3_region', 'registry_s3_region'),
    ('s3_path_style', 'registry_s3_path_style'),
    ('s3_redirect', 'registry_s3_redirect'),
    ('s3_access_key', 'registry_s3_access_key'),
    ('s3_secret_key_sha256', 'registry_s3_secret_key'),
    ('redis_addresses', 'registry_redis_addresses'),
    ('redis_db', 'registry_redis_db'),
    ('redis_tls', 'registry_redis_tls'),
    ('redis_password_sha256', 'registry_redis_password'),
    ('http_secret_sha256', 'registry_http_secret'),
    ('host', 'registry_host'),
    ('port', 'registry_port'),
)


def storage_identity(settings):
    """Where a host keeps its images, as a tuple; None for its own disk."""
    if settings.get('storage') != 's3':
        return None
    return (
        settings.get('s3_endpoint') or '',
        settings.get('s3_bucket') or '',
        (settings.get('s3_root_directory') or '').strip('/'),
    )


def _where(identity):
    endpoint, bucket, root = identity
    return 'bucket %r%s%s' % (
        bucket,
        ' at %s' % endpoint if endpoint else ' on AWS',
        ', root directory %r' % root if root else '',
    )


def replica_sets(hosts):
    """{storage identity: sorted host names} of every storage two hosts or more share."""
    sets = {}
    for name, settings in hosts.items():
        identity = storage_identity(settings)
        if identity is not None:
            sets.setdefault(identity, []).append(name)
    return {identity: sorted(names) for identity, names in sets.items() if len(names) > 1}


def replica_problems(hosts, host=None):
    """What keeps the replicas among ``hosts`` from working together, as messages naming
    the hosts and the variable; [] when nothing does. With ``host``, only the problems
    that involve it (each host of a play reports its own)."""
    problems = []  # (the hosts involved, the message)
    for identity, names in sorted(replica_sets(hosts).items()):
        where = _where(identity)
        unset = [name for name in names if not hosts[name].get('http_secret_sha256')]
        if unset:
            problems.append(
                (
                    names,
                    (
                        '%s share %s: set registry_http_secret explicitly, the same on every replica '
                        '(unset on %s: each would generate its own, and an upload that changes replica fails)'
                    )
                    % (', '.join(names), where, ', '.join(unset)),
                )
            )
        for key, variable in _SHARED:
            if key == 'http_secret_sha256' and unset:
                continue
            values = {}
            for name in names:
                values.setdefault(repr(hosts[name].get(key)), []).append(name)
            if len(values) > 1:
                groups = ' / '.join(', '.join(group) for group in sorted(values.values()))
                problems.append(
                    (names, '%s share %s but differ in %s (%s)' % (', '.join(names), where, variable, groups))
                )
        caches = {tuple(hosts[name].get('redis_addresses') or ()) for name in names} - {()}
        for name, settings in sorted(hosts.items()):
            if storage_identity(settings) is None and tuple(settings.get('redis_addresses') or ()) in caches:
                problems.append(
                    (
                        [name, *names],
                        (
                            '%s keeps its images on its own disk (registry_storage: filesystem) but shares the Redis cache '
                            '(registry_redis_addresses) of the replicas %s on %s: give it their storage, or another cache'
                        )
                        % (name, ', '.join(names), where),
                    )
                )
    return [message for involved, message in problems if host is None or host in involved]


def gc_collector(hosts, host):
    """The host that collects garbage for ``host``'s storage: on one shared
    storage the first replica by name (one collection, the others only go
    read-only), on its own disk the host itself."""
    identity = storage_identity(hosts.get(host) or {})
    if identity is None:
        return host
    return min(name for name, settings in hosts.items() if storage_identity(settings or {}) == identity)
