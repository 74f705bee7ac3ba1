// A real OpenID Connect provider for Flywheel's sign-on tests: panva/oidc-provider with its
// development login pages. Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI [nologout]
// Any login name signs in; the accounts below carry the groups the tests map to roles.
// Signing out (RP-initiated logout) returns to the sign-in page of the redirect URI's site,
// unless "nologout" switches the provider's end-session endpoint off.
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri, logout] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const ACCOUNTS = {
  dana: { email: "dana@example.com", groups: ["eng-payments"] },
  oscar: { email: "oscar@example.com", groups: ["sre", "eng-payments"] },
  carla: { email: "carla@example.com", groups: ["cab"] },
  nobody: { email: "nobody@example.com", groups: ["marketing"] },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [new URL("/sign-in", redirectUri).href],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], email: ["email"], profile: ["preferred_username", "name"], groups: ["groups"] },
  scopes: ["openid", "email", "profile", "groups"],
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: logout !== "nologout" },
  },
  async findAccount(ctx, id) {
    const known = ACCOUNTS[id] ?? { email: `${id}@example.com`, groups: [] };
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, ...known };
      },
    };
  },
  async loadExistingGrant(ctx) {
    // Consent is implied for the test client: grant what it asks for.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid email profile groups");
    grant.addOIDCClaims(["email", "preferred_username", "name", "groups"]);
    await grant.save();
    return grant;
  },
});

provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
