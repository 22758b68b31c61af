// Typed results. A mutation answers with a union: the success type, or an error type that
// implements `Error { code message }`. These helpers turn one into `{ ok: true, value }` or
// `{ ok: false, error }` so a page branches on one thing, and error codes stay enumerable.

/**
 * `{ ok: true, value }` when `member.__typename` is one of `success` (a name or a list), else
 * `{ ok: false, error: { code, message, typename, ...fields } }`.
 *
 *   const r = result(data.createQuote, "Quote");
 *   if (r.ok) show(r.value.apr); else toast(r.error.message);
 */
export function result(member, success) {
  const names = Array.isArray(success) ? success : [success];
  if (member && names.includes(member.__typename)) return { ok: true, value: member };
  if (member && typeof member.code === "string") {
    const { __typename, code, message, ...fields } = member;
    return { ok: false, error: { ...fields, code, message, typename: __typename } };
  }
  throw new TypeError(
    `not a ${names.join(" or ")} nor an Error member: select __typename and ... on Error { code message }`,
  );
}

/** The value of a typed result, or throws its error (a CardcashError-like object). */
export function unwrap(r) {
  if (r.ok) return r.value;
  const err = new Error(r.error.message);
  Object.assign(err, r.error, { name: "CardcashResultError" });
  throw err;
}
