import type { AttachmentStorage, Counter, DeviceStore, Log } from '../../lambdas/core/ports.ts'
import { NO_PUSH, type PushPorts } from '../../lambdas/core/push.ts'

/** In-memory ports the use-case tests share where a test does not look at them. */

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} }
export const noMetrics: Counter = { count() {} }

const unexpected = (what: string) => async (): Promise<never> => {
  throw new Error(`unexpected call: ${what}`)
}

/** Storage for tests whose messages carry no attachment: any call fails the test. */
export const unusedStorage: AttachmentStorage = {
  presignUpload: unexpected('presignUpload'),
  presignDownload: unexpected('presignDownload'),
  head: unexpected('head'),
  delete: unexpected('delete'),
}

/** Push switched off, as when no platform application is configured. */
export const noPush: PushPorts = {
  notifier: NO_PUSH,
  devices: {
    register: unexpected('register'),
    list: unexpected('list'),
    remove: unexpected('remove'),
    disable: unexpected('disable'),
    notificationSettings: unexpected('notificationSettings'),
    setMuted: unexpected('setMuted'),
    setConversationMuted: unexpected('setConversationMuted'),
  } satisfies DeviceStore,
}
