/**
 * AlterConfigs v0-2 (the legacy, non-incremental API): the configs a request gives for a
 * resource become its whole set of overrides — every override it leaves out is removed, as in
 * Kafka. Topics and this broker's dynamic configs; see config-admin.ts.
 */
import { AlterConfigsApi, type AlterConfigsResponse, type Encodable } from "@samsa/protocol";
import { alterResourceConfigs, checkNoDuplicateKeys, requireValue } from "./config-admin.js";
import { defineHandler } from "./handler.js";

export const alterConfigsHandler = defineHandler({
  api: AlterConfigsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(ctx, request): Promise<Encodable<AlterConfigsResponse>> {
    const responses = [];
    for (const res of request.resources) {
      const outcome = await alterResourceConfigs(
        ctx.broker,
        res.resourceType,
        res.resourceName,
        (_current, def) => {
          checkNoDuplicateKeys(res.configs.map((c) => c.name));
          const next = new Map<string, string>();
          for (const c of res.configs) {
            def(c.name);
            next.set(c.name, requireValue(c.name, c.value));
          }
          return next;
        },
        request.validateOnly,
      );
      responses.push({ ...outcome, resourceType: res.resourceType, resourceName: res.resourceName });
    }
    return { throttleTimeMs: 0, responses };
  },
});
