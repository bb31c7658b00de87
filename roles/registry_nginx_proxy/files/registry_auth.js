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

export default {cacheKey};
