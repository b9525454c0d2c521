/**
 * ApiVersions v0-4: the versions of every API this broker serves, derived from the handlers.
 * Clients read these ranges as feature switches (librdkafka disables compression, idempotence
 * and more when old ranges are missing), so every handler advertises from v0 where Kafka does.
 */
import { ApiVersionsApi, type ApiVersionsResponse, type Encodable, ErrorCode } from "@samsa/protocol";
import { type BrokerContext, defineHandler } from "./handler.js";

export function apiVersionsResponse(broker: BrokerContext, errorCode: number): Encodable<ApiVersionsResponse> {
  return {
    errorCode,
    apiKeys: broker.handlers
      .map((h) => ({ apiKey: h.api.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion }))
      .sort((a, b) => a.apiKey - b.apiKey),
    throttleTimeMs: 0,
    finalizedFeaturesEpoch: -1n,
  };
}

export const apiVersionsHandler = defineHandler({
  api: ApiVersionsApi,
  minVersion: 0,
  maxVersion: 4,
  handle(ctx, request) {
    if (request.clientSoftwareName !== "") {
      ctx.connection.clientSoftware = { name: request.clientSoftwareName, version: request.clientSoftwareVersion };
    }
    return apiVersionsResponse(ctx.broker, ErrorCode.NONE);
  },
});
