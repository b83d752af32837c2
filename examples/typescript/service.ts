// A Node service in TypeScript that uses Switchboard's control API through
// the generated stubs in gen/ts (docs/typescript.md). It holds no socket:
// it hears what clients send through Subscribe and answers through the
// other RPCs.
//
// What it does, for clients of the main namespace "/":
//
//   - "join" (room), with an ack callback: the socket joins the room
//     (JoinRoom), the room hears {"sid", "room"} as "announce" (Emit), and
//     the callback gets {"room", "members"}: the sids in the room, listed a
//     page at a time (ListSockets), through Ack.
//   - "work" (n), with an ack callback: through the Pipeline stream, the
//     socket is sent "result" (n, n*n) with an ack of its own (an
//     emit_with_ack command), then the callback gets {"n", "accepted"} (an
//     ack command). Commands reach a socket in the order they are sent;
//     their answers come back tagged with the command's id, whenever each
//     is done, and are logged.
//
// Usage (build with `npx tsc -p examples/typescript`, see tsconfig.json):
//
//   node bin/typescript/examples/typescript/service.js [CONTROL_ADDR]
//
// CONTROL_ADDR is control's gRPC address, host:port (plaintext); without
// it, $CONTROL_ADDR, else 127.0.0.1:50051. The service logs one JSON object
// per line on stdout ("ready" once its Subscribe stream is live) and stops
// on SIGINT or SIGTERM.

import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MessageInitShape } from "@bufbuild/protobuf";

import {
  Control,
  EventKind,
  type ClientEvent,
  type PipelineRequestSchema,
  type PipelineResponse,
} from "../../gen/ts/switchboard/v1/control_pb.js";

type ControlClient = Client<typeof Control>;
type Command = MessageInitShape<typeof PipelineRequestSchema>;

const addr = process.argv[2] ?? process.env.CONTROL_ADDR ?? "127.0.0.1:50051";

// log writes one JSON line: what the service did, for people and tests.
function log(ev: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");
}

// fatal ends the service with status 1, for its supervisor to restart it:
// control could not be reached, or it ended a stream with an error.
function fatal(err: unknown): never {
  log("fatal", { error: ConnectError.from(err).message });
  process.exit(1);
}

// ---- join: unary calls, one after the other ----

// membersOf lists the sids of a room's sockets, a page at a time: each
// response's nextPageToken asks for the next page, empty after the last.
async function membersOf(control: ControlClient, room: string): Promise<string[]> {
  const sids: string[] = [];
  let pageToken = "";
  do {
    const page = await control.listSockets({ namespace: "/", room, pageSize: 100, pageToken });
    sids.push(...page.sockets.map((s) => s.sid));
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return sids;
}

async function onJoin(control: ControlClient, ev: ClientEvent): Promise<void> {
  const [room] = JSON.parse(ev.argsJson) as [string];
  // A JoinRoom's answer comes once the edges did it, so the Emit that
  // follows reaches the new member.
  await control.joinRoom({ target: { namespace: "/", sids: [ev.sid] }, rooms: [room] });
  await control.emit({
    target: { namespace: "/", rooms: [room] },
    event: "announce",
    argsJson: JSON.stringify([{ sid: ev.sid, room }]),
  });
  if (ev.ackToken !== "") {
    const members = await membersOf(control, room);
    await control.ack({ ackToken: ev.ackToken, argsJson: JSON.stringify([{ room, members }]) });
  }
  log("joined", { sid: ev.sid, room });
}

// ---- work: commands on the Pipeline stream ----

// Pipeline is one Pipeline stream: commands are written to it with an id,
// and a reader logs each answer as it comes, in any order.
class Pipeline {
  private readonly commands = createWritableIterable<Command>();
  private nextId = 1n;
  // What each command still unanswered was, by id. Control answers or
  // stops reading past 1,024 unanswered commands, which bounds it.
  private readonly waiting = new Map<bigint, string>();
  readonly done: Promise<void>;

  constructor(control: ControlClient, signal: AbortSignal) {
    this.done = this.read(control.pipeline(this.commands, { signal }));
  }

  // send writes a command, tagged with a new id, and returns the id. The
  // promise resolves once the stream took it: awaiting it keeps the
  // commands in memory bounded.
  async send(what: string, command: Command["command"]): Promise<bigint> {
    const id = this.nextId++;
    this.waiting.set(id, what);
    await this.commands.write({ id, command });
    return id;
  }

  // close ends the stream once control answered every command sent.
  close(): void {
    this.commands.close();
  }

  private async read(answers: AsyncIterable<PipelineResponse>): Promise<void> {
    for await (const answer of answers) {
      const what = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      const r = answer.result;
      switch (r.case) {
        case "emitWithAck":
          log("answer", {
            id: Number(answer.id),
            what,
            acks: r.value.acks.map((a) => ({ sid: a.sid, args: JSON.parse(a.argsJson) })),
            timedOut: r.value.timedOutSids,
          });
          break;
        case "error":
          // The command failed as its RPC would have (code 5: NOT_FOUND for
          // an ack whose socket left); the stream goes on.
          log("answer", { id: Number(answer.id), what, error: { code: r.value.code, message: r.value.message } });
          break;
        default:
          log("answer", { id: Number(answer.id), what, result: r.case });
      }
    }
  }
}

async function onWork(pipeline: Pipeline, ev: ClientEvent): Promise<void> {
  const [n] = JSON.parse(ev.argsJson) as [number];
  // The client's "result" handler answers through its own ack: the
  // emit_with_ack's answer carries it.
  await pipeline.send(`result ${n}`, {
    case: "emitWithAck",
    value: {
      target: { namespace: "/", sids: [ev.sid] },
      event: "result",
      argsJson: JSON.stringify([n, n * n]),
      timeout: { seconds: 5n },
    },
  });
  if (ev.ackToken !== "") {
    await pipeline.send(`ack ${n}`, {
      case: "ack",
      value: { ackToken: ev.ackToken, argsJson: JSON.stringify([{ n, accepted: true }]) },
    });
  }
}

// ---- the service ----

async function main(): Promise<void> {
  // gRPC over HTTP/2 without TLS: control's plaintext listener.
  const control = createClient(Control, createGrpcTransport({ baseUrl: `http://${addr}` }));
  const stop = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => stop.abort());
  }

  const pipeline = new Pipeline(control, stop.signal);
  const stopped = (err: unknown) => stop.signal.aborted && ConnectError.from(err).code === Code.Canceled;
  const pipelineDone = pipeline.done.catch((err) => {
    if (!stopped(err)) fatal(err);
  });
  // Control sends the stream's headers once its subscriptions are live:
  // events clients send from then on reach this stream.
  const events = control.subscribe(
    { namespaces: ["/"], events: ["join", "work"], kinds: [EventKind.CLIENT_EVENT] },
    { signal: stop.signal, onHeader: () => log("ready", { control: addr }) },
  );
  try {
    // Events are handled one at a time, in the order they came: a slow
    // handler slows the stream, and control ends a stream that falls too
    // far behind with RESOURCE_EXHAUSTED.
    for await (const msg of events) {
      if (msg.event.case !== "clientEvent") continue;
      const ev = msg.event.value;
      log("event", { sid: ev.sid, event: ev.event, args: JSON.parse(ev.argsJson), ack: ev.ackToken !== "" });
      try {
        if (ev.event === "join") await onJoin(control, ev);
        else if (ev.event === "work") await onWork(pipeline, ev);
      } catch (err) {
        // One event's failure (say, NOT_FOUND: its socket left) is logged;
        // the service goes on.
        log("failed", { sid: ev.sid, event: ev.event, error: ConnectError.from(err).message });
      }
    }
  } catch (err) {
    if (!stopped(err)) fatal(err);
  }
  pipeline.close();
  await pipelineDone;
  log("stopped");
}

main().catch(fatal);
