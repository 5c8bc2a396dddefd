// DICOM PS3.16 CID 29 "Acquisition Modality", as pydicom 2.3.1 lists it (its `_cid_dict`, generated from
// PS3.16): the Modality (0008,0060) values of equipment that acquires data. Derived objects (SR, SEG, PR,
// KO, REG, RTSTRUCT, RTPLAN, RTDOSE, DOC, OT, ...) are not in it; RTIMAGE is. A test checks this list
// against pydicom's when Debian's python3-pydicom is installed.

/** R4 ImagingStudy.modality: "all of the distinct values for series' modality ... that are actual acquisition modalities, i.e. those in the DICOM Context Group 29". */
export const ACQUISITION_MODALITIES: ReadonlySet<string> = new Set([
  "AR", "BDUS", "BI", "BMD", "CR", "CT", "DG", "DX", "ECG", "EPS", "ES", "GM", "HD", "IO", "IVOCT", "IVUS", "KER",
  "LEN", "LS", "MG", "MR", "NM", "OAM", "OCT", "OP", "OPM", "OPT", "OPTBSV", "OPTENF", "OPV", "OSS", "PT", "PX",
  "RESP", "RF", "RG", "RTIMAGE", "SM", "SRF", "TG", "US", "VA", "XA", "XC",
]);
