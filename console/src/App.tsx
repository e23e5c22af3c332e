import ForumIcon from '@mui/icons-material/Forum'
import HistoryIcon from '@mui/icons-material/History'
import PeopleIcon from '@mui/icons-material/People'
import ReportIcon from '@mui/icons-material/Report'
import { useMemo } from 'react'
import { Admin, CustomRoutes, Resource } from 'react-admin'
import { BrowserRouter, Route } from 'react-router-dom'
import { createFetcher } from './api.ts'
import { createAuth } from './auth.ts'
import type { ConsoleConfig } from './config.ts'
import { createDataProvider } from './dataProvider.ts'
import { AdminsOnly } from './pages/AdminsOnly.tsx'
import { AuditList } from './pages/audit.tsx'
import { ConversationList, ConversationShow } from './pages/conversations.tsx'
import { Dashboard } from './pages/Dashboard.tsx'
import { LoginPage } from './pages/LoginPage.tsx'
import { ReportList } from './pages/reports.tsx'
import { UserList, UserShow } from './pages/users.tsx'
import { ConsoleLayout } from './Layout.tsx'
import { theme } from './theme.ts'

export function App({ config }: { config: ConsoleConfig }) {
  const { authProvider, dataProvider } = useMemo(() => {
    // The fetcher needs the token, the auth provider needs GET /me: tie the knot once.
    let auth: ReturnType<typeof createAuth> | undefined
    const api = createFetcher(config.apiUrl, () => auth!.idToken())
    const dataProvider = createDataProvider(api)
    auth = createAuth(config, () => dataProvider.me())
    return { authProvider: auth.authProvider, dataProvider }
  }, [config])

  return (
    <BrowserRouter basename={import.meta.env.BASE_URL.replace(/\/$/, '')}>
      <Admin
        title="trainer-chat moderation"
        authProvider={authProvider}
        dataProvider={dataProvider}
        loginPage={LoginPage}
        dashboard={Dashboard}
        theme={theme}
        layout={ConsoleLayout}
        requireAuth
        disableTelemetry
      >
        {(permissions: unknown) =>
          permissions === 'admin'
            ? [
                <Resource key="conversations" name="conversations" list={ConversationList} show={ConversationShow} icon={ForumIcon} />,
                <Resource key="users" name="users" list={UserList} show={UserShow} icon={PeopleIcon} recordRepresentation="email" />,
                <Resource key="audit" name="audit" options={{ label: 'Audit log' }} list={AuditList} icon={HistoryIcon} />,
                <Resource key="reports" name="reports" list={ReportList} icon={ReportIcon} />,
              ]
            : [
                <CustomRoutes key="others">
                  <Route path="*" element={<AdminsOnly />} />
                </CustomRoutes>,
              ]
        }
      </Admin>
    </BrowserRouter>
  )
}
