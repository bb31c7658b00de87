# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to privreg.registry: its functions may change in any release.

"""What a registry's day-2 operations read from the registry itself: which
release an image runs, what garbage collection found, and which stored
manifests a registry 3 cannot serve.

- ``registry --version`` prints ``<argv0> <module path> <version>``: 2.x builds
  say ``github.com/docker/distribution``, 3.x ``github.com/distribution/distribution/v3``,
  and the version text varies with who built it (``v2.8.3``, ``2.8.2+ds1`` from
  Debian, ``v3.1.1+unknown``). The module path names the major when the version
  text does not.
- ``registry garbage-collect`` prints a line per marked object, then
  ``N blobs marked, M blobs and K manifests eligible for deletion`` and a
  ``blob eligible for deletion: sha256:...`` line per blob it removes (or would,
  with --dry-run).
- Schema-1 manifests (``schemaVersion: 1``, media types ``...manifest.v1+json``
  and ``...v1+prettyjws``) are served by 2.x; 3.x answers 500 for them and its
  garbage collection aborts on them.
"""

from __future__ import annotations

import json
import os
import re


class MaintenanceError(ValueError):
    """Output this module cannot read; the message says what it got."""


_VERSION_LINE = re.compile(r'^\S+\s+(?P<module>\S+)\s+v?(?P<version>\d+(?:\.\d+)*)\S*\s*$')
_MODULE_MAJOR = re.compile(r'/v(?P<major>\d+)$')


def release(version_output):
    """``{'major': int, 'version': str, 'module': str}`` from ``registry --version``."""
    lines = [line for line in (version_output or '').splitlines() if line.strip()]
    match = _VERSION_LINE.match(lines[-1]) if lines else None
    if not match:
        raise MaintenanceError(
            '"registry --version" printed %r, not "<program> <module path> <version>"' % version_output
        )
    module = match.group('module')
    version = match.group('version')
    major = int(version.split('.')[0])
    by_module = _MODULE_MAJOR.search(module)
    # Go modules name majors from 2 on in their path; distribution 2.x predates
    # modules, so only 3.x and later carry one.
    if by_module and int(by_module.group('major')) != major:
        raise MaintenanceError(
            '"registry --version" printed %r: module %s but version %s' % (version_output, module, version)
        )
    return {'major': major, 'version': version, 'module': module}


_GC_TOTALS = re.compile(
    r'(?P<marked>\d+) blobs marked, (?P<blobs>\d+) blobs and (?P<manifests>\d+) manifests eligible for deletion'
)
_GC_BLOB = re.compile(r'^blob eligible for deletion: (?P<digest>sha256:[0-9a-f]{64})\s*$')
_GC_MANIFEST = re.compile(r'manifest eligible for deletion: (?P<what>.+?)\s*$')


def gc_summary(output):
    """What ``registry garbage-collect`` marked and (would) delete::

    {'marked': int, 'blobs': int, 'manifests': int,
     'blob_digests': [...], 'manifests_deleted': [...]}
    """
    totals = None
    digests = []
    manifests = []
    for line in (output or '').splitlines():
        found = _GC_TOTALS.search(line)
        if found:
            totals = found
            continue
        blob = _GC_BLOB.match(line.strip())
        if blob:
            if blob.group('digest') not in digests:
                digests.append(blob.group('digest'))
            continue
        manifest = _GC_MANIFEST.search(line)
        if manifest:
            manifests.append(manifest.group('what'))
    if totals is None:
        tail = '\n'.join((output or '').strip().splitlines()[-5:])
        raise MaintenanceError('garbage collection printed no summary line; its output ended with:\n%s' % tail)
    return {
        'marked': int(totals.group('marked')),
        'blobs': int(totals.group('blobs')),
        'manifests': int(totals.group('manifests')),
        'blob_digests': digests,
        'manifests_deleted': manifests,
    }


def blob_data_path(storage_root, digest):
    """Where the filesystem driver keeps a blob's bytes, under its ``docker/registry/v2`` root."""
    algorithm, hex_digest = digest.split(':', 1)
    return os.path.join(storage_root, 'blobs', algorithm, hex_digest[:2], hex_digest, 'data')


_SCHEMA1_MEDIA_TYPES = (
    'application/vnd.docker.distribution.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.v1+prettyjws',
)


def is_schema1(content):
    """Whether the bytes of a stored manifest are a schema-1 manifest."""
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(document, dict):
        return False
    return document.get('schemaVersion') == 1 or document.get('mediaType') in _SCHEMA1_MEDIA_TYPES


def _read_link(path):
    try:
        with open(path, encoding='utf-8') as link:
            return link.read().strip()
    except OSError:
        return None


def schema1_manifests(storage_root):
    """Every schema-1 manifest revision under the filesystem driver's
    ``docker/registry/v2`` root: ``[{'repository', 'digest', 'tags'}]``, sorted.
    An absent root (nothing pushed yet) has none."""
    repositories = os.path.join(storage_root, 'repositories')
    found = []
    for folder, subfolders, _files in os.walk(repositories):
        if os.path.basename(folder) != '_manifests':
            continue
        subfolders[:] = []
        repository = os.path.relpath(os.path.dirname(folder), repositories)
        tags = {}
        tags_folder = os.path.join(folder, 'tags')
        for tag in sorted(os.listdir(tags_folder)) if os.path.isdir(tags_folder) else []:
            digest = _read_link(os.path.join(tags_folder, tag, 'current', 'link'))
            if digest:
                tags.setdefault(digest, []).append(tag)
        revisions = os.path.join(folder, 'revisions')
        for algorithm in sorted(os.listdir(revisions)) if os.path.isdir(revisions) else []:
            for hex_digest in sorted(os.listdir(os.path.join(revisions, algorithm))):
                digest = _read_link(os.path.join(revisions, algorithm, hex_digest, 'link'))
                if not digest:
                    continue
                try:
                    with open(blob_data_path(storage_root, digest), 'rb') as data:
                        content = data.read(4 * 1024 * 1024)
                except OSError:
                    continue
                if is_schema1(content):
                    found.append({'repository': repository, 'digest': digest, 'tags': tags.get(digest, [])})
    return sorted(found, key=lambda entry: (entry['repository'], entry['digest']))


def needs_schema1_scan(running_major, wanted_major):
    """Whether switching from the running major (None: nothing runs) to the wanted one crosses into 3.x."""
    return running_major is not None and wanted_major is not None and running_major < 3 <= wanted_major


def upgrade_problem(running_major, wanted_major, schema1):
    """Why a host must not switch from the running registry's major to the
    wanted one, or None. ``schema1``: what schema1_manifests() found."""
    if not schema1 or not needs_schema1_scan(running_major, wanted_major):
        return None
    listing = '; '.join(
        '%s@%s%s'
        % (entry['repository'], entry['digest'], ' (tags: %s)' % ', '.join(entry['tags']) if entry['tags'] else '')
        for entry in schema1
    )
    return (
        'registry %d.x cannot serve the %d schema-1 manifest(s) in this storage (it answers 500 for them and its '
        'garbage collection aborts): %s. Way out: keep registry_image on %d.x, copy each of these images to '
        'schema 2 (skopeo copy --format v2s2 docker://<host>/<name>:<tag> docker://<host>/<name>:<tag>), delete '
        'the schema-1 manifests (registry_storage_delete: true, then DELETE /v2/<name>/manifests/<digest>), and '
        'run the upgrade again.' % (wanted_major, len(schema1), listing, running_major)
    )


def unreadable_storage_problem(running_major, wanted_major):
    """Why a switch into 3.x waits when the storage cannot be read from the host (S3)."""
    return (
        'the registry would switch from %d.x to %d.x on storage the host cannot read (S3), so it cannot look for '
        'schema-1 manifests (%d.x answers 500 for them and its garbage collection aborts). Check the bucket: every '
        'docker/registry/v2/repositories/<name>/_manifests/revisions/sha256/<hex>/link names a blob whose data must '
        'not say "schemaVersion": 1; copy such images to schema 2 (skopeo copy --format v2s2) and delete the old '
        'manifests. Then set registry_schema1_check: false and run again.' % (running_major, wanted_major, wanted_major)
    )
