// A real OpenID Connect provider (the npm package oidc-provider) on loopback, standing in for the
// office's in tests/test_office_signin.py: one confidential client (the console), JWT access tokens
// for one resource (the suite's services) carrying the account's role, region and association from
// a fixed table, refresh tokens, revocation, and the package's development login and consent pages.
//
//   node tests/oidc/provider.mjs <oidc-provider's directory> <port> <redirect uri> <client secret>
// prints "listening <issuer>" once it answers. The package is installed under .tools/ by the
// Makefile (as buf is), which an ES module's bare import would not look in: it is given its path.
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [packageDir, port, redirectUri, clientSecret] = process.argv.slice(2);
const { default: Provider, errors } = await import(pathToFileURL(path.join(packageDir, 'lib', 'index.js')).href);
const issuer = `http://127.0.0.1:${port}`;
const AUDIENCE = 'urn:ipss:services';

// Who may sign in (the development login takes any password), and what the office says of them.
const ACCOUNTS = {
  'handler-zhou': { ipss_role: 'handler', ipss_region: '630000' },
  'operator-li': { ipss_role: 'operator', ipss_region: '000000' },
  'handler-unplaced': { ipss_role: 'handler' },
  'impostor-machine': { ipss_role: 'machine', ipss_region: '000000' },
};

const configuration = {
  clients: [{
    client_id: 'ipss-console',
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'offline_access', 'ipss'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => AUDIENCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== AUDIENCE) throw new errors.InvalidTarget();
        return { scope: 'ipss', audience: AUDIENCE, accessTokenTTL: 300, accessTokenFormat: 'jwt' };
      },
    },
  },
  // Every grant of the console's may be renewed (offline_access is not asked of the person).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  extraTokenClaims: async (ctx, token) => (token.kind === 'AccessToken' ? ACCOUNTS[token.accountId] : undefined),
  findAccount: async (ctx, sub) => (ACCOUNTS[sub] ? { accountId: sub, claims: async () => ({ sub }) } : undefined),
  loadExistingGrant: async (ctx) => {
    // The console is the office's own client: consent is given for it, not asked.
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid offline_access ipss');
    grant.addResourceScope(AUDIENCE, 'ipss');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${issuer}`));
