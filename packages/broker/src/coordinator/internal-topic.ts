/** The coordinators' internal topics (`__consumer_offsets`, `__transaction_state`). */
import type { Topic, TopicManager } from "../topics/topic-manager.js";

/**
 * Returns the internal topic, creating it when missing — compacted, as Kafka creates it, so the
 * cleaner keeps each key's latest record — also when another request created it meanwhile.
 */
export async function getOrCreateInternalTopic(
  topics: TopicManager,
  name: string,
  partitions: number,
  segmentBytes: number,
): Promise<Topic> {
  const existing = topics.get(name);
  if (existing !== undefined) return existing;
  const configs = new Map([
    ["cleanup.policy", "compact"],
    ["segment.bytes", String(segmentBytes)],
  ]);
  try {
    return await topics.create(name, partitions, configs);
  } catch (e) {
    const raced = topics.get(name);
    if (raced !== undefined) return raced;
    throw e;
  }
}
