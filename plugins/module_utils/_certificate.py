# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to privreg.registry: its functions may change in any release.
# Other collections, roles and playbooks use the modules and filters instead.

"""Does a TLS certificate serve the registry's host, now, with this key?

The checks a Go client (the docker CLI, the registry itself) makes, done before
a container starts: subjectAltName covers the host (DNS names with wildcard
rules, IP SANs; the Common Name is ignored, as Go does since 1.15), the
validity window, the private key belongs to the certificate.

Pure functions over PEM bytes and a clock; the caller reads the files. Problems
raise CertificateError; the message lists what the certificate does have.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import traceback

from ansible_collections.privreg.registry.plugins.module_utils._endpoint import parse_host

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

DEFAULT_EXPIRY_WARNING_DAYS = 30
_TIME_FORMAT = '%Y-%m-%d %H:%M:%S UTC'


class CertificateError(ValueError):
    """The certificate or key cannot serve the host: the message is meant for the sysadmin."""


def load_certificate(pem, path):
    """The first certificate of a PEM file (the leaf): a chain or key around it is allowed."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise CertificateError('certificate %s holds no PEM certificate' % path) from None


def load_private_key(pem, path):
    """An unencrypted PEM private key (what the registry and nginx can read)."""
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise CertificateError(
            'private_key %s is encrypted: the registry and nginx need a key without a passphrase' % path
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError('private_key %s holds no PEM private key that can be read' % path) from None


def subject_alt_names(certificate):
    """The certificate's names as ['DNS:r.example', 'IP:10.0.0.1', ...], in certificate order."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = []
    for entry in extension.value:
        if isinstance(entry, x509.DNSName):
            names.append('DNS:%s' % entry.value)
        elif isinstance(entry, x509.IPAddress):
            names.append('IP:%s' % entry.value.compressed)
    return names


def dns_name_matches(pattern, name):
    """Go's crypto/x509 rule: case-insensitive; '*' only as the whole leftmost label, matching one label."""
    pattern = pattern.lower().rstrip('.')
    name = name.lower().rstrip('.')
    if pattern == name:
        return True
    pattern_labels = pattern.split('.')
    name_labels = name.split('.')
    return (
        pattern_labels[0] == '*'
        and len(pattern_labels) == len(name_labels) > 1
        and name_labels[0] != ''
        and pattern_labels[1:] == name_labels[1:]
    )


def covers(names, host):
    """Whether the SAN list covers `host` (an _endpoint.Host): IP SANs for addresses, DNS SANs for names."""
    if host.kind == 'dns':
        return any(dns_name_matches(name[len('DNS:') :], host.name) for name in names if name.startswith('DNS:'))
    return any(ipaddress.ip_address(name[len('IP:') :]) == host.ip for name in names if name.startswith('IP:'))


def validity(certificate):
    """(not_before, not_after) of the certificate as aware UTC datetimes.

    cryptography >= 42 has not_valid_before_utc / not_valid_after_utc and deprecates
    the naive not_valid_before / not_valid_after. Hosts run older ones: Debian 12's
    python3-cryptography is 38, which has only the naive values (in UTC). Drop the
    fallback once every supported host OS ships cryptography >= 42.
    """
    try:
        return certificate.not_valid_before_utc, certificate.not_valid_after_utc
    except AttributeError:  # cryptography < 42
        return (
            certificate.not_valid_before.replace(tzinfo=datetime.timezone.utc),
            certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc),
        )


def sha256_fingerprint(certificate):
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ':'.join(digest[index : index + 2] for index in range(0, len(digest), 2))


def certificate_facts(certificate, now):
    """What the module returns about the certificate: names, window, fingerprint; never key material."""
    not_before, not_after = validity(certificate)
    return {
        'subject': certificate.subject.rfc4514_string(),
        'issuer': certificate.issuer.rfc4514_string(),
        'subject_alt_names': subject_alt_names(certificate),
        'not_before': not_before.strftime(_TIME_FORMAT),
        'not_after': not_after.strftime(_TIME_FORMAT),
        'days_left': (not_after - now).days,
        'sha256_fingerprint': sha256_fingerprint(certificate),
    }


def check_certificate(
    cert_pem,
    host,
    now,
    key_pem=None,
    cert_path='(certificate)',
    key_path='(private_key)',
    expiry_warning_days=DEFAULT_EXPIRY_WARNING_DAYS,
):
    """Check that the certificate serves `host` (a string, as for _endpoint.parse_host) at `now`.

    Returns (facts, warnings); raises CertificateError on the first problem, in
    the order a sysadmin fixes them: name, validity window, key.
    """
    parsed_host = parse_host(host)
    certificate = load_certificate(cert_pem, cert_path)
    facts = certificate_facts(certificate, now)
    names = facts['subject_alt_names']

    if not names:
        raise CertificateError(
            "certificate %s does not cover host '%s': it has no subjectAltName, and clients ignore the"
            " Common Name (%s); reissue it with subjectAltName %s"
            % (cert_path, parsed_host.name, facts['subject'] or 'empty', _wanted_name(parsed_host))
        )
    if not covers(names, parsed_host):
        raise CertificateError(
            "certificate %s does not cover host '%s': it is valid for %s; reissue it with subjectAltName %s"
            % (cert_path, parsed_host.name, ', '.join(names), _wanted_name(parsed_host))
        )

    not_before, not_after = validity(certificate)
    if now < not_before:
        raise CertificateError(
            'certificate %s is not valid before %s (now %s): check the clock of the target or reissue it'
            % (cert_path, facts['not_before'], now.strftime(_TIME_FORMAT))
        )
    if now > not_after:
        raise CertificateError('certificate %s expired on %s: renew it' % (cert_path, facts['not_after']))

    if key_pem is not None:
        key = load_private_key(key_pem, key_path)
        if _public_der(key.public_key()) != _public_der(certificate.public_key()):
            raise CertificateError(
                'private_key %s does not match certificate %s: their public keys differ; give the key the'
                ' certificate was issued for' % (key_path, cert_path)
            )

    warnings = []
    if facts['days_left'] < expiry_warning_days:
        warnings.append(
            'certificate %s expires on %s, in %d days: renew it' % (cert_path, facts['not_after'], facts['days_left'])
        )
    return facts, warnings


def _wanted_name(host):
    return ('DNS:%s' if host.kind == 'dns' else 'IP:%s') % host.name


def _public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def read_pem(path, option):
    """The bytes of a PEM file on the target; an unreadable file is a CertificateError naming the option."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError as error:
        raise CertificateError('%s %s cannot be read: %s' % (option, path, error.strerror or error)) from None


def check_certificate_files(cert_path, host, now, key_path=None, expiry_warning_days=DEFAULT_EXPIRY_WARNING_DAYS):
    """check_certificate() on files: the certificate and, when given, its private key."""
    key_pem = read_pem(key_path, 'private_key') if key_path else None
    return check_certificate(
        read_pem(cert_path, 'certificate'),
        host,
        now,
        key_pem=key_pem,
        cert_path=cert_path,
        key_path=key_path,
        expiry_warning_days=expiry_warning_days,
    )
