/** Process entry point: runs the CLI with this process's arguments and exit code. */
import { main } from "./main.js";

process.exitCode = await main(process.argv);
