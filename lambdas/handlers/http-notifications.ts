import * as z from 'zod/mini'
import { createDeviceStore } from '../adapters/device-store.ts'
import { log } from '../adapters/logger.ts'
import { assertAccess } from '../core/chat.ts'
import { PLATFORMS } from '../core/model.ts'
import { registerDevice, removeDevice } from '../core/push.ts'
import { Id, Timestamp } from '../core/views.ts'
import { db } from '../runtime.ts'
import { pushPorts } from '../runtime-push.ts'
import { route, type HttpRoute } from './http-route.ts'

/** Devices for push notifications and notification mutes (served by http-app). */

const devices = () => createDeviceStore(db())

const DeviceView = z.object({ token: z.string(), platform: z.enum(PLATFORMS), enabled: z.boolean(), createdAt: Timestamp, updatedAt: Timestamp })
const Muted = z.object({ muted: z.boolean() })

export const notificationRoutes: HttpRoute[] = [
  route({
    routeKey: 'POST /devices',
    auth: 'user',
    summary: "Registers the caller's phone for push notifications (idempotent; a token registered by someone else moves to the caller)",
    body: z.object({ platform: z.enum(PLATFORMS), token: z.string().check(z.minLength(1), z.maxLength(4096)) }),
    response: DeviceView,
    errors: ['unavailable'],
    async handle({ identity, body }) {
      return { body: await registerDevice(pushPorts(), identity, body) }
    },
  }),
  route({
    routeKey: 'GET /devices',
    auth: 'user',
    summary: "The caller's registered devices",
    response: z.object({ devices: z.array(DeviceView) }),
    async handle({ identity }) {
      return { body: { devices: await devices().list(identity) } }
    },
  }),
  route({
    routeKey: 'DELETE /devices/{token}',
    auth: 'user',
    summary: "Unregisters one of the caller's devices",
    params: z.object({ token: z.string().check(z.minLength(1), z.maxLength(4096)) }),
    successStatus: 204,
    errors: ['unavailable'],
    async handle({ identity, params }) {
      await removeDevice(pushPorts(), identity, params.token, log)
      return { status: 204, body: undefined }
    },
  }),
  route({
    routeKey: 'GET /me/notifications',
    auth: 'user',
    summary: 'Whether the caller muted all notifications, and which conversations they muted',
    response: z.object({ muted: z.boolean(), mutedConversationIds: z.array(Id) }),
    async handle({ identity }) {
      return { body: await devices().notificationSettings(identity) }
    },
  }),
  route({
    routeKey: 'PUT /me/notifications',
    auth: 'user',
    summary: 'Mutes or unmutes every push notification for the caller',
    body: Muted,
    response: Muted,
    async handle({ identity, body }) {
      await devices().setMuted(identity, body.muted)
      return { body: { muted: body.muted } }
    },
  }),
  route({
    routeKey: 'PUT /conversations/{id}/notifications',
    auth: 'user',
    summary: 'Mutes or unmutes push notifications for one conversation',
    params: z.object({ id: z.guid() }),
    body: Muted,
    response: z.object({ conversationId: Id, muted: z.boolean() }),
    async handle({ identity, params, body }) {
      assertAccess(await devices().setConversationMuted(identity, params.id, body.muted), 'read')
      return { body: { conversationId: params.id, muted: body.muted } }
    },
  }),
]
