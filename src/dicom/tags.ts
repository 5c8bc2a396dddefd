// Tags as (group << 16 | element) unsigned numbers, named by their PS3.6 keyword.
// Only the attributes dcm2fhir reads are listed: everything else is skipped unparsed.

export const tag = (group: number, element: number): number => ((group << 16) | element) >>> 0;

// File Meta Information (PS3.10 7.1), always explicit VR little endian.
export const MediaStorageSOPClassUID = tag(0x0002, 0x0002);
export const MediaStorageSOPInstanceUID = tag(0x0002, 0x0003);
export const TransferSyntaxUID = tag(0x0002, 0x0010);

export const SpecificCharacterSet = tag(0x0008, 0x0005);
export const SOPClassUID = tag(0x0008, 0x0016);
export const SOPInstanceUID = tag(0x0008, 0x0018);
export const StudyDate = tag(0x0008, 0x0020);
export const SeriesDate = tag(0x0008, 0x0021);
export const StudyTime = tag(0x0008, 0x0030);
export const SeriesTime = tag(0x0008, 0x0031);
export const AccessionNumber = tag(0x0008, 0x0050);
export const IssuerOfAccessionNumberSequence = tag(0x0008, 0x0051);
export const Modality = tag(0x0008, 0x0060);
export const InstitutionName = tag(0x0008, 0x0080);
export const ReferringPhysicianName = tag(0x0008, 0x0090);
export const CodeValue = tag(0x0008, 0x0100);
export const CodingSchemeDesignator = tag(0x0008, 0x0102);
export const CodingSchemeVersion = tag(0x0008, 0x0103);
export const CodeMeaning = tag(0x0008, 0x0104);
export const LongCodeValue = tag(0x0008, 0x0119);
export const URNCodeValue = tag(0x0008, 0x0120);
export const TimezoneOffsetFromUTC = tag(0x0008, 0x0201);
export const StudyDescription = tag(0x0008, 0x1030);
export const ProcedureCodeSequence = tag(0x0008, 0x1032);
export const SeriesDescription = tag(0x0008, 0x103e);
export const InstitutionalDepartmentName = tag(0x0008, 0x1040);
export const PerformingPhysicianName = tag(0x0008, 0x1050);
export const NameOfPhysiciansReadingStudy = tag(0x0008, 0x1060);
export const OperatorsName = tag(0x0008, 0x1070);

export const PatientName = tag(0x0010, 0x0010);
export const PatientID = tag(0x0010, 0x0020);
export const IssuerOfPatientID = tag(0x0010, 0x0021);
export const IssuerOfPatientIDQualifiersSequence = tag(0x0010, 0x0024);
export const PatientBirthDate = tag(0x0010, 0x0030);
export const PatientSex = tag(0x0010, 0x0040);

export const BodyPartExamined = tag(0x0018, 0x0015);

export const StudyInstanceUID = tag(0x0020, 0x000d);
export const SeriesInstanceUID = tag(0x0020, 0x000e);
export const StudyID = tag(0x0020, 0x0010);
export const SeriesNumber = tag(0x0020, 0x0011);
export const InstanceNumber = tag(0x0020, 0x0013);
export const Laterality = tag(0x0020, 0x0060);
export const ImageLaterality = tag(0x0020, 0x0062);

export const ReasonForStudy = tag(0x0032, 0x1030);
export const StudyComments = tag(0x0032, 0x4000);

export const LocalNamespaceEntityID = tag(0x0040, 0x0031);
export const UniversalEntityID = tag(0x0040, 0x0032);
export const UniversalEntityIDType = tag(0x0040, 0x0033);
export const RequestAttributesSequence = tag(0x0040, 0x0275);
export const ReasonForTheRequestedProcedure = tag(0x0040, 0x1002);
export const ReasonForRequestedProcedureCodeSequence = tag(0x0040, 0x100a);
export const ConceptNameCodeSequence = tag(0x0040, 0xa043);

export const DocumentTitle = tag(0x0042, 0x0010);

/**
 * The last attribute dcm2fhir needs (Document Title, 0042,0010): parsing stops at the first top-level tag above it,
 * long before Pixel Data.
 */
export const LastNeededTag = tag(0x0042, 0x0010);

// Media Storage Directory (DICOMDIR) records live in group 0004; seeing one means the file is not an instance.
export const FileSetGroup = 0x0004;

export const Item = tag(0xfffe, 0xe000);
export const ItemDelimitationItem = tag(0xfffe, 0xe00d);
export const SequenceDelimitationItem = tag(0xfffe, 0xe0dd);

export const MediaStorageDirectoryStorage = "1.2.840.10008.1.3.10";
