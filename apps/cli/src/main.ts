/**
 * The `samsa` command. Errors reach the user as one sentence and a non-zero exit code; a stack
 * trace only with --verbose.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { startCommand } from "./commands/start.js";

/** Thrown for problems the user can fix; printed as its message alone. */
export class UserError extends Error {
  override readonly name = "UserError";
}

export function parsePort(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${text}" is not a TCP port.`);
  return n;
}

export function buildProgram(): Command {
  const program = new Command("samsa")
    .description("Samsa: an event streaming platform that speaks the Kafka protocol.")
    .option("--verbose", "print stack traces with errors")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  startCommand(program);
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
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`samsa: ${verbose && e instanceof Error && e.stack ? e.stack : message}\n`);
    return 1;
  }
}
