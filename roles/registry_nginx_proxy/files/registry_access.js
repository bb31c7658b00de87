// Access rules (registry_nginx_proxy, registry_access and registry_anonymous_pull).
// nginx.conf:
//   js_set $registry_access_njs registry_access.decision;            (the TLS port, after the login)
//   js_set $registry_anonymous_access_njs registry_access.anonymous;  (the anonymous pull port)
// Each answers "allow" or "deny" for the request as the registry will read it.
// nginx asks them only for requests it does not decide itself: it matches
// plain pulls (GET or HEAD of a manifest, blob or tag list whose request line
// reads one way only) against the same expressions (access.conf) without njs.
// A denied request is proxied to the denial server, which answers 403 with
// the registry's own error body; a request without a valid login still gets
// 401 (the login check comes first).
//
// The rules come from access.json (the role writes it from the inventory: the
// registry_access_rules filter checks them and folds them into one regular
// expression per action, beside the registry's name grammar), preloaded by
// nginx as the global registry_access_rules (js_preload_object) when its
// config loads: a re-run with new rules reloads nginx. Anything this code
// cannot read or parse is denied.
//
// The registry reads a request this way (distribution 2.8 and 3.x, gorilla
// mux): the path is percent-decoded (so %2F is a "/"), a path that is not
// clean ("//", "/./", "/../") is only redirected, and the route decides what
// the name is: the segments before "tags/list", "manifests/<reference>",
// "blobs/<digest>", "blobs/uploads/" or "blobs/uploads/<id>". Here every route
// the path could be is taken, and the request needs the actions on every
// name they give: an ambiguous path can only be denied more, never allowed
// more. Methods: GET and HEAD pull; POST, PUT and PATCH pull and push;
// DELETE delete; /v2/_catalog needs catalog. A blob mount
// (POST .../blobs/uploads/?mount=<digest>&from=<repository>) needs pull on
// every "from" too; the registry also reads form fields from a POST body
// (Go's FormValue), so a form-encoded body is denied.
import basic from 'registry_basic.js';

var ALLOW = 'allow';
var DENY = 'deny';

// The registry's name grammar (reference.NameRegexp), one path segment at a
// time: regular expressions without nested repeats, so no request can make
// them backtrack for long. A name component's own is not written here: it
// comes from access.json (name_component, the source nginx.conf reads too),
// through nameComponent().
var DOMAIN_LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
var PORT = /^[0-9]+$/;
var UPLOAD_ID = /^[a-zA-Z0-9-_.=]+$/;
var FORM_BODY = /^\s*(?:application\/x-www-form-urlencoded|multipart\/form-data)\s*(?:;|$)/i;

function domainComponent(segment) {
    var colon = segment.indexOf(':');
    var host = colon < 0 ? segment : segment.slice(0, colon);
    if (colon >= 0 && !PORT.test(segment.slice(colon + 1))) {
        return false;
    }
    return host.split('.').every(function (label) {
        return DOMAIN_LABEL.test(label);
    });
}

// The registry refuses longer names (NAME_INVALID); a bound before any rule's
// pattern is tried on them.
var NAME_MAX = 255;

// A repository name as the registry's route accepts it: name components
// (`component`, a RegExp of nameComponent()), the first one possibly a
// registry domain (host[:port]).
function validName(segments, component) {
    if (segments.length === 0 || segments.join('/').length > NAME_MAX) {
        return false;
    }
    var rest = segments.every(function (segment, index) {
        return index === 0 || component.test(segment);
    });
    return rest && (component.test(segments[0]) || (segments.length > 1 && domainComponent(segments[0])));
}

// The names a clean, decoded path under /v2/ may address: one per route
// its shape fits. null: a path the rules cannot allow (no route, or a name
// the registry's grammar refuses).
function repositoriesOf(path, component) {
    var segments = path.slice('/v2/'.length).split('/');
    var n = segments.length;
    var found = [];
    function take(count) {
        found.push(segments.slice(0, n - count));
    }
    if (n >= 3 && segments[n - 2] === 'tags' && segments[n - 1] === 'list') {
        take(2);
    }
    if (n >= 3 && segments[n - 2] === 'manifests' && segments[n - 1] !== '') {
        take(2);
    }
    if (n >= 3 && segments[n - 2] === 'blobs' && segments[n - 1] !== '') {
        take(2);
    }
    if (n >= 4 && segments[n - 3] === 'blobs' && segments[n - 2] === 'uploads') {
        if (segments[n - 1] === '' || UPLOAD_ID.test(segments[n - 1])) {
            take(3);
        }
    }
    if (n >= 3 && segments[n - 2] === 'referrers' && segments[n - 1] !== '') {
        take(2);
    }
    if (found.length === 0 || !found.every(function (name) {
        return validName(name, component);
    })) {
        return null;
    }
    return found.map(function (name) {
        return name.join('/');
    });
}

function cleanPath(path) {
    return path.charAt(0) === '/' && !/\/\/|\/\.\.?(?:\/|$)/.test(path);
}

// Go's url.QueryUnescape: "+" is a space; a bad escape is an error (null).
function queryUnescape(text) {
    try {
        return decodeURIComponent(text.replace(/\+/g, ' '));
    } catch (e) {
        return null;
    }
}

// Every value of the query parameter "from"; null for a query the registry
// would read differently than this (a ";" or a bad escape anywhere).
function mountSources(query) {
    var sources = [];
    var pairs = query === '' ? [] : query.split('&');
    for (var i = 0; i < pairs.length; i++) {
        if (pairs[i].indexOf(';') >= 0) {
            return null;
        }
        var equals = pairs[i].indexOf('=');
        var key = queryUnescape(equals < 0 ? pairs[i] : pairs[i].slice(0, equals));
        var value = queryUnescape(equals < 0 ? '' : pairs[i].slice(equals + 1));
        if (key === null || value === null) {
            return null;
        }
        if (key === 'from') {
            sources.push(value);
        }
    }
    return sources;
}

function actionsOf(method) {
    switch (method) {
    case 'GET':
    case 'HEAD':
        return ['pull'];
    case 'POST':
    case 'PUT':
    case 'PATCH':
        return ['pull', 'push'];
    case 'DELETE':
        return ['delete'];
    default:
        return null;
    }
}

// What the request needs: a list of [repository or null, action]
// (null: not a repository's action, i.e. catalog); [] for the API root,
// which any login may see; null when nothing may allow it. `component`: see
// validName().
function requirements(r, component) {
    var uri = r.variables.request_uri;
    var question = uri.indexOf('?');
    var path;
    try {
        path = decodeURIComponent(question < 0 ? uri : uri.slice(0, question));
    } catch (e) {
        return null;
    }
    if (!cleanPath(path)) {
        return null;
    }
    if (path === '/v2/' || path === '/v2') {
        return [];
    }
    if (path === '/v2/_catalog') {
        return [[null, 'catalog']];
    }
    if (path.indexOf('/v2/') !== 0) {
        return null;
    }
    var names = repositoriesOf(path, component);
    var actions = actionsOf(r.method);
    if (names === null || actions === null) {
        return null;
    }
    var needed = [];
    names.forEach(function (name) {
        actions.forEach(function (action) {
            needed.push([name, action]);
        });
    });
    if (r.method === 'POST' && /\/blobs\/uploads\/$/.test(path)) {
        if (FORM_BODY.test(r.headersIn['Content-Type'] || '')) {
            return null;
        }
        var sources = mountSources(question < 0 ? '' : uri.slice(question + 1));
        if (sources === null || !sources.every(function (source) {
            return validName(source.split('/'), component);
        })) {
            return null;
        }
        sources.forEach(function (source) {
            needed.push([source, 'pull']);
        });
    }
    return needed;
}

// registry_access_rules (access.json, preloaded by nginx.conf) holds one regular
// expression per action: pull, push and delete over "<user>\n<repository>",
// catalog over the user, anonymous over the repository. One test per action a
// request needs.
function granted(rules, user, need) {
    if (need[0] === null) {
        return new RegExp(rules.catalog).test(user);
    }
    return new RegExp(rules[need[1]]).test(user + '\n' + need[0]);
}

// The preloaded rules: read with the config, not on each request (reading and
// parsing the file cost more than a plain pull itself).
/* global registry_access_rules */
function accessRules() {
    return registry_access_rules;
}

// One name component, anchored, from the rules' name_component: built once per
// request (njs 0.7 runs a module's top-level code again for every request, so
// a top-level RegExp would cost the same), and inside the callers' try, so a
// missing or bad source denies.
function nameComponent(rules) {
    if (typeof rules.name_component !== 'string' || rules.name_component === '') {
        throw new Error('access.json has no name_component');
    }
    return new RegExp('^(?:' + rules.name_component + ')$');
}

// The user name of the Basic login nginx has checked (auth_basic's reading:
// the decoded bytes before the first ":").
function loginUser(r) {
    var login = basic.credentials(r.headersIn.Authorization);
    if (login === null) {
        return null;
    }
    var user = login.user.toString();
    // No account's name holds a newline, the separator of what the matchers read.
    return user.indexOf('\n') < 0 ? user : null;
}

function decision(r) {
    try {
        var rules = accessRules();
        var needed = requirements(r, nameComponent(rules));
        var user = loginUser(r);
        if (needed === null || user === null) {
            return DENY;
        }
        return needed.every(function (need) {
            return granted(rules, user, need);
        }) ? ALLOW : DENY;
    } catch (e) {
        return DENY;
    }
}

// The anonymous pull port: GET and HEAD of the listed repositories, and the
// API root (the docker client asks it first and sends no login after a 200).
function anonymous(r) {
    try {
        var rules = accessRules();
        var needed = requirements(r, nameComponent(rules));
        if (needed === null || (r.method !== 'GET' && r.method !== 'HEAD')) {
            return DENY;
        }
        var anonymous = new RegExp(rules.anonymous);
        return needed.every(function (need) {
            return need[0] !== null && need[1] === 'pull' && anonymous.test(need[0]);
        }) ? ALLOW : DENY;
    } catch (e) {
        return DENY;
    }
}

export default {decision, anonymous};
