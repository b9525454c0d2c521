/** Kafka's topic name rules (org.apache.kafka.common.internals.Topic.validate). */

export const MAX_TOPIC_NAME_LENGTH = 249;
const LEGAL = /^[a-zA-Z0-9._-]+$/;

/** Returns why `name` is not a legal topic name, or null when it is. */
export function invalidTopicNameReason(name: string): string | null {
  if (name.length === 0) return "Topic name is empty.";
  if (name === "." || name === "..") return `Topic name cannot be "${name}".`;
  if (name.length > MAX_TOPIC_NAME_LENGTH) {
    return `Topic name is ${name.length} characters long; the limit is ${MAX_TOPIC_NAME_LENGTH}.`;
  }
  if (!LEGAL.test(name))
    return `Topic name "${name}" has characters other than ASCII letters, digits, '.', '_' and '-'.`;
  return null;
}

/** Internal topics Kafka creates itself. */
export function isInternalTopic(name: string): boolean {
  return name === "__consumer_offsets" || name === "__transaction_state";
}
