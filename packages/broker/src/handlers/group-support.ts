/** What the group API handlers share: Kafka's group id rule and how a member's host is shown. */
import type { Connection } from "../network/connection.js";

/**
 * Kafka's isValidGroupId: OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups accept an
 * empty group id (old clients commit under ""), the membership APIs do not.
 */
export function isValidGroupId(groupId: string | null, allowEmpty: boolean): boolean {
  return groupId !== null && (allowEmpty || groupId.length > 0);
}

/** The member's address as Kafka shows it (InetAddress.toString: "/127.0.0.1"). */
export function clientHostOf(connection: Connection): string {
  const remote: string | undefined = connection.remote;
  if (remote === undefined) return "";
  const colon = remote.lastIndexOf(":");
  return `/${colon > 0 ? remote.slice(0, colon) : remote}`;
}

/** DescribeGroups' authorizedOperations when not asked for (Kafka's Integer.MIN_VALUE). */
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;
/** Without ACLs every group operation is allowed: READ (3), DELETE (6), DESCRIBE (8). */
export const ALL_GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);
