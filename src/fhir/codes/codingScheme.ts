// Source: the designators are those of DICOM PS3.16 Table 8-1 "Coding Schemes" (section 8). The
// URIs are the FHIR Coding.system values HL7 assigns to the code system behind each designator (the
// OID given in Table 8-1), per HL7 Terminology (THO, terminology.hl7.org CodeSystem/NamingSystem
// resources and External Code System Metadata Records) and the FHIR core code system registry
// (hl7.org/fhir/R4/terminologies-systems.html). Where HL7 has none, the URI is the one NEMA's
// published FHIR ValueSets (medical.nema.org/medical/dicom/resources/valuesets, *_fhir_json)
// use, as listed in pydicom/pydicom util/generate_cids/generate_concept_dicts.py
// (FHIR_SYSTEM_TO_DICOM_SCHEME_DESIGNATOR), which is built from those files.
//
// HL7 wins where the two disagree, because FHIR servers and validators recognise the HL7 URI:
// RADLEX (NEMA: http://www.radlex.org), MSH (NEMA: http://www.nlm.nih.gov/mesh/meshhome.html),
// NCIt (NEMA: http://ncit.nci.nih.gov) and UMLS (NEMA: http://www.nlm.nih.gov/research/umls).
//
// BARI, FMA, IBSI, ITIS_TSN, NEU and PUBCHEM_CID have no HL7 system; NEMA's URI is the only
// published one, and a coding with it still says more than no coding at all.
//
// ACR, I9 and UMLS point at THO records that HL7 retired in 2021 (UP-251) without naming a
// successor; they are still the only URIs HL7 has assigned to those OIDs. I9C uses FHIR's ICD-9-CM
// URI, to which THO moved ICD-9-CM when it retired the record for Table 8-1's OID
// (2.16.840.1.113883.6.2) in 2023.
//
// SRT gets its own system, as in NEMA's ValueSets, so that legacy SNOMED-RT codes (e.g. T-D4000)
// are never presented to a terminology server as SNOMED CT concept ids.
//
// RFC3066 and RFC5646 are both BCP 47 language tags (RFC 5646 obsoleted RFC 3066 without
// invalidating its tags), which FHIR identifies as urn:ietf:bcp:47.
//
// Designators beginning with "99" are private (PS3.16 section 8, after HL7 v2 Table 0396) and mean
// nothing outside the sender, so none appear here.

/** Coding Scheme Designator (as written in DICOM) → FHIR Coding.system URI. */
export const CODING_SCHEME_SYSTEM: ReadonlyMap<string, string> = new Map([
  ["ACR", "http://terminology.hl7.org/CodeSystem/ACR"],
  ["BARI", "doi:10.1016/S0735-1097(99)00126-6"],
  ["C4", "http://www.ama-assn.org/go/cpt"],
  ["CD2", "http://www.ada.org/cdt"],
  ["DCM", "http://dicom.nema.org/resources/ontology/DCM"],
  ["FMA", "http://sig.biostr.washington.edu/projects/fm/AboutFM.html"],
  ["I10", "http://hl7.org/fhir/sid/icd-10"],
  ["I10C", "http://hl7.org/fhir/sid/icd-10-cm"],
  ["I10P", "http://www.cms.gov/Medicare/Coding/ICD10"],
  ["I9", "http://terminology.hl7.org/CodeSystem/icd9"],
  ["I9C", "http://hl7.org/fhir/sid/icd-9-cm"],
  ["IBSI", "http://arxiv.org/abs/1612.07003"],
  ["ICDO3", "http://terminology.hl7.org/CodeSystem/icd-o-3"],
  ["ISO3166_1", "urn:iso:std:iso:3166"],
  ["ITIS_TSN", "http://www.itis.gov"],
  ["LN", "http://loinc.org"],
  ["MDC", "urn:iso:std:iso:11073:10101"],
  ["MSH", "https://www.nlm.nih.gov/mesh"],
  ["NCIt", "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"],
  ["NDC", "http://hl7.org/fhir/sid/ndc"],
  ["NEU", "http://braininfo.rprc.washington.edu/aboutBrainInfo.aspx#NeuroNames"],
  ["PUBCHEM_CID", "http://pubchem.ncbi.nlm.nih.gov"],
  ["RADLEX", "http://radlex.org"],
  ["RFC3066", "urn:ietf:bcp:47"],
  ["RFC5646", "urn:ietf:bcp:47"],
  ["RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm"],
  ["SCT", "http://snomed.info/sct"],
  ["SRT", "http://snomed.info/srt"],
  ["UCUM", "http://unitsofmeasure.org"],
  ["UMLS", "http://terminology.hl7.org/CodeSystem/umls"],
]);
