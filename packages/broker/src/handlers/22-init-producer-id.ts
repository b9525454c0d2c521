/**
 * InitProducerId v0-5 (Kafka's KafkaApis.handleInitProducerIdRequest and
 * TransactionCoordinator.handleInitProducerId):
 *
 * - Without a transactional id (an idempotent producer): always a new producer id with epoch 0,
 *   from the node's ProducerIdManager, whatever producer id and epoch a v3+ (KIP-360) request
 *   carries. As in Kafka: an idempotent producer bumps its epoch itself after an unknown or out
 *   of order sequence, and asks for a new id only when it must start over.
 * - v3+ with only one of producerId / producerEpoch set: INVALID_REQUEST (Kafka checks the pair
 *   before anything else).
 * - With a transactional id: the transaction coordinator (fencing, epoch bumps, KIP-360 retries);
 *   while none is wired, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a fatal error for the producer (a
 *   retriable one such as COORDINATOR_NOT_AVAILABLE would make it retry forever).
 *
 * v6 (KIP-939, two-phase commit) is not served, so not advertised.
 */
import {
  type Encodable,
  ErrorCode,
  InitProducerIdApi,
  type InitProducerIdResponse,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
} from "@samsa/protocol";
import { errorCodeOf } from "./errors.js";
import { defineHandler } from "./handler.js";

function response(errorCode: number, producerId = NO_PRODUCER_ID, producerEpoch = NO_PRODUCER_EPOCH) {
  return {
    throttleTimeMs: 0,
    errorCode,
    producerId,
    producerEpoch,
    ongoingTxnProducerId: NO_PRODUCER_ID,
    ongoingTxnProducerEpoch: NO_PRODUCER_EPOCH,
  };
}

export const initProducerIdHandler = defineHandler({
  api: InitProducerIdApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(ctx, request): Promise<Encodable<InitProducerIdResponse>> {
    const { broker } = ctx;
    const hasId = request.producerId !== NO_PRODUCER_ID;
    const hasEpoch = request.producerEpoch !== NO_PRODUCER_EPOCH;
    if (hasId !== hasEpoch) return response(ErrorCode.INVALID_REQUEST);
    if (request.transactionalId === null) {
      try {
        return response(ErrorCode.NONE, broker.producerIds.nextProducerId(), 0);
      } catch (e) {
        return response(errorCodeOf(e, broker.log));
      }
    }
    const coordinator = broker.transactionCoordinator;
    if (coordinator === undefined) return response(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    const result = await coordinator.initProducerId(
      {
        transactionalId: request.transactionalId,
        transactionTimeoutMs: request.transactionTimeoutMs,
        producerId: request.producerId,
        producerEpoch: request.producerEpoch,
      },
      ctx.header.apiVersion,
    );
    return response(result.errorCode, result.producerId, result.producerEpoch);
  },
});
