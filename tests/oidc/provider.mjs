// A real OpenID Provider for stepca's tests: node_modules/oidc-provider (OpenID-certified), served
// over HTTPS on a loopback address, configured from one JSON file that tests/oidc/harness.py writes.
//
//   node provider.mjs --config CONFIG.json --cert CERT.pem --key KEY.pem [--port N] [--host 127.0.0.1]
//
// (or $OIDC_PROVIDER_CONFIG, $OIDC_PROVIDER_CERT, $OIDC_PROVIDER_KEY, $OIDC_PROVIDER_PORT,
// $OIDC_PROVIDER_HOST). Port 0 (the default) picks a free port; the issuer is
// https://HOST:PORT (an IP literal, so no name resolution is involved: decided over localhost,
// which may resolve to ::1 first), and "ready https://HOST:PORT" is printed on stdout once it
// listens. SIGTERM/SIGINT close it.
//
// CONFIG.json:
//   {
//     "jwks": {"keys": [private JWKs]},          signing keys; the first key of a type signs
//     "id_token_ttl": 3600,                       seconds (a client's "id_token_ttl" overrides it;
//                                                 a negative value gives an already expired token)
//     "client_auth_methods": [...],               optional: token endpoint auth methods offered
//     "clients": [{client_id, client_secret, redirect_uris, id_token_signed_response_alg,
//                  token_endpoint_auth_method, id_token_ttl, ...any oidc-provider client metadata}],
//     "users": [{login, password, sub, email, email_verified, groups, name}]
//   }
//
// Clients default to application_type "native", for which oidc-provider accepts a registered
// loopback redirect URI (http://127.0.0.1, http://localhost, http://[::1]) on any port (RFC 8252
// §7.3; Client.redirectUriAllowed in oidc-provider 8): `step oauth` listens on a random port.
// PKCE (S256 only) is required for every client. The ID token carries the claims of the granted
// scopes even in the code flow (conformIdTokenClaims: false): `sub` and `groups` with "openid",
// `email` and `email_verified` with "email", `name` and `preferred_username` with "profile".
//
// Each token request logs "token-endpoint client-auth=basic|body" on stdout (oidc-provider accepts
// a client's secret in either form, whatever its registered method: tests look at this line).
//
// Login and consent are a tiny interaction app below (plain HTML forms, a password per user);
// tests/oidc/browser.py plays the person who fills them in.

import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: process.env.OIDC_PROVIDER_CONFIG },
    cert: { type: 'string', default: process.env.OIDC_PROVIDER_CERT },
    key: { type: 'string', default: process.env.OIDC_PROVIDER_KEY },
    port: { type: 'string', default: process.env.OIDC_PROVIDER_PORT ?? '0' },
    host: { type: 'string', default: process.env.OIDC_PROVIDER_HOST ?? '127.0.0.1' },
  },
});
for (const name of ['config', 'cert', 'key']) {
  if (!args[name]) {
    console.error(`provider.mjs: --${name} is required`);
    process.exit(2);
  }
}

const config = JSON.parse(readFileSync(args.config, 'utf8'));
const users = config.users ?? [];
const defaultTtl = config.id_token_ttl ?? 3600;
const ttlByClient = new Map();
const clients = (config.clients ?? []).map(({ id_token_ttl: ttl, ...metadata }) => {
  if (ttl !== undefined) ttlByClient.set(metadata.client_id, ttl);
  return {
    application_type: 'native',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...metadata,
  };
});

function findUserByLogin(login) {
  const wanted = String(login ?? '').trim().toLowerCase();
  return users.find((u) => u.login.toLowerCase() === wanted || (u.email ?? '').toLowerCase() === wanted);
}

function userClaims(user) {
  const claims = { sub: user.sub };
  for (const name of ['email', 'email_verified', 'groups', 'name', 'preferred_username']) {
    if (user[name] !== undefined) claims[name] = user[name];
  }
  if (claims.preferred_username === undefined) claims.preferred_username = user.login;
  return claims;
}

const server = https.createServer({
  cert: readFileSync(args.cert),
  key: readFileSync(args.key),
});

server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  const hostPart = args.host.includes(':') ? `[${args.host}]` : args.host;
  const issuer = `https://${hostPart}:${port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: config.jwks,
    ...(config.client_auth_methods ? { clientAuthMethods: config.client_auth_methods } : {}),
    claims: {
      openid: ['sub', 'groups'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    conformIdTokenClaims: false,
    cookies: { keys: [config.cookie_key ?? 'stepca-tests-cookie-key'] },
    features: { devInteractions: { enabled: false } },
    pkce: { methods: ['S256'], required: () => true },
    responseTypes: ['code'],
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const user = users.find((u) => u.sub === sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => userClaims(user) };
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 120,
      Grant: 3600,
      IdToken: (ctx, token, client) => ttlByClient.get(client.clientId) ?? defaultTtl,
      Interaction: 600,
      Session: 3600,
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(provider, req, res).catch((err) => {
        console.error('interaction error', err);
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        }
        res.end(`interaction failed: ${err.message}\n`);
      });
      return;
    }
    if (req.method === 'POST' && req.url.split('?')[0] === '/token') {
      // for tests that check how a client authenticated (oidc-provider takes either secret form)
      const how = /^basic /i.test(req.headers.authorization ?? '') ? 'basic' : 'body';
      console.log(`token-endpoint client-auth=${how}`);
    }
    callback(req, res);
  });
  console.log(`ready ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}

// ------------------------------------------------------------------ login and consent pages

const escape = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1>${body}</body></html>`);
}

function abortForm(uid) {
  return `<form id="abort" method="post" action="/interaction/${escape(uid)}/abort">`
    + '<button type="submit">Cancel</button></form>';
}

function loginPage(res, uid, params, error = '', status = 200) {
  const hint = params.login_hint ?? '';
  page(res, status, 'Sign in', `${error ? `<p class="error">${escape(error)}</p>` : ''}`
    + `<form id="login" method="post" action="/interaction/${escape(uid)}/login">`
    + `<label>Email <input type="text" name="login" value="${escape(hint)}" autofocus></label>`
    + '<label>Password <input type="password" name="password"></label>'
    + '<button type="submit">Sign in</button></form>'
    + abortForm(uid));
}

function consentPage(res, uid, params, details) {
  const scopes = details.missingOIDCScope ?? String(params.scope ?? '').split(' ');
  page(res, 200, 'Authorize', `<p>${escape(params.client_id)} asks for: ${scopes.map(escape).join(', ')}</p>`
    + `<form id="consent" method="post" action="/interaction/${escape(uid)}/confirm">`
    + '<button type="submit">Allow</button></form>'
    + abortForm(uid));
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 65536) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(provider, req, res) {
  const path = new URL(req.url, 'https://provider.invalid').pathname;
  const [, , uid, action = ''] = path.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction uid mismatch');
  const { prompt, params, session } = details;

  if (action === '' && req.method === 'GET') {
    if (prompt.name === 'login') return loginPage(res, uid, params);
    if (prompt.name === 'consent') return consentPage(res, uid, params, prompt.details);
    throw new Error(`unsupported prompt ${prompt.name}`);
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' });
    return res.end();
  }
  const form = await readForm(req);

  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  if (action === 'login') {
    if (prompt.name !== 'login') throw new Error(`login submitted during ${prompt.name}`);
    const user = findUserByLogin(form.get('login'));
    if (!user || (user.password !== undefined && user.password !== form.get('password'))) {
      return loginPage(res, uid, params, 'Invalid email or password.', 401);
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (action === 'confirm') {
    if (prompt.name !== 'consent') throw new Error(`consent submitted during ${prompt.name}`);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  return res.end('no such interaction action\n');
}
