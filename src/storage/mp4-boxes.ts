// Checks, as the bytes pass, that a copy is one whole MP4 (ISO BMFF) file: its top-level boxes start like one and tile it exactly.

/** Box types an MP4 file starts with (ISO/IEC 14496-12 and what encoders put first: padding, fragments, metadata). */
const FIRST_BOX_TYPES = new Set(['ftyp', 'styp', 'free', 'skip', 'wide', 'mdat', 'moov', 'pdin', 'uuid', 'sidx', 'moof', 'meta', 'junk']);

/** A box type is four printable ASCII characters ("ftyp", "moov", "mdat"…). */
function printable(bytes: Buffer): boolean {
  for (const b of bytes) if (b < 0x20 || b > 0x7e) return false;
  return true;
}

/** What the first bytes of a body that is not an MP4 look like, for the error (printable text only, short). */
function preview(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('latin1').replace(/[^\x20-\x7e]/g, '.'));
}

/**
 * Walks the top-level boxes of a stream fed to it chunk by chunk, reading only their 8- or 16-byte headers. A CDN's
 * error page answered with 200 is not an MP4 (its first bytes are no box); a copy cut off early (the connection closed
 * without a Content-Length) ends inside a box, since every box says how long it is. Neither needs the upstream's word
 * on the size.
 */
export class Mp4BoxWalk {
  /** Bytes seen so far. */
  private offset = 0;
  /** Where the next box header starts. */
  private nextBox = 0;
  private readonly header = Buffer.alloc(16);
  private headerLength = 0;
  private headerNeeded = 8;
  /** A box of size 0 runs to the end of the file: nothing after it to check. */
  private toEnd = false;
  private boxes = 0;
  /** The two boxes a playable file cannot do without: its index (moov) and its media data (mdat). */
  private sawMoov = false;
  private sawMdat = false;

  /** Null while the bytes can still be an MP4; else why they are not. */
  feed(chunk: Buffer): string | null {
    let at = 0;
    while (at < chunk.length && !this.toEnd) {
      if (this.offset < this.nextBox) {
        const skip = Math.min(chunk.length - at, this.nextBox - this.offset);
        at += skip;
        this.offset += skip;
        continue;
      }
      const take = Math.min(chunk.length - at, this.headerNeeded - this.headerLength);
      chunk.copy(this.header, this.headerLength, at, at + take);
      this.headerLength += take;
      at += take;
      this.offset += take;
      if (this.headerLength < this.headerNeeded) continue;
      const problem = this.box();
      if (problem) return problem;
    }
    if (this.toEnd) this.offset += chunk.length - at;
    return null;
  }

  /** Null when the bytes were one whole MP4; else why not (nothing came, it ended inside a box, or without moov or mdat). */
  end(): string | null {
    if (this.boxes === 0) return 'it is not an MP4: it ended before its first box';
    if (!this.toEnd && !(this.offset === this.nextBox && this.headerLength === 0)) {
      return `it ended after ${this.offset} bytes, inside a box that runs to byte ${this.nextBox}`;
    }
    // A copy cut exactly between two boxes tiles itself: only what is missing tells (faststart files put moov first,
    // so a cut after it leaves a header without a single frame).
    const missing = [...(this.sawMoov ? [] : ['moov']), ...(this.sawMdat ? [] : ['mdat'])];
    return missing.length === 0 ? null : `it ended after ${this.offset} bytes without its ${missing.join(' and ')} box`;
  }

  /** A complete box header is in `header`: check it and move to the next box. */
  private box(): string | null {
    const start = this.offset - this.headerLength;
    const type = this.header.subarray(4, 8);
    if (!printable(type) || (this.boxes === 0 && !FIRST_BOX_TYPES.has(type.toString('latin1')))) {
      return `it is not an MP4: it starts with ${preview(this.header.subarray(0, this.headerLength))}`;
    }
    let size = this.header.readUInt32BE(0);
    if (size === 1 && this.headerNeeded === 8) {
      this.headerNeeded = 16; // a 64-bit size follows the type
      return null;
    }
    if (this.headerNeeded === 16) size = Number(this.header.readBigUInt64BE(8));
    this.boxes += 1;
    const name = type.toString('latin1');
    if (name === 'moov') this.sawMoov = true;
    else if (name === 'mdat') this.sawMdat = true;
    if (size === 0) this.toEnd = true;
    else if (size < this.headerNeeded) return `it is not an MP4: a box at byte ${start} says it is ${size} bytes long`;
    else this.nextBox = start + size;
    this.headerLength = 0;
    this.headerNeeded = 8;
    return null;
  }
}
