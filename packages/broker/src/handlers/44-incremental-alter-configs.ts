/**
 * IncrementalAlterConfigs v0-1: SET, DELETE, APPEND and SUBTRACT applied in order to a
 * resource's current overrides (APPEND/SUBTRACT only for list-type configs: INVALID_CONFIG
 * otherwise). Topics and this broker's dynamic configs; see config-admin.ts.
 */
import {
  type Encodable,
  ErrorCode,
  IncrementalAlterConfigsApi,
  type IncrementalAlterConfigsResponse,
  KafkaError,
} from "@samsa/protocol";
import { ConfigError } from "../config/config-def.js";
import { alterResourceConfigs, checkNoDuplicateKeys, requireValue } from "./config-admin.js";
import { defineHandler } from "./handler.js";

/** AlterConfigOp.OpType. */
export const CONFIG_OP = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

function listOf(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export const incrementalAlterConfigsHandler = defineHandler({
  api: IncrementalAlterConfigsApi,
  minVersion: 0,
  maxVersion: 1,
  async handle(ctx, request): Promise<Encodable<IncrementalAlterConfigsResponse>> {
    const responses = [];
    for (const res of request.resources) {
      const outcome = await alterResourceConfigs(
        ctx.broker,
        res.resourceType,
        res.resourceName,
        (current, def) => {
          checkNoDuplicateKeys(res.configs.map((c) => c.name));
          const next = new Map(current);
          for (const c of res.configs) {
            const d = def(c.name);
            switch (c.configOperation) {
              case CONFIG_OP.SET:
                next.set(c.name, requireValue(c.name, c.value));
                break;
              case CONFIG_OP.DELETE:
                next.delete(c.name);
                break;
              case CONFIG_OP.APPEND:
              case CONFIG_OP.SUBTRACT: {
                if (d.type !== "list") {
                  throw new ConfigError(
                    c.name,
                    `${c.name} is a ${d.type} config: APPEND and SUBTRACT apply only to list configs; use SET.`,
                  );
                }
                const items = listOf(requireValue(c.name, c.value));
                // Kafka appends to the override, or to the default when there is none.
                const base = listOf(next.get(c.name) ?? (Array.isArray(d.default) ? d.default.join(",") : ""));
                const list =
                  c.configOperation === CONFIG_OP.APPEND
                    ? [...base, ...items.filter((i) => !base.includes(i))]
                    : base.filter((i) => !items.includes(i));
                next.set(c.name, list.join(","));
                break;
              }
              default:
                throw new KafkaError(
                  ErrorCode.INVALID_REQUEST,
                  `Unknown config operation ${c.configOperation} for ${c.name}; expected 0 (SET), 1 (DELETE), 2 (APPEND) or 3 (SUBTRACT).`,
                );
            }
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
