/**
 * An object (a ledger, say) whose every method call goes through `around`: it gets the method's
 * name, its arguments and the real call, and returns what the caller gets. Everything else is the
 * object's own. For tests that count a store's calls or do something between two of them.
 */
export function intercept<T extends object>(target: T, around: (name: string, args: unknown[], call: () => unknown) => unknown): T {
  return new Proxy(target, {
    get(object, name, receiver) {
      const value = Reflect.get(object, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => around(String(name), args, () => (value as (...a: unknown[]) => unknown).apply(object, args));
    },
  });
}
