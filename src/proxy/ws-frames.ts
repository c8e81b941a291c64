/**
 * Just enough of the WebSocket framing (RFC 6455 section 5.2) to end a relayed connection cleanly: where
 * frames end in a byte stream, and the Close frame to send. The relay never decodes payloads; the tracker
 * reads each frame's header and skips its payload, so it costs a few operations per frame, not per byte.
 * A Close frame may only be written between two frames of the stream it joins (a control frame may sit
 * between the fragments of a message, RFC 6455 5.4, but never inside a frame).
 */
import { randomFillSync } from 'node:crypto';

/** 1001 Going Away: "an endpoint is going away, such as a server going down" (RFC 6455 7.4.1). */
export const CLOSE_GOING_AWAY = 1001;

export interface FrameTracker {
  /** Follows `chunk` (the next bytes of the stream). */
  push(chunk: Buffer): void;
  /** Where in `chunk` the first frame boundary lies if the stream continued with it, or -1 (tracks nothing). */
  boundaryIn(chunk: Buffer): number;
  /** true when the bytes so far end exactly at the end of a frame. */
  atBoundary(): boolean;
}

/**
 * Follows the frames of one direction of a WebSocket connection, from its first frame on. A class, not a
 * closure: an idle relayed connection keeps two of these, so they cost two small objects, not ten closures.
 */
class Tracker implements FrameTracker {
  /** Payload bytes of the current frame still to come. */
  private skip = 0;
  /** While a header is split over chunks: its start. */
  private header: Buffer | null = null;

  push(chunk: Buffer): void {
    this.consume(chunk, false);
  }

  boundaryIn(chunk: Buffer): number {
    if (this.skip === 0 && this.header === null) return 0;
    // This only looks: the state is put back.
    const { skip, header } = this;
    const at = this.consume(chunk, true);
    this.skip = skip;
    this.header = header;
    return at;
  }

  atBoundary(): boolean {
    return this.skip === 0 && this.header === null;
  }

  /** Consumes `chunk`; returns the offset just after the first frame that ends in it (stopAtFirst), else -1. */
  private consume(chunk: Buffer, stopAtFirst: boolean): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        if (this.skip === 0 && stopAtFirst) return i;
        continue;
      }
      // At a header: parse it from the chunk, or from what an earlier chunk left of it.
      const from = this.header ? Buffer.concat([this.header, chunk.subarray(i, i + 14)]) : chunk.subarray(i);
      const h = parseHeader(from);
      if (!h) {
        this.header = Buffer.from(from.subarray(0, 14));
        return -1;
      }
      i += h.head - (this.header?.length ?? 0);
      this.header = null;
      this.skip = h.payload;
      if (this.skip === 0 && stopAtFirst) return i;
    }
    return -1;
  }
}

/** Total header length and payload length of the frame header at `b[0..]`, or null when `b` is too short. */
function parseHeader(b: Buffer): { head: number; payload: number } | null {
  if (b.length < 2) return null;
  const len7 = b[1]! & 0x7f;
  const mask = b[1]! & 0x80 ? 4 : 0;
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const head = 2 + ext + mask;
  if (b.length < head) return null;
  const payload = ext === 0 ? len7 : ext === 2 ? b.readUInt16BE(2) : Number(b.readBigUInt64BE(2));
  return { head, payload };
}

export function createFrameTracker(): FrameTracker {
  return new Tracker();
}

/**
 * A Close frame with `code`: unmasked as the server writes it to a client, masked with a fresh random key as
 * a client must write it to a server (RFC 6455 5.3: the key must not be predictable).
 */
export function closeFrame(code: number, masked: boolean): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  if (!masked) return Buffer.concat([Buffer.from([0x88, 0x02]), payload]);
  const key = randomFillSync(Buffer.alloc(4));
  for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
  return Buffer.concat([Buffer.from([0x88, 0x82]), key, payload]);
}
