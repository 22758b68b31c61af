// @cardcash/miniprogram: the cardcash client for WeChat and Alipay mini-programs and H5 pages.
export { Client, createClient, idempotencyKey, isSafeToRepeat } from "./client.js";
export { CardcashError, TransportError, clientMessage, language } from "./errors.js";
export { result, unwrap } from "./results.js";
export { frameText } from "./utf8.js";
export { wechat } from "./adapters/wechat.js";
export { alipay } from "./adapters/alipay.js";
export { browser } from "./adapters/browser.js";
export * as documents from "./documents.js";
