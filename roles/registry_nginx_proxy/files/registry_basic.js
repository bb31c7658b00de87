// The Basic login of a request (registry_nginx_proxy), read once for the njs
// code that needs it: registry_auth.js (unknown users cost what known ones
// cost) and registry_access.js (the user the access rules are asked about)
// import it from js_path:
//   import basic from 'registry_basic.js';
// (seen working in njs 0.7.9, Debian's libnginx-mod-http-js with nginx 1.22).

var BASIC = /^basic +([A-Za-z0-9+\/=]+)$/i;

// The credentials of an Authorization header as nginx's auth_basic reads them:
// {user, rest}, the bytes (Buffers) of the user name, before the first ":",
// and of the rest (":password"); null for no header, another scheme, or no
// user name.
function credentials(authorization) {
    var found = BASIC.exec(authorization || '');
    if (!found) {
        return null;
    }
    var decoded = Buffer.from(found[1], 'base64');
    var colon = decoded.indexOf(':');
    if (colon <= 0) {
        return null;
    }
    return {user: decoded.slice(0, colon), rest: decoded.slice(colon)};
}

export default {credentials};
