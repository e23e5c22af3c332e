export function consoleSourceHash(): string
export function buildConsole(options?: { force?: boolean; log?: (line: string) => void }): { built: boolean }
