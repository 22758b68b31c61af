// Text out of a WebSocket frame. A frame may arrive as a string (text frame) or as an
// ArrayBuffer (binary frame: what wx/my sockets hand over for one); mini-program runtimes do
// not all have TextDecoder, so UTF-8 is decoded here when it is missing.

/** The frame's data as a string: strings as they are, ArrayBuffer / typed arrays as UTF-8. */
export function frameText(data) {
  if (typeof data === "string") return data;
  let bytes;
  if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else throw new TypeError(`unexpected WebSocket frame: ${Object.prototype.toString.call(data)}`);
  if (typeof TextDecoder === "function") return new TextDecoder("utf-8").decode(bytes);
  return decodeUtf8(bytes);
}

/** UTF-8 bytes to a string (invalid sequences become U+FFFD), for runtimes without TextDecoder. */
export function decodeUtf8(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    let code = 0xfffd;
    let size = 1;
    if (b < 0x80) {
      code = b;
    } else if (b >= 0xc2 && b < 0xe0 && cont(bytes, i + 1)) {
      code = ((b & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
      size = 2;
    } else if (b >= 0xe0 && b < 0xf0 && cont(bytes, i + 1) && cont(bytes, i + 2)) {
      code = ((b & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      size = 3;
      if (code < 0x800 || (code >= 0xd800 && code < 0xe000)) code = 0xfffd;
    } else if (b >= 0xf0 && b < 0xf5 && cont(bytes, i + 1) && cont(bytes, i + 2) && cont(bytes, i + 3)) {
      code = ((b & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
      size = 4;
      if (code < 0x10000 || code > 0x10ffff) code = 0xfffd;
    }
    out += String.fromCodePoint(code);
    i += size;
  }
  return out;
}

function cont(bytes, i) {
  return i < bytes.length && (bytes[i] & 0xc0) === 0x80;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 to an ArrayBuffer (Alipay's classic socket API hands binary frames over so). */
export function base64Buffer(text) {
  const clean = String(text).replace(/[^A-Za-z0-9+/]/g, "");
  const bytes = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const ch of clean) {
    value = (value << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[n++] = (value >> bits) & 0xff;
    }
  }
  return bytes.buffer.slice(0, n);
}
