// Where the Authorization header of every request comes from. A static bearer token (DCM2FHIR_TOKEN,
// --token-file) cannot be renewed: a 401 stops the run at once. Credentials that can fetch a new token (OAuth2
// client credentials) get one chance to renew after a 401 before the run stops.

export interface Credentials {
  /** The Authorization header for the next request, if any. */
  authorization(): Promise<string | undefined>;
  /** After a 401: fetch a fresh token and say whether it is worth trying again. */
  renew?(): Promise<boolean>;
}

export function bearerToken(token: string): Credentials {
  const header = `Bearer ${token}`;
  return { authorization: async () => header };
}

export const NO_CREDENTIALS: Credentials = { authorization: async () => undefined };
