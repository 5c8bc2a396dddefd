// GET [base]metadata: the CapabilityStatement (R4 http.html#capabilities), naming exactly what is supported.
import type { FastifyInstance } from "fastify";
import { PARAMETER_DEFINITIONS } from "../../index/parameters.js";
import { VERSION } from "../../core/version.js";
import type { ServerContext } from "../context.js";
import { sendFhir } from "../reply.js";

export async function metadataRoutes(app: FastifyInstance, context: ServerContext, tokenRequired: boolean): Promise<void> {
  const started = new Date().toISOString();
  const pacs = context.onDemand && { roots: context.onDemand.pacs.map((p) => p.root.shown), maxAge: context.onDemand.maxAge };
  app.get("/metadata", async (_request, reply) => sendFhir(context.counts, reply, 200, capabilityStatement(context.base, started, tokenRequired, pacs)));
}

/** `pacs`: the PACS a search asks (roots without credentials) and for how long an answer is reused, in seconds. */
export function capabilityStatement(
  base: string,
  date: string,
  tokenRequired: boolean,
  pacs?: { readonly roots: readonly string[]; readonly maxAge: number },
): object {
  return {
    resourceType: "CapabilityStatement",
    status: "active",
    date,
    publisher: "dcm2fhir",
    kind: "instance",
    software: { name: "dcm2fhir", version: VERSION },
    implementation: { description: "ImagingStudy search over a folder converted by dcm2fhir", url: base },
    fhirVersion: "4.0.1",
    format: ["json"],
    rest: [
      {
        mode: "server",
        ...(pacs && {
          documentation: `Data on demand: a search naming patient, patient.identifier or identifier also asks these DICOMweb PACS (QIDO-RS, then WADO-RS metadata), reusing an answer for ${pacs.maxAge} s: ${pacs.roots.join(", ")}`,
        }),
        ...(tokenRequired && { security: { cors: false, description: "Every request but metadata needs Authorization: Bearer <token>." } }),
        resource: [
          {
            type: "ImagingStudy",
            interaction: [{ code: "read" }, { code: "search-type" }],
            searchInclude: ["ImagingStudy:patient", "ImagingStudy:endpoint"],
            searchParam: PARAMETER_DEFINITIONS.map((p) => ({
              name: p.name,
              ...(p.definition && { definition: p.definition }),
              type: p.type,
              documentation: p.documentation,
            })),
          },
          { type: "Patient", interaction: [{ code: "read" }] },
          { type: "Endpoint", interaction: [{ code: "read" }] },
        ],
      },
    ],
  };
}
