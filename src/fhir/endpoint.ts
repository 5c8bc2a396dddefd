import { createHash } from "node:crypto";
import type { Endpoint } from "./types.js";

/** The DICOMweb service the studies can be retrieved from (R4 example "example-wadors"). */
export function toEndpoint(wadoRsBaseUrl: string): Endpoint {
  return {
    resourceType: "Endpoint",
    id: `dicomweb-${createHash("sha256").update(wadoRsBaseUrl).digest("hex").slice(0, 16)}`,
    status: "active",
    connectionType: { system: "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", code: "dicom-wado-rs" },
    name: "DICOMweb WADO-RS",
    payloadType: [{ text: "DICOM WADO-RS" }],
    payloadMimeType: ["application/dicom"],
    address: wadoRsBaseUrl,
  };
}
