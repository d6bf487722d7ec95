// Characters a file name shown to people must not carry: controls (C0, DEL, C1) and the invisible bidi/format marks.

/**
 * C0 and C1 controls, DEL, and the Unicode marks that reorder or hide text without being seen: LRM/RLM, ALM,
 * LRE/RLE/PDF/LRO/RLO and LRI/RLI/FSI/PDI. A right-to-left override in "invoice\u202Egpj.exe" shows "invoiceexe.jpg"
 * in a download dialog or a dashboard; none of them has a place in a file name.
 */
// eslint-disable-next-line no-control-regex
const HIDDEN_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `name` without the characters above. */
export function withoutHiddenCharacters(name: string): string {
  return name.replace(HIDDEN_CHARACTERS, '');
}
