import { escapeXml } from './http.ts'
import { isModelledCode, SnsError } from './sns-errors.ts'

/**
 * The two wire formats an SNS client may speak, reduced to one input and one output shape
 * so the actions never see them:
 * - awsQuery (what @aws-sdk/client-sns sends by default): form-encoded `Action=...`, XML replies;
 * - awsJson1_0 (the same model over JSON): `X-Amz-Target: AmazonSimpleNotificationService.<Action>`.
 */

export interface MessageAttributeValue {
  DataType: string
  StringValue?: string
  /** Base64, as both protocols carry it. */
  BinaryValue?: string
}

export interface SnsInput {
  string(name: string): string | undefined
  /** A string map such as `Attributes`. */
  map(name: string): Record<string, string> | undefined
  messageAttributes(): Record<string, MessageAttributeValue> | undefined
}

/** Maps render as maps (XML `entry`/`key`/`value`), arrays as lists of structures (XML `member`). */
export type SnsOutputValue = string | Map<string, string> | SnsOutput[]
export interface SnsOutput {
  [member: string]: SnsOutputValue | undefined
}

export interface SnsCall {
  protocol: 'query' | 'json'
  action: string
  input: SnsInput
}

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/'
const JSON_TARGET_PREFIX = 'AmazonSimpleNotificationService.'

export function isJsonRequest(contentType: string | undefined): boolean {
  return contentType?.startsWith('application/x-amz-json-1.0') ?? false
}

export function parseCall(body: Buffer, contentType: string | undefined, target: string | undefined): SnsCall {
  if (isJsonRequest(contentType)) {
    const action = target?.startsWith(JSON_TARGET_PREFIX) ? target.slice(JSON_TARGET_PREFIX.length) : ''
    return { protocol: 'json', action, input: jsonInput(parseJsonObject(body)) }
  }
  const params = new URLSearchParams(body.toString('utf8'))
  return { protocol: 'query', action: params.get('Action') ?? '', input: queryInput(params) }
}

function parseJsonObject(body: Buffer): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'))
  } catch {
    throw new SnsError('SerializationException', 'The request body is not valid JSON', 400)
  }
  if (!isRecord(parsed)) throw new SnsError('SerializationException', 'The request body must be a JSON object', 400)
  return parsed
}

function queryInput(params: URLSearchParams): SnsInput {
  // Query maps are flattened as Name.entry.N.key / Name.entry.N.value, N counting from 1.
  const entries = (prefix: string, keyField: string, visit: (n: number, key: string) => void): boolean => {
    let found = false
    for (let n = 1; ; n++) {
      const key = params.get(`${prefix}.entry.${n}.${keyField}`)
      if (key === null) return found
      found = true
      visit(n, key)
    }
  }
  return {
    string: (name) => params.get(name) ?? undefined,
    map: (name) => {
      const map: Record<string, string> = {}
      const found = entries(name, 'key', (n, key) => {
        map[key] = params.get(`${name}.entry.${n}.value`) ?? ''
      })
      return found ? map : undefined
    },
    messageAttributes: () => {
      const attributes: Record<string, MessageAttributeValue> = {}
      const found = entries('MessageAttributes', 'Name', (n, name) => {
        const base = `MessageAttributes.entry.${n}.Value`
        attributes[name] = withoutUndefined({
          DataType: params.get(`${base}.DataType`) ?? '',
          StringValue: params.get(`${base}.StringValue`) ?? undefined,
          BinaryValue: params.get(`${base}.BinaryValue`) ?? undefined,
        })
      })
      return found ? attributes : undefined
    },
  }
}

function jsonInput(body: Record<string, unknown>): SnsInput {
  return {
    string: (name) => {
      const value = body[name]
      return typeof value === 'string' ? value : undefined
    },
    map: (name) => {
      const value = body[name]
      if (!isRecord(value)) return undefined
      const map: Record<string, string> = {}
      for (const [key, entry] of Object.entries(value)) if (typeof entry === 'string') map[key] = entry
      return map
    },
    messageAttributes: () => {
      const value = body['MessageAttributes']
      if (!isRecord(value)) return undefined
      const attributes: Record<string, MessageAttributeValue> = {}
      for (const [name, entry] of Object.entries(value)) {
        if (!isRecord(entry)) continue
        attributes[name] = withoutUndefined({
          DataType: typeof entry['DataType'] === 'string' ? entry['DataType'] : '',
          StringValue: typeof entry['StringValue'] === 'string' ? entry['StringValue'] : undefined,
          BinaryValue: typeof entry['BinaryValue'] === 'string' ? entry['BinaryValue'] : undefined,
        })
      }
      return attributes
    },
  }
}

export interface RenderedReply {
  status: number
  headers: Record<string, string>
  body: string
}

export function renderResult(call: SnsCall, output: SnsOutput | undefined, requestId: string): RenderedReply {
  if (call.protocol === 'json') {
    return {
      status: 200,
      headers: { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': requestId },
      body: JSON.stringify(output === undefined ? {} : toJson(output)),
    }
  }
  // Actions without output (DeleteEndpoint, SetEndpointAttributes) have no <...Result> element.
  const result = output === undefined ? '' : `<${call.action}Result>${toXml(output)}</${call.action}Result>`
  return {
    status: 200,
    headers: { 'Content-Type': 'text/xml', 'x-amzn-RequestId': requestId },
    body:
      `<${call.action}Response xmlns="${XMLNS}">${result}` +
      `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${call.action}Response>`,
  }
}

export function renderError(protocol: SnsCall['protocol'], error: SnsError, requestId: string): RenderedReply {
  if (protocol === 'json') {
    return {
      status: error.status,
      headers: {
        'Content-Type': 'application/x-amz-json-1.0',
        'x-amzn-RequestId': requestId,
        // Lets a client in awsQueryCompatible mode recover the query-protocol code.
        'x-amzn-query-error': `${error.code};${error.type}`,
      },
      body: JSON.stringify({
        __type: `com.amazonaws.sns#${isModelledCode(error.code) ? `${error.code}Exception` : error.code}`,
        message: error.message,
      }),
    }
  }
  return {
    status: error.status,
    headers: { 'Content-Type': 'text/xml', 'x-amzn-RequestId': requestId },
    body:
      `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${error.type}</Type><Code>${escapeXml(error.code)}</Code>` +
      `<Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  }
}

function toXml(output: SnsOutput): string {
  let xml = ''
  for (const [member, value] of Object.entries(output)) {
    if (value === undefined) continue
    xml += `<${member}>${valueToXml(value)}</${member}>`
  }
  return xml
}

function valueToXml(value: SnsOutputValue): string {
  if (typeof value === 'string') return escapeXml(value)
  if (value instanceof Map) {
    return [...value].map(([key, entry]) => `<entry><key>${escapeXml(key)}</key><value>${escapeXml(entry)}</value></entry>`).join('')
  }
  return value.map((item) => `<member>${toXml(item)}</member>`).join('')
}

type JsonValue = string | Record<string, string> | JsonObject[]
interface JsonObject {
  [member: string]: JsonValue
}

function toJson(output: SnsOutput): JsonObject {
  const json: JsonObject = {}
  for (const [member, value] of Object.entries(output)) {
    if (value === undefined) continue
    if (typeof value === 'string') json[member] = value
    else if (value instanceof Map) json[member] = Object.fromEntries(value)
    else json[member] = value.map(toJson)
  }
  return json
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function withoutUndefined(value: MessageAttributeValue): MessageAttributeValue {
  const clean: MessageAttributeValue = { DataType: value.DataType }
  if (value.StringValue !== undefined) clean.StringValue = value.StringValue
  if (value.BinaryValue !== undefined) clean.BinaryValue = value.BinaryValue
  return clean
}
