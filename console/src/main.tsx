import { createRoot } from 'react-dom/client'
import { App } from './App.tsx'
import { loadConfig } from './config.ts'

const root = createRoot(document.getElementById('root')!)
loadConfig()
  .then((config) => root.render(<App config={config} />))
  .catch((error: unknown) => {
    root.render(
      <main style={{ fontFamily: 'system-ui', margin: '3rem' }}>
        <h1>The console could not start</h1>
        <p role="alert">{error instanceof Error ? error.message : String(error)}</p>
      </main>,
    )
  })
