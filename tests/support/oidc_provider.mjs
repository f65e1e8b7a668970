// A real OpenID provider for the tests: panva's `oidc-provider` (OpenID Certified), on a
// loopback port, with a static account store. Started by tests/support/oidc.py as
//   node oidc_provider.mjs '<json config>'
// config: {port, module (the oidc-provider package folder), clients: [...], accounts: {id: claims}}
//
// Login is oidc-provider's own devInteractions form (any password). Consent is granted
// for the configured clients (first-party, as a company's provider would), so the browser
// goes straight back to Screen after the login form.
//
// Two accounts may carry `"token": "wrong-audience"` or `"token": "expired"`: their ID
// token, as the real token endpoint issued it, is re-signed with the provider's own key
// with `aud` set to another registered client, or with `iat`/`exp` an hour in the past.
// Screen receives a genuinely signed token that it must refuse for that one reason.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(process.argv[2]);
const require = createRequire(`${config.module}/package.json`);
const { default: Provider } = await import(pathToFileURL(`${config.module}/lib/index.js`).href);
const jose = await import(pathToFileURL(require.resolve('jose')).href);

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
const accounts = config.accounts;
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['screen-tests-cookie-key-0123456789'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  findAccount: async (ctx, id) => {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return {
      accountId: id,
      claims: async () => {
        const { token, ...claims } = accounts[id];
        return { sub: id, ...claims };
      },
    };
  },
  // First-party clients: grant what they ask for without a consent screen.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
  ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
});

const otherClient = config.clients.find((client) => client.client_id !== config.clients[0].client_id);

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const claims = jose.decodeJwt(ctx.body.id_token);
  const kind = accounts[claims.sub]?.token;
  if (kind === 'wrong-audience') {
    claims.aud = otherClient.client_id;
    delete claims.azp;
  } else if (kind === 'expired') {
    const now = Math.floor(Date.now() / 1000);
    claims.iat = now - 3600;
    claims.exp = now - 3000;
    if (claims.auth_time) claims.auth_time = now - 3600;
  } else {
    return;
  }
  ctx.body = {
    ...ctx.body,
    id_token: await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: signingJwk.kid, typ: 'JWT' })
      .sign(privateKey),
  };
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
