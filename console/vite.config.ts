import react from '@vitejs/plugin-react'
import { defineConfig, type Plugin } from 'vite'

/**
 * The console is served under /console/ (locally by the HTTP gateway, in AWS by CloudFront).
 * `npm run console` runs this dev server against a running local stack (CONSOLE_API, default
 * http://127.0.0.1:3000): /console/config.json comes from the stack, with the API pointed at
 * this origin, whose API paths are proxied there (the local gateway does no CORS; the hosted UI's
 * token endpoint does, like Cognito's).
 */
const target = process.env.CONSOLE_API ?? 'http://127.0.0.1:3000'

function stackConfig(): Plugin {
  return {
    name: 'trainer-chat-stack-config',
    configureServer(server) {
      server.middlewares.use('/console/config.json', (request, response, next) => {
        fetch(`${target}/console/config.json`)
          .then(async (answer) => {
            if (!answer.ok) throw new Error(`${target}/console/config.json answered ${answer.status}`)
            const config = (await answer.json()) as Record<string, unknown>
            response.setHeader('content-type', 'application/json')
            response.end(JSON.stringify({ ...config, apiUrl: `http://${request.headers.host ?? '127.0.0.1:5173'}` }))
          })
          .catch(next)
      })
    },
  }
}

export default defineConfig({
  base: '/console/',
  plugins: [react(), stackConfig()],
  server: {
    host: '127.0.0.1',
    port: Number(process.env.CONSOLE_PORT ?? 5173),
    strictPort: true,
    proxy: Object.fromEntries(['/admin', '/me', '/openapi.json'].map((path) => [path, { target }])),
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2000 },
})
