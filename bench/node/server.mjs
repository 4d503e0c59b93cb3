// node-oidc-provider serving client_credentials with RS256 JWT access tokens,
// the same work Latchkey's /token does. Run by bench/run.sh:
//   PORT=… CLIENT_ID=… CLIENT_SECRET=… node server.mjs
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: process.env.CLIENT_ID || 'bench',
    client_secret: process.env.CLIENT_SECRET || 'bench-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: 'bench:read',
  }],
  jwks: { keys: [jwk] },
  scopes: ['bench:read'],
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:bench',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'bench:read',
        audience: 'urn:bench',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
// Quiet: no per-request logging, as for Latchkey under load.
provider.listen(port, () => console.log(`node-oidc-provider on ${port}`));
