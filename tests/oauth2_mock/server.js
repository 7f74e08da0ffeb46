// A second real OAuth 2.0 / OpenID server for cclogin's interop tests only:
// oauth2-mock-server (https://github.com/axa-group/oauth2-mock-server), pinned in
// package.json / package-lock.json. Its /authorize redirects straight back with a
// code (no login page); PKCE S256 is checked at /token.
//
// Listens on 127.0.0.1; the port comes from PORT (0 = pick a free one). Prints one
// line `listening <issuer>` on stdout once it accepts requests.
//
// Environment (each one makes it behave like an awkward real server):
//   PORT            port to listen on (default 0)
//   ACCESS_TTL      access token lifetime in seconds, in expires_in and the JWT's
//                   exp (default 3600, the library's own)
//   NO_REFRESH=1    the token endpoint issues no refresh token
//   NO_REVOCATION=1 the metadata names no revocation_endpoint (and /revoke is 404)
//   RFC8414_403=1   the RFC 8414 address answers 403 with an HTML page, as gateways
//                   do, while /.well-known/openid-configuration stays valid
//   EVENTS_FILE     append one JSON line per token response / revocation here
//                   (grant types and status codes only: never a token)
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const env = process.env;
const ACCESS_TTL = Number(env.ACCESS_TTL || 3600);
const NO_REFRESH = env.NO_REFRESH === '1';
const NO_REVOCATION = env.NO_REVOCATION === '1';
const RFC8414_403 = env.RFC8414_403 === '1';
const EVENTS_FILE = env.EVENTS_FILE || '';
const OPENID_PATH = '/.well-known/openid-configuration';
const RFC8414_PATH = '/.well-known/oauth-authorization-server';
const INTERNAL = 'x-cclogin-test-internal';

function record(event) {
  if (!EVENTS_FILE) return;
  fs.appendFileSync(EVENTS_FILE, `${JSON.stringify({ ...event, at: Date.now() })}\n`);
}

const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

service.on('beforeTokenSigning', (token) => {
  // Access and ID tokens alike: the JWT's exp matches expires_in.
  token.payload.exp = Math.floor(Date.now() / 1000) + ACCESS_TTL;
  // A unique id, as real servers give: two tokens issued within one second would
  // otherwise be byte-identical JWTs (same claims, deterministic RS256 signature).
  token.payload.jti = crypto.randomUUID();
});
service.on('beforeResponse', (response, req) => {
  const body = response.body;
  if (response.statusCode === 200 && body && typeof body === 'object') {
    body.expires_in = ACCESS_TTL;
    if (NO_REFRESH) delete body.refresh_token;
  }
  record({
    event: 'token',
    grant_type: req.body?.grant_type,
    status: response.statusCode,
    refresh_token_issued: Boolean(body && body.refresh_token),
  });
});
service.on('beforeRevoke', (response, req) => {
  record({ event: 'revoke', token_type_hint: req.body?.token_type_hint, status: response.statusCode });
});

// The library's metadata document is fixed; the one change these tests need
// (dropping revocation_endpoint) is made on its answer, fetched from itself.
function ownMetadata(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: OPENID_PATH, headers: { [INTERNAL]: '1' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => {
          try { resolve(JSON.parse(text)); } catch (err) { reject(err); }
        });
      })
      .on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://127.0.0.1').pathname;
  try {
    if (path === RFC8414_PATH && RFC8414_403) {
      res.writeHead(403, { 'content-type': 'text/html' });
      res.end('<html><body><h1>403 Forbidden</h1><p>Request blocked by the gateway.</p></body></html>');
      return;
    }
    if (NO_REVOCATION && path === '/revoke') {
      res.writeHead(404).end();
      return;
    }
    if (NO_REVOCATION && path === OPENID_PATH && !req.headers[INTERNAL]) {
      const doc = await ownMetadata(server.address().port);
      delete doc.revocation_endpoint;
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(doc));
      return;
    }
  } catch (err) {
    process.stderr.write(`wrapper error: ${err.stack}\n`);
    res.writeHead(500).end();
    return;
  }
  service.requestHandler(req, res);
});

server.listen(Number(env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  issuer.url = `http://127.0.0.1:${port}`;
  process.stdout.write(`listening ${issuer.url}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
  });
}
