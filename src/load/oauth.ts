// OAuth2 client credentials for servers that hand out short-lived tokens (SMART Backend Services,
// https://hl7.org/fhir/smart-app-launch/backend-services.html): the client proves who it is either with a JWT it
// signs with its private key (private_key_jwt, RS384 or ES384: what SMART requires) or with a shared secret
// (client_secret_basic, RFC 6749 2.3.1), and gets an access token it sends as a bearer token until it expires.
// The token endpoint comes from the option, or from the server's .well-known/smart-configuration.
import { type KeyObject, createPrivateKey, randomUUID, sign } from "node:crypto";
import { UsageError } from "../core/errors.js";
import { HttpFailure, type SendPolicy, send } from "../lib/http.js";
import type { Credentials } from "./auth.js";
import { LoadFailure } from "./errors.js";

export interface ClientCredentialsOptions {
  readonly clientId: string;
  /** client_secret_basic. */
  readonly clientSecret?: string;
  /** private_key_jwt: a PEM (or JWK) RSA or EC P-384 private key; the server holds the public key. */
  readonly privateKey?: string;
  /** The `kid` of the key in the server's JWK Set, when it needs one to pick the key. */
  readonly keyId?: string;
  /** The token endpoint; default: token_endpoint of [base]/.well-known/smart-configuration. */
  readonly tokenUrl?: string;
  /** Default: write access to the three resource types load sends (SMART v1 scopes). */
  readonly scope?: string;
}

export const DEFAULT_SCOPE = "system/Endpoint.write system/Patient.write system/ImagingStudy.write";
/** A token is renewed this long before it expires, so that no request leaves with one about to lapse. */
const EXPIRY_MARGIN_MS = 30_000;

/**
 * Credentials that fetch and renew access tokens. `base` is the FHIR base URL (for discovery); `policy` the
 * politeness of every request (the token endpoint's included).
 */
export function clientCredentials(options: ClientCredentialsOptions, base: string, policy: SendPolicy): Credentials {
  if ((options.clientSecret === undefined) === (options.privateKey === undefined)) {
    throw new UsageError("OAuth2 client credentials need a client secret or a private key (one of them)");
  }
  const key = options.privateKey === undefined ? undefined : privateKeyOf(options.privateKey);
  let current: { header: string; expiresAt: number } | undefined;
  let fetching: Promise<string> | undefined;

  const fetchToken = async (): Promise<string> => {
    const tokenUrl = options.tokenUrl ?? (await discoverTokenUrl(base, policy));
    const form = new URLSearchParams({ grant_type: "client_credentials", scope: options.scope ?? DEFAULT_SCOPE });
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    if (key) {
      form.set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      form.set("client_assertion", signedAssertion(key.key, key.alg, options.clientId, tokenUrl, options.keyId));
    } else {
      // RFC 6749 2.3.1: client id and secret are form-urlencoded before they are joined for Basic auth.
      headers.authorization = `Basic ${Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret!)}`).toString("base64")}`;
    }
    let answer;
    try {
      answer = await send(tokenUrl, { method: "POST", headers, body: form.toString() }, policy);
    } catch (error) {
      if (error instanceof HttpFailure) throw new LoadFailure("server-unreachable", `the token endpoint cannot be reached: ${error.message}`);
      throw error;
    }
    const body = parseJson(answer.body) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
    if (answer.status < 200 || answer.status >= 300 || typeof body?.access_token !== "string") {
      // The OAuth error code (invalid_client, invalid_scope…) says what to fix; the description may quote the request.
      const code = typeof body?.error === "string" && /^[\w.-]{1,64}$/.test(body.error) ? `: ${body.error}` : "";
      throw new LoadFailure("auth-refused", `the token endpoint refused our client credentials (HTTP ${answer.status}${code})`);
    }
    const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in * 1000 : 300_000;
    const header = `Bearer ${body.access_token}`;
    current = { header, expiresAt: Date.now() + Math.max(expiresIn - EXPIRY_MARGIN_MS, expiresIn / 2) };
    return header;
  };
  // One request for a token at a time, shared by every request that needs it.
  const token = (): Promise<string> => {
    fetching ??= fetchToken().finally(() => {
      fetching = undefined;
    });
    return fetching;
  };

  return {
    authorization: async () => (current && Date.now() < current.expiresAt ? current.header : token()),
    renew: async () => {
      const stale = current?.header;
      current = undefined;
      // A token that another request renewed meanwhile is the fresh one.
      return (await token()) !== stale;
    },
  };
}

async function discoverTokenUrl(base: string, policy: SendPolicy): Promise<string> {
  let answer;
  try {
    answer = await send(`${base}/.well-known/smart-configuration`, { method: "GET", headers: { accept: "application/json" } }, policy);
  } catch (error) {
    if (error instanceof HttpFailure) throw new LoadFailure("server-unreachable", `the server's SMART configuration cannot be read: ${error.message}`);
    throw error;
  }
  const endpoint = (parseJson(answer.body) as { token_endpoint?: unknown })?.token_endpoint;
  if (answer.status !== 200 || typeof endpoint !== "string") {
    throw new LoadFailure(
      "auth-refused",
      `the server publishes no token endpoint (GET .well-known/smart-configuration answered HTTP ${answer.status}): give --token-url`,
    );
  }
  return endpoint;
}

function privateKeyOf(text: string): { key: KeyObject; alg: "RS384" | "ES384" } {
  let key: KeyObject;
  try {
    key = text.trimStart().startsWith("{") ? createPrivateKey({ key: JSON.parse(text), format: "jwk" }) : createPrivateKey(text);
  } catch {
    throw new UsageError("the private key cannot be read: give a PEM or JWK RSA or EC P-384 private key");
  }
  if (key.asymmetricKeyType === "rsa") return { key, alg: "RS384" };
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "secp384r1") return { key, alg: "ES384" };
  throw new UsageError("SMART Backend Services signs with RS384 or ES384: give an RSA or EC P-384 private key");
}

/** The client's authentication JWT (SMART Backend Services, "Authenticating to the token endpoint"). */
export function signedAssertion(key: KeyObject, alg: "RS384" | "ES384", clientId: string, tokenUrl: string, keyId?: string, now = Date.now()): string {
  const header = { alg, typ: "JWT", ...(keyId ? { kid: keyId } : {}) };
  const claims = { iss: clientId, sub: clientId, aud: tokenUrl, exp: Math.floor(now / 1000) + 300, jti: randomUUID() };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  // JWS (RFC 7518 3.4) wants ECDSA signatures as r || s, not DER.
  const signature = sign("sha384", Buffer.from(input), alg === "ES384" ? { key, dsaEncoding: "ieee-p1363" } : key);
  return `${input}.${base64url(signature)}`;
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}
