// A real OAuth 2.0 / OpenID Connect authorization server for cclogin's tests only.
//
// oidc-provider with its development login and consent pages (any login name, any
// password). Listens on 127.0.0.1; the port comes from PORT (0 = pick a free one).
// Prints one line `listening <issuer>` on stdout once it accepts requests.
//
// Environment:
//   PORT           port to listen on (default 0)
//   CLIENT_ID      the public native client's id (default cclogin-test)
//   ACCESS_TTL     access token lifetime in seconds (default 120)
//   DEVICE_TTL     device code lifetime in seconds for CLIENT_ID (default 600)
//   SHORT_DEVICE_CLIENT_ID  a second client whose device codes live 2 s
//   POLL_INTERVAL  device flow polling interval sent to clients (default 1)
//   EVENTS_FILE    append one JSON line per grant / revocation event here
//                  (types and error codes only: never a token)
//   CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET
//                  also register a confidential client (client_secret_basic or
//                  _post), as a Vault / OpenBao `auth/oidc` mount is one; its
//                  redirect is http://127.0.0.1:<any port>/oidc/callback
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const env = process.env;
const CLIENT_ID = env.CLIENT_ID || 'cclogin-test';
const SHORT_CLIENT_ID = env.SHORT_DEVICE_CLIENT_ID || 'cclogin-test-short-device';
const ACCESS_TTL = Number(env.ACCESS_TTL || 120);
const DEVICE_TTL = Number(env.DEVICE_TTL || 600);
const POLL_INTERVAL = Number(env.POLL_INTERVAL || 1);
const EVENTS_FILE = env.EVENTS_FILE || '';

function record(event) {
  if (!EVENTS_FILE) return;
  fs.appendFileSync(EVENTS_FILE, `${JSON.stringify({ ...event, at: Date.now() })}\n`);
}

function nativeClient(clientId) {
  return {
    client_id: clientId,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    // oidc-provider lets a native client's loopback redirect match any port.
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: [
      'authorization_code',
      'refresh_token',
      'urn:ietf:params:oauth:grant-type:device_code',
    ],
    response_types: ['code'],
  };
}

function confidentialClient(clientId, secret) {
  return {
    ...nativeClient(clientId),
    token_endpoint_auth_method: 'client_secret_basic',
    client_secret: secret,
    redirect_uris: ['http://127.0.0.1/oidc/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
  };
}

const clients = [nativeClient(CLIENT_ID), nativeClient(SHORT_CLIENT_ID)];
if (env.CONFIDENTIAL_CLIENT_ID && env.CONFIDENTIAL_CLIENT_SECRET) {
  clients.push(confidentialClient(env.CONFIDENTIAL_CLIENT_ID, env.CONFIDENTIAL_CLIENT_SECRET));
}

const server = http.createServer();
server.listen(Number(env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients,
    scopes: ['openid', 'offline_access'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    ttl: {
      AccessToken: ACCESS_TTL,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 3600,
      Grant: 14 * 24 * 3600,
      DeviceCode: (ctx, token, client) => (client.clientId === SHORT_CLIENT_ID ? 2 : DEVICE_TTL),
    },
    // Public clients always get a new refresh token; reusing the old one is
    // invalid_grant (and revokes the family), the behaviour cclogin must survive.
    rotateRefreshToken: () => true,
  });
  provider.proxy = false;

  // oidc-provider sends no `interval`, which means 5 s per RFC 8628; the tests poll
  // once a second instead.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body = { ...ctx.body, interval: POLL_INTERVAL };
    }
  });

  provider.on('grant.success', (ctx) => {
    record({ event: 'grant.success', grant_type: ctx.oidc.params.grant_type });
  });
  provider.on('grant.error', (ctx, err) => {
    record({ event: 'grant.error', grant_type: ctx.oidc.params?.grant_type, error: err.error });
  });
  provider.on('revocation.success', () => record({ event: 'revocation.success' }));
  provider.on('revocation.error', (ctx, err) => record({ event: 'revocation.error', error: err.error }));
  provider.on('server_error', (ctx, err) => {
    process.stderr.write(`server_error: ${err.stack}\n`);
  });

  server.on('request', provider.callback());
  process.stdout.write(`listening ${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
