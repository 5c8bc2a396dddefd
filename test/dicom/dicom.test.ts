import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { BufferSource } from "../../src/dicom/byteSource.js";
import { textDecoderFor } from "../../src/dicom/charset.js";
import { INSTANCE_SPEC } from "../../src/dicom/instanceSpec.js";
import { type ParsedInstance, isParsedInstance, toParsedInstance } from "../../src/dicom/instance.js";
import { parseHeader } from "../../src/dicom/parser.js";
import { DicomFileReader } from "../../src/read/readFile.js";
import { parseDate, parsePersonName, parseTime, parseTimezoneOffset, parseUID, parseUnsignedInt } from "../../src/dicom/values.js";
import type { FileFailure } from "../../src/core/reasons.js";
import { UNDEFINED, el, implicitEl, item, minimalDataSet, nestedSequences, part10, sq } from "../helpers/bytes.js";
import { REPO, tempDir } from "../helpers/run.js";

const fixture = (path: string) => join(REPO, "fixtures/dicom", path);

function read(bytes: Buffer): ParsedInstance | FileFailure {
  return toParsedInstance("memory", parseHeader(new BufferSource(bytes), INSTANCE_SPEC, { firstWindowBytes: 8192 }));
}

function instance(bytes: Buffer): ParsedInstance {
  const r = read(bytes);
  if (!isParsedInstance(r)) throw new Error(`expected an instance, got ${r.reason}: ${r.message}`);
  return r;
}

describe("value representations", () => {
  it("DA: real dates only, as FHIR dates; the ACR-NEMA form too", () => {
    expect(parseDate("20240315")).toBe("2024-03-15");
    expect(parseDate("2024.03.15")).toBe("2024-03-15");
    expect(parseDate("20240229")).toBe("2024-02-29");
    expect(parseDate("20230229")).toBeUndefined();
    expect(parseDate("20241341")).toBeUndefined();
    expect(parseDate("20240431")).toBeUndefined();
    expect(parseDate("00000101")).toBeUndefined();
    expect(parseDate("2024-03-15")).toBeUndefined();
    expect(parseDate("20240315-20240316")).toBeUndefined();
  });

  it("TM: keeps the precision written, rejects impossible times", () => {
    expect(parseTime("14")).toEqual({ hour: "14" });
    expect(parseTime("1430")).toEqual({ hour: "14", minute: "30" });
    expect(parseTime("143005")).toEqual({ hour: "14", minute: "30", second: "05" });
    expect(parseTime("143005.1")).toEqual({ hour: "14", minute: "30", second: "05", fraction: "1" });
    expect(parseTime("14:30:05")).toEqual({ hour: "14", minute: "30", second: "05" });
    expect(parseTime("2460")).toBeUndefined();
    expect(parseTime("1460")).toBeUndefined();
    expect(parseTime("143005.1234567")).toBeUndefined();
  });

  it("Timezone Offset From UTC: ±HHMM within -12:00..+14:00", () => {
    expect(parseTimezoneOffset("+0100")).toBe("+01:00");
    expect(parseTimezoneOffset("-0500")).toBe("-05:00");
    expect(parseTimezoneOffset("+1400")).toBe("+14:00");
    expect(parseTimezoneOffset("+1401")).toBeUndefined();
    expect(parseTimezoneOffset("-1300")).toBeUndefined();
    expect(parseTimezoneOffset("0100")).toBeUndefined();
    expect(parseTimezoneOffset("+0160")).toBeUndefined();
  });

  it("IS as unsignedInt, UI as digits and dots up to 64", () => {
    expect(parseUnsignedInt("12")).toBe(12);
    expect(parseUnsignedInt("+7")).toBe(7);
    expect(parseUnsignedInt("-1")).toBeUndefined();
    expect(parseUnsignedInt("2147483648")).toBeUndefined();
    expect(parseUnsignedInt("1.5")).toBeUndefined();
    expect(parseUID("1.2.840.10008.5.1.4.1.1.2")).toBe("1.2.840.10008.5.1.4.1.1.2");
    expect(parseUID(`1.${"2".repeat(62)}`)).toBe(`1.${"2".repeat(62)}`);
    expect(parseUID(`1.${"2".repeat(63)}`)).toBeUndefined();
    expect(parseUID("1.2.a")).toBeUndefined();
    expect(parseUID("1..2")).toBeUndefined();
  });

  it("PN: three groups of five components", () => {
    expect(parsePersonName("Smith^John^Q^Dr.^MD")).toEqual({ alphabetic: { family: "Smith", given: "John", middle: "Q", prefix: "Dr.", suffix: "MD" } });
    expect(parsePersonName("=山田^太郎=やまだ^たろう")).toEqual({
      ideographic: { family: "山田", given: "太郎" },
      phonetic: { family: "やまだ", given: "たろう" },
    });
    expect(parsePersonName("^^^")).toBeUndefined();
  });
});

describe("Specific Character Set", () => {
  const decode = (charset: string, bytes: Buffer, kind: "PN" | "multi" | "text" = "PN") => textDecoderFor(charset)(bytes.toString("latin1"), kind);
  const octal = (s: string) =>
    Buffer.from(
      s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      "latin1",
    );

  // The byte examples of PS3.5 Annexes H, I and J, written as the standard prints them (octal escapes).
  it("decodes PS3.5 H.3.1: Japanese, ISO 2022 IR 87", () => {
    const bytes = octal("Yamada^Tarou=\\033$B;3ED\\033(B^\\033$BB@O:\\033(B=\\033$B$d$^$@\\033(B^\\033$B$?$m$&\\033(B");
    expect(decode("\\ISO 2022 IR 87", bytes)).toBe("Yamada^Tarou=山田^太郎=やまだ^たろう");
  });

  it("decodes PS3.5 H.3.2: Japanese, ISO 2022 IR 13 with IR 87", () => {
    const bytes = octal("\\324\\317\\300\\336^\\300\\333\\263=\\033$B;3ED\\033(B^\\033$BB@O:\\033(B=\\033$B$d$^$@\\033(B^\\033$B$?$m$&\\033(B");
    expect(decode("ISO 2022 IR 13\\ISO 2022 IR 87", bytes)).toBe("ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう");
  });

  it("decodes PS3.5 I.2: Korean, ISO 2022 IR 149", () => {
    const bytes = octal("Hong^Gildong=\\033$)C\\373\\363^\\033$)C\\321\\316\\324\\327=\\033$)C\\310\\253^\\033$)C\\261\\346\\265\\277");
    expect(decode("\\ISO 2022 IR 149", bytes)).toBe("Hong^Gildong=洪^吉洞=홍^길동");
  });

  it("decodes PS3.5 J.3: Chinese, GB18030", () => {
    expect(decode("GB18030", octal("Wang^XiaoDong=\\315\\365^\\320\\241\\266\\253="))).toBe("Wang^XiaoDong=王^小东=");
  });

  it("reads ISO_IR 100 as ISO 8859-1, not windows-1252, and single-byte sets by their part of ISO 8859", () => {
    expect(decode("ISO_IR 100", Buffer.from([0x4a, 0xe9, 0x80]))).toBe("Jé\u0080");
    expect(decode("ISO_IR 144", octal("\\273\\356\\332"))).toBe("Люк");
    expect(decode("ISO_IR 126", octal("\\304\\351"))).toBe("Δι");
    expect(decode("ISO_IR 192", Buffer.from("Gómez", "utf8"))).toBe("Gómez");
  });

  it("returns designations to their initial state at delimiters, and never splits a JIS X 0208 character at 0x5C", () => {
    // JIS X 0208 0x3E5C (EUC-JP 0xBEDC) is one kanji whose second byte is the backslash's.
    const kanjiWith5C = octal("\\033$B\\076\\134\\033(B");
    const text = decode("\\ISO 2022 IR 87", kanjiWith5C, "multi");
    expect(text).toHaveLength(1);
    expect(text).not.toContain("\\");
  });
});

describe("header reader", () => {
  it("reads every layout and transfer syntax of the fixtures to the same kind of record", () => {
    const reader = new DicomFileReader();
    const cases: Array<[string, string]> = [
      ["HOSP-A/Mueller Juergen PAT-0001/CT 2024-03-15/axial/IM0001.dcm", "explicit VR LE"],
      ["HOSP-A/Mueller Juergen PAT-0001/CT 2024-03-15/coronal/IM1001", "implicit VR LE"],
      ["HOSP-A/Mueller Juergen PAT-0001/MR knee/1.dcm", "explicit VR BE"],
      ["jp/yamada.dcm", "deflated"],
      ["kr/hong", "no meta"],
      ["gz/head.dcm.gz", "gzip"],
    ];
    for (const [path, layout] of cases) {
      const { result } = reader.read(fixture(path));
      expect(isParsedInstance(result), `${layout}: ${"message" in result ? result.message : ""}`).toBe(true);
    }
    const mr = reader.read(fixture("HOSP-A/Mueller Juergen PAT-0001/MR knee/1.dcm")).result as ParsedInstance;
    expect(mr.study.patientName).toEqual({ alphabetic: { family: "Müller", given: "Jürgen", middle: "Karl", prefix: "Dr." } });
    expect(mr.series.laterality).toBe("L");
    const yamada = reader.read(fixture("jp/yamada.dcm")).result as ParsedInstance;
    expect(yamada.study.patientName?.ideographic).toEqual({ family: "山田", given: "太郎" });
    expect(yamada.study.description).toBe("腹部超音波");
  });

  it("reads a header, not the pixel data: a 2 GB multi-frame file costs one small read", () => {
    const path = join(tempDir(), "huge.dcm");
    const header = part10(minimalDataSet({ after: el(0x7fe0, 0x0010, "OW", Buffer.alloc(0), 0x7ffffff0) }));
    writeFileSync(path, header);
    // A sparse file: 2 GB on paper, almost nothing on disk.
    truncateSync(path, header.length + 0x7ffffff0);
    const { result, bytesRead } = new DicomFileReader().read(path);
    expect(isParsedInstance(result)).toBe(true);
    expect(bytesRead).toBeLessThanOrEqual(8192);
  });

  it("grows its window only as far as the header goes, skipping large values unread", () => {
    const privateBlob = el(0x0009, 0x1001, "OB", Buffer.alloc(200_000, 7));
    const bytes = part10(minimalDataSet({ middle: Buffer.concat([privateBlob, el(0x0010, 0x0010, "PN", "After^Blob")]) }));
    const dir = tempDir();
    writeFileSync(join(dir, "blob.dcm"), bytes);
    const { result, bytesRead } = new DicomFileReader().read(join(dir, "blob.dcm"));
    expect((result as ParsedInstance).study.patientName?.alphabetic?.family).toBe("After");
    expect(bytesRead).toBeLessThan(64 * 1024);
  });

  it("keeps an instance whose pixel data is cut short", () => {
    const { result } = new DicomFileReader().read(fixture("HOSP-A/Mueller Juergen PAT-0001/CT 2024-03-15/axial/IM0004.dcm"));
    expect(isParsedInstance(result)).toBe(true);
  });
});

describe("hostile bytes", () => {
  it("a length beyond the end of the data is truncation, not an allocation", () => {
    const r = read(part10(Buffer.concat([el(0x0008, 0x0016, "UI", "1.2.3"), el(0x0009, 0x1001, "OB", Buffer.alloc(4), 0xfffffff0)])));
    expect(r).toMatchObject({ reason: "truncated" });
    const needed = read(part10(Buffer.concat([el(0x0008, 0x0016, "UI", "1.2.3"), el(0x0010, 0x0010, "PN", "Doe", 0xfff0)])));
    expect(needed).toMatchObject({ reason: "truncated" });
  });

  it("an undefined length on a value that should have one is skipped with a warning", () => {
    const broken = Buffer.concat([el(0x0010, 0x0010, "UT", Buffer.alloc(0), UNDEFINED), Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])]);
    const r = instance(part10(minimalDataSet({ middle: broken })));
    expect(r.warnings).toContain("undefined-length-value");
  });

  it("skips sequences nested 50,000 deep without recursion, in private and in read sequences", () => {
    const nested = nestedSequences(0x0009, 0x1001, 50_000, el(0x0009, 0x1002, "LO", "deep"));
    const r = instance(part10(minimalDataSet({ middle: nested })));
    expect(r.sopInstanceUID).toBe("1.2.3.4.5.6.1");
    const inCode = nestedSequences(0x0009, 0x1001, 50_000, el(0x0008, 0x0104, "LO", "Deep meaning"));
    const procedure = sq(0x0008, 0x1032, [item(Buffer.concat([el(0x0008, 0x0100, "SH", "X1"), el(0x0008, 0x0102, "SH", "DCM"), inCode]))]);
    const withCodes = instance(part10(minimalDataSet({ middle: procedure })));
    expect(withCodes.study.procedureCodes).toEqual([{ code: "X1", scheme: "DCM" }]);
  });

  it("stops at an impossible element header; what came before it is kept when it suffices", () => {
    const garbage = Buffer.from([0x09, 0x00, 0x10, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
    const after = instance(part10(minimalDataSet({ after: garbage })));
    expect(after.warnings).toContain("stopped-early:corrupt-header");
    expect(read(part10(Buffer.concat([el(0x0008, 0x0016, "UI", "1.2.3"), garbage])))).toMatchObject({ reason: "corrupt-header" });
  });

  it("an item tag that is not an item is a corrupt header", () => {
    const badSeq = el(0x0008, 0x1032, "SQ", Buffer.concat([Buffer.from([0x08, 0x00, 0x00, 0x01]), Buffer.alloc(4)]), 8);
    expect(read(part10(Buffer.concat([el(0x0008, 0x0016, "UI", "1.2.3"), badSeq])))).toMatchObject({ reason: "corrupt-header" });
  });

  it("drops invalid values with a warning and keeps the instance: dates, numbers, odd lengths", () => {
    const middle = Buffer.concat([el(0x0008, 0x0020, "DA", "20241341"), el(0x0008, 0x0030, "TM", "2575"), el(0x0010, 0x0010, "PN", "Odd")]);
    const r = instance(part10(minimalDataSet({ middle, after: el(0x0020, 0x0011, "IS", "-3") })));
    expect(r.study.date).toBeUndefined();
    expect(r.study.time).toBeUndefined();
    expect(r.series.number).toBeUndefined();
    expect(r.study.patientName?.alphabetic?.family).toBe("Odd");
    expect(r.warnings).toEqual(expect.arrayContaining(["invalid-study-date", "invalid-study-time", "invalid-series-number"]));
  });

  it("reads a sequence re-encoded as UN (implicit VR inside, PS3.5 6.2.2)", () => {
    const code = Buffer.concat([implicitEl(0x0008, 0x0100, "T-1"), implicitEl(0x0008, 0x0102, "SCT"), implicitEl(0x0008, 0x0104, "Thing")]);
    const un = el(0x0008, 0x1032, "UN", Buffer.concat([item(code), Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])]), UNDEFINED);
    expect(instance(part10(minimalDataSet({ middle: un }))).study.procedureCodes).toEqual([{ code: "T-1", scheme: "SCT", meaning: "Thing" }]);
  });

  it("a data set labelled explicit but written implicit is read by its bytes", () => {
    const implicit = Buffer.concat([
      implicitEl(0x0008, 0x0016, "1.2.840.10008.5.1.4.1.1.7"),
      implicitEl(0x0008, 0x0018, "1.2.3.4.5.6.1"),
      implicitEl(0x0020, 0x000d, "1.2.3.4.5"),
      implicitEl(0x0020, 0x000e, "1.2.3.4.5.6"),
    ]);
    expect(instance(part10(implicit, "1.2.840.10008.1.2.1")).warnings).toContain("transfer-syntax-mismatch");
  });

  it("bounds a gzip bomb and reports a corrupt stream", () => {
    const bomb = gzipSync(Buffer.concat([part10(Buffer.alloc(0)), Buffer.alloc(80 * 1024 * 1024)]), { level: 1 });
    expect(read(bomb)).toMatchObject({ reason: "header-too-large" });
    const corrupt = gzipSync(part10(minimalDataSet()));
    corrupt.fill(0xff, 12, 40);
    expect(read(corrupt)).toMatchObject({ reason: "bad-compression" });
  });

  it("classifies what is not an instance", () => {
    expect(read(Buffer.from("just text, long enough to look at, more than 132 bytes ".repeat(4)))).toMatchObject({ reason: "not-dicom" });
    expect(read(part10(Buffer.alloc(0)))).toMatchObject({ reason: "missing-study-uid" });
    const reader = new DicomFileReader();
    expect(reader.read(fixture("bad/empty.dcm")).result).toMatchObject({ reason: "empty" });
    expect(reader.read(fixture("bad/DICOMDIR")).result).toMatchObject({ reason: "dicomdir" });
    expect(reader.read(join(tempDir(), "gone.dcm")).result).toMatchObject({ reason: "unreadable", message: expect.stringContaining("ENOENT") });
    expect(reader.read(tempDir()).result).toMatchObject({ reason: "not-a-regular-file", message: expect.stringContaining("folder") });
  });
});
