// Cache key of a login nginx has verified (registry_nginx_proxy, registry_auth_cache_ttl > 0).
// nginx.conf: js_set $registry_auth_key registry_auth.cacheKey;
//
// The key is an HMAC-SHA256, under a random secret made at container start in
// memory (tmpfs), of two things:
// - the htpasswd file's identity (device, inode, size, mtime, ctime): any
//   change to the file, by the role (a new inode) or by hand (a new ctime,
//   which no one can set back), changes every key, so no success cached
//   under the old file is ever looked up again;
// - the Authorization header exactly as the client sent it.
// The cache files hold this key, never the header (base64 of user:password).
// Any failure (no header, no secret, no file) gives '': nginx.conf then
// neither looks up nor stores, and bcrypt decides as without the cache.
import basic from 'registry_basic.js';

var fs = require('fs');
var crypto = require('crypto');

// Shorter than this, the secret file was not written by the container's start command.
var MIN_SECRET_LENGTH = 64;

function fileIdentity(path) {
    var stat = fs.statSync(path);
    return [stat.dev, stat.ino, stat.size, stat.mtimeMs, stat.ctimeMs].join(':');
}

function cacheKey(r) {
    var authorization = r.headersIn.Authorization;
    if (!authorization) {
        return '';
    }
    try {
        var secret = fs.readFileSync(r.variables.registry_auth_secret_file, 'utf8');
        if (secret.length < MIN_SECRET_LENGTH) {
            return '';
        }
        var identity = fileIdentity(r.variables.registry_auth_user_file);
        // A header holds no newline, so "identity\nheader" is unambiguous.
        return crypto.createHmac('sha256', secret).update(identity + '\n' + authorization).digest('hex');
    } catch (e) {
        return '';
    }
}

// Unknown users cost what known ones cost (registry_nginx_proxy, nginx.conf):
//   js_set $registry_auth_check_authorization registry_auth.checkAuthorization;
//   js_set $registry_auth_check_user registry_auth.checkUser;
// Without this, nginx refuses a user the htpasswd file does not list at once
// (~1.5 ms) and a listed one with a wrong password after bcrypt (~50 ms): the
// answer time tells which user names exist. So the auth subrequest sends an
// unknown user's header, renamed UNKNOWN_USER with the client's password, and
// "X-Registry-Auth-User: unknown", so the check server reads the placeholder
// file, which holds UNKNOWN_USER's entry only: a bcrypt hash with the prefix
// and cost of the htpasswd file's first entry, whose checksum no password can
// produce (its last character has padding bits set; crypt() only ever writes
// them as 0), so the check runs in full and always fails. A listed user is
// checked against the htpasswd file as is. Anything this code cannot read (no
// or malformed header, no file) is "listed" and unchanged: nginx then refuses
// it without any bcrypt, as it would anyway, and that tells nothing about
// user names. Both run only when the cache has no success for the login: nginx
// evaluates them for the check request alone.
// A space: registry_htpasswd refuses such a name, so no account can be called this.
var UNKNOWN_USER = 'privreg unknown-user';
// 22 characters of bcrypt's base64 (the last one with its padding bits at 0) and a
// checksum of 31 that ends in '/' (padding bits 01): crypt() never returns it.
var UNKNOWN_SALT = 'PrivregUnknownUserSalu';
var UNKNOWN_CHECKSUM = 'NeverMatchesAnyPasswordBecause/';

// The hash of the first line of the htpasswd file that starts with "<user>:"
// (the line nginx's auth_basic checks), or null.
function entryOf(file, user) {
    var entry = Buffer.concat([user, Buffer.from(':')]);
    var at = file.indexOf(entry);
    while (at >= 0) {
        if (at === 0 || file[at - 1] === 10) {
            var start = at + entry.length;
            var end = file.indexOf(10, start);
            return file.slice(start, end < 0 ? file.length : end).toString();
        }
        at = file.indexOf(entry, at + 1);
    }
    return null;
}

// Only bcrypt entries ever log in: nginx's auth_basic would also accept
// {PLAIN}, {SHA}, {SSHA}, $apr1$ and crypt() entries, which the registry
// refuses and registry_htpasswd never writes; a user whose entry is one of
// those is checked like an unknown user (in full, and refused).
var BCRYPT_ENTRY = /^\$2[abxy]?\$[0-9]{2}\$/;

// The request's Basic credentials when its user has no bcrypt entry in the htpasswd file, else null.
function unknownUser(r) {
    try {
        var login = basic.credentials(r.headersIn.Authorization);
        if (login === null) {
            return null;
        }
        var file = fs.readFileSync(r.variables.registry_auth_user_file);
        var hash = entryOf(file, login.user);
        return hash !== null && BCRYPT_ENTRY.test(hash) ? null : {login: login, file: file};
    } catch (e) {
        return null;
    }
}

function checkAuthorization(r) {
    var unknown = unknownUser(r);
    if (unknown === null) {
        return r.headersIn.Authorization || '';
    }
    return 'Basic ' + Buffer.concat([Buffer.from(UNKNOWN_USER), unknown.login.rest]).toString('base64');
}

// The placeholder entry: the prefix and cost of the file's first bcrypt entry
// (registry_bcrypt_cost when it has none), so both checks take the same time.
function unknownUserEntry(file, cost) {
    var first = /^[^:#\n]+:(\$2[abxy]?\$[0-9]{2}\$)/m.exec(file.toString());
    var prefix = first ? first[1] : '$2y$' + ('0' + cost).slice(-2) + '$';
    return UNKNOWN_USER + ':' + prefix + UNKNOWN_SALT + UNKNOWN_CHECKSUM + '\n';
}

// "unknown" when the request's user has no bcrypt entry (the check server then
// reads the placeholder file, kept up to date here), else "listed".
function checkUser(r) {
    var unknown = unknownUser(r);
    if (unknown === null) {
        return 'listed';
    }
    try {
        var placeholder = r.variables.registry_auth_unknown_user_file;
        var entry = unknownUserEntry(unknown.file, r.variables.registry_auth_bcrypt_cost);
        var current = '';
        try {
            current = fs.readFileSync(placeholder, 'utf8');
        } catch (e) {
            current = '';
        }
        if (current !== entry) {
            // Written whole, then renamed: other workers read the old entry or the new one.
            var temporary = placeholder + '.' + process.pid;
            fs.writeFileSync(temporary, entry);
            fs.renameSync(temporary, placeholder);
        }
    } catch (e) {
        // No placeholder file: nginx cannot open it and the check answers 500 (still refused).
    }
    return 'unknown';
}

export default {cacheKey, checkAuthorization, checkUser};
