// The only host functions the SDK uses beyond ECMAScript: present in browsers, React Native and
// Node. Declared here so the SDK typechecks without DOM or Node types (and so cannot use more).
declare function setTimeout(callback: () => void, ms?: number): unknown
declare function clearTimeout(handle: unknown): void
declare function queueMicrotask(callback: () => void): void
