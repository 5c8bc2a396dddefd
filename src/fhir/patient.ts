import type { PatientGroup } from "../group/patients.js";
import { fhirString, humanNames } from "./datatypes.js";
import { issuerSystemAndAssigner } from "./imagingStudy.js";
import type { Patient } from "./types.js";

const V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203";
/** Patient's Sex (0010,0040): M, F, O; anything else says nothing FHIR can use. */
const GENDER: Readonly<Record<string, Patient["gender"]>> = { M: "male", F: "female", O: "other" };

export function toPatient(patient: PatientGroup): Patient {
  const a = patient.attributes;
  const value = fhirString(a.patientId);
  const names = humanNames(a.patientName);
  const gender = a.patientSex === undefined ? undefined : GENDER[a.patientSex.trim().toUpperCase()];
  return {
    resourceType: "Patient",
    id: patient.id,
    ...(value && {
      identifier: [
        {
          use: "usual",
          type: { coding: [{ system: V2_0203, code: "MR" }] },
          ...issuerSystemAndAssigner(a.issuerOfPatientIdQualifiers, a.issuerOfPatientId),
          value,
        },
      ],
    }),
    ...(names.length > 0 && { name: names }),
    ...(gender && { gender }),
    ...(a.patientBirthDate && { birthDate: a.patientBirthDate }),
  };
}
