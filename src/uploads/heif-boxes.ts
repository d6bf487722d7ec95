// Reads the few ISOBMFF boxes of a HEIF `meta` box we need (items, locations, properties), bounds-checked, never trusting sizes.

export interface Box {
  type: string;
  /** Offset of the box's first byte within the buffer. */
  start: number;
  /** Offset of the payload (after size, type and any largesize). */
  body: number;
  end: number;
}

export class HeifParseError extends Error {
  override name = 'HeifParseError';
}

const fourcc = (buf: Buffer, at: number) => buf.subarray(at, at + 4).toString('latin1');

/** The boxes in buf[from, to): a size past `to` or below the header is malformed, not silently clipped. */
export function childBoxes(buf: Buffer, from: number, to: number): Box[] {
  const boxes: Box[] = [];
  let at = from;
  while (at + 8 <= to) {
    let size = buf.readUInt32BE(at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > to) throw new HeifParseError(`box at ${at}: truncated largesize`);
      size = Number(buf.readBigUInt64BE(at + 8));
      header = 16;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < header || at + size > to) throw new HeifParseError(`box '${fourcc(buf, at + 4)}' at ${at}: size ${size} runs past its parent`);
    boxes.push({ type: fourcc(buf, at + 4), start: at, body: at + header, end: at + size });
    at += size;
  }
  return boxes;
}

/** A cursor over one box's payload that throws instead of reading past the box. */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public at: number,
    private readonly end: number,
  ) {}

  uint(bytes: number): number {
    if (bytes === 0) return 0;
    if (this.at + bytes > this.end) throw new HeifParseError(`read of ${bytes} bytes at ${this.at} runs past the box`);
    const value = bytes === 8 ? Number(this.buf.readBigUInt64BE(this.at)) : this.buf.readUIntBE(this.at, bytes);
    this.at += bytes;
    return value;
  }

  fourcc(): string {
    if (this.at + 4 > this.end) throw new HeifParseError(`fourcc at ${this.at} runs past the box`);
    const value = fourcc(this.buf, this.at);
    this.at += 4;
    return value;
  }
}

export interface ItemLocation {
  constructionMethod: number;
  /** File offsets (base offset included) for construction method 0; offsets into `idat` for method 1. */
  extents: { offset: number; length: number }[];
}

export interface HeifMeta {
  primaryId: number | null;
  /** item id → item type (hvc1, grid, Exif, …) */
  itemTypes: Map<number, string>;
  locations: Map<number, ItemLocation>;
  /** The `ipco` property boxes, in order: property index N (1-based) is properties[N - 1]. */
  properties: Box[];
  /** item id → its associated property indices (1-based). */
  associations: Map<number, number[]>;
}

function fullBox(buf: Buffer, box: Box): { version: number; flags: number; reader: Reader } {
  const reader = new Reader(buf, box.body, box.end);
  const version = reader.uint(1);
  const flags = reader.uint(3);
  return { version, flags, reader };
}

function parseIinf(buf: Buffer, box: Box, itemTypes: Map<number, string>): void {
  const { version, reader } = fullBox(buf, box);
  reader.uint(version === 0 ? 2 : 4); // entry_count: the infe boxes that follow say it again
  for (const infe of childBoxes(buf, reader.at, box.end)) {
    if (infe.type !== 'infe') continue;
    const entry = fullBox(buf, infe);
    if (entry.version < 2) continue; // item types exist from version 2 on; HEIF requires it
    const id = entry.reader.uint(entry.version === 2 ? 2 : 4);
    entry.reader.uint(2); // item_protection_index
    itemTypes.set(id, entry.reader.fourcc());
  }
}

function parseIloc(buf: Buffer, box: Box, locations: Map<number, ItemLocation>): void {
  const { version, reader } = fullBox(buf, box);
  const sizes = reader.uint(1);
  const offsetSize = sizes >> 4;
  const lengthSize = sizes & 0xf;
  const more = reader.uint(1);
  const baseOffsetSize = more >> 4;
  const indexSize = version === 1 || version === 2 ? more & 0xf : 0;
  const count = reader.uint(version < 2 ? 2 : 4);
  for (let i = 0; i < count; i++) {
    const id = reader.uint(version < 2 ? 2 : 4);
    const constructionMethod = version === 1 || version === 2 ? reader.uint(2) & 0xf : 0;
    reader.uint(2); // data_reference_index
    const base = reader.uint(baseOffsetSize);
    const extentCount = reader.uint(2);
    const extents: ItemLocation['extents'] = [];
    for (let e = 0; e < extentCount; e++) {
      reader.uint(indexSize);
      const offset = base + reader.uint(offsetSize);
      extents.push({ offset, length: reader.uint(lengthSize) });
    }
    locations.set(id, { constructionMethod, extents });
  }
}

function parseIprp(buf: Buffer, box: Box, meta: HeifMeta): void {
  for (const child of childBoxes(buf, box.body, box.end)) {
    if (child.type === 'ipco') meta.properties = childBoxes(buf, child.body, child.end);
    if (child.type !== 'ipma') continue;
    const { version, flags, reader } = fullBox(buf, child);
    const count = reader.uint(4);
    for (let i = 0; i < count; i++) {
      const id = reader.uint(version < 1 ? 2 : 4);
      const n = reader.uint(1);
      const indices: number[] = [];
      for (let a = 0; a < n; a++) indices.push(flags & 1 ? reader.uint(2) & 0x7fff : reader.uint(1) & 0x7f);
      meta.associations.set(id, [...(meta.associations.get(id) ?? []), ...indices]);
    }
  }
}

/** Parses a whole `meta` box (buf[box.start, box.end)). Throws HeifParseError on malformed structure. */
export function parseHeifMeta(buf: Buffer, box: Box): HeifMeta {
  const meta: HeifMeta = { primaryId: null, itemTypes: new Map(), locations: new Map(), properties: [], associations: new Map() };
  const { reader } = fullBox(buf, box);
  for (const child of childBoxes(buf, reader.at, box.end)) {
    if (child.type === 'pitm') {
      const pitm = fullBox(buf, child);
      meta.primaryId = pitm.reader.uint(pitm.version === 0 ? 2 : 4);
    } else if (child.type === 'iinf') parseIinf(buf, child, meta.itemTypes);
    else if (child.type === 'iloc') parseIloc(buf, child, meta.locations);
    else if (child.type === 'iprp') parseIprp(buf, child, meta);
  }
  return meta;
}

/** The property boxes associated with an item (unknown indices skipped). */
export function propertiesOf(meta: HeifMeta, itemId: number): Box[] {
  return (meta.associations.get(itemId) ?? []).flatMap((index) => (index > 0 && meta.properties[index - 1] ? [meta.properties[index - 1]!] : []));
}
