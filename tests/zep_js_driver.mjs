// Drives the real @getzep/zep-js 0.10.0 (Zep's TypeScript SDK) through every method of its memory,
// message and user managers against memql, and prints one JSON line: each call's outcome, in
// order. tests/test_zep_js.py runs it and checks the values.
//
// node zep_js_driver.mjs BASE_URL ADMIN_TOKEN BAD_TOKEN MESSAGE_UUID
import {
  AuthenticationError,
  APIError,
  Memory,
  MemorySearchPayload,
  Message,
  NotFoundError,
  Session,
  ZepClient,
} from "@getzep/zep-js";

const [baseURL, adminToken, badToken, messageUuid] = process.argv.slice(2);
const warnings = [];
console.warn = (...args) => warnings.push(args.join(" "));
const results = [];

function outcome(error) {
  if (error instanceof NotFoundError) return { error: "NotFoundError" };
  if (error instanceof AuthenticationError) return { error: "AuthenticationError" };
  if (error instanceof APIError) {
    return { error: "APIError", status: error.code ?? null, body: error.responseData ?? null };
  }
  return { error: error?.constructor?.name ?? "unknown", message: String(error) };
}

async function step(name, call) {
  try {
    const value = await call();
    results.push({ name, value: JSON.parse(JSON.stringify(value ?? null)) });
  } catch (error) {
    results.push({ name, ...outcome(error) });
  }
}

async function chunks(generator) {
  const pages = [];
  for await (const page of generator) pages.push(page.map((item) => item.session_id ?? item.user_id));
  return pages;
}

const zep = await ZepClient.init(baseURL, adminToken);
await step("user.add", () =>
  zep.user.add({
    user_id: "ts-user",
    email: "ts@example.com",
    first_name: "Tess",
    metadata: { a: 1, nested: { x: 1 } },
  }),
);
await step("user.add gone", () => zep.user.add({ user_id: "ts-gone" }));
await step("user.get", () => zep.user.get("ts-user"));
await step("user.update", () =>
  zep.user.update({ user_id: "ts-user", last_name: "Ng", metadata: { nested: { y: 2 } } }),
);
await step("user.list", () => zep.user.list(10, 0));
await step("user.listChunked", () => chunks(zep.user.listChunked(1)));
await step("memory.addSession", () =>
  zep.memory.addSession(new Session({ session_id: "ts-s1", user_id: "ts-user", metadata: { m: 1 } })),
);
await step("memory.addSession 2", () => zep.memory.addSession(new Session({ session_id: "ts-s2" })));
await step("memory.addSession 3", () => zep.memory.addSession(new Session({ session_id: "ts-s3" })));
await step("memory.getSession", () => zep.memory.getSession("ts-s1"));
await step("memory.updateSession", () =>
  zep.memory.updateSession(new Session({ session_id: "ts-s1", metadata: { n: 2 } })),
);
await step("memory.listSessions", () => zep.memory.listSessions());
await step("memory.listSessions 2 from 1", () => zep.memory.listSessions(2, 1));
await step("memory.listSessionsChunked", () => chunks(zep.memory.listSessionsChunked(2)));
await step("memory.addMemory", () =>
  zep.memory.addMemory(
    "ts-s1",
    new Memory({
      messages: [
        new Message({ role: "human", content: "hello there", metadata: { k: 1 } }),
        new Message({
          role: "ai",
          content: "hi",
          uuid: messageUuid,
          token_count: 3,
          created_at: "2024-01-01T00:00:00Z",
        }),
        new Message({ role: "human", content: "bye" }),
      ],
    }),
  ),
);
await step("memory.addMemory 2", () =>
  zep.memory.addMemory("ts-s2", new Memory({ messages: [new Message({ role: "human", content: "x" })] })),
);
await step("memory.getMemory", () => zep.memory.getMemory("ts-s1"));
await step("memory.getMemory lastn 1", () => zep.memory.getMemory("ts-s1", 1));
await step("message.getSessionMessages", () => zep.message.getSessionMessages("ts-s1"));
await step("message.getSessionMessages 2 page 2", () => zep.message.getSessionMessages("ts-s1", 2, 2));
await step("message.getSessionMessage", async () => {
  const messages = await zep.message.getSessionMessages("ts-s1");
  return zep.message.getSessionMessage("ts-s1", messages[0].uuid);
});
await step("message.updateSessionMessageMetadata", async () => {
  const messages = await zep.message.getSessionMessages("ts-s1");
  return zep.message.updateSessionMessageMetadata("ts-s1", messages[0].uuid, {
    extra: true,
  });
});
await step("memory.searchMemory", () =>
  zep.memory.searchMemory("ts-s1", new MemorySearchPayload({ text: "HELLO bye" }), 5),
);
await step("memory.searchMemory mmr", () =>
  zep.memory.searchMemory(
    "ts-s1",
    new MemorySearchPayload({ text: "hello", search_type: "mmr", mmr_lambda: 0.5 }),
    5,
  ),
);
await step("user.getSessions", () => zep.user.getSessions("ts-user"));
await step("memory.deleteMemory", () => zep.memory.deleteMemory("ts-s2"));
await step("memory.getMemory deleted", () => zep.memory.getMemory("ts-s2"));
await step("user.delete", () => zep.user.delete("ts-gone"));
await step("user.get deleted", () => zep.user.get("ts-gone"));
await step("memory.getSession missing", () => zep.memory.getSession("no-such-session"));
await step("message.getSessionMessage missing", () =>
  zep.message.getSessionMessage("ts-s1", "00000000-0000-4000-8000-000000000000"),
);

const anonymous = await ZepClient.init(baseURL);
await step("no token: memory.getSession", () => anonymous.memory.getSession("ts-s1"));
await step("no token: user.list", () => anonymous.user.list());
const forged = await ZepClient.init(baseURL, badToken);
await step("bad token: memory.addMemory", () =>
  forged.memory.addMemory("ts-s1", new Memory({ messages: [new Message({ role: "h", content: "no" })] })),
);

console.log(JSON.stringify({ warnings, results }));
