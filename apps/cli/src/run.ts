/** Process entry point: runs the CLI with this process's arguments and exit code. */
import { main } from "./main.js";

/**
 * How long a finished command may take to wind down on its own. A command is done once main
 * resolves; a socket or timer a library left behind must not keep the process (and a script
 * waiting on it) alive. The timer is unref'd, so a clean exit is never delayed by it.
 */
const EXIT_GRACE_MS = 2_000;

process.exitCode = await main(process.argv);
setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
