#!/usr/bin/python3
"""Writes test/corpus/pydicom-reference.json: what pydicom decodes, for every file of the shared corpus,
for the attributes dcm2fhir's header reader (src/dicom/instance.ts) puts into an InstanceRecord.

test/read/reader-vs-pydicom.test.ts compares our reader against this file, so CI needs no Python.

Run from the repository root with Debian's python3-pydicom (2.3.1):

    /usr/bin/python3 scripts/corpus-reference.py [CORPUS_ROOT] [OUTPUT]

CORPUS_ROOT defaults to ../shared/corpus and OUTPUT to test/corpus/pydicom-reference.json, both relative to
the repository root. The output is deterministic (sorted keys, no timestamps): re-running it on the same
corpus with the same pydicom gives the same bytes.

Representation, chosen to stay as close to pydicom's own values as JSON allows:
- an absent attribute is null; a present one with an empty value is "" (or [] for a sequence);
- a multi-valued string (VM > 1) is a list of strings;
- DA and TM are the strings pydicom gives (pydicom's datetime conversion is off by default);
- IS is pydicom's integer, or {"pydicomError": ..., "raw": ...} when pydicom cannot convert it;
- PN is a list with one entry per value: {"value": str(PersonName), "alphabetic"/"ideographic"/"phonetic":
  {"family", "given", "middle", "prefix", "suffix"}} for the component groups pydicom's PersonName.components
  has, each group split on "^" exactly as PersonName.family_name etc. split the alphabetic one;
- a code sequence is a list of items {"CodeValue", "CodingSchemeDesignator", "CodeMeaning"}.
A file pydicom cannot read, or that lacks one of the four UIDs (SOP Instance/Class UID may come from the file
meta), is listed under "skipped" with pydicom's error, the UIDs it lacks, and what pydicom says when reading it
without force=True ("strictReadError").
"""
import gzip
import io
import json
import os
import pathlib
import sys
import warnings

import pydicom
from pydicom import config, dcmread
from pydicom.valuerep import PersonName

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "corpus"
OUT = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "test" / "corpus" / "pydicom-reference.json"

# Plain string-valued attributes, by PS3.6 keyword.
STRINGS = [
    "SpecificCharacterSet",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "SeriesTime",
    "TimezoneOffsetFromUTC",
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
    "SeriesDescription",
    "Modality",
    "InstitutionName",
    "InstitutionalDepartmentName",
    "BodyPartExamined",
    "Laterality",
    "ImageLaterality",
    "DocumentTitle",
]
PERSON_NAMES = ["PatientName", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName"]
INTEGERS = ["SeriesNumber", "InstanceNumber"]
CODE_SEQUENCES = ["ProcedureCodeSequence", "ConceptNameCodeSequence"]
CODE_ITEM = ["CodeValue", "CodingSchemeDesignator", "CodeMeaning"]
PN_PARTS = ["family", "given", "middle", "prefix", "suffix"]
PN_GROUPS = ["alphabetic", "ideographic", "phonetic"]


def load(path):
    """pydicom's data set for one file; a gzipped file is gunzipped in memory first."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)


def guarded(fn):
    """pydicom converts values lazily: a value it cannot decode raises only when it is accessed."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - any pydicom failure is data here
        return {"pydicomError": f"{type(e).__name__}: {e}"}


def element_value(ds, keyword):
    if keyword not in ds:
        return None
    return ds[keyword].value


def string_value(ds, keyword):
    value = element_value(ds, keyword)
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    if isinstance(value, bytes):
        return {"pydicomError": "value left undecoded (bytes)", "raw": value.decode("latin-1")}
    return str(value)


def integer_value(ds, keyword):
    if keyword not in ds:
        return None
    elem = ds[keyword]
    raw = ds.get_item(keyword)
    try:
        value = elem.value
    except Exception as e:  # noqa: BLE001
        return {"pydicomError": f"{type(e).__name__}: {e}", "raw": raw_text(raw)}
    if value is None or value == "":
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [int(v) if v != "" else "" for v in value]
    return int(value)


def raw_text(raw):
    value = getattr(raw, "value", raw)
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def person_names(ds, keyword):
    value = element_value(ds, keyword)
    if value is None:
        return None
    if value == "":
        return ""
    values = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    out = []
    for pn in values:
        if not isinstance(pn, PersonName):
            pn = PersonName(pn)
        entry = {"value": str(pn)}
        for group, text in zip(PN_GROUPS, pn.components):
            parts = text.split("^")
            # PersonName._name_part: component i of the group, "" when there are fewer.
            entry[group] = {name: (parts[i] if i < len(parts) else "") for i, name in enumerate(PN_PARTS)}
        out.append(entry)
    return out


def code_items(ds, keyword):
    value = element_value(ds, keyword)
    if value is None:
        return None
    return [{k: guarded(lambda k=k: string_value(item, k)) for k in CODE_ITEM} for item in value]


def file_meta_uid(ds, keyword):
    meta = getattr(ds, "file_meta", None)
    if meta is None or keyword not in meta:
        return None
    return str(meta[keyword].value).strip() or None


def present(value):
    return isinstance(value, str) and value.strip("\0 ") != ""


def strict_read_error(path):
    """What pydicom says of the file without force=True: the reason it is not a DICOM file, if it has one."""
    try:
        with open(path, "rb") as f:
            dcmread(f, stop_before_pixels=True)
        return None
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"


def describe(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = load(path)
        except Exception as e:  # noqa: BLE001
            return None, {"pydicomError": f"{type(e).__name__}: {e}"}

        uids = {
            "StudyInstanceUID": guarded(lambda: string_value(ds, "StudyInstanceUID")),
            "SeriesInstanceUID": guarded(lambda: string_value(ds, "SeriesInstanceUID")),
            "SOPInstanceUID": guarded(lambda: string_value(ds, "SOPInstanceUID")),
            "SOPClassUID": guarded(lambda: string_value(ds, "SOPClassUID")),
        }
        sources = {}
        for keyword, meta_keyword in (("SOPInstanceUID", "MediaStorageSOPInstanceUID"), ("SOPClassUID", "MediaStorageSOPClassUID")):
            if not present(uids[keyword]) and file_meta_uid(ds, meta_keyword):
                uids[keyword] = file_meta_uid(ds, meta_keyword)
                sources[keyword] = meta_keyword
        missing = [k for k, v in uids.items() if not present(v)]
        if missing:
            return None, {
                "pydicomError": None,
                "strictReadError": strict_read_error(path),
                "missing": missing,
                "elementCount": len(ds),
                "note": "pydicom read the file with force=True but it lacks " + ", ".join(missing),
            }

        record = dict(uids)
        record["uidFromFileMeta"] = sources
        record["TransferSyntaxUID"] = file_meta_uid(ds, "TransferSyntaxUID")
        for keyword in STRINGS:
            record[keyword] = guarded(lambda: string_value(ds, keyword))
        for keyword in PERSON_NAMES:
            record[keyword] = guarded(lambda: person_names(ds, keyword))
        for keyword in INTEGERS:
            record[keyword] = guarded(lambda: integer_value(ds, keyword))
        for keyword in CODE_SEQUENCES:
            record[keyword] = guarded(lambda: code_items(ds, keyword))

    record["pydicomWarnings"] = sorted(
        {str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, ResourceWarning))}
    )
    return record, None


def main():
    if not CORPUS.is_dir():
        sys.exit(f"no corpus at {CORPUS}")
    files, skipped = {}, {}
    for dirpath, dirnames, filenames in os.walk(CORPUS):
        dirnames.sort()
        for name in sorted(filenames):
            path = pathlib.Path(dirpath) / name
            key = path.relative_to(CORPUS).as_posix()
            record, skip = describe(path)
            if record is not None:
                files[key] = record
            else:
                skipped[key] = skip

    reference = {
        "header": {
            "generator": "scripts/corpus-reference.py",
            "command": "/usr/bin/python3 scripts/corpus-reference.py",
            "pydicom": pydicom.__version__,
            "python": sys.version.split()[0],
            "readingValidationMode": {config.IGNORE: "IGNORE", config.WARN: "WARN", config.RAISE: "RAISE"}.get(config.settings.reading_validation_mode, "?"),
            "read": "dcmread(path, force=True, stop_before_pixels=True); gzipped files gunzipped in memory",
            "corpus": "../shared/corpus (see its SOURCES.md); keys are paths relative to it",
            "fileCount": len(files),
            "skippedCount": len(skipped),
        },
        "files": files,
        "skipped": skipped,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(reference, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(files)} files, {len(skipped)} skipped -> {OUT}")


if __name__ == "__main__":
    main()
