/**
 * What a request handler is: the API it serves, the versions it implements (ApiVersions
 * advertises exactly these), and a function from a decoded request to a response.
 */
import type { ApiDescriptor, Encodable, RequestFrameHeader } from "@samsa/protocol";
import type { Logger } from "pino";
import type { BrokerConfig, DynamicScope } from "../config/broker-config.js";
import type { GroupCoordinatorService } from "../coordinator/group/group-coordinator-service.js";
import type { ProducerIdManager } from "../coordinator/producer-id-manager.js";
import type { TransactionCoordinatorService } from "../coordinator/txn/transaction-coordinator-service.js";
import type { FetchSessionCache } from "../fetch-session.js";
import type { Connection } from "../network/connection.js";
import type { TopicManager } from "../topics/topic-manager.js";

/** What handlers may use: the broker's parts, never its network internals. */
export interface BrokerContext {
  readonly nodeId: number;
  readonly clusterId: string;
  readonly advertisedHost: string;
  readonly advertisedPort: number;
  readonly config: BrokerConfig;
  /** The log directory (log.dirs), absolute. */
  readonly dataDir: string;
  readonly topics: TopicManager;
  /** Incremental fetch sessions (KIP-227). */
  readonly fetchSessions: FetchSessionCache;
  /** Consumer groups and their committed offsets (`__consumer_offsets`). */
  readonly groupCoordinator: GroupCoordinatorService;
  /** Producer ids for InitProducerId, unique across restarts of this node. */
  readonly producerIds: ProducerIdManager;
  /** Transactions and `__transaction_state`; transactional produce is refused while absent. */
  readonly transactionCoordinator?: TransactionCoordinatorService;
  /**
   * Replaces the dynamic broker configs of one scope: validates (ConfigError naming the key),
   * persists, then applies them to every partition log.
   */
  alterBrokerConfigs(scope: DynamicScope, overrides: ReadonlyMap<string, string>): Promise<void>;
  readonly log: Logger;
  nowMs(): number;
  /** Every handler, so ApiVersions can describe them. */
  readonly handlers: readonly AnyHandler[];
}

export interface RequestContext {
  readonly header: RequestFrameHeader;
  readonly connection: Connection;
  readonly broker: BrokerContext;
}

export interface Handler<Req, Res> {
  readonly api: ApiDescriptor<Req, Res>;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** Returns the response, or null when no response is due (Produce with acks=0). */
  handle(ctx: RequestContext, request: Req): Promise<Encodable<Res> | null> | Encodable<Res> | null;
}

// biome-ignore lint/suspicious/noExplicitAny: a registry holds handlers of every request type.
export type AnyHandler = Handler<any, any>;

/** Declares a handler with its types checked against the API's generated codecs. */
export function defineHandler<Req, Res>(handler: Handler<Req, Res>): Handler<Req, Res> {
  if (handler.minVersion < handler.api.request.minVersion || handler.maxVersion > handler.api.request.maxVersion) {
    throw new Error(
      `${handler.api.name}: handler versions ${handler.minVersion}-${handler.maxVersion} exceed the codec's`,
    );
  }
  return handler;
}
