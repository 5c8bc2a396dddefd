#!/usr/bin/python3
"""What Python DICOM-to-FHIR converters do per file: pydicom.dcmread(stop_before_pixels=True, force=True).

Walks the archive with os.walk, reads every file's header, groups instances by Study and Series Instance UID
and counts them; prints one JSON line: {"files", "seconds", "studies", "series", "instances", "errors", "pydicom"}.

    /usr/bin/python3 scripts/bench/pydicom_baseline.py bench/archive/10000/data

Run with Debian's python3 and its python3-pydicom package; exits 3 with one line on stderr when pydicom is missing.
"""
import json
import os
import sys
import time


def main(argv):
    if len(argv) != 2:
        print("usage: pydicom_baseline.py <archive folder>", file=sys.stderr)
        return 2
    try:
        import pydicom
    except ImportError:
        print("pydicom_baseline: pydicom is not installed for %s (Debian: apt-get install python3-pydicom)" % sys.executable, file=sys.stderr)
        return 3

    started = time.perf_counter()
    files = 0
    errors = 0
    instances = 0
    series_by_study = {}
    for folder, _dirs, names in os.walk(argv[1]):
        for name in names:
            path = os.path.join(folder, name)
            files += 1
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
                study = ds.get("StudyInstanceUID")
                series = ds.get("SeriesInstanceUID")
                sop = ds.get("SOPInstanceUID")
            except Exception:  # junk: empty, text, random bytes
                errors += 1
                continue
            if not (study and series and sop):
                errors += 1
                continue
            counts = series_by_study.setdefault(str(study), {})
            counts[str(series)] = counts.get(str(series), 0) + 1
            instances += 1
    seconds = time.perf_counter() - started
    print(json.dumps({
        "files": files,
        "seconds": round(seconds, 3),
        "studies": len(series_by_study),
        "series": sum(len(s) for s in series_by_study.values()),
        "instances": instances,
        "errors": errors,
        "pydicom": pydicom.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
