/** The error `fn` throws (fails the test when it throws nothing). */
export function caught(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error("expected an exception, none was thrown");
}
