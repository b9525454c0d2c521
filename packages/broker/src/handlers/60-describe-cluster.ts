/** DescribeCluster v0-1: one broker, which is also the controller. */
import { DescribeClusterApi, type DescribeClusterResponse, type Encodable, ErrorCode } from "@samsa/protocol";
import { defineHandler } from "./handler.js";

const OPERATIONS_NOT_REQUESTED = -2147483648;

export const describeClusterHandler = defineHandler({
  api: DescribeClusterApi,
  minVersion: 0,
  maxVersion: 1,
  handle(ctx, request): Encodable<DescribeClusterResponse> {
    const { broker } = ctx;
    // endpointType 1 = brokers; 2 = controllers (v1+). We are both.
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType: request.endpointType,
      clusterId: broker.clusterId,
      controllerId: broker.nodeId,
      brokers: [{ brokerId: broker.nodeId, host: broker.advertisedHost, port: broker.advertisedPort, rack: null }],
      clusterAuthorizedOperations: OPERATIONS_NOT_REQUESTED,
    };
  },
});
