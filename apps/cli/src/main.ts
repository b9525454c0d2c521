/**
 * The `samsa` command. Errors reach the user as one sentence and exit code 1 (usage errors too,
 * with commander's own message); a stack trace only with --verbose.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { consumeCommand } from "./commands/consume.js";
import { groupCommand } from "./commands/group.js";
import { produceCommand } from "./commands/produce.js";
import { startCommand } from "./commands/start.js";
import { topicCommand } from "./commands/topic.js";
import { describeError } from "./errors.js";

export { UserError } from "./errors.js";

export function parsePort(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${text}" is not a TCP port.`);
  return n;
}

/**
 * Commander's usage error on one line: it puts its suggestion on a second line
 * ("error: unknown command 'topics'\n(Did you mean topic?)"); a failure reads as one sentence.
 */
export function oneLineUsageError(message: string): string {
  return message.replace(/\n\(Did you mean (.+?)\?\)/, " (did you mean $1?)");
}

export function buildProgram(): Command {
  const program = new Command("samsa")
    .description("Samsa: an event streaming platform that speaks the Kafka protocol.")
    .option("--verbose", "print stack traces with errors")
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(oneLineUsageError(s)),
    });
  startCommand(program);
  topicCommand(program);
  produceCommand(program);
  consumeCommand(program);
  groupCommand(program);
  return program;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const verbose = argv.includes("--verbose");
    const message = describeError(e);
    process.stderr.write(`samsa: ${verbose && e instanceof Error && e.stack ? `${message}\n${e.stack}` : message}\n`);
    return 1;
  }
}
