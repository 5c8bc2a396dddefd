// The read interaction (R4 http.html#read): GET [base]{type}/{id} for the three types the folder holds; the body is
// the resource's NDJSON line.
import type { FastifyInstance } from "fastify";
import { FHIR_ID } from "../../index/parameters.js";
import type { ServerContext } from "../context.js";
import { sendFhir, sendOutcome } from "../reply.js";

export const READABLE_TYPES = ["ImagingStudy", "Patient", "Endpoint"] as const;

export async function readRoutes(app: FastifyInstance, context: ServerContext): Promise<void> {
  for (const type of READABLE_TYPES) {
    app.get<{ Params: { id: string } }>(`/${type}/:id`, async (request, reply) => {
      context.counts.reads++;
      const { id } = request.params;
      const resource = FHIR_ID.test(id) ? context.index.read(type, id) : undefined;
      if (!resource) return sendOutcome(context.counts, reply, 404, "not-found", `no ${type} with this id`);
      return sendFhir(context.counts, reply, 200, resource);
    });
  }
}
