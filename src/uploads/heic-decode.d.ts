// Types for heic-decode (libheif compiled to wasm), which ships none: only the calls the conversion worker makes.
declare module 'heic-decode' {
  interface DecodedImage {
    width: number;
    height: number;
    /** RGBA, 4 bytes a pixel, irot/imir already applied by libheif. */
    data: Uint8ClampedArray;
  }
  interface PendingImage {
    /** Known after parsing only, before any pixel is decoded: what the pixel limit is checked against. */
    width: number;
    height: number;
    decode(): Promise<DecodedImage>;
  }
  interface Decode {
    (input: { buffer: Uint8Array }): Promise<DecodedImage>;
    /** Parses the file; the top-level images are decoded one by one; dispose() frees libheif's memory. */
    all(input: { buffer: Uint8Array }): Promise<PendingImage[] & { dispose(): void }>;
  }
  const decode: Decode;
  export = decode;
}
