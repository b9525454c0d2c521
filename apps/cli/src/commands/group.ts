/**
 * `samsa group list|describe|reset-offsets|delete`: Kafka's kafka-consumer-groups.sh over
 * @samsa/client's Admin. reset-offsets previews unless given --execute, as Kafka's does.
 */
import { type Admin, ErrorCode, type GroupDescription } from "@samsa/client";
import { type Command, Option } from "commander";
import { isKafkaError, UserError } from "../errors.js";
import { parseOffset, parseTimestamp, withBrokers } from "../options.js";
import { table, writeOut } from "../output.js";
import { requireTopic, withAdmin } from "./topic.js";

interface GroupOptions {
  brokers: string[];
  group: string;
}

interface ResetOptions extends GroupOptions {
  topic: string;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: bigint;
  toDatetime?: number;
  execute?: boolean;
}

/** States in which a group has no members, so its offsets may be changed from outside. */
const INACTIVE_STATES = new Set(["Empty", "Dead"]);

/** The group's description, or null when it does not exist (Dead, or GROUP_ID_NOT_FOUND from newer brokers). */
async function findGroup(admin: Admin, group: string): Promise<GroupDescription | null> {
  try {
    const [description] = await admin.describeGroups([group]);
    return description === undefined || description.state === "Dead" ? null : description;
  } catch (e) {
    if (isKafkaError(e, ErrorCode.GROUP_ID_NOT_FOUND)) return null;
    throw e;
  }
}

async function describeGroup(admin: Admin, group: string): Promise<GroupDescription> {
  const description = await findGroup(admin, group);
  if (description === null) throw new UserError(`Group '${group}' does not exist.`);
  return description;
}

const dash = (n: bigint | null) => (n === null || n < 0n ? "-" : n.toString());

export function groupCommand(program: Command): void {
  const group = program.command("group").description("List, describe, reset and delete consumer groups.");

  withBrokers(group.command("list").description("List consumer groups, one a line: id, then state.")).action(
    async (opts: { brokers: string[] }) => {
      await withAdmin(opts.brokers, async (admin) => {
        const groups = [...(await admin.listGroups())].sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
        await writeOut(groups.map((g) => `${g.groupId}\t${g.state}\n`).join(""));
      });
    },
  );

  withBrokers(
    group
      .command("describe")
      .description("Show a group's state, members, and per partition its committed offset, end offset and lag.")
      .requiredOption("--group <id>", "the group"),
  ).action(async (opts: GroupOptions) => {
    await withAdmin(opts.brokers, async (admin) => {
      const description = await describeGroup(admin, opts.group);
      const lag = await admin.groupLag(opts.group);
      const owner = new Map<string, GroupDescription["members"][number]>();
      for (const member of description.members) {
        for (const a of member.assignment) for (const p of a.partitions) owner.set(`${a.topic}:${p}`, member);
      }
      const rows = new Map<
        string,
        { topic: string; partition: number; committed: bigint | null; end: bigint | null; lag: bigint | null }
      >();
      for (const l of lag) {
        const committed = l.committed >= 0n ? l.committed : null;
        rows.set(`${l.topic}:${l.partition}`, {
          topic: l.topic,
          partition: l.partition,
          committed,
          end: l.endOffset,
          lag: committed === null ? null : l.lag,
        });
      }
      // Assigned partitions without a committed offset: show them too, with their end offset.
      const uncommittedTopics = new Set<string>();
      for (const key of owner.keys()) if (!rows.has(key)) uncommittedTopics.add(key.slice(0, key.lastIndexOf(":")));
      for (const topic of uncommittedTopics) {
        for (const o of await admin.listOffsets(topic, "latest")) {
          const key = `${topic}:${o.partition}`;
          if (owner.has(key) && !rows.has(key)) {
            rows.set(key, { topic, partition: o.partition, committed: null, end: o.offset, lag: null });
          }
        }
      }
      const sorted = [...rows.entries()].sort(([, a], [, b]) =>
        a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
      );
      const header = `Group ${description.groupId}: ${description.state}, ${description.members.length} member(s)${
        description.protocol ? `, assignor ${description.protocol}` : ""
      }\n\n`;
      await writeOut(
        header +
          table([
            ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"],
            ...sorted.map(([key, r]) => {
              const m = owner.get(key);
              return [
                r.topic,
                String(r.partition),
                dash(r.committed),
                dash(r.end),
                dash(r.lag),
                m?.memberId ?? "-",
                m?.clientHost ?? "-",
                m?.clientId ?? "-",
              ];
            }),
          ]),
      );
    });
  });

  withBrokers(
    group
      .command("reset-offsets")
      .description("Move a group's committed offsets on a topic; previews unless --execute.")
      .requiredOption("--group <id>", "the group (it must have no active members)")
      .requiredOption("--topic <name>", "the topic whose offsets move")
      .addOption(
        new Option("--to-earliest", "to each partition's log start offset").conflicts([
          "toLatest",
          "toOffset",
          "toDatetime",
        ]),
      )
      .addOption(new Option("--to-latest", "to each partition's end offset").conflicts(["toOffset", "toDatetime"]))
      .addOption(
        new Option("--to-offset <offset>", "to this offset in every partition")
          .argParser(parseOffset)
          .conflicts(["toDatetime"]),
      )
      .addOption(
        new Option("--to-datetime <time>", "to the first record at or after this time (ms or ISO 8601)").argParser(
          parseTimestamp,
        ),
      )
      .option("--execute", "apply the change (without it, only show what would change)"),
  ).action(async (opts: ResetOptions) => {
    const to =
      opts.toEarliest === true
        ? ({ earliest: true } as const)
        : opts.toLatest === true
          ? ({ latest: true } as const)
          : opts.toOffset !== undefined
            ? { offset: opts.toOffset }
            : opts.toDatetime !== undefined
              ? { timestampMs: opts.toDatetime }
              : null;
    if (to === null) {
      throw new UserError("Say where to: --to-earliest, --to-latest, --to-offset <offset> or --to-datetime <time>.");
    }
    await withAdmin(opts.brokers, async (admin) => {
      await requireTopic(admin, opts.topic);
      // A group that does not exist yet may be given offsets, as with Kafka's tool.
      const description = await findGroup(admin, opts.group);
      if (description !== null && !INACTIVE_STATES.has(description.state)) {
        throw new UserError(
          `Group '${opts.group}' is ${description.state} with ${description.members.length} member(s); stop its consumers before resetting its offsets.`,
        );
      }
      const current = new Map<number, bigint>();
      for (const o of await admin.fetchOffsets(opts.group, [opts.topic])) {
        if (o.topic === opts.topic) current.set(o.partition, o.offset);
      }
      let moved: { partition: number; offset: bigint }[];
      try {
        moved = await admin.resetOffsets(opts.group, opts.topic, to, { dryRun: opts.execute !== true });
      } catch (e) {
        if (
          isKafkaError(e, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.ILLEGAL_GENERATION, ErrorCode.REBALANCE_IN_PROGRESS)
        ) {
          throw new UserError(
            `Group '${opts.group}' has active members; stop its consumers before resetting its offsets.`,
          );
        }
        throw e;
      }
      await writeOut(
        table([
          ["TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"],
          ...[...moved]
            .sort((a, b) => a.partition - b.partition)
            .map((m) => [opts.topic, String(m.partition), dash(current.get(m.partition) ?? null), m.offset.toString()]),
        ]),
      );
      process.stderr.write(
        opts.execute === true
          ? `Reset the offsets of group ${opts.group} on topic ${opts.topic}.\n`
          : "Nothing changed: this is a preview. Add --execute to apply it.\n",
      );
    });
  });

  withBrokers(
    group
      .command("delete")
      .description("Delete a group without members and its committed offsets.")
      .requiredOption("--group <id>", "the group"),
  ).action(async (opts: GroupOptions) => {
    await withAdmin(opts.brokers, async (admin) => {
      try {
        await admin.deleteGroups([opts.group]);
      } catch (e) {
        if (isKafkaError(e, ErrorCode.GROUP_ID_NOT_FOUND)) throw new UserError(`Group '${opts.group}' does not exist.`);
        if (isKafkaError(e, ErrorCode.NON_EMPTY_GROUP)) {
          throw new UserError(`Group '${opts.group}' still has members; stop its consumers before deleting it.`);
        }
        throw e;
      }
      await writeOut(`Deleted group ${opts.group}.\n`);
    });
  });
}
