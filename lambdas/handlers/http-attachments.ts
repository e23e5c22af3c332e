import * as z from 'zod/mini'
import { requestUpload } from '../core/uploads.ts'
import { Id, Timestamp } from '../core/views.ts'
import { uploadPorts } from '../runtime-attachments.ts'
import { route, type HttpRoute } from './http-route.ts'

/** The attachment upload route (served by http-app). */

const UploadRequest = z.object({
  fileName: z.string().check(z.minLength(1), z.maxLength(1024)),
  contentType: z.string().check(z.minLength(1), z.maxLength(255)),
  size: z.number().check(z.int(), z.minimum(1), z.maximum(2_147_483_647)),
})

const UploadView = z.object({
  attachmentId: Id,
  uploadUrl: z.string(),
  method: z.literal('PUT'),
  headers: z.record(z.string(), z.string()),
  expiresAt: Timestamp,
})

export const attachmentRoutes: HttpRoute[] = [
  route({
    routeKey: 'POST /conversations/{id}/attachments',
    auth: 'user',
    summary:
      'A presigned upload URL for one file to send in the conversation: PUT the bytes with exactly the returned headers before the URL expires, then send a message with attachmentId',
    params: z.object({ id: z.guid() }),
    body: UploadRequest,
    response: UploadView,
    successStatus: 201,
    errors: ['conversation_closed'],
    async handle({ identity, params, body }) {
      const { attachmentId, url, method, headers, expiresAt } = await requestUpload(uploadPorts(), identity, params.id, body)
      return { body: { attachmentId, uploadUrl: url, method, headers, expiresAt } }
    },
  }),
]
