// Stands in for the string-width package in the bundled CLI (see scripts/bundle.ts). yargs and its cliui and
// wrap-ansi each carry a copy, and each builds an Intl.Segmenter and Unicode-property regular expressions
// (\p{RGI_Emoji} among them) as soon as it is loaded: ~60 ms of ICU work on every run here, before any file
// is read, to measure help text, which is ASCII. Printable ASCII is measured as its length; anything else per
// code point, by East Asian Width with marks and default-ignorable characters as zero, which is what a
// terminal does for every script but a few emoji sequences and Hangul jamo.
import { eastAsianWidth } from "get-east-asian-width";
import stripAnsi from "strip-ansi";

const PRINTABLE_ASCII = /^[\u0020-\u007e]*$/;
let zeroWidth: RegExp | undefined;

export default function stringWidth(input: string, options: { ambiguousIsNarrow?: boolean; countAnsiEscapeCodes?: boolean } = {}): number {
  if (typeof input !== "string" || input.length === 0) return 0;
  const text = !options.countAnsiEscapeCodes && (input.includes("\u001b") || input.includes("\u009b")) ? stripAnsi(input) : input;
  if (PRINTABLE_ASCII.test(text)) return text.length;
  // Built on first use only: this is the expression whose construction costs.
  zeroWidth ??= /[\p{Default_Ignorable_Code_Point}\p{Control}\p{Mark}\p{Surrogate}]/u;
  const ambiguousAsWide = options.ambiguousIsNarrow === false;
  let width = 0;
  for (const character of text) {
    if (zeroWidth.test(character)) continue;
    width += eastAsianWidth(character.codePointAt(0)!, { ambiguousAsWide });
  }
  return width;
}
