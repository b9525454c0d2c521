/**
 * ListTransactions v0-2: the transactional ids this broker coordinates, filtered by state names
 * (unknown names are echoed in UnknownStateFilters) and producer ids; v1+ by duration (only
 * transactions running longer than DurationFilter ms); v2 (KIP-1152) by a regular expression the
 * whole id must match.
 */
import { type Encodable, ErrorCode, ListTransactionsApi, type ListTransactionsResponse } from "@samsa/protocol";
import { defineHandler } from "./handler.js";

export const listTransactionsHandler = defineHandler({
  api: ListTransactionsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(ctx, request): Promise<Encodable<ListTransactionsResponse>> {
    const version = ctx.header.apiVersion;
    const coordinator = ctx.broker.transactionCoordinator;
    if (coordinator === undefined) {
      return {
        throttleTimeMs: 0,
        errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE,
        unknownStateFilters: [],
        transactionStates: [],
      };
    }
    const result = await coordinator.listTransactions({
      stateFilters: request.stateFilters,
      producerIdFilters: request.producerIdFilters,
      durationFilterMs: version >= 1 ? Number(request.durationFilter) : -1,
      transactionalIdPattern: version >= 2 ? request.transactionalIdPattern : null,
    });
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      unknownStateFilters: result.unknownStateFilters,
      transactionStates: result.transactionStates.map((t) => ({
        transactionalId: t.transactionalId,
        producerId: t.producerId,
        transactionState: t.transactionState,
      })),
    };
  },
});
