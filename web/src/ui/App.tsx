import { useState } from 'react';
import { parseRoute, normalizeTraceId, linkFrom, routeRange, canReadAudit, type LinkOrigin } from '../model/index.js';
import { Link, go, useLocation } from './router.js';
import { useTheme } from './theme.js';
import { SearchPage } from './SearchPage.js';
import { TracePage } from './TracePage.js';
import { ServicesPage, ServicePage } from './ServicesPage.js';
import { ComparePage } from './ComparePage.js';
import { AuditPage } from './AuditPage.js';
import { LogsPage } from './LogsPage.js';
import { DeliveryPage } from './DeliveryPage.js';
import { SloPage, SlosPage } from './SloPage.js';
import { EmptyState, Spinner } from './common.js';
import { SignInScreen, UserMenu, useSession } from './Session.js';

export function App() {
  const loc = useLocation();
  const [theme, toggleTheme] = useTheme();
  const route = parseRoute(loc.pathname, loc.search);
  const [session, pickTenant] = useSession();
  const me = session.status === 'open' || session.status === 'signed-in' ? session.me : undefined;
  // Every link out of a view keeps the range it shows (model/links.ts); the top bar's too.
  const origin: LinkOrigin = { range: routeRange(route) };
  return (
    <div className="app">
      <header className="topbar">
        <Link href={linkFrom(origin, { page: 'search' })} className="brand">
          <span className="brand-mark" aria-hidden>◎</span> Sightline
        </Link>
        <nav className="nav">
          <Link href={linkFrom(origin, { page: 'search' })} className={route.page === 'search' ? 'active' : ''}>
            Search
          </Link>
          <Link href={linkFrom(origin, { page: 'compare' })} className={route.page === 'compare' ? 'active' : ''}>
            Compare
          </Link>
          <Link href={linkFrom(origin, { page: 'services' })} className={route.page === 'services' || route.page === 'service' ? 'active' : ''}>
            Services
          </Link>
          <Link href={linkFrom(origin, { page: 'logs' })} className={route.page === 'logs' ? 'active' : ''} data-testid="nav-logs">
            Logs
          </Link>
          <Link href={linkFrom(origin, { page: 'slos' })} className={route.page === 'slos' || route.page === 'slo' ? 'active' : ''} data-testid="nav-slos">
            SLOs
          </Link>
          <Link href={linkFrom(origin, { page: 'delivery' })} className={route.page === 'delivery' ? 'active' : ''} data-testid="nav-delivery">
            Delivery
          </Link>
          {/* Admins only; anyone else opening /audit is told so by the page (the API answers 403). */}
          {canReadAudit(me) && (
            <Link href={linkFrom(origin, { page: 'audit' })} className={route.page === 'audit' ? 'active' : ''} data-testid="nav-audit">
              Audit
            </Link>
          )}
        </nav>
        <TraceIdJump origin={origin} />
        <button type="button" className="theme-toggle" onClick={toggleTheme} title="Switch light/dark theme" aria-label="Switch theme">
          {theme === 'dark' ? '☀' : '☾'}
        </button>
        {session.status === 'signed-in' && session.me && <UserMenu me={session.me} tenant={session.tenant} onTenant={pickTenant} />}
      </header>
      {session.status === 'checking' && (
        <main className="page">
          <Spinner />
        </main>
      )}
      {session.status === 'signed-out' && (
        <main className="page">
          <SignInScreen pathname={loc.pathname} search={loc.search} />
        </main>
      )}
      {(session.status === 'open' || session.status === 'signed-in') && (
        // Keyed by tenant: a new choice renders every page afresh, with calls naming it.
        <main className="page" key={session.status === 'signed-in' ? (session.tenant ?? '') : ''}>
          {route.page === 'search' && <SearchPage state={route.state} />}
          {route.page === 'trace' && <TracePage key={route.state.traceId} state={route.state} />}
          {route.page === 'compare' && <ComparePage state={route.state} />}
          {route.page === 'services' && <ServicesPage state={route.state} />}
          {route.page === 'service' && <ServicePage key={route.state.service} state={route.state} />}
          {route.page === 'audit' && <AuditPage state={route.state} me={me} />}
          {route.page === 'logs' && <LogsPage state={route.state} />}
          {route.page === 'delivery' && <DeliveryPage state={route.state} />}
          {route.page === 'slos' && <SlosPage state={route.state} />}
          {route.page === 'slo' && <SloPage key={`${route.state.tenant}/${route.state.name}`} state={route.state} />}
          {route.page === 'not-found' && (
            <EmptyState title="Nothing here">
              <Link href="/search">Go to search</Link>
            </EmptyState>
          )}
        </main>
      )}
    </div>
  );
}

function TraceIdJump({ origin }: { origin: LinkOrigin }) {
  const [text, setText] = useState('');
  const id = normalizeTraceId(text);
  return (
    <form
      className="jump"
      onSubmit={(e) => {
        e.preventDefault();
        if (id) {
          go(linkFrom(origin, { page: 'trace', traceId: id }));
          setText('');
        }
      }}
    >
      <input
        aria-label="Open trace by id"
        placeholder="Trace id"
        value={text}
        onChange={(e) => setText(e.target.value)}
        className={text && !id ? 'invalid' : ''}
        spellCheck={false}
      />
    </form>
  );
}
