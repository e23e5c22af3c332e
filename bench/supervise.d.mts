export interface SuperviseOptions {
  entry: string
  args?: string[]
  latestFile: string
  graceMs?: number
  execArgv?: string[]
  startedAt?: number
  log?: (line: string) => void
}
export function supervise(options: SuperviseOptions): Promise<number>
export function writeJsonFile(file: string, value: unknown): void
