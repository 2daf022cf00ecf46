import { isUtf8 } from 'node:buffer';
import chardet from 'chardet';
import iconv from 'iconv-lite';
import { decode as libmimeDecode, normalizeCharset } from 'libmime/lib/charset';

const UTF7 = /^(?:(?:cs)?unicode11)?utf7$/;

/**
 * Text of `bytes` in `charset`. UTF-7 is decoded too (libmime refuses it because it can smuggle
 * markup past a filter; here HTML is sanitised after decoding, so decoding it is safe).
 */
export function decodeCharset(bytes: Buffer, charset: string): string {
  if (UTF7.test(charset.toLowerCase().replace(/[^a-z0-9]/g, ''))) return iconv.decode(bytes, 'utf7');
  return libmimeDecode(bytes, charset);
}

/** Whether `charset` names a character set this parser can decode (libmime falls back to UTF-8 for the rest). */
export function isKnownCharset(charset: string): boolean {
  const name = normalizeCharset(charset);
  return UTF7.test(name.toLowerCase().replace(/[^a-z0-9]/g, '')) || /^jis|^iso-?2022-?jp|^eucjp/i.test(name) || iconv.encodingExists(name);
}

const US_ASCII = /^(?:us-?)?ascii$|^ansi_x3\.4-1968$|^iso646-us$/i;

/**
 * Whether a declared charset says how to read 8-bit bytes. US-ASCII does not (old clients declare it
 * over Latin-1 text), nor does a name no decoder knows ("unknown-8bit", "x-user-defined").
 */
export function namesEightBitCharset(charset: string): boolean {
  return !US_ASCII.test(charset.trim()) && isKnownCharset(charset);
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;

export function isAscii(binary: string): boolean {
  return ASCII_ONLY.test(binary);
}

function isAsciiBytes(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7f) return false;
  return true;
}

/**
 * Text of bytes that declare no charset: ASCII and RFC 6532 UTF-8 as they are, anything else in
 * `fallback()`, the charset the caller settles on (asked only when needed: detection costs).
 */
export function decodeUndeclared(bytes: Buffer, fallback: () => string): string {
  if (isAsciiBytes(bytes)) return bytes.toString('latin1');
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return decodeCharset(bytes, fallback());
}

/**
 * The charset chardet finds in `sample`, when it is one this parser can decode. Unicode guesses are
 * ruled out: UTF-8 was tried already, and UTF-16/32 text would be full of NULs, which header and
 * undeclared text bytes are not (chardet calls a lone "ø" UTF-32).
 */
export function detectCharset(sample: Buffer): string | null {
  const guess = chardet.detect(sample);
  return guess && !/^utf/i.test(guess) && isKnownCharset(guess) ? guess : null;
}

/**
 * The charset of a message's undeclared 8-bit header bytes, as older clients write them: the one the
 * message declares for its text (the only place those clients name one), else the one detected from
 * the bytes themselves, else Latin-1.
 */
export function headerCharset(declared: string | null, eightBitSample: () => Buffer): string {
  if (declared && namesEightBitCharset(declared) && !/^utf-?8$/i.test(declared)) return declared;
  return detectCharset(eightBitSample()) ?? 'latin1';
}
