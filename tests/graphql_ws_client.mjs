// Drives memql's `memoryAdded` subscription with the real `graphql-ws` client (and the `ws`
// package: node 20 has no global WebSocket), as Apollo's GraphQLWsLink and urql do, and prints
// what it saw as one JSON object. Run by tests/test_graphql_ws_client.py:
//   node graphql_ws_client.mjs URL TOKEN SESSION_ID AFTER_CURSOR EXPECTED_EVENTS
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, sessionId, after, expected] = process.argv.slice(2);

const FOLLOW = `
  subscription Follow($sessionId: String!, $after: String) {
    memoryAdded(sessionId: $sessionId, after: $after) { cursor node { id content } }
  }
`;

function client(bearer) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: async () => ({ Authorization: `Bearer ${bearer}` }),
    retryAttempts: 0,
  });
}

// The events of one subscription until `count` arrived, or how it ended.
function follow(graphqlWs, variables, count) {
  return new Promise((resolve) => {
    const events = [];
    const unsubscribe = graphqlWs.subscribe(
      { query: FOLLOW, variables },
      {
        next(result) {
          events.push(result);
          if (events.length === count) {
            unsubscribe();
            resolve({ events });
          }
        },
        error(error) {
          // GraphQL errors come as an array; a closed socket as its CloseEvent.
          resolve(
            Array.isArray(error)
              ? { events, errors: error }
              : { events, closed: { code: error.code, reason: error.reason } },
          );
        },
        complete() {
          resolve({ events, complete: true });
        },
      },
    );
  });
}

const live = client(token);
const followed = await follow(live, { sessionId, after }, Number(expected));
const unknown = await follow(live, { sessionId: "no-such-session", after: null }, 1);
await live.dispose();

const refused = client("not-a-token");
const badToken = await follow(refused, { sessionId, after }, 1);
await refused.dispose();

console.log(JSON.stringify({ followed, unknown, badToken }));
