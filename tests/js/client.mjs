// Shared by the JavaScript client tests: GraphQL over HTTP with fetch, as a mini-program's
// request wrapper does it, and one JSON line of outcome for the Python side.

/** POST one operation; the parsed body (throws on a non-JSON answer). */
export async function gql(url, query, variables = {}, { token, headers = {} } = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status}, not JSON: ${text.slice(0, 300)}`);
  }
}

/** A sandbox user's session token. */
export async function signIn(url, name, channel = "WECHAT") {
  const body = await gql(
    url,
    `mutation($code: String!, $channel: Channel!) {
       login(input: {channel: $channel, code: $code}) {
         __typename ... on LoginSuccess { token } ... on Error { code message } } }`,
    { code: `sandbox:${name}`, channel },
  );
  const login = body.data?.login;
  if (login?.__typename !== "LoginSuccess") throw new Error(`login failed: ${JSON.stringify(body)}`);
  return login.token;
}

/** Prints the outcome as one JSON line for the Python side and exits 0 only when `ok`. */
export function report(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(result.ok ? 0 : 1);
}
