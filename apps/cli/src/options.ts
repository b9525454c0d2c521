/** Option parsers and the options every client command shares (`--brokers`). */
import { type ClientOptions, parseHostPort } from "@samsa/client";
import { type Command, InvalidArgumentError, Option } from "commander";

export const DEFAULT_BROKERS = "localhost:9092";
/** The client id the CLI's requests carry, so broker logs and group descriptions show where they came from. */
export const CLI_CLIENT_ID = "samsa-cli";

/** "host:port,host:port" → the list, each checked. */
export function parseBrokers(text: string): string[] {
  const brokers = text
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  if (brokers.length === 0) throw new InvalidArgumentError("Give at least one broker as host:port.");
  for (const b of brokers) {
    try {
      parseHostPort(b);
    } catch {
      throw new InvalidArgumentError(`"${b}" is not host:port.`);
    }
  }
  return brokers;
}

/** Adds `--brokers` to a command that talks to a cluster. */
export function withBrokers(command: Command): Command {
  return command.addOption(
    new Option("--brokers <host:port,...>", "bootstrap brokers")
      .argParser(parseBrokers)
      .default([DEFAULT_BROKERS], DEFAULT_BROKERS),
  );
}

/** The client options for a command's `--brokers`. */
export function clientOptions(brokers: string[]): ClientOptions {
  return { brokers, clientId: CLI_CLIENT_ID };
}

export function parseNonNegativeInt(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(`"${text}" is not a whole number.`);
  }
  return n;
}

export function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`"${text}" is not a positive whole number.`);
  }
  return n;
}

/** An offset: a whole number (possibly beyond 2^53). */
export function parseOffset(text: string): bigint {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`"${text}" is not an offset (a whole number).`);
  return BigInt(text.trim());
}

/** Milliseconds since the epoch, or an ISO 8601 date-time ("2026-11-23T16:00:00Z"). */
export function parseTimestamp(text: string): number {
  if (/^\d+$/.test(text.trim())) return Number(text.trim());
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw new InvalidArgumentError(`"${text}" is not a time (milliseconds since the epoch or an ISO 8601 date).`);
  }
  return ms;
}

/** "k=v" → [k, v]; the value may contain "=" and may be empty. */
export function parseKeyValue(text: string): [string, string] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`"${text}" is not key=value.`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** A repeatable `k=v` option: collects the pairs in order. */
export function collectKeyValue(text: string, all: [string, string][]): [string, string][] {
  return [...all, parseKeyValue(text)];
}

/** A repeatable option: collects the values in order. */
export function collect(text: string, all: string[]): string[] {
  return [...all, text];
}
