/**
 * TLS session ticket keys (RFC 8446 4.6.1, RFC 5077): the key that encrypts the tickets clients resume
 * sessions with. node:tls makes one at start and keeps it for the life of the process (cluster workers
 * start with the same one); a key that never changes lets whoever reads it once decrypt every ticket
 * issued since the start (and, before TLS 1.3, the sessions' traffic), so the edge replaces it every
 * 12 hours, as Caddy does; a client whose ticket predates the change gets a full handshake. Keys live in
 * memory only. With `workers`, the primary makes each key and hands it to every worker, so that after a
 * rotation a client still resumes on whichever worker the primary deals its connection to.
 */
import { randomBytes } from 'node:crypto';

export const TICKET_KEY_BYTES = 48;
export const TICKET_ROTATE_MS = 12 * 3_600_000;

export interface TicketRotation {
  /** The key in use (48 bytes: name, HMAC and AES secrets, as node:tls's setTicketKeys takes it). */
  current(): Buffer;
  stop(): void;
}

export function newTicketKey(): Buffer {
  return randomBytes(TICKET_KEY_BYTES);
}

/**
 * Makes a key (`current()`), then a new one every `periodMs`, each passed to `onKey`, until stopped (the
 * timer does not hold the process).
 */
export function startTicketRotation(onKey: (key: Buffer) => void, periodMs: number = TICKET_ROTATE_MS): TicketRotation {
  let key = newTicketKey();
  const timer = setInterval(() => {
    key = newTicketKey();
    onKey(key);
  }, periodMs);
  timer.unref();
  return { current: () => key, stop: () => clearInterval(timer) };
}
